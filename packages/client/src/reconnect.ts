/**
 * The reconnect policy: exponential backoff with jitter, bounded in attempts and delay.
 * @module
 */
import type { CloseInfo } from './close-info.js';

/** How the client reconnects after an open connection drops. */
export interface ReconnectOptions {
  /** Attempts after one drop before giving up; the count restarts once a reconnect opens. @default 10 */
  readonly attempts?: number;
  /** Delay before the first attempt, in ms. @default 500 */
  readonly initialDelay?: number;
  /** Longest delay, in ms. @default 30000 */
  readonly maxDelay?: number;
  /** Growth of the delay per attempt. @default 2 */
  readonly factor?: number;
  /** Fraction of each delay that is random, 0 (none) to 1 (full jitter). @default 0.5 */
  readonly jitter?: number;
  /**
   * Whether a close calls for a reconnect.
   * @default reconnect on 1001, 1005, 1006, 1011, 1012, 1013 and 1014 (going away, no status,
   *   abnormal, server error, restart, try again later, bad gateway)
   */
  readonly shouldReconnect?: (close: CloseInfo) => boolean;
}

/** A reconnect policy with every default applied. */
export type ReconnectPolicy = Required<ReconnectOptions>;

const TRANSIENT = [1001, 1005, 1006, 1011, 1012, 1013, 1014];

/**
 * @param close - how the connection ended
 * @returns whether the close is transient, so a reconnect may succeed
 */
export function isTransientClose(close: CloseInfo): boolean {
  return TRANSIENT.includes(close.code);
}

function check(value: number, name: string, min: number, max = Number.POSITIVE_INFINITY): number {
  if (!(value >= min && value <= max)) {
    throw new RangeError(`reconnect.${name} must be between ${min} and ${max}`);
  }
  return value;
}

/**
 * Applies the defaults and checks the bounds.
 * @param options - `true` for the defaults, options, or `false`/`undefined` for none
 * @returns the policy, or `undefined` when reconnecting is off
 * @throws RangeError for a negative delay, a factor below 1, jitter outside 0–1, or attempts
 *   that are not a whole number
 */
export function resolveReconnect(
  options: boolean | ReconnectOptions | undefined,
): ReconnectPolicy | undefined {
  if (!options) return undefined;
  const o = options === true ? {} : options;
  const attempts = check(o.attempts ?? 10, 'attempts', 1);
  if (!Number.isInteger(attempts)) throw new RangeError('reconnect.attempts must be an integer');
  const initialDelay = check(o.initialDelay ?? 500, 'initialDelay', 0);
  return {
    attempts,
    initialDelay,
    maxDelay: check(o.maxDelay ?? 30_000, 'maxDelay', initialDelay),
    factor: check(o.factor ?? 2, 'factor', 1),
    jitter: check(o.jitter ?? 0.5, 'jitter', 0, 1),
    shouldReconnect: o.shouldReconnect ?? isTransientClose,
  };
}

/**
 * The delay before an attempt: `initialDelay × factor^(attempt − 1)`, capped at `maxDelay`,
 * then reduced by up to `jitter` of itself at random, so clients dropped together spread out.
 * @param policy - the policy
 * @param attempt - the attempt number, from 1
 * @param random - a number in [0, 1)
 * @returns the delay in ms, within [(1 − jitter) × capped, capped]
 */
export function backoffDelay(policy: ReconnectPolicy, attempt: number, random: number): number {
  const capped = Math.min(policy.maxDelay, policy.initialDelay * policy.factor ** (attempt - 1));
  return Math.round(capped * (1 - policy.jitter * random));
}
