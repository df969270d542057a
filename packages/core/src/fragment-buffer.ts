/**
 * The payload of a fragmented message while its frames arrive (RFC 6455 §5.4), held in one
 * owned buffer so that what it costs in memory is what it reports.
 * @module
 */

const EMPTY = Buffer.alloc(0);

/** Capacity of a new buffer at least; smaller messages are rare and this keeps growth short. */
const MIN_CAPACITY = 256;

/**
 * Collects the payloads of a message's frames by copying them into one owned buffer that grows
 * geometrically (capped at the largest possible message).
 *
 * Keeping each frame's payload as a view instead would cost a `Buffer` object per frame, and a
 * view keeps its whole socket chunk alive: one byte held could pin 64 KiB. Here the memory held
 * is the buffer's capacity, at most twice the bytes held (or {@link MIN_CAPACITY}), and that is
 * what {@link FragmentBuffer.retainedBytes} reports. Each byte is copied once on arrival, plus
 * at most once more on average when the buffer grows; the message is then handed out without
 * a final concatenation.
 */
export class FragmentBuffer {
  readonly #maxCapacity: number;
  #buffer: Buffer = EMPTY;
  #length = 0;

  /**
   * @param maxCapacity - the largest message possible: the buffer never grows beyond it unless
   *   a single append needs more
   */
  constructor(maxCapacity: number) {
    this.#maxCapacity = maxCapacity;
  }

  /** Payload bytes held. */
  get length(): number {
    return this.#length;
  }

  /** Bytes of memory held: the buffer's capacity, not just the bytes written to it. */
  get retainedBytes(): number {
    return this.#buffer.length;
  }

  /**
   * Copies `data` after the bytes held; `data` is not retained.
   * @param data - the next payload bytes
   */
  append(data: Uint8Array): void {
    if (data.length === 0) return;
    const needed = this.#length + data.length;
    if (needed > this.#buffer.length) {
      const doubled = Math.max(MIN_CAPACITY, 2 * needed);
      this.#grow(Math.max(needed, Math.min(doubled, this.#maxCapacity)));
    }
    this.#buffer.set(data, this.#length);
    this.#length = needed;
  }

  /**
   * Ends the message: the bytes held followed by `last`, then the buffer is empty again.
   * @param last - the final frame's payload; returned itself when nothing is held
   * @returns the whole message; a view into the owned buffer when that wastes at most half of
   *   it, otherwise an exact copy, so a message handed on never pins much more than its size
   */
  finish(last: Buffer): Buffer {
    if (this.#length === 0) return last;
    const length = this.#length + last.length;
    if (length > this.#buffer.length) this.#grow(length);
    this.#buffer.set(last, this.#length);
    const buffer = this.#buffer;
    this.reset();
    const message = buffer.subarray(0, length);
    return 2 * length >= buffer.length ? message : Buffer.from(message);
  }

  /** Drops the bytes held and the buffer. */
  reset(): void {
    this.#buffer = EMPTY;
    this.#length = 0;
  }

  #grow(capacity: number): void {
    const grown = Buffer.allocUnsafe(capacity);
    this.#buffer.copy(grown, 0, 0, this.#length);
    this.#buffer = grown;
  }
}
