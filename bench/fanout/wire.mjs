// Client side of RFC 6455 for the fan-out bench, as little of it as the measurement needs:
// the upgrade request and its check, masked client frames built in bulk, and a parser for the
// probe. Subscribers that only count bytes use none of the parser.
import { createHash, randomBytes, randomFillSync } from 'node:crypto';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const HEADER_END = Buffer.from('\r\n\r\n');

/**
 * Bytes of an unmasked server frame header for a payload of `length` bytes (RFC 6455 §5.2).
 * @param {number} length
 * @returns {number}
 */
export function headerSize(length) {
  return length < 126 ? 2 : length < 65536 ? 4 : 10;
}

/**
 * The path a client upgrades on: `/topics/NAME` for the raw contract, Engine.IO v4's WebSocket
 * transport (with the topic as a query parameter) for Socket.IO.
 * @param {'ws' | 'socketio'} protocol
 * @param {string} topic
 * @returns {string}
 */
export function upgradePath(protocol, topic) {
  const name = encodeURIComponent(topic);
  return protocol === 'socketio'
    ? `/socket.io/?EIO=4&transport=websocket&topic=${name}`
    : `/topics/${name}`;
}

/**
 * An upgrade request with a fresh key, and the `Sec-WebSocket-Accept` the server must answer.
 * @param {string} host
 * @param {number} port
 * @param {string} path
 * @returns {{ request: Buffer, accept: string }}
 */
export function upgradeRequest(host, port, path) {
  const key = randomBytes(16).toString('base64');
  const accept = createHash('sha1')
    .update(key + GUID)
    .digest('base64');
  const request = Buffer.from(
    `GET ${path} HTTP/1.1\r\nHost: ${host}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  );
  return { request, accept };
}

/**
 * Reads an upgrade response as it arrives. `push` returns undefined while the headers are
 * incomplete, then the bytes after them (frames that came with the 101); it throws on anything
 * but a 101 carrying the expected accept key.
 */
export class UpgradeReader {
  /** @type {Buffer[]} */
  #chunks = [];
  #length = 0;
  #accept;

  /** @param {string} accept - the expected Sec-WebSocket-Accept */
  constructor(accept) {
    this.#accept = accept;
  }

  /**
   * @param {Buffer} chunk - bytes read (copied when kept: the caller may reuse its buffer)
   * @returns {Buffer | undefined} the bytes after the response headers, once complete
   */
  push(chunk) {
    this.#chunks.push(Buffer.from(chunk));
    this.#length += chunk.length;
    if (this.#length > 16 * 1024) throw new Error('upgrade response too long');
    const all = Buffer.concat(this.#chunks, this.#length);
    const end = all.indexOf(HEADER_END);
    if (end < 0) return undefined;
    const head = all.subarray(0, end).toString('latin1');
    if (!head.startsWith('HTTP/1.1 101')) {
      throw new Error(`upgrade refused: ${head.split('\r\n')[0]}`);
    }
    const match = /\r\nsec-websocket-accept:\s*(\S+)/i.exec(head);
    if (match?.[1] !== this.#accept) throw new Error('upgrade answered with a wrong accept key');
    return all.subarray(end + 4);
  }
}

/**
 * Writes one masked client frame (FIN set) into `target` at `offset` (RFC 6455 §5.3).
 * @param {Buffer} target
 * @param {number} offset
 * @param {number} opcode - 1 text, 2 binary, 10 pong
 * @param {Buffer} payload
 * @param {Buffer} mask - four bytes
 * @returns {number} the offset after the frame
 */
export function writeMaskedFrame(target, offset, opcode, payload, mask) {
  const length = payload.length;
  let at = offset;
  target[at++] = 0x80 | opcode;
  if (length < 126) target[at++] = 0x80 | length;
  else if (length < 65536) {
    target[at++] = 0x80 | 126;
    target.writeUInt16BE(length, at);
    at += 2;
  } else {
    target[at++] = 0x80 | 127;
    target.writeUInt32BE(0, at);
    target.writeUInt32BE(length, at + 4);
    at += 8;
  }
  mask.copy(target, at);
  at += 4;
  for (let i = 0; i < length; i++) target[at + i] = payload[i] ^ mask[i & 3];
  return at + length;
}

/**
 * Bytes a masked client frame of `length` payload bytes takes.
 * @param {number} length
 * @returns {number}
 */
export function maskedFrameSize(length) {
  return headerSize(length) + 4 + length;
}

/** A fresh masking key per batch: the server must unmask whatever it is. */
export function freshMask() {
  return randomFillSync(Buffer.allocUnsafe(4));
}

/**
 * A streaming parser of server frames (never masked), for the probe and the publisher: they see
 * few enough frames for a full parse to cost nothing next to the subscribers.
 */
export class FrameReader {
  /** @type {Buffer} */
  #pending = Buffer.alloc(0);
  #onFrame;

  /** @param {(opcode: number, payload: Buffer) => void} onFrame - called per complete frame */
  constructor(onFrame) {
    this.#onFrame = onFrame;
  }

  /** @param {Buffer} chunk - may be reused by the caller after this returns */
  push(chunk) {
    let data = chunk;
    if (this.#pending.length > 0) data = Buffer.concat([this.#pending, chunk]);
    let at = 0;
    for (;;) {
      if (data.length - at < 2) break;
      const opcode = data[at] & 0x0f;
      let length = data[at + 1] & 0x7f;
      let header = 2;
      if (length === 126) {
        if (data.length - at < 4) break;
        length = data.readUInt16BE(at + 2);
        header = 4;
      } else if (length === 127) {
        if (data.length - at < 10) break;
        length = data.readUInt32BE(at + 6);
        header = 10;
      }
      if (data.length - at < header + length) break;
      this.#onFrame(opcode, data.subarray(at + header, at + header + length));
      at += header + length;
    }
    // Copied: `chunk` may be the caller's reusable read buffer.
    this.#pending = at === data.length ? Buffer.alloc(0) : Buffer.from(data.subarray(at));
  }
}
