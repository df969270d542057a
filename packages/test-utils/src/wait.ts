/**
 * Bounded waits: a test that would hang fails with a timeout instead.
 */
import type { EventEmitter } from 'node:events';

/** Default bound of every wait, in ms. */
export const WAIT_MS = 5_000;

/**
 * Resolves with the arguments of the next `event`, or rejects after `ms`.
 * @param emitter - what emits the event
 * @param event - the event name
 * @param ms - the bound
 * @default ms WAIT_MS
 * @returns the event's arguments
 */
export function waitForEvent(
  emitter: EventEmitter,
  event: string,
  ms = WAIT_MS,
): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.off(event, listener);
      reject(new Error(`no '${event}' within ${ms} ms`));
    }, ms);
    const listener = (...args: unknown[]): void => {
      clearTimeout(timer);
      resolve(args);
    };
    emitter.once(event, listener);
  });
}

/**
 * Resolves with the value of `promise`, or rejects after `ms`.
 * @param promise - what to wait for
 * @param what - named in the timeout error
 * @param ms - the bound
 * @default ms WAIT_MS
 * @returns the value
 */
export function withTimeout<T>(promise: Promise<T>, what: string, ms = WAIT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * A promise whose resolve can be called from elsewhere, e.g. a handler.
 * @returns the promise and its resolve function
 */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}
