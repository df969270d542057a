/**
 * Frame writer (RFC 6455 §5.2): builds frame headers and puts frames on the socket.
 *
 * Small frames are copied, header and payload together, into a slab buffer shared by every
 * writer of the process (writes are synchronous, so one slab serves them all and a connection
 * costs no buffer of its own). While a batch is open (the connection opens one around each
 * incoming chunk) a writer's frames gather there and are written once when the batch closes, so
 * the replies to many small messages leave in a single write. Larger payloads are not copied:
 * the header goes into the slab and the payload follows it by reference, the socket corked
 * until the batch closes, so a batch still leaves in a single writev. Copying a payload costs
 * its bytes (and, in a fresh slab, its pages); referencing it costs a buffer entry in a writev:
 * from {@link COPY_THRESHOLD} bytes on, the reference is cheaper.
 *
 * ```
 *   shared slab: [ handed to sockets … | writer A's batch | writer B's frames | free … ]
 *                                                          ▲ tail writer   slab end ▲
 * ```
 * Only the writer whose gathered bytes end at the slab's end (the tail writer) extends them in
 * place; a writer whose batch was overtaken by another writer's frames writes what it gathered
 * first. Bytes handed to a socket are never written over: the slab only fills up, and a full
 * slab is replaced by a fresh one.
 *
 * Frames built elsewhere and shared by many writers (a topic's publications, cut back to back
 * from an append-only slab) are not copied while they arrive back to back in memory: the writer
 * keeps a reference to the range they span and hands that range to the socket as it is, unless
 * the socket is still sending (then it gets a copy, so a slow subscriber never pins shared
 * memory). A batch of publications then costs each subscriber one write of shared bytes, as
 * uWebSockets' TopicTree does, instead of one copy per frame per subscriber.
 * @module
 */
import type { Duplex } from 'node:stream';
import { Opcode } from './constants.js';

/** Payloads up to this size are copied into the slab; larger ones are written by reference. */
const COPY_THRESHOLD = 1024;
/**
 * Text up to this many UTF-8 bytes is encoded straight into the slab: it has to be encoded
 * anyway, and a `Buffer` of its own would cost an allocation.
 */
const TEXT_ENCODE_THRESHOLD = 16 * 1024;
/** Size of a fresh slab. */
const SLAB_SIZE = 64 * 1024;
const EMPTY = Buffer.alloc(0);

/** The slab every writer copies small frames into. */
let sharedSlab: Buffer = EMPTY;
/** First free byte of {@link sharedSlab}. */
let slabEnd = 0;
/** The writer whose gathered bytes end at {@link slabEnd}, if any. */
let tailWriter: FrameWriter | undefined;

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
  /** The slab holding this writer's gathered bytes (a replaced slab stays valid). */
  #slab: Buffer = EMPTY;
  /** Start of the gathered bytes in `#slab`. */
  #start = 0;
  /** End of the gathered bytes in `#slab`. */
  #end = 0;
  #batchDepth = 0;
  /** Whether this writer corked the socket (a payload written by reference in a batch). */
  #isCorked = false;
  #isDeferred = false;
  /** Memory of the shared frames waiting to be written by reference, if any. */
  #shared: ArrayBufferLike | undefined;
  /** Byte range of those frames in `#shared`; pending only while nothing is gathered. */
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
    if (--this.#batchDepth === 0) this.flush();
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
   * subscriber of a topic), by reference. A frame that directly follows the shared frames
   * pending in memory extends their range; any other starts a new range, once what is pending
   * has been handed to the socket, corked until the batch closes. Never copied here: copying
   * into the shared slab would make this writer flush whenever another writer's frames came
   * between two of its own, which is every publication when many subscribers take turns.
   * @param frame - complete frame bytes; never modified, by the caller either
   */
  writeFrameBytes(frame: Uint8Array): void {
    if (this.#shared === frame.buffer && this.#sharedEnd === frame.byteOffset) {
      this.#sharedEnd += frame.byteLength;
    } else {
      if (this.#shared !== undefined || this.#end !== this.#start) {
        this.#cork();
        this.#flush();
      }
      this.#shared = frame.buffer;
      this.#sharedStart = frame.byteOffset;
      this.#sharedEnd = frame.byteOffset + frame.byteLength;
    }
    if (this.#batchDepth === 0) this.flush();
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
    if (text.length * 3 <= TEXT_ENCODE_THRESHOLD) {
      const byteLength = Buffer.byteLength(text);
      if (byteLength > this.#maxFrameSize) {
        this.writeMessage(Opcode.Text, Buffer.from(text, 'utf8'));
        return;
      }
      const slab = this.#reserve(headerLength(byteLength) + byteLength);
      const at = writeFrameHeader(slab, slabEnd, Opcode.Text, true, false, byteLength);
      this.#advance(at + slab.write(text, at, byteLength, 'utf8'));
      return;
    }
    this.writeMessage(Opcode.Text, Buffer.from(text, 'utf8'));
  }

  #writeFrame(opcode: number, isFinal: boolean, rsv1: boolean, payload: Uint8Array): void {
    const length = payload.byteLength;
    const headerBytes = headerLength(length);
    if (length <= COPY_THRESHOLD) {
      const slab = this.#reserve(headerBytes + length);
      const at = writeFrameHeader(slab, slabEnd, opcode, isFinal, rsv1, length);
      slab.set(payload, at);
      this.#advance(at + length);
      return;
    }
    // Header and payload leave in one writev (with the rest of the batch): the socket stays
    // corked until the batch closes.
    const socket = this.#socket;
    if (socket.destroyed || socket.writableEnded) return;
    const slab = this.#reserve(headerBytes);
    this.#end = slabEnd = writeFrameHeader(slab, slabEnd, opcode, isFinal, rsv1, length);
    this.#cork();
    this.#flush();
    socket.write(payload);
    if (this.#batchDepth === 0) this.#uncork();
  }

  #cork(): void {
    if (this.#isCorked) return;
    this.#isCorked = true;
    this.#socket.cork();
  }

  #uncork(): void {
    if (!this.#isCorked) return;
    this.#isCorked = false;
    this.#socket.uncork();
  }

  /**
   * Makes room for `bytes` at the shared slab's end, after this writer's gathered bytes, and
   * makes this writer the tail writer.
   * @returns the shared slab; the frame goes at {@link slabEnd}
   */
  #reserve(bytes: number): Buffer {
    // Whatever goes into the slab follows the shared frames pending before it: copy them first.
    if (this.#shared !== undefined) this.#absorbShared();
    return this.#reserveSlab(bytes);
  }

  /** Moves the pending shared frames into the slab (another frame must follow them in order). */
  #absorbShared(): void {
    const shared = this.#takeShared();
    const slab = this.#reserveSlab(shared.byteLength);
    slab.set(shared, slabEnd);
    this.#end = slabEnd += shared.byteLength;
  }

  #takeShared(): Buffer {
    const shared = Buffer.from(
      this.#shared as ArrayBufferLike,
      this.#sharedStart,
      this.#sharedEnd - this.#sharedStart,
    );
    this.#shared = undefined;
    this.#sharedStart = 0;
    this.#sharedEnd = 0;
    return shared;
  }

  #reserveSlab(bytes: number): Buffer {
    const isGathering = this.#end !== this.#start;
    // Gathered bytes can only grow in place while nobody wrote after them.
    if (isGathering && (tailWriter !== this || this.#slab !== sharedSlab)) this.#flush();
    if (sharedSlab.length - slabEnd < bytes) {
      // What this writer gathered in the full slab leaves first: frames stay in order.
      if (this.#end !== this.#start) this.#flush();
      sharedSlab = Buffer.allocUnsafe(Math.max(SLAB_SIZE, bytes));
      slabEnd = 0;
    }
    if (this.#end === this.#start) {
      this.#slab = sharedSlab;
      this.#start = slabEnd;
    }
    tailWriter = this;
    return sharedSlab;
  }

  /** Records a frame written up to `end` of the shared slab; writes it unless batching. */
  #advance(end: number): void {
    this.#end = slabEnd = end;
    if (this.#batchDepth === 0) this.#flush();
  }

  /** Hands everything gathered so far to the socket (and uncorks it), even inside a batch. */
  flush(): void {
    this.#flush();
    this.#uncork();
  }

  #flush(): void {
    if (this.#shared !== undefined) {
      // A socket still sending keeps what it is handed until the peer reads it: referenced, a
      // few frames of a slow subscriber would pin a whole shared slab (64 KiB for maybe 66 bytes
      // counted in bufferedAmount), so it gets a copy instead. Otherwise the pending shared
      // frames are the whole batch (they imply nothing gathered) and go by reference.
      if (this.#socket.writableLength > 0) {
        this.#absorbShared();
      } else {
        const shared = this.#takeShared();
        const socket = this.#socket;
        if (!socket.destroyed && !socket.writableEnded) socket.write(shared);
        return;
      }
    }
    if (this.#end === this.#start) return;
    const chunk = this.#slab.subarray(this.#start, this.#end);
    this.#slab = EMPTY;
    this.#start = 0;
    this.#end = 0;
    if (tailWriter === this) tailWriter = undefined;
    const socket = this.#socket;
    if (!socket.destroyed && !socket.writableEnded) socket.write(chunk);
  }
}
