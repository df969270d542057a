/**
 * Reads what a server writes on a stream, as it arrives: an HTTP head, a body, then frames.
 */
import type { Duplex } from 'node:stream';
import { decodeFrame, type Frame, frameSize, OP } from './frames.js';
import { type HttpHead, headerValues, parseHttpHead } from './http.js';
import { WAIT_MS, waitForEvent } from './wait.js';

/** The server's close frame and the frames before it. */
export interface ServerClose {
  /** The close code, undefined for an empty close frame. */
  readonly code: number | undefined;
  readonly reason: string;
  readonly before: Frame[];
}

/** Options of a {@link WireReader}. */
export interface WireReaderOptions {
  /** The bound of every read that is not given one, in ms. @default WAIT_MS */
  readonly waitMs?: number;
}

/**
 * Reads what a server writes on a stream: an HTTP head, a body, then frames. Every read is
 * bounded by a timeout and fails when the stream ends first.
 */
export class WireReader {
  /** The stream read. */
  readonly stream: Duplex;
  /** The bound of every read that is not given one, in ms. */
  readonly waitMs: number;
  /** Received bytes not yet read, as chunks: joined only when a read needs them together. */
  #chunks: Buffer[] = [];
  #length = 0;
  #isEnded = false;
  #isClosed = false;
  #wake: (() => void) | undefined;

  /**
   * Starts reading `stream`; its errors are swallowed, since tests assert on what arrives.
   * @param stream - the client side of a connection
   * @param options - the default bound
   */
  constructor(stream: Duplex, options: WireReaderOptions = {}) {
    this.stream = stream;
    this.waitMs = options.waitMs ?? WAIT_MS;
    stream.on('data', (chunk: Buffer) => {
      this.#chunks.push(chunk);
      this.#length += chunk.length;
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

  /** Bytes received and not read yet. */
  get pending(): Buffer {
    return this.#peek();
  }

  /** How many bytes were received and not read yet. */
  get pendingBytes(): number {
    return this.#length;
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

  /** Waits until `take` returns a value; rejects on timeout, or on end when `take` has none. */
  async #until<T>(take: () => T | undefined, what: string, ms: number): Promise<T> {
    const deadline = Date.now() + ms;
    for (;;) {
      const value = take();
      if (value !== undefined) return value;
      if (this.#isEnded) throw new Error(`${what}: the peer ended the stream first`);
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

  /**
   * Reads an HTTP response head.
   * @param ms - the bound
   * @returns the parsed head
   * @throws when the stream ends first or the bound passes
   */
  head(ms = this.waitMs): Promise<HttpHead> {
    return this.#until(
      () => {
        const end = this.#peek().indexOf('\r\n\r\n');
        if (end === -1) return undefined;
        const text = this.#peek(end).toString('latin1');
        this.#consume(end + 4);
        return parseHttpHead(text);
      },
      'HTTP head',
      ms,
    );
  }

  /**
   * Reads the body of a non-101 response: `Content-Length` bytes, a chunked body up to its last
   * chunk, or everything until the peer ends the stream.
   * @param head - the response's head, read by {@link WireReader.head}
   * @param ms - the bound
   * @returns the body as UTF-8 (chunked bodies keep their chunk framing)
   */
  async body(head: HttpHead, ms = this.waitMs): Promise<string> {
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

  /**
   * Reads everything until the peer ends its side.
   * @param ms - the bound
   * @returns the bytes as UTF-8
   */
  async rest(ms = this.waitMs): Promise<string> {
    await this.ended(ms);
    const rest = this.#peek().toString();
    this.#consume(this.#length);
    return rest;
  }

  /**
   * Reads the next frame.
   * @param ms - the bound
   * @returns the frame, unmasked
   */
  frame(ms = this.waitMs): Promise<Frame> {
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
   * Reads one data message, reassembling its frames (RFC 6455 §5.4).
   * @param ms - the bound of each frame
   * @returns the message's opcode, joined payload and frames
   * @throws when a control frame arrives inside the message
   */
  async message(ms = this.waitMs): Promise<{ opcode: number; payload: Buffer; frames: Frame[] }> {
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

  /**
   * Reads frames until the server's close frame.
   * @param ms - the bound of each frame
   * @returns the close code and reason, and the frames that came before
   */
  async closeFrame(ms = this.waitMs): Promise<ServerClose> {
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

  /**
   * Waits for the peer to end its side.
   * @param ms - the bound
   */
  async ended(ms = this.waitMs): Promise<void> {
    if (this.#isEnded) return;
    await this.#until(() => (this.#isEnded ? true : undefined), 'end', ms).catch((error) => {
      if (!this.#isEnded) throw error;
    });
  }

  /**
   * Waits for the stream to close.
   * @param ms - the bound
   */
  async closed(ms = this.waitMs): Promise<void> {
    if (this.#isClosed) return;
    await waitForEvent(this.stream, 'close', ms);
  }
}
