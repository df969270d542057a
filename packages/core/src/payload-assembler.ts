/**
 * The payload of the frame being parsed, handled while it arrives. While a payload is
 * incomplete, the bytes already here are unmasked (large payloads) and, for uncompressed text,
 * validated as UTF-8, so invalid text fails before the frame ends. A large payload is also
 * moved into the buffer it will be delivered in as it arrives, once a quarter of it is here:
 * the copy overlaps the wait for the rest, and the socket chunks are let go.
 * @module
 */
import type { ChunkQueue } from './chunk-queue.js';
import { unmask, unmaskAt } from './mask.js';
import type { Utf8Validator } from './utf8.js';

/** Payloads from this size on are unmasked, and assembled, chunk by chunk as they arrive. */
export const LARGE_PAYLOAD = 64 * 1024;

/** Parsers run synchronously, so one shared scratch key serves every connection. */
const MASK_SCRATCH = Buffer.alloc(4);

/**
 * Reads the current frame's payload from the front of a parser's input: unmasked (RFC 6455
 * §5.3), as a view into a socket chunk when it sits in one, and with the work on an incomplete
 * payload done as its bytes arrive, each byte exactly once. One instance serves a parser for its
 * whole life.
 */
export class PayloadAssembler {
  readonly #input: ChunkQueue;
  /**
   * Bytes of the current payload already handled while it arrived: unmasked in place (when
   * masked) and, for uncompressed text, validated. Each byte is handled exactly once.
   */
  #processed = 0;
  /**
   * The buffer a large payload is delivered in, filled as the payload arrives (made once a
   * quarter of it is here, so a peer announcing a large frame and sending little makes the
   * parser hold at most four times what it sent).
   */
  #assembly: Buffer | undefined;
  /** Bytes of the current payload already moved into `#assembly` (all of them processed). */
  #assembled = 0;

  /** @param input - the parser's unconsumed input; the current payload starts at its front */
  constructor(input: ChunkQueue) {
    this.#input = input;
  }

  /**
   * Bytes here from the current payload on: moved into its delivery buffer or still in the
   * input (where bytes of later frames may follow). The payload is complete once this reaches
   * its length.
   */
  get arrived(): number {
    return this.#assembled + this.#input.length;
  }

  /** Bytes of the current payload already handled while they arrived. */
  get processed(): number {
    return this.#processed;
  }

  /** Bytes of memory held by the delivery buffer of a large payload. */
  get retainedBytes(): number {
    return this.#assembly?.length ?? 0;
  }

  /**
   * Handles the bytes of an incomplete payload that arrived since the last call, so the work
   * overlaps the wait for the rest: unmasks them in place, passes them to `validator`, and,
   * for a payload of {@link LARGE_PAYLOAD} bytes or more, moves them into its delivery buffer.
   * The bytes not yet handled are the newest in the input, so a payload trickling in byte by
   * byte costs O(1) per chunk.
   * @param length - the payload length; more than {@link PayloadAssembler.arrived}
   * @param isMasked - whether the frame is masked
   * @param maskKey - the masking key as a 32-bit big-endian number (ignored when not masked)
   * @param validator - validates uncompressed text as it arrives; undefined for other payloads
   * @returns false when `validator` rejected the bytes (the caller fails the connection)
   */
  processArrived(
    length: number,
    isMasked: boolean,
    maskKey: number,
    validator: Utf8Validator | undefined,
  ): boolean {
    // The input holds bytes of this payload only: it is still incomplete.
    const input = this.#input;
    const available = this.#assembled + input.length;
    if (available <= this.#processed) return true;
    if (isMasked) MASK_SCRATCH.writeUInt32BE(maskKey, 0);
    input.seekNewest(available - this.#processed);
    for (let bytes = input.nextNewest(); bytes !== undefined; bytes = input.nextNewest()) {
      if (isMasked) unmaskAt(bytes, MASK_SCRATCH, this.#processed);
      this.#processed += bytes.length;
      if (validator !== undefined && !validator.push(bytes)) return false;
    }
    if (length >= LARGE_PAYLOAD) this.#assemble(length);
    return true;
  }

  /**
   * Consumes the complete payload from the input and returns it unmasked. Read
   * {@link PayloadAssembler.processed} first to learn how much of it was handled while it
   * arrived; afterwards it is 0 for the next payload.
   * @param length - the payload length; at most {@link PayloadAssembler.arrived}
   * @param isMasked - whether the frame is masked
   * @param maskKey - the masking key as a 32-bit big-endian number (ignored when not masked)
   * @returns the payload: a view into a socket chunk when it sits in one (unmasked in place),
   *   the delivery buffer of a large payload, or else one copy
   */
  take(length: number, isMasked: boolean, maskKey: number): Buffer {
    let data: Buffer;
    const assembly = this.#assembly;
    if (assembly === undefined) data = this.#input.take(length);
    else {
      this.#input.copyOut(assembly, this.#assembled, length - this.#assembled);
      this.#assembly = undefined;
      this.#assembled = 0;
      data = assembly;
    }
    const done = this.#processed;
    if (isMasked && done < data.length) {
      MASK_SCRATCH.writeUInt32BE(maskKey, 0);
      if (done === 0) unmask(data, MASK_SCRATCH);
      else unmaskAt(data.subarray(done), MASK_SCRATCH, done);
    }
    this.#processed = 0;
    return data;
  }

  /** Drops the current payload's delivery buffer and progress (the input is the caller's). */
  reset(): void {
    this.#processed = 0;
    this.#assembly = undefined;
    this.#assembled = 0;
  }

  /** Moves the (processed) bytes in the input into the delivery buffer of a large payload. */
  #assemble(length: number): void {
    if (this.#assembly === undefined) {
      if (4 * (this.#assembled + this.#input.length) < length) return;
      this.#assembly = Buffer.allocUnsafe(length);
    }
    const count = this.#input.length;
    this.#input.copyOut(this.#assembly, this.#assembled, count);
    this.#assembled += count;
  }
}
