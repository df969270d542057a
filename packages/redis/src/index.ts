/**
 * `@wsroute/redis`: a backplane over Redis pub/sub for the topics of `@wsroute/core`, so that a
 * publication made in one process reaches the subscribers of every process.
 * @module
 */
export {
  RedisBackplaneError,
  RedisBackplaneErrorCode,
  type RedisRole,
} from './errors.js';
export {
  computeReconnectDelay,
  DEFAULT_CHANNEL_PREFIX,
  DEFAULT_MAX_PENDING_BYTES,
  DEFAULT_MAX_RECONNECT_DELAY_MS,
  DEFAULT_MIN_RECONNECT_DELAY_MS,
  type OwnedRedisOption,
  type RedisBackplaneOptions,
  type RedisConnectionOptions,
} from './options.js';
export { RedisBackplane, redisBackplane } from './redis-backplane.js';
export type {
  RedisBackplaneClients,
  RedisBackplaneEvents,
  RedisBackplaneState,
  RedisBackplaneStats,
  RelayFailure,
  RelayFailureReason,
} from './types.js';
