/**
 * What every entry point offers the application once routes are declared: its open
 * connections and graceful shutdown. The `node:http` attachment, the Express and Koa
 * middleware objects and the Fastify plugin's `app.websocket` all are hubs.
 * @module
 */
import type { ShedSelection } from './admission.js';
import type { AnyConnection } from './connection-types.js';
import type { ShutdownOptions } from './registry.js';
import type { UpgradeLifecycle } from './upgrade-lifecycle.js';

/** The application's view of one entry point. */
export class WebSocketHub {
  readonly #lifecycle: UpgradeLifecycle;

  /**
   * Made by the entry points (`new WebSocketServer()`, `wsroute()` of each adapter).
   * @param lifecycle - the entry point's upgrade lifecycle (`@wsroute/core/adapter`)
   */
  constructor(lifecycle: UpgradeLifecycle) {
    this.#lifecycle = lifecycle;
  }

  /**
   * The open connections of every route of this entry point. Each knows its `path` and
   * negotiated `protocol`; `sendRaw()` sends exact frames whatever its codec.
   */
  get connections(): ReadonlySet<AnyConnection> {
    return this.#lifecycle.connections;
  }

  /**
   * Closes every connection with 1001 (or `options.code`) and refuses new upgrades with 503
   * (`WS_SHUTTING_DOWN`). Closing the server (or app) does this too.
   * @param options - code, reason, and the deadline after which sockets are destroyed
   * @returns resolves once every connection is closed
   */
  close(options?: ShutdownOptions): Promise<void> {
    return this.#lifecycle.shutdown(options);
  }

  /**
   * Sheds load after the 101: closes open connections with 1013 (Try Again Later), so their
   * clients come back later or to another instance, e.g. when event-loop delay or memory
   * says this process is overloaded, or after scaling out. New handshakes are still admitted
   * (lower them with `maxConnections`, or answer 503 from your own hook while overloaded).
   * @example
   * ```ts
   * if (eventLoopDelay.mean > 200e6) hub.shed(Math.ceil(hub.connections.size / 10));
   * hub.shed((connection) => connection.path === '/feed');
   * ```
   * @param selection - how many (the newest first: long-lived sessions keep their state), or
   *   a predicate picking them
   * @param reason - the close reason @default 'try again later'
   * @returns how many connections were told to close
   * @throws RangeError for a count that is not an integer >= 0
   */
  shed(selection: ShedSelection, reason?: string): number {
    return this.#lifecycle.shed(selection, reason);
  }
}
