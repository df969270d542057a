/**
 * A counting semaphore for zlib work.
 *
 * Every zlib operation runs on libuv's small thread pool and allocates native memory; letting
 * thousands of connections inflate at once fragments the native heap until the process is
 * killed (nodejs/node#8871, websockets/ws#1202). Queuing operations behind a process-wide cap
 * bounds both the memory in use and the work waiting on the pool.
 * @module
 */

/** A task admitted by the limiter; it must call `release` exactly once when its zlib work ends. */
export type ZlibTask = (release: () => void) => void;

/** First-in first-out admission of zlib operations, at most `concurrency` at a time. */
export class ZlibLimiter {
  /** Most operations admitted at once. */
  readonly concurrency: number;
  #active = 0;
  #peakActive = 0;
  // A queue with a moving head: O(1) dequeue even with thousands of waiting operations.
  #waiting: Array<ZlibTask | undefined> = [];
  #head = 0;
  #isDraining = false;

  /**
   * @param concurrency - most operations admitted at once
   * @throws RangeError when `concurrency` is not a positive integer
   */
  constructor(concurrency: number) {
    if (!Number.isInteger(concurrency) || concurrency < 1) {
      throw new RangeError(`concurrency must be a positive integer, got ${concurrency}`);
    }
    this.concurrency = concurrency;
  }

  /** Operations currently admitted. */
  get active(): number {
    return this.#active;
  }

  /** Operations waiting for a slot. */
  get pending(): number {
    return this.#waiting.length - this.#head;
  }

  /** Highest {@link ZlibLimiter.active} seen since creation; lets tests check the cap. */
  get peakActive(): number {
    return this.#peakActive;
  }

  /**
   * Runs `task` now (synchronously) if a slot is free and nothing waits, otherwise once the
   * earlier tasks have released their slots.
   * `release` is idempotent, so error paths may call it without double counting.
   * @param task - starts the zlib work and calls `release` when it is over
   */
  run(task: ZlibTask): void {
    // Always through the queue, so that a task started by another task's completion cannot
    // overtake tasks that were already waiting.
    this.#waiting.push(task);
    this.#drain();
  }

  #start(task: ZlibTask): void {
    this.#active++;
    if (this.#active > this.#peakActive) this.#peakActive = this.#active;
    let isReleased = false;
    task(() => {
      if (isReleased) return;
      isReleased = true;
      this.#active--;
      this.#drain();
    });
  }

  /**
   * Starts waiting tasks while slots are free. A loop guarded against re-entry rather than
   * recursion: a task that releases synchronously (its connection closed meanwhile) must not
   * grow the stack once per queued task.
   */
  #drain(): void {
    if (this.#isDraining) return;
    this.#isDraining = true;
    try {
      while (this.#active < this.concurrency && this.#head < this.#waiting.length) {
        const next = this.#waiting[this.#head];
        this.#waiting[this.#head] = undefined;
        this.#head++;
        if (next) this.#start(next);
      }
    } finally {
      this.#isDraining = false;
      this.#compact();
    }
  }

  /** Drops the consumed head of the queue once it dominates the array. */
  #compact(): void {
    if (this.#head === this.#waiting.length) {
      this.#waiting.length = 0;
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#waiting.length) {
      this.#waiting = this.#waiting.slice(this.#head);
      this.#head = 0;
    }
  }
}

const sharedLimiters = new Map<number, ZlibLimiter>();

/**
 * The process-wide limiter for a concurrency value. All connections configured with the same
 * `concurrency` share one cap; a process normally configures a single value, so the cap is
 * process-wide. Distinct values get distinct limiters rather than silently overriding each
 * other (ws keeps whichever value the first connection used).
 * @param concurrency - most zlib operations at once
 * @returns the shared limiter for that value
 * @throws RangeError when `concurrency` is not a positive integer
 */
export function getSharedZlibLimiter(concurrency: number): ZlibLimiter {
  let limiter = sharedLimiters.get(concurrency);
  if (!limiter) {
    limiter = new ZlibLimiter(concurrency);
    sharedLimiters.set(concurrency, limiter);
  }
  return limiter;
}
