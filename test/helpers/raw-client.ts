/**
 * A raw WebSocket client for conformance and contract tests: requests and frames are written
 * byte for byte (frames masked by hand, RFC 6455 §5.3), and what the server answers is read
 * as it arrives, so a test can assert the exact status, headers, frames and close code.
 *
 * Every wait is bounded: a test that would hang fails with a timeout instead.
 */
import type { EventEmitter } from 'node:events';
import { connect, type Socket } from 'node:net';
import type { Test } from 'tap';

/** Opcodes (RFC 6455 §5.2), spelled out so tests do not depend on the implementation. */
export const OP = {
  continuation: 0x0,
  text: 0x1,
  binary: 0x2,
  close: 0x8,
  ping: 0x9,
  pong: 0xa,
} as const;

/** Default bound of every wait, in ms. */
export const WAIT_MS = 10_000;

/** The masking key of every hand-built frame. */
export const MASK_KEY = Buffer.from([0x37, 0xfa, 0x21, 0x3d]);

/** A valid `Sec-WebSocket-Key` and its accept value (RFC 6455 §1.3). */
export const SAMPLE_KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
export const SAMPLE_ACCEPT = 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=';

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

/** Builds a client frame (RFC 6455 §5.2). */
export function frame(spec: FrameSpec): Buffer {
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

/** A close frame payload: the 2-byte code, then the reason (string as UTF-8, or raw bytes). */
export function closePayload(code: number, reason: string | Buffer = ''): Buffer {
  const head = Buffer.alloc(2);
  head.writeUInt16BE(code, 0);
  return Buffer.concat([head, Buffer.from(reason)]);
}

/** A frame as read from the server. */
export interface Frame {
  readonly fin: boolean;
  readonly rsv: number;
  readonly opcode: number;
  readonly isMasked: boolean;
  readonly payload: Buffer;
  /** The header bytes as sent (length form and masking key included). */
  readonly header: Buffer;
}

/** The status line and header lines of an HTTP response. */
export interface HttpHead {
  readonly status: number;
  readonly statusLine: string;
  /** `[lower-case name, value]` in order; repeated names kept. */
  readonly headers: ReadonlyArray<readonly [string, string]>;
}

/** Every value of a header. */
export function headerValues(head: HttpHead, name: string): string[] {
  const lower = name.toLowerCase();
  return head.headers.filter(([n]) => n === lower).map(([, v]) => v);
}

/** Size of the frame at the start of `buffer` (header and payload), or undefined if unknown yet. */
function frameSize(buffer: Buffer): number | undefined {
  if (buffer.length < 2) return undefined;
  const b1 = buffer[1]!;
  const mask = b1 & 0x80 ? 4 : 0;
  const length = b1 & 0x7f;
  if (length < 126) return 2 + mask + length;
  if (length === 126) return buffer.length < 4 ? undefined : 4 + mask + buffer.readUInt16BE(2);
  return buffer.length < 10 ? undefined : 10 + mask + Number(buffer.readBigUInt64BE(2));
}

function decodeFrame(buffer: Buffer): { frame: Frame; size: number } | undefined {
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
  if (isMasked) offset += 4;
  if (buffer.length < offset + length) return undefined;
  const payload = Buffer.from(buffer.subarray(offset, offset + length));
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
  return { frame, size: offset + length };
}

/** Resolves with the event's arguments, or rejects after `ms`. */
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

/** Resolves with the value, or rejects after `ms`. */
export function withTimeout<T>(promise: Promise<T>, what: string, ms = WAIT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** The server's close frame and the frames before it. */
export interface ServerClose {
  /** The close code, undefined for an empty close frame. */
  readonly code: number | undefined;
  readonly reason: string;
  readonly before: Frame[];
}

/**
 * A TCP connection to a WebSocket server, read as HTTP then frames.
 */
export class RawClient {
  readonly socket: Socket;
  /** Received bytes not yet read, as chunks: joined only when a whole frame is there. */
  #chunks: Buffer[] = [];
  #length = 0;
  #isEnded = false;
  #wake: (() => void) | undefined;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.#chunks.push(chunk);
      this.#length += chunk.length;
      this.#notify();
    });
    const onEnd = (): void => {
      this.#isEnded = true;
      this.#notify();
    };
    socket.on('end', onEnd);
    socket.on('close', onEnd);
    socket.on('error', () => {});
  }

  /**
   * Connects to 127.0.0.1:`port`; the socket is destroyed on the test's teardown.
   * @param t - the owning test
   * @param port - the server port
   */
  static async connect(t: Test, port: number): Promise<RawClient> {
    const socket = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    t.teardown(() => {
      socket.destroy();
    });
    const client = new RawClient(socket);
    await waitForEvent(socket, 'connect');
    socket.setNoDelay(true);
    return client;
  }

  /**
   * Connects, sends an upgrade request (and `extra` bytes in the same write), reads the head.
   * @param t - the owning test
   * @param port - the server port
   * @param options - path, extra headers (null drops a default one), bytes after the request
   */
  static async open(
    t: Test,
    port: number,
    options: { path?: string; headers?: RequestHeaders; extra?: Buffer } = {},
  ): Promise<{ client: RawClient; head: HttpHead }> {
    const client = await RawClient.connect(t, port);
    const request = Buffer.from(upgradeRequest(options.path ?? '/', options.headers));
    client.write(options.extra ? Buffer.concat([request, options.extra]) : request);
    return { client, head: await client.head() };
  }

  /**
   * Like {@link RawClient.open} but fails the test unless the answer is a 101.
   */
  static async upgrade(
    t: Test,
    port: number,
    options: { path?: string; headers?: RequestHeaders; extra?: Buffer } = {},
  ): Promise<RawClient> {
    const { client, head } = await RawClient.open(t, port, options);
    if (head.status !== 101) throw new Error(`expected 101, got ${head.statusLine}`);
    return client;
  }

  /** Whether the server ended its side. */
  get isEnded(): boolean {
    return this.#isEnded;
  }

  /** Writes raw bytes. */
  write(bytes: Buffer | string): void {
    this.socket.write(bytes);
  }

  /** Writes one masked frame. */
  send(spec: FrameSpec): void {
    this.socket.write(frame(spec));
  }

  /** Writes bytes one at a time, each in its own TCP segment where the OS allows. */
  async writeBytewise(bytes: Buffer): Promise<void> {
    for (let i = 0; i < bytes.length; i++) {
      if (!this.socket.write(bytes.subarray(i, i + 1))) await waitForEvent(this.socket, 'drain');
    }
  }

  /** The first `count` bytes (all when undefined) as one buffer. */
  #peek(count = this.#length): Buffer {
    const first = this.#chunks[0];
    if (first && first.length >= count) return first.subarray(0, count);
    const joined = Buffer.concat(this.#chunks, this.#length);
    this.#chunks = joined.length > 0 ? [joined] : [];
    return joined.subarray(0, count);
  }

  /** Drops the first `count` bytes. */
  #consume(count: number): void {
    const rest = this.#peek().subarray(count);
    this.#chunks = rest.length > 0 ? [rest] : [];
    this.#length = rest.length;
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  async #until<T>(take: () => T | undefined, what: string, ms: number): Promise<T> {
    const deadline = Date.now() + ms;
    for (;;) {
      const value = take();
      if (value !== undefined) return value;
      if (this.#isEnded) throw new Error(`${what}: the server ended the connection first`);
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
        const end = this.#peek().indexOf('\r\n\r\n');
        if (end === -1) return undefined;
        const text = this.#peek(end).toString('latin1');
        this.#consume(end + 4);
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

  /**
   * Reads the body of a non-101 response: `Content-Length` bytes, a chunked body up to its
   * last chunk, or everything until the server ends the connection.
   */
  async body(head: HttpHead, ms = WAIT_MS): Promise<string> {
    const declared = headerValues(head, 'content-length')[0];
    if (declared !== undefined) {
      const length = Number(declared);
      return this.#until(
        () => {
          if (this.#length < length) return undefined;
          const body = this.#peek(length).toString();
          this.#consume(length);
          return body;
        },
        'HTTP body',
        ms,
      );
    }
    if (headerValues(head, 'transfer-encoding').includes('chunked')) {
      return this.#until(
        () => {
          const end = this.#peek().indexOf('0\r\n\r\n');
          if (end === -1) return undefined;
          const body = this.#peek(end + 5).toString();
          this.#consume(end + 5);
          return body;
        },
        'chunked HTTP body',
        ms,
      );
    }
    return this.rest(ms);
  }

  /** Bytes received and not read yet. */
  get pendingBytes(): number {
    return this.#length;
  }

  /** Reads the rest of the stream until the server ends it. */
  async rest(ms = WAIT_MS): Promise<string> {
    await this.ended(ms);
    const rest = this.#peek().toString();
    this.#consume(this.#length);
    return rest;
  }

  /** Reads the next frame. */
  frame(ms = WAIT_MS): Promise<Frame> {
    return this.#until(
      () => {
        const size = frameSize(this.#peek(Math.min(this.#length, 10)));
        if (size === undefined || this.#length < size) return undefined;
        const decoded = decodeFrame(this.#peek(size))!;
        this.#consume(size);
        return decoded.frame;
      },
      'frame',
      ms,
    );
  }

  /**
   * Reads one data message, reassembling its frames (RFC 6455 §5.4); control frames in
   * between are returned apart.
   */
  async message(ms = WAIT_MS): Promise<{ opcode: number; payload: Buffer; frames: Frame[] }> {
    const frames: Frame[] = [];
    for (;;) {
      const next = await this.frame(ms);
      if (next.opcode >= OP.close) throw new Error(`control frame ${next.opcode} inside a message`);
      frames.push(next);
      if (next.fin) break;
    }
    const payload = Buffer.concat(frames.map((f) => f.payload));
    return { opcode: frames[0]!.opcode, payload, frames };
  }

  /** Reads frames until the server's close frame. */
  async closeFrame(ms = WAIT_MS): Promise<ServerClose> {
    const before: Frame[] = [];
    for (;;) {
      const next = await this.frame(ms);
      if (next.opcode === OP.close) {
        const code = next.payload.length >= 2 ? next.payload.readUInt16BE(0) : undefined;
        return { code, reason: next.payload.subarray(2).toString(), before };
      }
      before.push(next);
    }
  }

  /** Waits until the server ends the TCP connection. */
  async ended(ms = WAIT_MS): Promise<void> {
    if (this.#isEnded) return;
    await this.#until(() => (this.#isEnded ? true : undefined), 'TCP end', ms).catch((error) => {
      if (!this.#isEnded) throw error;
    });
  }

  /** Answers the server's close (echoing `code`) and ends our side, as a client should. */
  finishClose(code?: number): void {
    if (this.socket.destroyed) return;
    this.send({ opcode: OP.close, payload: code === undefined ? '' : closePayload(code) });
    this.socket.end();
  }
}

/** Extra request headers: null drops a default header, an array writes one line per value. */
export type RequestHeaders = Readonly<Record<string, string | readonly string[] | null>>;

/** A raw upgrade request with the five mandatory headers (RFC 6455 §4.1) plus `headers`. */
export function upgradeRequest(path = '/', headers: RequestHeaders = {}): string {
  const lines: RequestHeaders = {
    Host: '127.0.0.1',
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Key': SAMPLE_KEY,
    'Sec-WebSocket-Version': '13',
    ...headers,
  };
  let request = `GET ${path} HTTP/1.1\r\n`;
  for (const [name, value] of Object.entries(lines)) {
    if (value === null) continue;
    for (const v of typeof value === 'string' ? [value] : value) request += `${name}: ${v}\r\n`;
  }
  return `${request}\r\n`;
}
