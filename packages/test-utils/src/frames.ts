/**
 * Hand-built client frames and a decoder for server frames, spelled out from RFC 6455 §5 so
 * tests do not depend on the implementation under test.
 */

/**
 * Bytes from hex; whitespace is ignored.
 * @param s - hex digits, optionally spaced
 * @returns the bytes
 */
export const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

/** Opcodes (RFC 6455 §5.2). */
export const OP = {
  continuation: 0x0,
  text: 0x1,
  binary: 0x2,
  close: 0x8,
  ping: 0x9,
  pong: 0xa,
} as const;

/** The masking key of every hand-built client frame. */
export const MASK_KEY = hex('37fa213d');

/** A client frame to build. */
export interface FrameSpec {
  readonly opcode: number;
  readonly payload?: string | Uint8Array;
  /** @default true */
  readonly fin?: boolean;
  /** RSV1–RSV3 as a 3-bit number (RSV1 = 4). @default 0 */
  readonly rsv?: number;
  /** null sends the frame unmasked. @default MASK_KEY */
  readonly maskKey?: Buffer | null;
  /** Overrides the announced payload length (the payload itself is still sent). */
  readonly announcedLength?: number;
}

/**
 * Builds a client frame (RFC 6455 §5.2), masked by default (§5.3).
 * @param spec - opcode, payload, flags and masking key
 * @returns the frame bytes
 */
export function clientFrame(spec: FrameSpec): Buffer {
  const payload = Buffer.from(spec.payload ?? '');
  const key = spec.maskKey === undefined ? MASK_KEY : spec.maskKey;
  const length = spec.announcedLength ?? payload.length;
  const lengthBytes = length < 126 ? 0 : length < 65536 ? 2 : 8;
  const header = Buffer.alloc(2 + lengthBytes);
  header[0] = (spec.fin === false ? 0 : 0x80) | ((spec.rsv ?? 0) << 4) | spec.opcode;
  header[1] = (key ? 0x80 : 0) | (lengthBytes === 0 ? length : lengthBytes === 2 ? 126 : 127);
  if (lengthBytes === 2) header.writeUInt16BE(length, 2);
  if (lengthBytes === 8) header.writeBigUInt64BE(BigInt(length), 2);
  if (!key) return Buffer.concat([header, payload]);
  const masked = Buffer.allocUnsafe(payload.length);
  for (let i = 0; i < payload.length; i++) masked[i] = payload[i]! ^ key[i & 3]!;
  return Buffer.concat([header, key, masked]);
}

/**
 * A final, masked client frame: the short form of {@link clientFrame}.
 * @param opcode - 0x1 text, 0x2 binary, 0x8 close, …
 * @param payload - the unmasked payload (a string is sent as UTF-8)
 * @returns the frame bytes
 */
export function maskedFrame(opcode: number, payload: string | Uint8Array): Buffer {
  return clientFrame({ opcode, payload });
}

/**
 * A close frame payload (RFC 6455 §5.5.1): the 2-byte code, then the reason.
 * @param code - the close code
 * @param reason - a string (sent as UTF-8) or raw bytes
 * @returns the payload bytes
 */
export function closePayload(code: number, reason: string | Buffer = ''): Buffer {
  const head = Buffer.alloc(2);
  head.writeUInt16BE(code, 0);
  return Buffer.concat([head, Buffer.from(reason)]);
}

/** A frame as read off the wire. */
export interface Frame {
  readonly fin: boolean;
  readonly rsv: number;
  readonly opcode: number;
  readonly isMasked: boolean;
  /** The payload, unmasked. */
  readonly payload: Buffer;
  /** The header bytes as sent (length form and masking key included). */
  readonly header: Buffer;
}

/**
 * The size of the frame at the start of `buffer`, header and payload.
 * @param buffer - at least the frame's first bytes
 * @returns the size, or undefined while the length bytes are incomplete
 */
export function frameSize(buffer: Buffer): number | undefined {
  if (buffer.length < 2) return undefined;
  const b1 = buffer[1]!;
  const mask = b1 & 0x80 ? 4 : 0;
  const length = b1 & 0x7f;
  if (length < 126) return 2 + mask + length;
  if (length === 126) return buffer.length < 4 ? undefined : 4 + mask + buffer.readUInt16BE(2);
  return buffer.length < 10 ? undefined : 10 + mask + Number(buffer.readBigUInt64BE(2));
}

/**
 * Decodes the frame at the start of `buffer`, unmasking its payload.
 * @param buffer - bytes read off the wire
 * @returns the frame and its size in bytes, or undefined while it is incomplete
 */
export function decodeFrame(buffer: Buffer): { frame: Frame; size: number } | undefined {
  const size = frameSize(buffer);
  if (size === undefined || buffer.length < size) return undefined;
  const b0 = buffer[0]!;
  const b1 = buffer[1]!;
  const length = b1 & 0x7f;
  const isMasked = (b1 & 0x80) !== 0;
  const offset = (length < 126 ? 2 : length === 126 ? 4 : 10) + (isMasked ? 4 : 0);
  const payload = Buffer.from(buffer.subarray(offset, size));
  if (isMasked) {
    const key = buffer.subarray(offset - 4, offset);
    for (let i = 0; i < payload.length; i++) payload[i] = payload[i]! ^ key[i & 3]!;
  }
  const frame: Frame = {
    fin: (b0 & 0x80) !== 0,
    rsv: (b0 >> 4) & 7,
    opcode: b0 & 0x0f,
    isMasked,
    payload,
    header: Buffer.from(buffer.subarray(0, offset)),
  };
  return { frame, size };
}
