/**
 * The state of one upgrade request while Express runs it: the raw socket and the bytes that
 * came with the request, kept out of Express's sight, and an ordinary `ServerResponse` bound to
 * that socket so middleware can still answer with plain HTTP (401, 404, a Boom) before the 101.
 *
 * ```
 *   'upgrade' --begin()--> response bound to the socket, app(req, res, final) runs
 *      |-- middleware or final handler answers --> 'finish' --> socket ended (HTTP, no 101)
 *      |-- a plain route answers 2xx -----------> response detached, 404 on the socket
 *      |-- websocket route negotiates ----------> takeOver(): response detached --> accept()
 *      '-- nothing within handshakeTimeout -----> guard answers 408
 * ```
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import {
  bindUpgradeResponse,
  createUpgradeResponse,
  isUpgradable,
  notFoundError,
  reject,
} from '@wsroute/core';

const contexts = new WeakMap<IncomingMessage, UpgradeContext>();

/** One upgrade request in flight through the Express app. Internal. */
export class UpgradeContext {
  /** The raw socket of the upgrade request. */
  readonly socket: Duplex;
  /** Bytes that arrived after the request headers (possibly the first frames). */
  readonly head: Buffer;
  /** The response bound to the socket, handed to Express. */
  readonly response: ServerResponse;
  readonly #release: () => void;
  #isTaken = false;
  #isRefused = false;

  private constructor(request: IncomingMessage, socket: Duplex, head: Buffer, release: () => void) {
    this.socket = socket;
    this.head = head;
    this.#release = release;
    const response = createUpgradeResponse(request);
    bindUpgradeResponse(response, socket, release);
    // An own property of our own response object, not a patch of Express's or Node's
    // prototypes (Express swaps the prototype of `res` but keeps own properties). Node calls
    // `this.writeHead` for implicit headers too, so every answer passes here.
    const writeHead = response.writeHead;
    const context = this;
    response.writeHead = function writeHeadOnUpgrade(
      this: ServerResponse,
      ...args: Parameters<ServerResponse['writeHead']>
    ): ServerResponse {
      if (context.#isPlainSuccess(args[0])) {
        context.#refuse();
        return this;
      }
      return writeHead.apply(this, args);
    } as ServerResponse['writeHead'];
    this.response = response;
  }

  /**
   * A 2xx from a plain route tells a websocket client nothing (it fails the handshake without
   * a reason): answer what the node attachment answers for a path without a websocket route.
   * Redirects and errors pass unchanged.
   */
  #isPlainSuccess(statusCode: number): boolean {
    return !this.#isTaken && statusCode >= 200 && statusCode < 300;
  }

  /** Takes the socket from the response (which then writes nowhere) and answers 404 on it. */
  #refuse(): void {
    this.#isRefused = true;
    this.response.detachSocket(this.socket as Socket);
    this.#release();
    reject(this.socket, notFoundError());
  }

  /**
   * Starts the context of an upgrade request.
   * @param request - the upgrade request
   * @param socket - its raw socket, already guarded
   * @param head - bytes after the request headers
   * @param release - releases the socket guard (handshake timer, error listener)
   * @returns the context, found again with {@link UpgradeContext.of}
   */
  static begin(
    request: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    release: () => void,
  ): UpgradeContext {
    const context = new UpgradeContext(request, socket, head, release);
    contexts.set(request, context);
    return context;
  }

  /**
   * @param request - any request
   * @returns the context when the request came through an attached `'upgrade'` listener
   */
  static of(request: IncomingMessage): UpgradeContext | undefined {
    return contexts.get(request);
  }

  /** Whether a websocket route took the socket over (the 101 is being or was written). */
  get isTaken(): boolean {
    return this.#isTaken;
  }

  /** Whether the socket may still get a 101: nothing answered, nothing timed out. */
  get isUpgradable(): boolean {
    return !this.#isTaken && !this.#isRefused && isUpgradable(this.response, this.socket);
  }

  /**
   * Takes the socket back from Express for the 101: the response is detached (it writes
   * nothing more) and the guard released. When the socket can no longer be upgraded, cleans up
   * instead: a response that started but never finished leaves the socket unusable, so it is
   * destroyed.
   * @returns true when the caller now owns the socket and must accept it
   */
  takeOver(): boolean {
    if (!this.isUpgradable) {
      const { response } = this;
      if (!this.#isTaken && !this.#isRefused && response.headersSent && !response.writableEnded) {
        this.socket.destroy();
      }
      return false;
    }
    this.#isTaken = true;
    this.response.detachSocket(this.socket as Socket);
    this.#release();
    return true;
  }
}
