/**
 * One upgrade request while Fastify routes it: the raw socket and the bytes that came with the
 * request, kept on the raw request under a symbol, and an ordinary `ServerResponse` bound to the
 * socket so that hooks, the 404 handler and the error handler answer as plain HTTP.
 *
 * ```
 *   'upgrade' --begin()--> response bound to the socket, fastify.routing(req, res)
 *      |-- a hook, 404 or error handler replies --> 'finish' --> socket ended (HTTP, no 101)
 *      |-- websocket route negotiates ------------> takeOver(): response detached --> accept()
 *      '-- nothing within handshakeTimeout -------> the guard answers 408
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
  isWebSocketUpgrade,
} from '@wsroute/core';

const kUpgrade: unique symbol = Symbol('wsroute.fastify.upgrade');

/** A raw request that may carry the state of its upgrade. */
type UpgradeRequest = IncomingMessage & { [kUpgrade]?: UpgradeSocket };

/** The socket side of one upgrade request in flight through Fastify. Internal. */
export class UpgradeSocket {
  /** The raw socket of the upgrade request. */
  readonly socket: Duplex;
  /** Bytes that arrived after the request headers (possibly the first frames). */
  readonly head: Buffer;
  /** The response bound to the socket, handed to `fastify.routing()`. */
  readonly response: ServerResponse;
  /**
   * Whether the upgrade asks for websocket (not, e.g., `h2c` from curl, which is served as plain
   * HTTP/1.1). The handshake itself is validated by the core.
   */
  readonly isWebSocket: boolean;
  readonly #release: () => void;
  #isTaken = false;

  private constructor(request: IncomingMessage, socket: Duplex, head: Buffer, release: () => void) {
    this.socket = socket;
    this.head = head;
    this.isWebSocket = isWebSocketUpgrade(request);
    this.#release = release;
    this.response = createUpgradeResponse(request);
    bindUpgradeResponse(this.response, socket, release);
  }

  /**
   * Starts the state of an upgrade request and keeps it on the request.
   * @param request - the upgrade request
   * @param socket - its raw socket, already guarded
   * @param head - bytes after the request headers
   * @param release - releases the socket guard (handshake timer, error listener)
   * @returns the state, found again with {@link UpgradeSocket.of}
   */
  static begin(
    request: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    release: () => void,
  ): UpgradeSocket {
    const state = new UpgradeSocket(request, socket, head, release);
    (request as UpgradeRequest)[kUpgrade] = state;
    return state;
  }

  /**
   * @param request - any raw request
   * @returns its state when it came through the plugin's `'upgrade'` listener
   */
  static of(request: IncomingMessage): UpgradeSocket | undefined {
    return (request as UpgradeRequest)[kUpgrade];
  }

  /** Whether the socket may still get a 101: nothing answered, nothing timed out. */
  get isUpgradable(): boolean {
    return !this.#isTaken && isUpgradable(this.response, this.socket);
  }

  /**
   * Takes the socket back from Fastify for the 101: the response is detached (it writes nothing
   * more) and the guard released. When the socket can no longer be upgraded, nothing changes.
   * @returns true when the caller now owns the socket and must accept it
   */
  takeOver(): boolean {
    if (!this.isUpgradable) return false;
    this.#isTaken = true;
    this.response.detachSocket(this.socket as Socket);
    this.#release();
    return true;
  }
}
