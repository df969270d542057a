/** Bounded waits on the client's events, so a broken client fails a test instead of hanging it. */
import type { ClientBase, ClientEvents } from '../../src/client-types.js';

/** Longest wait for one event, in ms. */
export const WAIT_MS = 5_000;

/**
 * Rejects when `promise` takes longer than `ms`.
 * @param promise - what to wait for
 * @param what - named in the timeout error
 * @param ms - the bound
 */
export function withTimeout<T>(promise: Promise<T>, what: string, ms = WAIT_MS): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** The next `type` event of `client`. */
export function nextEvent<E extends keyof ClientEvents>(
  client: ClientBase,
  type: E,
): Promise<ClientEvents[E]> {
  return withTimeout(
    new Promise((resolve) => {
      const off = client.on(type, (event) => {
        off();
        resolve(event);
      });
    }),
    `the ${type} event`,
  );
}

/** Collects `count` messages from an iterator. */
export async function take<T>(iterator: AsyncIterator<T>, count: number): Promise<T[]> {
  const values: T[] = [];
  while (values.length < count) {
    const next = await withTimeout(iterator.next(), `message ${values.length + 1}`);
    if (next.done) break;
    values.push(next.value);
  }
  return values;
}
