/**
 * Frame writer (RFC 6455 §5.2): builds frame headers and puts frames on the socket.
 *
 * Small frames are copied, header and payload together, into a slab buffer; while a batch is
 * open (the connection opens one around each incoming chunk) the slab is written once when the
 * batch closes, so the replies to many small messages leave in a single write. Large payloads
 * are not copied: the header goes into the slab and the payload follows it in the same corked
 * write.
 *
 * Frames built elsewhere and shared by many writers (a topic's publications) are not copied at
 * all while they arrive back to back in memory: the writer keeps a reference to the range they
 * span and hands that range to the socket as it is, unless the socket is still sending (then
 * it gets a copy, so that a slow subscriber never pins shared memory). One batch of publications then costs each
 * subscriber one write of shared bytes, as uWebSockets' TopicTree does, instead of one copy per
 * frame per subscriber.
 * @module
 */
import type { Duplex } from 'node:stream';
import { Opcode } from './constants.js';

/** Payloads up to this size are copied into the slab; larger ones are written by reference. */
const COPY_THRESHOLD = 16 * 1024;
/** Size of a fresh slab. */
const SLAB_SIZE = 64 * 1024;
/** When less than this is left in the slab after a write, a fresh one is taken. */
const SLAB_MIN_REMAINING = 2 * 1024;
const EMPTY = Buffer.alloc(0);

/**
 * Writers holding their frames until the poll phase of the current event-loop turn is over:
 * every socket that was readable in this turn has been read, so the publications of all the
 * publishers that spoke leave in one write per subscriber (uWebSockets drains its topics once
 * per loop iteration, too).
 */
let deferredWriters: FrameWriter[] = [];
let isDeferredFlushQueued = false;

function flushDeferredWriters(): void {
  isDeferredFlushQueued = false;
  const writers = deferredWriters;
  deferredWriters = [];
  for (const writer of writers) writer.endDeferral();
}

/** Options of a {@link FrameWriter}. */
export interface FrameWriterOptions {
  /** Largest frame payload; larger messages are split into continuation frames. */
  readonly maxFrameSize: number;
}

/**
 * Length of a frame header for a payload of `payloadLength` bytes, without masking key.
 * @param payloadLength - payload size in bytes
 * @returns 2, 4 or 10
 */
export function headerLength(payloadLength: number): number {
  if (payloadLength < 126) return 2;
  if (payloadLength < 0x10000) return 4;
  return 10;
}

/**
 * Writes an unmasked frame header into `target` at `offset`.
 * @param target - destination buffer, with at least {@link headerLength} bytes free
 * @param offset - where the header starts
 * @param opcode - the frame opcode
 * @param isFinal - the FIN bit
 * @param rsv1 - the RSV1 bit (set on the first frame of a compressed message, RFC 7692 §6)
 * @param payloadLength - payload size in bytes
 * @returns the offset just after the header
 */
export function writeFrameHeader(
  target: Buffer,
  offset: number,
  opcode: number,
  isFinal: boolean,
  rsv1: boolean,
  payloadLength: number,
): number {
  target[offset] = (isFinal ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | opcode;
  if (payloadLength < 126) {
    target[offset + 1] = payloadLength;
    return offset + 2;
  }
  if (payloadLength < 0x10000) {
    target[offset + 1] = 126;
    target.writeUInt16BE(payloadLength, offset + 2);
    return offset + 4;
  }
  target[offset + 1] = 127;
  // RFC 6455 §5.2: the most significant bit of a 64-bit length must be 0.
  target.writeUInt32BE(Math.floor(payloadLength / 0x1_0000_0000), offset + 2);
  target.writeUInt32BE(payloadLength >>> 0, offset + 6);
  return offset + 10;
}

/**
 * Puts server frames (never masked, RFC 6455 §5.1) on a socket.
 */
export class FrameWriter {
  readonly #socket: Duplex;
  readonly #maxFrameSize: number;
  #slab: Buffer = EMPTY;
  /** Start of the bytes in the slab not yet handed to the socket. */
  #start = 0;
  /** End of the bytes written into the slab. */
  #end = 0;
  #batchDepth = 0;
  #isDeferred = false;
  /** Memory of the shared frames waiting to be written by reference, if any. */
  #shared: ArrayBufferLike | undefined;
  /** Byte range of those frames in `#shared`; only pending while the slab holds nothing. */
  #sharedStart = 0;
  #sharedEnd = 0;

  /**
   * @param socket - the upgraded socket
   * @param options - writer options
   */
  constructor(socket: Duplex, options: FrameWriterOptions) {
    this.#socket = socket;
    this.#maxFrameSize = options.maxFrameSize;
  }

  /** Opens a batch: frames are gathered until the matching {@link FrameWriter.endBatch}. */
  beginBatch(): void {
    this.#batchDepth++;
  }

  /** Closes a batch; the outermost one writes everything gathered. */
  endBatch(): void {
    if (--this.#batchDepth === 0) this.#flush();
  }

  /**
   * Holds this writer's frames until the current event-loop turn has read every readable
   * socket, then writes them at once (`setImmediate`: the check phase right after the poll
   * phase of the same turn, so no turn is added when called from I/O): a burst of publications,
   * from one publisher or many, reaches each subscriber in one write, not one per frame or per
   * publisher.
   */
  deferFlush(): void {
    if (this.#isDeferred) return;
    this.#isDeferred = true;
    this.#batchDepth++;
    deferredWriters.push(this);
    if (!isDeferredFlushQueued) {
      isDeferredFlushQueued = true;
      setImmediate(flushDeferredWriters);
    }
  }

  /** Ends a {@link FrameWriter.deferFlush}. Internal, called from `setImmediate`. */
  endDeferral(): void {
    if (!this.#isDeferred) return;
    this.#isDeferred = false;
    this.endBatch();
  }

  /**
   * Writes a frame built elsewhere (header and payload, e.g. one frame shared by every
   * subscriber of a topic). A small frame that directly follows the shared frames already
   * pending in memory extends their range; one that starts a batch becomes that range; otherwise
   * it is copied into the slab. Large frames are written by reference.
   * @param frame - complete frame bytes; never modified, by the caller either
   */
  writeFrameBytes(frame: Uint8Array): void {
    const length = frame.byteLength;
    if (length <= COPY_THRESHOLD) {
      if (this.#shared === frame.buffer && this.#sharedEnd === frame.byteOffset) {
        this.#sharedEnd += length;
      } else if (this.#shared === undefined && this.#end === this.#start) {
        this.#shared = frame.buffer;
        this.#sharedStart = frame.byteOffset;
        this.#sharedEnd = frame.byteOffset + length;
      } else {
        this.#reserve(length);
        this.#slab.set(frame, this.#end);
        this.#end += length;
      }
      this.#flushUnlessBatching();
      return;
    }
    const socket = this.#socket;
    if (socket.destroyed || socket.writableEnded) return;
    this.#flush();
    socket.write(frame);
  }

  /** Bytes gathered in the current batch and not yet handed to the socket. */
  get pendingBytes(): number {
    return this.#end - this.#start + (this.#sharedEnd - this.#sharedStart);
  }

  /**
   * Writes one message, fragmenting it when larger than `maxFrameSize`.
   * @param opcode - Text or Binary (or a control opcode for a control frame)
   * @param payload - the payload bytes
   * @param rsv1 - set RSV1 on the first frame (compressed message)
   */
  writeMessage(opcode: number, payload: Uint8Array, rsv1 = false): void {
    const total = payload.byteLength;
    // RFC 6455 §5.5: control frames are never fragmented (their payload is at most 125 bytes).
    if (total <= this.#maxFrameSize || opcode >= Opcode.Close) {
      this.#writeFrame(opcode, true, rsv1, payload);
      return;
    }
    let offset = 0;
    let frameOpcode = opcode;
    let frameRsv1 = rsv1;
    while (offset < total) {
      const end = Math.min(offset + this.#maxFrameSize, total);
      this.#writeFrame(frameOpcode, end === total, frameRsv1, payload.subarray(offset, end));
      offset = end;
      frameOpcode = Opcode.Continuation;
      frameRsv1 = false;
    }
  }

  /**
   * Writes a text message straight from a string, encoding it into the slab when it is small.
   * @param text - the message
   */
  writeText(text: string): void {
    // A UTF-16 code unit encodes to at most 3 UTF-8 bytes: a cheap upper bound first.
    if (text.length * 3 <= COPY_THRESHOLD) {
      const byteLength = Buffer.byteLength(text);
      if (byteLength > this.#maxFrameSize) {
        this.writeMessage(Opcode.Text, Buffer.from(text, 'utf8'));
        return;
      }
      this.#reserve(headerLength(byteLength) + byteLength);
      const at = writeFrameHeader(this.#slab, this.#end, Opcode.Text, true, false, byteLength);
      this.#end = at + this.#slab.write(text, at, byteLength, 'utf8');
      this.#flushUnlessBatching();
      return;
    }
    this.writeMessage(Opcode.Text, Buffer.from(text, 'utf8'));
  }

  #writeFrame(opcode: number, isFinal: boolean, rsv1: boolean, payload: Uint8Array): void {
    const length = payload.byteLength;
    const headerBytes = headerLength(length);
    if (length <= COPY_THRESHOLD) {
      this.#reserve(headerBytes + length);
      const at = writeFrameHeader(this.#slab, this.#end, opcode, isFinal, rsv1, length);
      this.#slab.set(payload, at);
      this.#end = at + length;
      this.#flushUnlessBatching();
      return;
    }
    // Header and payload leave in one writev: the socket is corked around both writes.
    const socket = this.#socket;
    if (socket.destroyed || socket.writableEnded) return;
    this.#reserve(headerBytes);
    this.#end = writeFrameHeader(this.#slab, this.#end, opcode, isFinal, rsv1, length);
    socket.cork();
    this.#flush();
    socket.write(payload);
    socket.uncork();
  }

  #reserve(bytes: number): void {
    // Whatever goes into the slab follows the shared frames pending before it: copy them first.
    if (this.#shared !== undefined) this.#absorbShared();
    this.#ensureSlab(bytes);
  }

  /** Moves the pending shared frames into the slab (another frame must follow them in order). */
  #absorbShared(): void {
    const shared = new Uint8Array(
      this.#shared as ArrayBufferLike,
      this.#sharedStart,
      this.#sharedEnd - this.#sharedStart,
    );
    this.#shared = undefined;
    this.#sharedStart = 0;
    this.#sharedEnd = 0;
    this.#ensureSlab(shared.byteLength);
    this.#slab.set(shared, this.#end);
    this.#end += shared.byteLength;
  }

  #ensureSlab(bytes: number): void {
    if (this.#slab.length - this.#end >= bytes) return;
    this.#flush();
    this.#slab = Buffer.allocUnsafe(Math.max(SLAB_SIZE, bytes));
    this.#start = 0;
    this.#end = 0;
  }

  #flushUnlessBatching(): void {
    if (this.#batchDepth === 0) this.#flush();
  }

  /** Hands everything gathered so far to the socket, even inside a batch. */
  flush(): void {
    this.#flush();
  }

  #flush(): void {
    // A socket still sending keeps what it is handed until the peer reads it: referenced, a few
    // frames of a slow subscriber would pin a whole shared slab (64 KiB for maybe 66 bytes
    // counted in bufferedAmount), so it gets a copy in its own slab instead.
    if (this.#shared !== undefined && this.#socket.writableLength > 0) this.#absorbShared();
    if (this.#shared !== undefined) {
      // Pending shared frames imply an empty slab: they are the whole batch.
      const shared = Buffer.from(
        this.#shared,
        this.#sharedStart,
        this.#sharedEnd - this.#sharedStart,
      );
      this.#shared = undefined;
      this.#sharedStart = 0;
      this.#sharedEnd = 0;
      const socket = this.#socket;
      if (!socket.destroyed && !socket.writableEnded) socket.write(shared);
      return;
    }
    if (this.#end === this.#start) return;
    const chunk = this.#slab.subarray(this.#start, this.#end);
    this.#start = this.#end;
    if (this.#slab.length - this.#end < SLAB_MIN_REMAINING) {
      // The socket keeps a reference to what it was handed; later frames never write over it.
      this.#slab = EMPTY;
      this.#start = 0;
      this.#end = 0;
    }
    const socket = this.#socket;
    if (!socket.destroyed && !socket.writableEnded) socket.write(chunk);
  }
}
