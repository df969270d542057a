/**
 * The inbox: received messages in arrival order, whatever order their validations settle in,
 * handed to listeners and async iterators.
 *
 * ```
 *   push(outcome | Promise<outcome>) ──► FIFO [ m1 (pending) | m2 (ok) | m3 (pending) ]
 *                                           │ head settled?
 *                                           ▼
 *                           ok: held until the first consumer, then listeners + iterators
 *                           failed: onFailure(error) (the client may clear() the rest)
 * ```
 * @module
 */
import type { ClientError } from './errors.js';

/** What became of one received message. */
export type Outcome = { readonly value: unknown } | { readonly error: ClientError };

interface Entry {
  outcome?: Outcome;
}

/** One `messages()` iterator: its own buffer from its creation on. */
interface Channel {
  push(value: unknown): void;
  end(): void;
}

function isPromise<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}

/** Calls `listener` so that a throw surfaces as an uncaught error without stopping delivery. */
export function callSafely<T>(listener: (value: T) => void, value: T): void {
  try {
    listener(value);
  } catch (error) {
    queueMicrotask(() => {
      throw error;
    });
  }
}

/** Ordered delivery of validated messages. Internal to the client. */
export class Inbox {
  #queue: Entry[] = [];
  /** Messages that arrived before any consumer, or `undefined` once one exists. */
  #held: unknown[] | undefined = [];
  #releasing = false;
  #ended = false;
  readonly #listeners = new Set<(value: unknown) => void>();
  readonly #channels = new Set<Channel>();
  readonly #onFailure: (error: ClientError) => void;

  /** @param onFailure - called, in order, for a message that failed decoding or validation */
  constructor(onFailure: (error: ClientError) => void) {
    this.#onFailure = onFailure;
  }

  /**
   * Queues a received message. A settled outcome at the head is delivered synchronously.
   * @param outcome - its outcome, or a promise of it that never rejects
   */
  push(outcome: Outcome | Promise<Outcome>): void {
    const entry: Entry = {};
    this.#queue.push(entry);
    if (isPromise(outcome)) {
      void outcome.then((settled) => {
        entry.outcome = settled;
        this.#flush();
      });
    } else {
      entry.outcome = outcome;
      this.#flush();
    }
  }

  /** Drops every queued message, settled or not (after the client gave up on a connection). */
  clear(): void {
    this.#queue = [];
    this.#finishIfDone();
  }

  /** No more messages will come: iterators end once everything queued is delivered. */
  end(): void {
    this.#ended = true;
    this.#finishIfDone();
  }

  /**
   * @param listener - called with each message from now on
   * @returns a function that removes the listener
   */
  listen(listener: (value: unknown) => void): () => void {
    this.#listeners.add(listener);
    this.#release();
    return () => {
      this.#listeners.delete(listener);
    };
  }

  /** @returns an iterator over the messages from now on; it ends when the inbox ends. */
  iterate(): AsyncIterableIterator<unknown, undefined, undefined> {
    const buffer: unknown[] = [];
    let waiting: ((result: IteratorResult<unknown, undefined>) => void) | undefined;
    let isDone = false;
    const done = { value: undefined, done: true } as const;
    const finish = (): void => {
      isDone = true;
      this.#channels.delete(channel);
      waiting?.(done);
      waiting = undefined;
    };
    const channel: Channel = {
      push(value) {
        if (waiting) waiting({ value, done: false });
        else buffer.push(value);
        waiting = undefined;
      },
      end: finish,
    };
    this.#channels.add(channel);
    this.#release();
    this.#finishIfDone();
    return {
      next: () => {
        if (buffer.length > 0) return Promise.resolve({ value: buffer.shift(), done: false });
        if (isDone) return Promise.resolve(done);
        return new Promise((resolve) => {
          waiting = resolve;
        });
      },
      return: () => {
        buffer.length = 0;
        finish();
        return Promise.resolve(done);
      },
      [Symbol.asyncIterator]() {
        return this;
      },
    };
  }

  #flush(): void {
    for (let outcome = this.#queue[0]?.outcome; outcome; outcome = this.#queue[0]?.outcome) {
      this.#queue.shift();
      if ('error' in outcome) this.#onFailure(outcome.error);
      else this.#deliver(outcome.value);
    }
    this.#finishIfDone();
  }

  #deliver(value: unknown): void {
    if (this.#held) {
      this.#held.push(value);
      return;
    }
    for (const listener of this.#listeners) callSafely(listener, value);
    for (const channel of this.#channels) channel.push(value);
  }

  /** Hands held messages to the first consumer, a microtask later so that it is attached. */
  #release(): void {
    if (!this.#held || this.#releasing) return;
    this.#releasing = true;
    queueMicrotask(() => {
      const held = this.#held ?? [];
      this.#held = undefined;
      for (const value of held) this.#deliver(value);
      this.#finishIfDone();
    });
  }

  #finishIfDone(): void {
    if (!this.#ended || this.#queue.length > 0 || this.#held) return;
    for (const channel of this.#channels) channel.end();
  }
}
