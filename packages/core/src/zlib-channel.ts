/**
 * One direction of permessage-deflate: a raw DEFLATE or INFLATE stream fed by a FIFO of
 * per-frame jobs, each admitted by a {@link ZlibLimiter}.
 *
 * ```text
 *  push() ─▶ jobs (FIFO) ─▶ limiter slot ─▶ sync-flushed write ─▶ 'data' chunks ─▶ callback
 *                                                  │ inflated bytes > limit
 *                                                  └─▶ destroy the stream, callback(1009)
 * ```
 *
 * Only one job per channel holds the stream at a time, so outputs come back in push order.
 * The stream is created on first use (a connection that never compresses holds no zlib memory),
 * reset after each message under no_context_takeover, and released when the connection closes.
 * @module
 */
import zlib from 'node:zlib';
import { ProtocolErrorCode, WebSocketError } from './errors.js';
import type { ZlibLimiter } from './zlib-limiter.js';

/** RFC 7692 §7.2.1: the empty stored block that ends a sync flush, removed from each message. */
const TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);
const EMPTY = Buffer.alloc(0);
const { Z_SYNC_FLUSH } = zlib.constants;
/** Final frames up to this size are copied to append the tail in a single write. */
const COPY_TAIL_BELOW = 64 * 1024;

/** The error code given to deflate callbacks still pending when the channel is closed. */
export const DEFLATE_CLOSED = 'WS_DEFLATE_CLOSED';

/** How a {@link ZlibChannel} is set up. */
export interface ZlibChannelOptions {
  /** `inflate` for incoming messages, `deflate` for outgoing ones. */
  readonly mode: 'inflate' | 'deflate';
  /** zlib window bits, 9–15 (raw zlib streams cannot use 8). */
  readonly windowBits: number;
  /** zlib compression level (deflate only). */
  readonly level: number;
  /** zlib memLevel (deflate only). */
  readonly memLevel: number;
  /** RFC 7692 §7.1.1: start every message with an empty LZ77 window. */
  readonly noContextTakeover: boolean;
  /** Largest inflated message, in bytes, whatever the caller allows (inflate only). */
  readonly maxMessageBytes: number;
  /** Admission of zlib work across connections. */
  readonly limiter: ZlibLimiter;
}

/** Receives the output of one job. Called exactly once, never synchronously from `push`. */
export type ZlibCallback = (err: Error | null, output?: Buffer) => void;

interface Job {
  readonly data: Buffer;
  readonly fin: boolean;
  readonly maxBytes: number;
  readonly callback: ZlibCallback;
}

type RawStream = zlib.InflateRaw | zlib.DeflateRaw;

/** A serialized, concurrency-limited raw deflate or inflate stream (see the module comment). */
export class ZlibChannel {
  readonly #opts: ZlibChannelOptions;
  readonly #isInflate: boolean;
  #stream: RawStream | undefined;
  #jobs: Job[] = [];
  /** The job handed to the limiter, from dispatch until its callback. */
  #current: Job | undefined;
  #release: (() => void) | undefined;
  #chunks: Buffer[] = [];
  #outBytes = 0;
  #limit = Number.POSITIVE_INFINITY;
  /** Inflated bytes of the current message in earlier frames. */
  #messageBytes = 0;
  /** Bytes written to the current stream; compared with what zlib consumed. */
  #inBytes = 0;
  #failure: Error | undefined;
  #isClosed = false;

  /** @param opts - stream parameters, limits and the limiter */
  constructor(opts: ZlibChannelOptions) {
    this.#opts = opts;
    this.#isInflate = opts.mode === 'inflate';
  }

  /** Whether a zlib stream (and its native memory) is currently held. */
  get hasStream(): boolean {
    return this.#stream !== undefined;
  }

  /**
   * Queues one frame's worth of data.
   * @param data - inflate: compressed payload; deflate: message bytes
   * @param fin - whether this ends the message
   * @param maxBytes - inflate: most bytes this call may produce (crossing it fails with 1009)
   * @param callback - receives the output; after {@link ZlibChannel.close}, inflate callbacks
   *   are dropped and deflate callbacks fail with code {@link DEFLATE_CLOSED}
   */
  push(data: Buffer, fin: boolean, maxBytes: number, callback: ZlibCallback): void {
    if (this.#isClosed || this.#failure) {
      this.#rejectLater(callback);
      return;
    }
    this.#jobs.push({ data, fin, maxBytes, callback });
    this.#dispatch();
  }

  /** Releases the stream at once; pending jobs are dropped (inflate) or failed (deflate). */
  close(): void {
    if (this.#isClosed) return;
    this.#isClosed = true;
    this.#discardStream();
    const jobs = this.#current ? [this.#current, ...this.#jobs] : this.#jobs;
    this.#current = undefined;
    this.#jobs = [];
    this.#chunks = [];
    // The slot is given back even if the destroyed stream's native work is still finishing
    // on the thread pool: zlib frees its memory as soon as that work returns.
    this.#takeRelease()?.();
    for (const job of jobs) this.#rejectLater(job.callback);
  }

  #rejectLater(callback: ZlibCallback): void {
    if (this.#failure) {
      process.nextTick(callback, this.#failure);
    } else if (!this.#isInflate) {
      // An inflate callback resumes the frame parser; after close() there is nothing to resume.
      const err = Object.assign(new Error('permessage-deflate was closed'), {
        code: DEFLATE_CLOSED,
      });
      process.nextTick(callback, err);
    }
  }

  #dispatch(): void {
    if (this.#current !== undefined) return;
    const job = this.#jobs.shift();
    if (!job) return;
    this.#current = job;
    this.#opts.limiter.run((release) => this.#start(job, release));
  }

  #start(job: Job, release: () => void): void {
    if (job !== this.#current) {
      release(); // closed (or failed) while waiting for a slot
      return;
    }
    this.#release = release;
    this.#chunks = [];
    this.#outBytes = 0;
    const stream = this.#stream ?? this.#open();
    this.#limit = this.#isInflate
      ? Math.min(job.maxBytes, this.#opts.maxMessageBytes - this.#messageBytes)
      : Number.POSITIVE_INFINITY;
    this.#inBytes += job.data.length;
    const dataEnd = this.#inBytes;
    const onWritten = (): void => this.#onWritten(stream, job, dataEnd);
    // The stream sync-flushes every write, and each write is one thread pool round trip: a
    // small final frame is copied next to the tail rather than paying a second round trip.
    if (this.#isInflate && job.fin) {
      // RFC 7692 §7.2.2: append the tail the sender removed, then inflate.
      this.#inBytes += TAIL.length;
      if (job.data.length <= COPY_TAIL_BELOW) {
        stream.write(Buffer.concat([job.data, TAIL]), onWritten);
      } else {
        stream.write(job.data);
        stream.write(TAIL, onWritten);
      }
    } else {
      stream.write(job.data, onWritten);
    }
  }

  #open(): RawStream {
    const { windowBits, level, memLevel } = this.#opts;
    const stream: RawStream = this.#isInflate
      ? zlib.createInflateRaw({ windowBits, flush: Z_SYNC_FLUSH })
      : zlib.createDeflateRaw({ windowBits, level, memLevel, flush: Z_SYNC_FLUSH });
    stream.on('data', (chunk: Buffer) => this.#onData(stream, chunk));
    // Kept for the stream's whole life: late errors of a discarded stream are ignored here
    // instead of becoming uncaught exceptions.
    stream.on('error', (err: Error) => this.#onError(stream, err));
    this.#stream = stream;
    this.#inBytes = 0;
    return stream;
  }

  #onData(stream: RawStream, chunk: Buffer): void {
    if (stream !== this.#stream || this.#current === undefined) return;
    this.#outBytes += chunk.length;
    // Written so that a NaN limit fails closed.
    if (!(this.#outBytes <= this.#limit)) {
      // Destroying the stream inside 'data' stops zlib before its next output chunk, so a
      // decompression bomb costs at most the limit plus one chunk (ws#497).
      const message = 'Inflated message exceeds the size limit';
      this.#fail(new WebSocketError(1009, ProtocolErrorCode.MessageTooBig, message));
      return;
    }
    this.#chunks.push(chunk);
  }

  #onError(stream: RawStream, err: Error): void {
    if (stream !== this.#stream) return;
    this.#fail(this.#isInflate ? inflateError(err.message, err) : err);
  }

  #onWritten(stream: RawStream, job: Job, dataEnd: number): void {
    if (stream !== this.#stream || job !== this.#current) return; // already failed or closed
    let hasEnded = false;
    if (this.#isInflate) {
      // zlib stops consuming input after a block with BFINAL set. Only the appended tail may
      // be left over; anything else is data after the end of the DEFLATE stream.
      if (stream.bytesWritten < dataEnd) {
        this.#fail(inflateError('data after the final DEFLATE block'));
        return;
      }
      hasEnded = stream.bytesWritten < this.#inBytes;
    }
    let output: Buffer =
      this.#chunks.length === 0 ? EMPTY : Buffer.concat(this.#chunks, this.#outBytes);
    if (!this.#isInflate && job.fin) output = stripTail(output);
    if (job.fin) {
      this.#messageBytes = 0;
      if (hasEnded || this.#opts.noContextTakeover) this.#recycle(stream, hasEnded);
    } else {
      this.#messageBytes += this.#outBytes;
    }
    this.#finish(job, null, output);
  }

  /** Drops the LZ77 window after a message (no_context_takeover, or a stream that ended). */
  #recycle(stream: RawStream, hasEnded: boolean): void {
    if (hasEnded) {
      this.#discardStream();
    } else {
      // A reset is far cheaper than a new zlib stream (measured: 3-5x the messages per second
      // under no_context_takeover); the stream's memory is released when the connection closes.
      // reset() leaves the stream's bytesWritten counting, so #inBytes keeps counting too.
      stream.reset();
    }
  }

  #discardStream(): void {
    const stream = this.#stream;
    this.#stream = undefined;
    stream?.destroy();
  }

  #fail(err: Error): void {
    this.#failure = err;
    this.#discardStream();
    const job = this.#current;
    const queued = this.#jobs;
    this.#jobs = [];
    if (job) this.#finish(job, err);
    for (const next of queued) next.callback(err);
  }

  #takeRelease(): (() => void) | undefined {
    const release = this.#release;
    this.#release = undefined;
    return release;
  }

  #finish(job: Job, err: Error | null, output?: Buffer): void {
    this.#current = undefined;
    this.#chunks = [];
    this.#takeRelease()?.();
    // Start the next job before calling back, so a throwing callback cannot stall the queue.
    this.#dispatch();
    if (err) job.callback(err);
    else job.callback(null, output);
  }
}

function inflateError(detail: string, cause?: Error): WebSocketError {
  return new WebSocketError(
    1007,
    ProtocolErrorCode.InflateFailed,
    `Invalid compressed data: ${detail}`,
    cause ? { cause } : undefined,
  );
}

/**
 * RFC 7692 §7.2.1: removes the `00 00 ff ff` a sync flush ends with. An empty output (nothing
 * to flush right after a flush) becomes 0x00, which plus the receiver's tail is one whole empty
 * stored block (§7.2.3.6); an empty payload would leave the receiver inside a block header.
 */
function stripTail(buf: Buffer): Buffer {
  const n = buf.length;
  if (n === 0) return Buffer.from([0x00]); // fresh: a client's frame writer masks in place
  const hasTail =
    n >= 4 && buf[n - 4] === 0 && buf[n - 3] === 0 && buf[n - 2] === 0xff && buf[n - 1] === 0xff;
  if (!hasTail) return buf;
  return buf.subarray(0, n === 4 ? 1 : n - 4);
}
