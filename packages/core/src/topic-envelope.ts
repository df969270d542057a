/**
 * The envelope a publication travels in between processes: who published it (so a process
 * skips its own publications when the backplane hands them back) and what kind of value it
 * carries, so text stays text, bytes stay bytes and other values are rebuilt from JSON.
 *
 * ```
 *   byte 0      version (1)
 *   byte 1      kind: 0 text (UTF-8), 1 bytes, 2 JSON value
 *   bytes 2-9   the publishing hub's id
 *   bytes 10-   the payload
 * ```
 * @module
 */
import { randomBytes } from 'node:crypto';

const VERSION = 1;
const HEADER_BYTES = 10;
const Kind = { Text: 0, Bytes: 1, Json: 2 } as const;

/** A hub's id in envelopes: 8 random bytes. */
export function createOriginId(): Buffer {
  return randomBytes(8);
}

/**
 * Wraps a published value.
 * @param origin - the publishing hub's id
 * @param value - a string, bytes, or a JSON-serialisable value
 * @returns the envelope
 * @throws TypeError when the value cannot be serialised to JSON
 */
export function sealEnvelope(origin: Buffer, value: unknown): Buffer {
  let kind: number;
  let payload: Buffer;
  if (typeof value === 'string') {
    kind = Kind.Text;
    payload = Buffer.from(value, 'utf8');
  } else if (value instanceof Uint8Array) {
    kind = Kind.Bytes;
    payload = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  } else {
    const json = JSON.stringify(value);
    if (json === undefined) throw new TypeError('a published value must be JSON-serialisable');
    kind = Kind.Json;
    payload = Buffer.from(json, 'utf8');
  }
  const envelope = Buffer.allocUnsafe(HEADER_BYTES + payload.length);
  envelope[0] = VERSION;
  envelope[1] = kind;
  origin.copy(envelope, 2);
  payload.copy(envelope, HEADER_BYTES);
  return envelope;
}

/** What an envelope holds. */
export interface OpenedEnvelope {
  /** Whether the given origin published it. */
  readonly isOwn: boolean;
  /** The value: a string, a Buffer, or what the JSON held. */
  readonly value: unknown;
}

/**
 * Unwraps an envelope.
 * @param origin - this hub's id
 * @param envelope - bytes from the backplane
 * @returns the value and whether this hub published it, or undefined for malformed bytes
 */
export function openEnvelope(origin: Buffer, envelope: Buffer): OpenedEnvelope | undefined {
  if (envelope.length < HEADER_BYTES || envelope[0] !== VERSION) return undefined;
  const isOwn = envelope.compare(origin, 0, 8, 2, HEADER_BYTES) === 0;
  if (isOwn) return { isOwn, value: undefined };
  const payload = envelope.subarray(HEADER_BYTES);
  switch (envelope[1]) {
    case Kind.Text:
      return { isOwn, value: payload.toString('utf8') };
    case Kind.Bytes:
      // A copy: the backplane's buffer may be a view into a larger socket chunk.
      return { isOwn, value: Buffer.from(payload) };
    case Kind.Json:
      try {
        return { isOwn, value: JSON.parse(payload.toString('utf8')) as unknown };
      } catch {
        return undefined;
      }
    default:
      return undefined;
  }
}
