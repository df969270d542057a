/**
 * A FIFO of decoded messages waiting for a consumer: used while an async `onOpen` runs and in
 * the async-iterator reading mode. It counts the bytes it holds so the connection can pause
 * reading when the consumer falls behind.
 * @module
 */

/** A bounded-by-bytes FIFO with waiting readers. Internal. */
export class Inbox<T> {
  #items: T[] = [];
  #sizes: number[] = [];
  #head = 0;
  #bytes = 0;
  #waiters: Array<(result: IteratorResult<T, undefined>) => void> = [];
  #isEnded = false;

  /** Bytes of the messages held. */
  get bytes(): number {
    return this.#bytes;
  }

  /**
   * Adds a message, or hands it straight to a waiting reader.
   * @param item - the message
   * @param size - its size in bytes, for the pause decision
   */
  push(item: T, size: number): void {
    if (this.#isEnded) return;
    const waiter = this.#waiters.shift();
    if (waiter) {
      waiter({ value: item, done: false });
      return;
    }
    this.#items.push(item);
    this.#sizes.push(size);
    this.#bytes += size;
  }

  /**
   * Takes the oldest message.
   * @returns the message, or undefined when empty
   */
  shift(): { readonly item: T } | undefined {
    if (this.#head === this.#items.length) return undefined;
    const item = this.#items[this.#head] as T;
    this.#bytes -= this.#sizes[this.#head] as number;
    this.#head++;
    if (this.#head === this.#items.length) {
      this.#items = [];
      this.#sizes = [];
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#sizes = this.#sizes.slice(this.#head);
      this.#head = 0;
    }
    return { item };
  }

  /**
   * The next message for an async iterator: at once when one is held, else when one arrives.
   * @returns the iterator result; `done` once the inbox has ended and is empty
   */
  next(): Promise<IteratorResult<T, undefined>> {
    const entry = this.shift();
    if (entry) return Promise.resolve({ value: entry.item, done: false });
    if (this.#isEnded) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** Ends the inbox: waiting readers finish; held messages can still be read. */
  end(): void {
    this.#isEnded = true;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const waiter of waiters) waiter({ value: undefined, done: true });
  }
}
