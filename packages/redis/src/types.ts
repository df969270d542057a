/**
 * The observable surface of the Redis backplane: its states, events, counters and the
 * reasons a publication was not relayed.
 * @module
 */
import type { Redis } from 'ioredis';
import type { RedisBackplaneError } from './errors.js';

/**
 * Where the backplane stands: `idle` before `open`, `connecting` until it is first up, `up`
 * while both connections are ready and every held topic is subscribed, `down` after a loss
 * until it is up again, `closed` after `close`.
 */
export type RedisBackplaneState = 'idle' | 'connecting' | 'up' | 'down' | 'closed';

/**
 * Why a publication was not relayed: `down` (refused: the backplane was not up), `overloaded`
 * (refused: `maxPendingBytes` unconfirmed bytes already), `closed` (refused: after `close`),
 * `unconfirmed` (accepted, then the connection broke or Redis answered an error before
 * confirming it: other processes may or may not have received it).
 */
export type RelayFailureReason = 'down' | 'overloaded' | 'closed' | 'unconfirmed';

/** What the `'relayFailure'` event carries. */
export interface RelayFailure {
  /** The topic of the publication. */
  readonly topic: string;
  /** Its payload length, in bytes. */
  readonly bytes: number;
  /** Why it was not relayed. */
  readonly reason: RelayFailureReason;
  /** For `unconfirmed`: what ioredis or Redis said. */
  readonly error?: Error;
}

/** Counters since the backplane was built (see `RedisBackplane.stats`). */
export interface RedisBackplaneStats {
  /** Publications accepted by `publish` (it returned `'sent'`). */
  readonly published: number;
  /** Accepted publications that Redis confirmed. */
  readonly confirmed: number;
  /** Publications refused by `publish` (it returned `'failed'`). */
  readonly failed: number;
  /** Accepted publications that Redis never confirmed (a `'relayFailure'` with `unconfirmed`). */
  readonly unconfirmed: number;
  /** Publications handed to the sink. */
  readonly received: number;
  /** Publications that arrived for a topic no longer held (in flight during its unsubscribe). */
  readonly dropped: number;
  /** How many times the backplane came back up after being down. */
  readonly reconnects: number;
  /** Topics held (subscribed, or to be subscribed when Redis is back). */
  readonly topics: number;
  /** Payload bytes accepted and not yet confirmed by Redis. */
  readonly pendingBytes: number;
}

/** The events of `RedisBackplane`, with their arguments. */
export interface RedisBackplaneEvents {
  /** The backplane can relay: both connections are ready and every held topic is subscribed. */
  up: [];
  /** It cannot any more (a connection was lost); the last connection error, if any. */
  down: [error: Error | undefined];
  /**
   * A connection error, a refused subscription or a throwing sink. Emitted only while a
   * listener is attached: an unobserved backplane never crashes the process.
   */
  error: [error: RedisBackplaneError];
  /** A publication was not relayed: `publish` returned `'failed'` or, if `unconfirmed`, `'sent'`. */
  relayFailure: [failure: RelayFailure];
}

/** The two ioredis connections of a backplane (see `RedisBackplane.clients`). */
export interface RedisBackplaneClients {
  /** Sends `PUBLISH` (or `SPUBLISH`) only. */
  readonly publisher: Redis;
  /** In subscriber mode: `SUBSCRIBE`/`UNSUBSCRIBE` (or their sharded forms) only. */
  readonly subscriber: Redis;
}
