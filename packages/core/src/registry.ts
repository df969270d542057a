/**
 * The set of open connections of a server, and graceful shutdown: every connection is closed
 * with 1001 and terminated if it has not finished within a deadline.
 * @module
 */
import type { AnyConnection } from './connection-types.js';

/** Options of a shutdown (`close()` on every entry point). */
export interface ShutdownOptions {
  /** Close code sent to every connection. @default 1001 */
  readonly code?: number;
  /** Close reason. @default 'server shutting down' */
  readonly reason?: string;
  /**
   * Time for the closing handshakes, in ms, after which remaining sockets are destroyed.
   * @default the entry point's `shutdownTimeout` (5000)
   */
  readonly timeout?: number;
}

/** Tracks open connections; one per server, plugin or middleware instance. */
export class ConnectionRegistry {
  readonly #connections = new Set<AnyConnection>();
  #isShuttingDown = false;
  #waiters: Array<() => void> = [];

  /** The open connections. */
  get connections(): ReadonlySet<AnyConnection> {
    return this.#connections;
  }

  /** Whether `shutdown()` has begun: new handshakes should be refused with 503. */
  get isShuttingDown(): boolean {
    return this.#isShuttingDown;
  }

  /**
   * Adds a connection. Internal, called by `accept()`.
   * @param connection - the new connection
   */
  add(connection: AnyConnection): void {
    this.#connections.add(connection);
  }

  /**
   * Removes a closed connection. Internal, called when its socket closes.
   * @param connection - the closed connection
   */
  delete(connection: AnyConnection): void {
    this.#connections.delete(connection);
    if (this.#connections.size === 0 && this.#waiters.length > 0) {
      const waiters = this.#waiters;
      this.#waiters = [];
      for (const resolve of waiters) resolve();
    }
  }

  /**
   * Closes every connection with 1001 and waits for them; sockets still open after `timeout`
   * are destroyed.
   * @param options - code, reason and deadline
   * @returns resolves once every connection is closed
   */
  async shutdown(options: ShutdownOptions = {}): Promise<void> {
    this.#isShuttingDown = true;
    const { code = 1001, reason = 'server shutting down', timeout = 5000 } = options;
    if (this.#connections.size === 0) return;
    const allClosed = new Promise<void>((resolve) => this.#waiters.push(resolve));
    for (const connection of this.#connections) connection.close(code, reason);
    const timer = setTimeout(() => {
      for (const connection of this.#connections) connection.terminate();
    }, timeout);
    try {
      await allClosed;
    } finally {
      clearTimeout(timer);
    }
  }
}
