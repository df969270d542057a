/**
 * How a connection calls its protocol's handlers (STYLE §6): a throw or a rejection reaches
 * `onError` (or, without one, the owner's unhandled-error listener) and closes the connection
 * with 1011; an `onError` hook that throws is ignored.
 * @module
 */
import type { ConnectionOwner } from './connection-init.js';
import type { Connection } from './connection-types.js';
import { ProtocolErrorCode, WebSocketError } from './errors.js';
import type { WebSocketHandler } from './protocol.js';

/** A handler that takes the connection and one more argument (`onMessage`, `onPing`, `onPong`). */
type HandlerMethod<TData, T> = (
  connection: Connection<TData, unknown, unknown>,
  argument: T,
) => unknown;

/**
 * A handler's result as something to await.
 * @param result - what the handler returned
 * @returns the result when it is an object with a `then` method, else undefined
 */
function asThenable(result: unknown): PromiseLike<unknown> | undefined {
  if (typeof result === 'object' && result !== null && 'then' in result) {
    if (typeof result.then === 'function') return result as PromiseLike<unknown>;
  }
  return undefined;
}

/** Calls the handlers of one connection and routes their failures. Internal, one per connection. */
export class HandlerCalls<TData> {
  readonly #handler: WebSocketHandler<TData, unknown, unknown>;
  readonly #connection: Connection<TData, unknown, unknown>;
  readonly #owner: ConnectionOwner | undefined;

  /**
   * @param handler - the protocol's handlers
   * @param connection - the connection they receive, closed with 1011 when one fails
   * @param owner - told of failures when the protocol declares no `onError`
   */
  constructor(
    handler: WebSocketHandler<TData, unknown, unknown>,
    connection: Connection<TData, unknown, unknown>,
    owner: ConnectionOwner | undefined,
  ) {
    this.#handler = handler;
    this.#connection = connection;
    this.#owner = owner;
  }

  /**
   * Runs a user handler; a throw fails the connection (1011).
   * @param run - calls the handler
   * @returns the handler's result when it is a thenable, for the caller to await
   */
  call(run: () => unknown): PromiseLike<unknown> | undefined {
    let result: unknown;
    try {
      result = run();
    } catch (error) {
      this.handleFailure(error);
      return undefined;
    }
    return asThenable(result);
  }

  /**
   * Runs a handler that takes the connection and one argument, as {@link HandlerCalls.call}
   * does, but without a closure: the message path calls it for every message.
   * @param method - the handler, called with the handlers object as `this`
   * @param argument - its second argument (the message)
   * @returns the handler's result when it is a thenable, for the caller to await
   */
  callWith<T>(method: HandlerMethod<TData, T>, argument: T): PromiseLike<unknown> | undefined {
    let result: unknown;
    try {
      result = method.call(this.#handler, this.#connection, argument);
    } catch (error) {
      this.handleFailure(error);
      return undefined;
    }
    return asThenable(result);
  }

  /**
   * Runs a handler whose promise nobody awaits: a rejection is handled like a throw.
   * @param run - calls the handler
   */
  callDetached(run: () => unknown): void {
    this.call(run)?.then(undefined, (error: unknown) => this.handleFailure(error));
  }

  /**
   * Runs a handler taking the connection and one argument, if the protocol declares it, as
   * {@link HandlerCalls.callDetached} does but without a closure (`onPing`, `onPong`).
   * @param method - the handler, or undefined
   * @param argument - its second argument (the payload)
   */
  callDetachedWith<T>(method: HandlerMethod<TData, T> | undefined, argument: T): void {
    if (!method) return;
    this.callWith(method, argument)?.then(undefined, (error: unknown) => this.handleFailure(error));
  }

  /**
   * A handler (or the validator, or the compressor) failed: reports it to `onError`, or to the
   * owner when there is none, and closes the connection with 1011 if it is still open.
   * @param error - what was thrown or rejected
   */
  handleFailure(error: unknown): void {
    if (this.#handler.onError) this.reportError(error);
    else {
      const message = `a handler failed: ${error instanceof Error ? error.message : String(error)}`;
      const wrapped = new WebSocketError(1011, ProtocolErrorCode.HandlerError, message, {
        cause: error,
      });
      this.#owner?.onUnhandledError(this.#connection, wrapped);
    }
    // close() does nothing unless the connection is open.
    this.#connection.close(1011, 'internal error');
  }

  /**
   * Hands an error to `onError`, if the protocol declares one.
   * @param error - a `WebSocketError` raised by the library, or what a handler threw
   */
  reportError(error: unknown): void {
    const onError = this.#handler.onError;
    if (!onError) return;
    try {
      onError.call(this.#handler, this.#connection, error);
    } catch {
      // An error hook that throws has nowhere left to report to.
    }
  }
}
