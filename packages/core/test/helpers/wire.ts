/**
 * Test helpers for the core: hand-masked client frames, a reader for what the server writes
 * (HTTP head, body, unmasked frames), an in-memory duplex pair and bounded waits.
 */
import type { EventEmitter } from 'node:events';
import { type AddressInfo, connect, type Socket } from 'node:net';
import { Duplex } from 'node:stream';

/** Bytes from hex, whitespace ignored. */
export const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

/** The masking key of every hand-built client frame. */
export const MASK_KEY = hex('37fa213d');

/** Default bound of every wait, in ms: a hung test fails instead of stalling. */
export const WAIT_MS = 5_000;

/** A client frame to build; masked with {@link MASK_KEY} unless `maskKey` is null. */
export interface FrameSpec {
  readonly opcode: number;
  readonly payload?: string | Uint8Array;
  readonly fin?: boolean;
  readonly rsv?: number;
  readonly maskKey?: Buffer | null;
}

/** Builds a client frame (RFC 6455 §5.2), masked by default (§5.3). */
export function clientFrame(spec: FrameSpec): Buffer {
  const payload = Buffer.from(spec.payload ?? '');
  const key = spec.maskKey === undefined ? MASK_KEY : spec.maskKey;
  const length = payload.length;
  const lengthBytes = length < 126 ? 0 : length < 65536 ? 2 : 8;
  const header = Buffer.alloc(2 + lengthBytes);
  header[0] = (spec.fin === false ? 0 : 0x80) | ((spec.rsv ?? 0) << 4) | spec.opcode;
  header[1] = (key ? 0x80 : 0) | (lengthBytes === 0 ? length : lengthBytes === 2 ? 126 : 127);
  if (lengthBytes === 2) header.writeUInt16BE(length, 2);
  if (lengthBytes === 8) header.writeBigUInt64BE(BigInt(length), 2);
  if (!key) return Buffer.concat([header, payload]);
  const masked = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) masked[i] = payload[i]! ^ key[i & 3]!;
  return Buffer.concat([header, key, masked]);
}

/** A close frame payload: 2-byte code and UTF-8 reason. */
export function closePayload(code: number, reason = ''): Buffer {
  const payload = Buffer.alloc(2 + Buffer.byteLength(reason));
  payload.writeUInt16BE(code, 0);
  payload.write(reason, 2);
  return payload;
}

/** A frame as read off the wire. */
export interface Frame {
  readonly fin: boolean;
  readonly rsv: number;
  readonly opcode: number;
  readonly isMasked: boolean;
  readonly payload: Buffer;
}

/** The status line and header lines of an HTTP response. */
export interface HttpHead {
  readonly status: number;
  readonly statusLine: string;
  /** Header lines as `[lower-case name, value]`, in order, repeated names kept. */
  readonly headers: ReadonlyArray<readonly [string, string]>;
}

/** Every value of a header in `head`. */
export function headerValues(head: HttpHead, name: string): string[] {
  const lower = name.toLowerCase();
  return head.headers.filter(([n]) => n === lower).map(([, v]) => v);
}

/** Decodes one frame at the start of `buffer`, or undefined when it is incomplete. */
export function decodeFrame(buffer: Buffer): { frame: Frame; size: number } | undefined {
  if (buffer.length < 2) return undefined;
  const b0 = buffer[0]!;
  const b1 = buffer[1]!;
  let offset = 2;
  let length = b1 & 0x7f;
  if (length === 126) {
    if (buffer.length < 4) return undefined;
    length = buffer.readUInt16BE(2);
    offset = 4;
  } else if (length === 127) {
    if (buffer.length < 10) return undefined;
    length = Number(buffer.readBigUInt64BE(2));
    offset = 10;
  }
  const isMasked = (b1 & 0x80) !== 0;
  const key = isMasked ? buffer.subarray(offset, offset + 4) : undefined;
  if (isMasked) offset += 4;
  if (buffer.length < offset + length) return undefined;
  const payload = Buffer.from(buffer.subarray(offset, offset + length));
  if (key) for (let i = 0; i < payload.length; i++) payload[i] = payload[i]! ^ key[i & 3]!;
  const frame = {
    fin: (b0 & 0x80) !== 0,
    rsv: (b0 >> 4) & 7,
    opcode: b0 & 0x0f,
    isMasked,
    payload,
  };
  return { frame, size: offset + length };
}

/**
 * Reads what a server writes on a stream: an HTTP head, a body until the end, then frames.
 * Every read is bounded by a timeout and fails when the stream ends first.
 */
export class WireReader {
  readonly stream: Duplex;
  #buffer: Buffer = Buffer.alloc(0);
  #isEnded = false;
  #isClosed = false;
  #wake: (() => void) | undefined;

  constructor(stream: Duplex) {
    this.stream = stream;
    stream.on('data', (chunk: Buffer) => {
      this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
      this.#notify();
    });
    stream.on('end', () => {
      this.#isEnded = true;
      this.#notify();
    });
    stream.on('close', () => {
      this.#isEnded = true;
      this.#isClosed = true;
      this.#notify();
    });
    stream.on('error', () => {});
  }

  /** Whether the peer ended its side (or the stream closed). */
  get isEnded(): boolean {
    return this.#isEnded;
  }

  /** Bytes received and not yet read. */
  get pending(): Buffer {
    return this.#buffer;
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  /** Waits until `take` returns a value; rejects on timeout, or on end when `take` has none. */
  async #until<T>(take: () => T | undefined, what: string, ms: number): Promise<T> {
    const deadline = Date.now() + ms;
    for (;;) {
      const value = take();
      if (value !== undefined) return value;
      if (this.#isEnded) throw new Error(`${what}: the stream ended first`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${what}: timed out after ${ms} ms`);
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`${what}: timed out after ${ms} ms`)),
          left,
        );
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  /** Reads an HTTP response head. */
  head(ms = WAIT_MS): Promise<HttpHead> {
    return this.#until(
      () => {
        const end = this.#buffer.indexOf('\r\n\r\n');
        if (end === -1) return undefined;
        const text = this.#buffer.subarray(0, end).toString('latin1');
        this.#buffer = this.#buffer.subarray(end + 4);
        const [statusLine = '', ...lines] = text.split('\r\n');
        const headers = lines.map((line): readonly [string, string] => {
          const colon = line.indexOf(':');
          return [line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim()];
        });
        return { status: Number(statusLine.split(' ')[1]), statusLine, headers };
      },
      'HTTP head',
      ms,
    );
  }

  /** Reads everything until the peer ends its side. */
  async rest(ms = WAIT_MS): Promise<Buffer> {
    await this.ended(ms);
    const rest = this.#buffer;
    this.#buffer = Buffer.alloc(0);
    return rest;
  }

  /** Reads the next frame. */
  frame(ms = WAIT_MS): Promise<Frame> {
    return this.#until(
      () => {
        const decoded = decodeFrame(this.#buffer);
        if (!decoded) return undefined;
        this.#buffer = this.#buffer.subarray(decoded.size);
        return decoded.frame;
      },
      'frame',
      ms,
    );
  }

  /** Reads frames until a close frame; returns it with the frames that came before. */
  async closeFrame(
    ms = WAIT_MS,
  ): Promise<{ code: number | undefined; reason: string; before: Frame[] }> {
    const before: Frame[] = [];
    for (;;) {
      const frame = await this.frame(ms);
      if (frame.opcode === 0x8) {
        const code = frame.payload.length >= 2 ? frame.payload.readUInt16BE(0) : undefined;
        return { code, reason: frame.payload.subarray(2).toString(), before };
      }
      before.push(frame);
    }
  }

  /** Waits for the peer to end its side. */
  async ended(ms = WAIT_MS): Promise<void> {
    await this.#until(() => (this.#isEnded ? true : undefined), 'end', ms).catch((error) => {
      if (!this.#isEnded) throw error;
    });
  }

  /** Waits for the stream to close. */
  async closed(ms = WAIT_MS): Promise<void> {
    if (this.#isClosed) return;
    await waitForEvent(this.stream, 'close', ms);
  }
}

/**
 * Resolves with the event's arguments, or rejects after `ms`.
 * @param emitter - what emits the event
 * @param event - the event name
 * @param ms - the bound
 */
export function waitForEvent(
  emitter: EventEmitter,
  event: string,
  ms = WAIT_MS,
): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.off(event, listener);
      reject(new Error(`no '${event}' within ${ms} ms`));
    }, ms);
    const listener = (...args: unknown[]): void => {
      clearTimeout(timer);
      resolve(args);
    };
    emitter.once(event, listener);
  });
}

/**
 * Resolves with the value, or rejects after `ms`.
 * @param promise - what to wait for
 * @param what - named in the timeout error
 * @param ms - the bound
 */
export function withTimeout<T>(promise: Promise<T>, what: string, ms = WAIT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** A deferred promise whose resolve can be called from a handler. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/**
 * Two connected in-memory duplex streams with real backpressure: a write on one side is
 * acknowledged only once the other side's reader has room (its `push()` returned true, or it
 * asked for more). Ending one side ends the other's readable side; destroying one side
 * destroys the other, like a reset TCP connection.
 * @param highWaterMark - both sides' buffer limits, in bytes
 */
export function duplexPair(highWaterMark = 16 * 1024): [server: Duplex, client: Duplex] {
  const sides: Duplex[] = [];
  const blocked: Array<(() => void) | undefined> = [undefined, undefined];
  const make = (i: number): Duplex =>
    new Duplex({
      highWaterMark,
      read() {
        const release = blocked[1 - i];
        blocked[1 - i] = undefined;
        release?.();
      },
      write(chunk: Buffer, _encoding, callback) {
        const peer = sides[1 - i]!;
        if (peer.destroyed) {
          callback();
          return;
        }
        if (peer.push(chunk)) callback();
        else blocked[i] = () => callback();
      },
      final(callback) {
        sides[1 - i]!.push(null);
        callback();
      },
      destroy(error, callback) {
        const peer = sides[1 - i]!;
        if (!peer.destroyed) peer.destroy();
        callback(error);
      },
    });
  sides.push(make(0), make(1));
  return [sides[0]!, sides[1]!];
}

/** A TCP connection to 127.0.0.1 and a reader of what the server answers. */
export interface RawConnection {
  readonly socket: Socket;
  readonly reader: WireReader;
}

/**
 * Connects to 127.0.0.1:`port` and writes `data` in one write (e.g. a handshake followed by
 * frames). The socket is destroyed by the caller's teardown.
 */
export async function rawConnect(port: number, data?: string | Buffer): Promise<RawConnection> {
  const socket = connect({ port, host: '127.0.0.1' });
  const reader = new WireReader(socket);
  await waitForEvent(socket, 'connect');
  if (data !== undefined) socket.write(data);
  return { socket, reader };
}

/** The port of a listening server. */
export function portOf(server: { address(): AddressInfo | string | null }): number {
  return (server.address() as AddressInfo).port;
}

/** A valid `Sec-WebSocket-Key` and its `Sec-WebSocket-Accept` (RFC 6455 §1.3). */
export const SAMPLE_KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
export const SAMPLE_ACCEPT = 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=';

/**
 * A raw upgrade request. `headers` are added after the defaults; a value of null drops a
 * default header, an array writes one line per element.
 */
export function upgradeRequest(
  path = '/',
  headers: Record<string, string | readonly string[] | null> = {},
  requestLine = `GET ${path} HTTP/1.1`,
): string {
  const lines: Record<string, string | readonly string[] | null> = {
    Host: '127.0.0.1',
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Key': SAMPLE_KEY,
    'Sec-WebSocket-Version': '13',
    ...headers,
  };
  let request = `${requestLine}\r\n`;
  for (const [name, value] of Object.entries(lines)) {
    if (value === null) continue;
    for (const v of typeof value === 'string' ? [value] : value) request += `${name}: ${v}\r\n`;
  }
  return `${request}\r\n`;
}
