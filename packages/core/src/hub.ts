/**
 * What every entry point offers the application once routes are declared: its open
 * connections, topics, and graceful shutdown. The `node:http` attachment, the Express and Koa
 * middleware objects and the Fastify plugin's `app.websocket` all are hubs.
 * @module
 */
import type { ShedSelection } from './admission.js';
import type { AnyConnection } from './connection-types.js';
import type { ShutdownOptions } from './registry.js';
import { type PublishReport, type TopicLike, type TopicStats, topicName } from './topics.js';
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
   * Publishes a value to every subscriber of a topic in this process and, with a backplane,
   * in every other process of the application. Each subscribed protocol encodes the value once
   * (its codec; without one the value must be a string or bytes) and every subscriber of that
   * protocol gets the same frame. Across processes the value travels as text, bytes or JSON.
   * @example
   * ```ts
   * const report = wss.publish('room:lobby', { from: 'server', text: 'hello' });
   * if (report.relay === 'failed') log('not relayed to the other processes');
   * ```
   * @param topic - a name or a typed `topic<T>(name)`
   * @param value - the value to publish
   * @returns what happened to every subscriber here, and whether the backplane took it
   * @throws TypeError when a backplane is attached and the value is not JSON-serialisable
   */
  publish<T>(topic: TopicLike<T>, value: T): PublishReport {
    return this.#lifecycle.topics.publish(topicName(topic), value, undefined);
  }

  /**
   * @param topic - a name or a typed topic
   * @returns how many connections of this process are subscribed to it
   */
  subscriberCount(topic: TopicLike<unknown>): number {
    return this.#lifecycle.topics.count(topicName(topic));
  }

  /** Counters of this entry point's topics: published, delivered, dropped, closed, relayed… */
  get topicStats(): TopicStats {
    return this.#lifecycle.topics.stats;
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
