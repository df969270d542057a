/**
 * The socket chunks a frame parser has received and not yet consumed, read without
 * concatenating them.
 * @module
 */

const EMPTY = Buffer.alloc(0);

/**
 * A queue of received chunks plus a running byte count. Bytes are read in place (`peek`), handed
 * out as views when they sit in one chunk (`take`), and copied only when they span chunks.
 *
 * Pushing a chunk costs nothing per byte, and no call allocates beyond the view or copy it
 * returns: the parser runs on every socket read, so this is the library's hottest data path.
 * One instance serves a parser for its whole life.
 */
export class ChunkQueue {
  #chunks: Buffer[] = [];
  /** Bytes of `#chunks[0]` already consumed. */
  #offset = 0;
  /** Unconsumed bytes in `#chunks`. */
  #length = 0;
  /** Chunk index of the next view {@link ChunkQueue.nextNewest} returns. */
  #walkIndex = 0;
  /** Where in that chunk the view starts. */
  #walkStart = 0;

  /** Unconsumed bytes held. */
  get length(): number {
    return this.#length;
  }

  /**
   * Queues a chunk after the bytes held. The chunk is kept, not copied: a view that `take`
   * hands out shares its memory.
   * @param chunk - the next bytes; must not be empty
   */
  push(chunk: Buffer): void {
    this.#chunks.push(chunk);
    this.#length += chunk.length;
  }

  /**
   * Reads one unconsumed byte without consuming it.
   * @param index - position in the unconsumed bytes; the caller has checked `length` first
   * @returns the byte
   */
  peek(index: number): number {
    let i = this.#offset + index;
    let c = 0;
    let chunk = this.#chunks[0]!;
    while (i >= chunk.length) {
      i -= chunk.length;
      chunk = this.#chunks[++c]!;
    }
    return chunk[i]!;
  }

  /**
   * Reads a big-endian 32-bit unsigned word without consuming it.
   * @param index - position of its first byte in the unconsumed bytes; the caller has checked
   *   `length` first
   * @returns the word, 0 to 2^32 - 1
   */
  peekUint32(index: number): number {
    const b0 = this.peek(index);
    const b1 = this.peek(index + 1);
    return ((b0 << 24) | (b1 << 16) | (this.peek(index + 2) << 8) | this.peek(index + 3)) >>> 0;
  }

  /**
   * Consumes bytes without reading them; chunks fully consumed are let go.
   * @param count - how many; at most `length`
   */
  skip(count: number): void {
    this.#length -= count;
    let offset = this.#offset + count;
    const chunks = this.#chunks;
    while (chunks.length > 0 && offset >= chunks[0]!.length) {
      offset -= chunks[0]!.length;
      chunks.shift();
    }
    this.#offset = offset;
  }

  /**
   * Consumes the next bytes and returns them.
   * @param count - how many; at most `length`
   * @returns a view (or the chunk itself) when they sit in one chunk, else one copy
   */
  take(count: number): Buffer {
    if (count === 0) return EMPTY;
    const first = this.#chunks[0]!;
    const start = this.#offset;
    if (first.length - start >= count) {
      const view =
        start === 0 && first.length === count ? first : first.subarray(start, start + count);
      this.skip(count);
      return view;
    }
    const out = Buffer.allocUnsafe(count);
    this.copyOut(out, 0, count);
    return out;
  }

  /**
   * Copies the next bytes into `target` and consumes them.
   * @param target - the buffer receiving them
   * @param at - where in `target` the first byte goes
   * @param count - how many; at most `length`
   */
  copyOut(target: Buffer, at: number, count: number): void {
    const chunks = this.#chunks;
    let written = 0;
    let index = 0;
    let offset = this.#offset;
    while (written < count) {
      const chunk = chunks[index]!;
      const n = Math.min(chunk.length - offset, count - written);
      chunk.copy(target, at + written, offset, offset + n);
      written += n;
      offset += n;
      if (offset === chunk.length) {
        index++;
        offset = 0;
      }
    }
    // One splice for every chunk consumed: shifting them off one by one costs O(chunks held)
    // each, quadratic when a peer drips a large payload in tiny TCP segments.
    chunks.splice(0, index);
    this.#offset = offset;
    this.#length -= count;
  }

  /**
   * Starts a walk over the newest `count` unconsumed bytes, which {@link ChunkQueue.nextNewest}
   * then returns chunk by chunk. The walk goes back from the last chunk over just the chunks
   * holding those bytes (usually one), so handling a payload that trickles in byte by byte
   * costs O(1) per chunk, not a walk over everything held.
   * @param count - how many of the newest bytes; clamped to `length`
   */
  seekNewest(count: number): void {
    const chunks = this.#chunks;
    let rest = Math.min(count, this.#length);
    if (rest <= 0) {
      this.#walkIndex = chunks.length;
      return;
    }
    let index = chunks.length - 1;
    // The first chunk's consumed bytes need no check: `rest` never exceeds what it has left.
    while (rest > chunks[index]!.length) {
      rest -= chunks[index]!.length;
      index--;
    }
    this.#walkIndex = index;
    this.#walkStart = chunks[index]!.length - rest;
  }

  /**
   * The next part of the walk {@link ChunkQueue.seekNewest} started, oldest first. Nothing is
   * consumed: the bytes may be changed in place (unmasked) and are read again later.
   * @returns a view into one chunk (or the chunk itself), or undefined when the walk is over
   */
  nextNewest(): Buffer | undefined {
    const chunk = this.#chunks[this.#walkIndex];
    if (chunk === undefined) return undefined;
    const start = this.#walkStart;
    this.#walkIndex++;
    this.#walkStart = 0;
    return start === 0 ? chunk : chunk.subarray(start);
  }

  /** Drops every byte held. */
  clear(): void {
    this.#chunks = [];
    this.#offset = 0;
    this.#length = 0;
    this.#walkIndex = 0;
    this.#walkStart = 0;
  }
}
