/**
 * Options of the Redis backplane: their types, their defaults and their validation, which runs
 * synchronously when the backplane is built so that bad configuration fails at start-up.
 * @module
 */
import type { RedisOptions } from 'ioredis';

/**
 * The ioredis options the backplane sets itself, because its guarantees depend on them: no
 * offline queue (`publish` must fail now rather than queue while Redis is away), no automatic
 * resend or resubscribe (the backplane reconnects and resubscribes on its own schedule), lazy
 * connection (nothing connects before `open`), no key prefix (`channelPrefix` names channels),
 * no auto-pipelining (each publication is written when `publish` returns).
 */
export type OwnedRedisOption =
  | 'lazyConnect'
  | 'enableOfflineQueue'
  | 'offlineQueue'
  | 'retryStrategy'
  | 'maxRetriesPerRequest'
  | 'autoResubscribe'
  | 'autoResendUnfulfilledCommands'
  | 'reconnectOnError'
  | 'keyPrefix'
  | 'enableAutoPipelining'
  | 'monitor';

/** The ioredis options a user may pass: connection, authentication, TLS, timeouts. */
export type RedisConnectionOptions = Omit<RedisOptions, OwnedRedisOption>;

/** Options of {@link redisBackplane}. Every field is optional. */
export interface RedisBackplaneOptions {
  /**
   * Where Redis listens, as `redis://[[user]:password@]host[:port]` or `rediss://` for TLS,
   * without a query string (put options in `redis`). What the URL says wins over the same
   * fields in `redis`. Without a URL, ioredis connects to `redis.host` and `redis.port`.
   * @default undefined (localhost:6379)
   */
  readonly url?: string;
  /**
   * ioredis connection options (host, port, username, password, tls, connectTimeout, keepAlive,
   * connectionName, ...), applied to both connections. The options that the backplane's
   * guarantees depend on are not accepted here (see {@link OwnedRedisOption}).
   */
  readonly redis?: RedisConnectionOptions;
  /**
   * Prepended to every topic to name its Redis channel (`<channelPrefix><topic>`), so several
   * applications can share one Redis. Every process of one application must use the same one.
   * @default 'wsroute:'
   */
  readonly channelPrefix?: string;
  /**
   * Use sharded pub/sub (`SSUBSCRIBE`, `SUNSUBSCRIBE`, `SPUBLISH`, Redis 7 or later) instead
   * of classic pub/sub. Both ends must agree: a sharded publication never reaches a classic
   * subscriber.
   * @default false
   */
  readonly sharded?: boolean;
  /**
   * Delay before the first reconnection attempt after a connection is lost, in ms. Each failed
   * attempt doubles it, up to `maxReconnectDelayMs`; each delay is jittered down by up to half.
   * @default 100
   */
  readonly minReconnectDelayMs?: number;
  /**
   * Bound of the reconnection delay, in ms. The backplane never stops trying until `close()`.
   * @default 5000
   */
  readonly maxReconnectDelayMs?: number;
  /**
   * Bound of the payload bytes handed to Redis and not yet confirmed by it. A publication that
   * would exceed it is refused (`'failed'`), so a stalled Redis cannot make memory grow.
   * @default 16777216 (16 MiB)
   */
  readonly maxPendingBytes?: number;
}

/** Default channel prefix. */
export const DEFAULT_CHANNEL_PREFIX = 'wsroute:';
/** Default first reconnection delay, in ms. */
export const DEFAULT_MIN_RECONNECT_DELAY_MS = 100;
/** Default bound of the reconnection delay, in ms. */
export const DEFAULT_MAX_RECONNECT_DELAY_MS = 5_000;
/** Default bound of unconfirmed payload bytes. */
export const DEFAULT_MAX_PENDING_BYTES = 16 * 1024 * 1024;

/** The options with every default applied. */
export interface ResolvedOptions {
  readonly url: string | undefined;
  readonly redis: RedisConnectionOptions;
  readonly channelPrefix: string;
  readonly sharded: boolean;
  readonly minReconnectDelayMs: number;
  readonly maxReconnectDelayMs: number;
  readonly maxPendingBytes: number;
}

const OWNED: readonly OwnedRedisOption[] = [
  'lazyConnect',
  'enableOfflineQueue',
  'offlineQueue',
  'retryStrategy',
  'maxRetriesPerRequest',
  'autoResubscribe',
  'autoResendUnfulfilledCommands',
  'reconnectOnError',
  'keyPrefix',
  'enableAutoPipelining',
  'monitor',
];

/**
 * Applies the defaults and checks every option.
 * @param options - what the user passed
 * @returns the options with defaults
 * @throws TypeError when an option has the wrong type or range, or `redis` sets an option the
 *   backplane owns
 */
export function resolveOptions(options: RedisBackplaneOptions = {}): ResolvedOptions {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError('redisBackplane: options must be an object');
  }
  const url = options.url;
  if (url !== undefined) checkUrl(url);
  const redis = options.redis ?? {};
  if (typeof redis !== 'object' || redis === null) {
    throw new TypeError('redisBackplane: redis must be an object of ioredis options');
  }
  for (const name of OWNED) {
    if (name in redis) {
      throw new TypeError(`redisBackplane: redis.${name} is set by the backplane itself`);
    }
  }
  const channelPrefix = options.channelPrefix ?? DEFAULT_CHANNEL_PREFIX;
  if (typeof channelPrefix !== 'string') {
    throw new TypeError('redisBackplane: channelPrefix must be a string');
  }
  const sharded = options.sharded ?? false;
  if (typeof sharded !== 'boolean') {
    throw new TypeError('redisBackplane: sharded must be a boolean');
  }
  const minReconnectDelayMs = checkInteger(
    'minReconnectDelayMs',
    options.minReconnectDelayMs ?? DEFAULT_MIN_RECONNECT_DELAY_MS,
    1,
  );
  const maxReconnectDelayMs = checkInteger(
    'maxReconnectDelayMs',
    options.maxReconnectDelayMs ?? Math.max(DEFAULT_MAX_RECONNECT_DELAY_MS, minReconnectDelayMs),
    minReconnectDelayMs,
  );
  const maxPendingBytes = checkInteger(
    'maxPendingBytes',
    options.maxPendingBytes ?? DEFAULT_MAX_PENDING_BYTES,
    1,
  );
  return {
    url,
    redis,
    channelPrefix,
    sharded,
    minReconnectDelayMs,
    maxReconnectDelayMs,
    maxPendingBytes,
  };
}

function checkUrl(url: unknown): void {
  let parsed: URL | undefined;
  try {
    parsed = typeof url === 'string' ? new URL(url) : undefined;
  } catch {
    parsed = undefined;
  }
  if (parsed === undefined || (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:')) {
    throw new TypeError('redisBackplane: url must be a redis:// or rediss:// URL');
  }
  // ioredis reads options from the query string, where they would override the options the
  // backplane owns (lazyConnect, enableOfflineQueue, ...).
  if (parsed.search !== '') {
    throw new TypeError('redisBackplane: url must have no query string; pass options in redis');
  }
}

function checkInteger(name: string, value: unknown, min: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw new TypeError(`redisBackplane: ${name} must be an integer of at least ${min}`);
  }
  return value;
}

/**
 * The delay before reconnection attempt `attempt`: exponential from `min`, bounded by `max`,
 * jittered down by up to half so that many processes losing Redis at once do not all come back
 * in the same millisecond.
 * @param attempt - 0 for the first attempt after a loss
 * @param min - the first delay, in ms
 * @param max - the bound, in ms
 * @param random - a number in [0, 1)
 * @default random Math.random()
 * @returns the delay, in ms, between `min / 2` and `max`
 */
export function computeReconnectDelay(
  attempt: number,
  min: number,
  max: number,
  random = Math.random(),
): number {
  const exponential = Math.min(max, min * 2 ** Math.min(attempt, 30));
  return Math.max(1, Math.round(exponential * (1 - random / 2)));
}
