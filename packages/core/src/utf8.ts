/**
 * UTF-8 validation for text messages and close reasons (RFC 6455 §5.6, §8.1; RFC 3629 §4).
 * @module
 */
import { isUtf8 } from 'node:buffer';

/**
 * Whether a byte sequence is complete, well-formed UTF-8 (no overlongs, surrogates or code
 * points above U+10FFFF). Uses Node's native validator.
 * @param buf - the bytes to check
 * @returns true when `buf` is valid UTF-8 (an empty buffer is)
 */
export function isValidUtf8(buf: Uint8Array): boolean {
  return isUtf8(buf);
}

/**
 * Length of the sequence a lead byte starts, or 0 when the byte can never start one
 * (a continuation byte, the overlong leads 0xC0/0xC1, or 0xF5–0xFF). RFC 3629 §4.
 */
function getSequenceLength(lead: number): number {
  if (lead < 0x80) return 1;
  if (lead < 0xc2) return 0;
  if (lead < 0xe0) return 2;
  if (lead < 0xf0) return 3;
  if (lead < 0xf5) return 4;
  return 0;
}

/**
 * Whether `bytes[0..length)`, a valid lead byte followed by fewer bytes than its sequence needs,
 * can still become a valid sequence. The second byte's range depends on the lead (RFC 3629 §4):
 * E0 needs A0–BF (no overlongs), ED needs 80–9F (no surrogates), F0 needs 90–BF (no overlongs),
 * F4 needs 80–8F (nothing above U+10FFFF).
 */
function isValidPrefix(bytes: Uint8Array, length: number): boolean {
  if (length < 2) return true;
  const lead = bytes[0]!;
  const second = bytes[1]!;
  let low = 0x80;
  let high = 0xbf;
  if (lead === 0xe0) low = 0xa0;
  else if (lead === 0xed) high = 0x9f;
  else if (lead === 0xf0) low = 0x90;
  else if (lead === 0xf4) high = 0x8f;
  if (second < low || second > high) return false;
  return length < 3 || (bytes[2]! & 0xc0) === 0x80;
}

/**
 * Start of the incomplete sequence at the end of `chunk[start..end)`, or `end` when the last
 * sequence is complete (or invalid: then the full validation rejects it). A sequence is at most
 * 4 bytes long, so only the last 3 bytes can belong to an unfinished one.
 */
function findIncompleteTail(chunk: Uint8Array, start: number, end: number): number {
  const limit = Math.max(start, end - 3);
  for (let i = end - 1; i >= limit; i--) {
    const byte = chunk[i]!;
    if ((byte & 0xc0) !== 0x80) return getSequenceLength(byte) > end - i ? i : end;
  }
  return end;
}

/**
 * Incremental, fail-fast UTF-8 validator for text that arrives in pieces (the fragments of a
 * message, or the parts of one frame's payload as the socket delivers them): each piece is
 * checked as it arrives (RFC 6455 §8.1 lets an endpoint fail as soon as the data cannot be
 * valid), so invalid text is rejected without waiting for the rest. Only the ≤ 3 bytes of a
 * sequence split across pieces are copied, into a 4-byte scratch buffer.
 *
 * ```ts
 * const validator = new Utf8Validator();
 * validator.push(Buffer.from([0xe2, 0x82])); // true: a valid prefix of '€'
 * validator.push(Buffer.from([0xac]));       // true
 * validator.end();                           // true, and ready for the next message
 * ```
 */
export class Utf8Validator {
  readonly #carry = Buffer.alloc(4);
  #carryLength = 0;
  #hasFailed = false;

  /**
   * Validates the next piece of the message.
   * @param chunk - the piece's bytes; not retained
   * @returns false as soon as the bytes seen so far cannot be the start of valid UTF-8, and on
   *   every call after that until {@link Utf8Validator.reset}
   */
  push(chunk: Uint8Array): boolean {
    if (this.#hasFailed) return false;
    const carry = this.#carry;
    let start = 0;
    if (this.#carryLength > 0) {
      const needed = getSequenceLength(carry[0]!);
      start = Math.min(needed - this.#carryLength, chunk.length);
      for (let i = 0; i < start; i++) carry[this.#carryLength++] = chunk[i]!;
      if (this.#carryLength < needed) return this.#checkCarry();
      this.#carryLength = 0;
      if (!isUtf8(carry.subarray(0, needed))) return this.#fail();
    }
    const end = chunk.length;
    const tail = findIncompleteTail(chunk, start, end);
    if (tail > start) {
      const body = start === 0 && tail === end ? chunk : chunk.subarray(start, tail);
      if (!isUtf8(body)) return this.#fail();
    }
    for (let i = tail; i < end; i++) carry[this.#carryLength++] = chunk[i]!;
    return this.#checkCarry();
  }

  /**
   * Ends the message and resets the validator for the next one.
   * @returns true when every fragment was valid and no sequence was left unfinished
   */
  end(): boolean {
    const isValid = !this.#hasFailed && this.#carryLength === 0;
    this.reset();
    return isValid;
  }

  /** Forgets the current message (carried bytes and failure). */
  reset(): void {
    this.#carryLength = 0;
    this.#hasFailed = false;
  }

  #checkCarry(): boolean {
    if (this.#carryLength === 0 || isValidPrefix(this.#carry, this.#carryLength)) return true;
    return this.#fail();
  }

  #fail(): false {
    this.#hasFailed = true;
    return false;
  }
}
