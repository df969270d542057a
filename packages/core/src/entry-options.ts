/**
 * The options every entry point takes (the `node:http` attachment, the Fastify plugin, the
 * Express and Koa middleware), checked by one rule set, at registration.
 * @module
 */

import {
  type EntryAdmissionOptions,
  type ResolvedEntryAdmission,
  resolveEntryAdmission,
} from './admission.js';
import type { Backplane } from './backplane.js';
import type { AnyConnection } from './connection-types.js';
import { DEFAULT_LIMITS } from './constants.js';
import type { WebSocketError } from './errors.js';
import {
  DEFAULT_TOPIC_HIGH_WATER_MARK,
  type SlowSubscriberPolicy,
  type TopicOptions,
} from './topics.js';

/** Default deadline of the closing handshakes when the server or app closes, in ms. */
export const DEFAULT_SHUTDOWN_TIMEOUT = 5_000;

/**
 * Receives the handler errors that no `onError` handled (a throw or rejection in `onOpen`,
 * `onMessage`, … of a protocol without `onError`). The connection still closes with 1011.
 */
export type UnhandledErrorListener = (error: WebSocketError, connection: AnyConnection) => void;

/**
 * Options shared by every entry point; the admission options (origins, trusted proxies, limits,
 * the credential prefix) are documented on {@link EntryAdmissionOptions}.
 */
export interface EntryOptions extends EntryAdmissionOptions {
  /**
   * Time from the first byte of the request to the 101, hooks and middleware included, in ms.
   * A request whose headers are not complete by then is answered 408 and dropped; an upgrade
   * still undecided is answered 408 (`WS_HANDSHAKE_TIMEOUT`).
   * @default 10000
   */
  readonly handshakeTimeout?: number;
  /** Most request header lines on an upgrade; more get 431 (`WS_HEADERS_TOO_LARGE`). @default 100 */
  readonly maxHeaderCount?: number;
  /** Most bytes of request headers on an upgrade; more get 431 (`WS_HEADERS_TOO_LARGE`). @default 16384 */
  readonly maxHeaderBytes?: number;
  /**
   * Deadline of the closing handshakes when the server or app closes (every connection gets
   * 1001), in ms; sockets still open afterwards are destroyed.
   * @default 5000
   */
  readonly shutdownTimeout?: number;
  /**
   * Handler errors no `onError` handled. By default they go to the framework's logger
   * (Fastify's `log.error`, Koa's `app.emit('error')`) or, on the `node:http` attachment and
   * Express, to `process.emitWarning`.
   */
  readonly onError?: UnhandledErrorListener;
  /** Slow-subscriber handling of topics (`highWaterMark` 4 MiB, `slowSubscriber` `'close'`). */
  readonly topics?: TopicOptions;
  /**
   * Carries topic publications to every other process of the application (e.g.
   * `redisBackplane()` from `@wsroute/redis`). Opened with the entry point, closed on shutdown.
   */
  readonly backplane?: Backplane;
}

/** {@link EntryOptions} with every default applied. */
export interface ResolvedEntryOptions {
  readonly handshakeTimeout: number;
  readonly maxHeaderCount: number;
  readonly maxHeaderBytes: number;
  readonly shutdownTimeout: number;
  readonly onError: UnhandledErrorListener | undefined;
  readonly topics: Required<TopicOptions>;
  readonly backplane: Backplane | undefined;
  readonly admission: ResolvedEntryAdmission;
}

function readDuration(
  entry: string,
  options: EntryOptions,
  name: keyof EntryOptions,
  fallback: number,
): number {
  const value: unknown = options[name];
  if (value === undefined) return fallback;
  // setTimeout fires at once for Infinity or values beyond 2^31 - 1 ms: refuse them.
  if (typeof value !== 'number' || !(value > 0) || value > 0x7fffffff) {
    throw new TypeError(`${entry}: ${name} must be a number of milliseconds, > 0 and < 2^31`);
  }
  return value;
}

function readCount(
  entry: string,
  options: EntryOptions,
  name: keyof EntryOptions,
  fallback: number,
): number {
  const value: unknown = options[name];
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    throw new TypeError(`${entry}: ${name} must be a positive integer`);
  }
  return value;
}

function readTopicOptions(entry: string, topics: unknown): Required<TopicOptions> {
  if (topics === undefined) topics = {};
  if (typeof topics !== 'object' || topics === null) {
    throw new TypeError(`${entry}: topics must be an object`);
  }
  const given = topics as TopicOptions;
  const highWaterMark: unknown = given.highWaterMark ?? DEFAULT_TOPIC_HIGH_WATER_MARK;
  if (
    typeof highWaterMark !== 'number' ||
    !Number.isSafeInteger(highWaterMark) ||
    highWaterMark <= 0
  ) {
    throw new TypeError(`${entry}: topics.highWaterMark must be a positive integer`);
  }
  const policy: unknown = given.slowSubscriber ?? 'close';
  if (policy !== 'close' && policy !== 'drop') {
    throw new TypeError(`${entry}: topics.slowSubscriber must be 'close' or 'drop'`);
  }
  return { highWaterMark, slowSubscriber: policy as SlowSubscriberPolicy };
}

function readBackplane(entry: string, backplane: unknown): Backplane | undefined {
  if (backplane === undefined) return undefined;
  const methods = ['open', 'subscribe', 'unsubscribe', 'publish', 'close'] as const;
  const candidate = backplane as Record<string, unknown> | null;
  if (typeof candidate !== 'object' || candidate === null) {
    throw new TypeError(`${entry}: backplane must be a Backplane (e.g. redisBackplane())`);
  }
  for (const method of methods) {
    if (typeof candidate[method] !== 'function') {
      throw new TypeError(`${entry}: backplane.${method} must be a function`);
    }
  }
  return backplane as Backplane;
}

/**
 * Checks an entry point's options and applies the defaults.
 * @param entry - the entry point's name for error messages, e.g. `@wsroute/koa`
 * @param options - what the application passed
 * @returns the resolved options
 * @throws TypeError for options that are not an object or a value out of range
 */
export function resolveEntryOptions(entry: string, options: unknown): ResolvedEntryOptions {
  if (options === undefined) options = {};
  if (typeof options !== 'object' || options === null) {
    throw new TypeError(`${entry}: options must be an object`);
  }
  const given = options as EntryOptions;
  const onError: unknown = given.onError;
  if (onError !== undefined && typeof onError !== 'function') {
    throw new TypeError(`${entry}: onError must be a function`);
  }
  return {
    topics: readTopicOptions(entry, given.topics),
    backplane: readBackplane(entry, given.backplane),
    handshakeTimeout: readDuration(
      entry,
      given,
      'handshakeTimeout',
      DEFAULT_LIMITS.handshakeTimeout,
    ),
    maxHeaderCount: readCount(entry, given, 'maxHeaderCount', DEFAULT_LIMITS.maxHeaderCount),
    maxHeaderBytes: readCount(entry, given, 'maxHeaderBytes', DEFAULT_LIMITS.maxHeaderBytes),
    shutdownTimeout: readDuration(entry, given, 'shutdownTimeout', DEFAULT_SHUTDOWN_TIMEOUT),
    onError: onError as UnhandledErrorListener | undefined,
    admission: resolveEntryAdmission(entry, given),
  };
}
