/**
 * The errors the Redis backplane reports through its `'error'` event. Each has a stable `code`;
 * the underlying ioredis or sink error, when there is one, is its `cause`.
 * @module
 */

/** Stable codes of {@link RedisBackplaneError}. */
export const RedisBackplaneErrorCode = {
  /** A Redis connection failed or broke (refused, reset, timed out, authentication, ...). */
  CONNECTION: 'ERR_WSROUTE_REDIS_CONNECTION',
  /** Redis refused a subscribe or unsubscribe command (e.g. an ACL denies the channel). */
  SUBSCRIPTION: 'ERR_WSROUTE_REDIS_SUBSCRIPTION',
  /** The sink given to `open` threw while receiving a publication. */
  SINK: 'ERR_WSROUTE_REDIS_SINK',
  /** `open` was called a second time, or after `close`; the call was ignored. */
  OPEN: 'ERR_WSROUTE_REDIS_OPEN',
} as const;

/** One of the codes of {@link RedisBackplaneErrorCode}. */
export type RedisBackplaneErrorCode =
  (typeof RedisBackplaneErrorCode)[keyof typeof RedisBackplaneErrorCode];

/** Which of the backplane's two Redis connections an event concerns. */
export type RedisRole = 'publisher' | 'subscriber';

/** What the backplane's `'error'` event carries. */
export class RedisBackplaneError extends Error {
  /** What went wrong, stable across versions. */
  readonly code: RedisBackplaneErrorCode;
  /** The connection concerned, when there is one. */
  readonly role: RedisRole | undefined;

  /**
   * @param code - the stable code
   * @param message - a human-readable description
   * @param role - the connection concerned
   * @param cause - the underlying error
   */
  constructor(code: RedisBackplaneErrorCode, message: string, role?: RedisRole, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'RedisBackplaneError';
    this.code = code;
    this.role = role;
  }
}
