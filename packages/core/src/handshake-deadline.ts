/**
 * The handshake deadline from the first byte: Node emits `'upgrade'` only once the request's
 * headers are complete, so a client that never finishes them is cut here, by one sweep timer
 * per server, within `handshakeTimeout` of connecting (408, then the socket is ended).
 *
 * Only the first request of each TCP connection is watched: later requests of a keep-alive
 * connection are covered by Node's own `headersTimeout`, and an upgrade that follows a plain
 * request starts its deadline at the `'upgrade'` event.
 * @module
 */
import type { Server } from 'node:http';
import { Server as HttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import { handshakeTimeoutError } from './errors.js';
import { reject } from './http-reject.js';

/** Fewest ms between two sweeps. */
const MIN_SWEEP_MS = 5;

/** The `'request'` listeners deadlines add, told apart from the application's own. */
const ownListeners = new WeakSet<object>();

/**
 * The application's `'request'` listeners of a server, without those the handshake deadline
 * added (it watches when each connection's first request arrives).
 * @param server - a `node:http` or `node:https` server
 * @returns the listeners, in order
 */
export function requestListenersOf(server: Server): unknown[] {
  return server.listeners('request').filter((listener) => !ownListeners.has(listener));
}

/** Watches the sockets of attached servers until their first request's headers arrive. */
export class HandshakeDeadline {
  readonly #timeout: number;
  readonly #period: number;
  /** Sockets whose first request has not arrived, with the time they connected. */
  readonly #waiting = new Map<Duplex, number>();
  /**
   * The socket of the `'upgrade'` event being emitted and when it connected: the lifecycle's
   * `begin()` runs within that emit and reads it through {@link HandshakeDeadline.remaining}.
   * One slot instead of a map from every socket: nothing per connection outlives its request.
   */
  #upgrading: Duplex | undefined;
  #upgradingSince = 0;
  #sweeper: NodeJS.Timeout | undefined;
  readonly #onConnection = (socket: Duplex): void => this.#watch(socket);
  readonly #onRequest = (request: { readonly socket: Duplex }): void => {
    this.forget(request.socket);
  };
  readonly #onUpgrade = (_request: unknown, socket: Duplex): void => {
    const connectedAt = this.#waiting.get(socket);
    this.#upgrading = connectedAt === undefined ? undefined : socket;
    this.#upgradingSince = connectedAt ?? 0;
    this.forget(socket);
  };
  /** The `'close'` listener of watched sockets: one function per deadline, none per socket. */
  readonly #onSocketClose: (this: Duplex) => void;

  /** @param timeout - `handshakeTimeout` in ms */
  constructor(timeout: number) {
    ownListeners.add(this.#onRequest);
    this.#timeout = timeout;
    this.#period = Math.max(MIN_SWEEP_MS, Math.floor(timeout / 10));
    const deadline = this;
    this.#onSocketClose = function onWatchedSocketClose(this: Duplex): void {
      deadline.forget(this);
    };
  }

  /**
   * Watches every new connection of a server.
   * @param server - a `node:http` or `node:https` server
   * @returns stops watching it
   */
  watch(server: Server): () => void {
    // An https server parses HTTP on the TLS socket, the one its 'upgrade' event carries.
    const event = server instanceof HttpsServer ? 'secureConnection' : 'connection';
    server.on(event, this.#onConnection);
    server.on('request', this.#onRequest);
    server.on('upgrade', this.#onUpgrade);
    return () => {
      server.off(event, this.#onConnection);
      server.off('request', this.#onRequest);
      server.off('upgrade', this.#onUpgrade);
    };
  }

  /**
   * Milliseconds left for an upgrade on this socket: the deadline counts from the first byte
   * of its first request (approximated by the connection), or from now for a later request.
   * Call it while the socket's `'upgrade'` event is being emitted.
   * @param socket - the socket of an `'upgrade'` event
   * @returns the time left, never negative
   */
  remaining(socket: Duplex): number {
    if (socket !== this.#upgrading) return this.#timeout;
    this.#upgrading = undefined;
    return Math.max(0, this.#upgradingSince + this.#timeout - Date.now());
  }

  /**
   * Stops watching a socket: its first request arrived, or it closed.
   * @param socket - a watched socket
   */
  forget(socket: Duplex): void {
    if (!this.#waiting.delete(socket)) return;
    socket.off('close', this.#onSocketClose);
  }

  #watch(socket: Duplex): void {
    this.#waiting.set(socket, Date.now());
    socket.on('close', this.#onSocketClose);
    if (!this.#sweeper) {
      this.#sweeper = setInterval(() => this.#sweep(), this.#period);
      this.#sweeper.unref();
    }
  }

  #sweep(): void {
    // Cut a sweep early rather than late: within the deadline, never past it.
    const limit = Date.now() - this.#timeout + this.#period;
    for (const [socket, connectedAt] of this.#waiting) {
      if (connectedAt > limit) continue;
      this.forget(socket);
      reject(socket, handshakeTimeoutError());
    }
    if (this.#waiting.size === 0) {
      clearInterval(this.#sweeper);
      this.#sweeper = undefined;
    }
  }
}
