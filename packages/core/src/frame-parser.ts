/**
 * Push-based WebSocket frame parser (RFC 6455 §5). It reports to a {@link FrameParserSink} and
 * never writes to the socket: the connection decides every reply.
 *
 * ```
 *            ┌── len 126 ──▶ Length16 ──┐
 *  Header ───┼── len 127 ──▶ Length64 ──┼── size checks ──▶ MaskKey ──▶ Payload ──▶ Header
 *     ▲      └── len ≤ 125 ─────────────┘   (unmasked: straight to Payload)   │
 *     │                                                                        │ rsv1 message
 *     └──────────────────── inflater callback ◀──── Inflating (paused) ◀──────┘
 *
 *  Any violation, or a close frame ──▶ Stopped (all further input ignored)
 * ```
 *
 * While a payload is incomplete, the bytes already here are unmasked (large payloads) and, for
 * uncompressed text, validated as UTF-8, so invalid text fails before the frame ends. A large
 * payload is also moved into the buffer it will be delivered in as it arrives, once a quarter
 * of it is here: the copy overlaps the wait for the rest, and the socket chunks are let go.
 * @module
 */
import { CloseCode, isValidCloseCode } from './close-codes.js';
import { MAX_CONTROL_PAYLOAD, Opcode } from './constants.js';
import type { ProtocolErrorCode, WebSocketError } from './errors.js';
import { FragmentBuffer } from './fragment-buffer.js';
import { unmask, unmaskAt } from './mask.js';
import { isValidUtf8, Utf8Validator } from './utf8.js';

/** Receives what the {@link FrameParser} finds. Exceptions thrown here propagate out of `push()`. */
export interface FrameParserSink {
  /** A complete data message. For text, `data` is already validated UTF-8. `data` may be a view into a socket chunk. */
  onMessage(data: Buffer, isBinary: boolean): void;
  /** A ping frame; `payload` (≤ 125 bytes) may be a view into a socket chunk. */
  onPing(payload: Buffer): void;
  /** A pong frame; `payload` (≤ 125 bytes) may be a view into a socket chunk. */
  onPong(payload: Buffer): void;
  /** A valid close frame. `code` is undefined when the frame carried no payload. */
  onClose(code: number | undefined, reason: string): void;
  /** A protocol violation. After this the parser ignores all further input. */
  onFail(closeCode: number, errorCode: ProtocolErrorCode, message: string): void;
  /** Optional: called with true when the parser stops consuming (waiting on the inflater) and false when it resumes. */
  onPausedChange?(paused: boolean): void;
}

/** Decompression hook used when permessage-deflate is negotiated (implemented elsewhere). */
export interface MessageInflater {
  /**
   * Inflate one frame's payload of a compressed message. `fin` is true for the message's last frame
   * (the inflater appends 00 00 ff ff itself). `maxBytes` is how many inflated bytes this message may still
   * produce; the inflater must stop and call back with a WebSocketError(1009, 'WS_MESSAGE_TOO_BIG') as soon as it is
   * crossed. Calls back exactly once, asynchronously, with the inflated bytes of this frame.
   */
  inflate(
    data: Buffer,
    fin: boolean,
    maxBytes: number,
    callback: (err: WebSocketError | null, inflated?: Buffer) => void,
  ): void;
}

/** Options of a {@link FrameParser}. */
export interface FrameParserOptions {
  /** Server side: client frames must be masked (else 1002). Client side: frames must NOT be masked. @default true */
  readonly expectMasked?: boolean;
  /** Largest message in bytes (after reassembly/inflation): 1009 when exceeded — checked from the frame header, before buffering. */
  readonly maxPayload: number;
  /** Most frames in one message (continuations included): 1009 + WS_TOO_MANY_FRAGMENTS. Infinity allowed. */
  readonly maxFragments: number;
  /** Set when permessage-deflate was negotiated: RSV1 allowed on the first frame of a data message. */
  readonly inflater?: MessageInflater;
  /**
   * Most bytes the parser may hold, as counted by {@link FrameParser.bufferedBytes} (each frame
   * of a fragmented message included at {@link HELD_FRAME_COST}): 1009 + WS_BUFFER_OVERFLOW
   * beyond. Checked at every data frame header, before its payload is buffered, and whenever the
   * held payload grows, so it holds between the frames of one socket chunk too.
   * @default Infinity (the owner checks bufferedBytes itself)
   */
  readonly maxBufferedBytes?: number;
}

/**
 * What each frame of a fragmented message adds to {@link FrameParser.bufferedBytes}, on top of
 * its payload bytes. Held payloads are coalesced into one owned buffer, so a frame really costs
 * no more than its payload; the charge is what a frame held as its own `Buffer` view cost before
 * (about 115 bytes of heap and chunk on Node 20, rounded up), so the cap stays a bound on memory
 * whatever the representation, and a flood of tiny or empty fragments (`maxFragments: Infinity`)
 * reaches the cap instead of exhausting the heap: 10 million 1-byte fragments count 1.29 GB.
 */
export const HELD_FRAME_COST = 128;

const State = {
  Header: 0,
  Length16: 1,
  Length64: 2,
  MaskKey: 3,
  Payload: 4,
  Inflating: 5,
  Stopped: 6,
} as const;
type State = (typeof State)[keyof typeof State];

const EMPTY = Buffer.alloc(0);
const MASK_SCRATCH = Buffer.alloc(4);
/** Payloads from this size on are unmasked, and assembled, chunk by chunk as they arrive. */
const LARGE_PAYLOAD = 64 * 1024;
const { ProtocolError, InvalidPayload, MessageTooBig } = CloseCode;

/** A rule broken by the peer: the close code to send, the stable error code, a short message. */
type Violation = readonly [closeCode: number, errorCode: ProtocolErrorCode, message: string];

const INVALID_TEXT: Violation = [InvalidPayload, 'WS_INVALID_UTF8', 'text is not valid UTF-8'];
const OVERFLOW: Violation = [
  MessageTooBig,
  'WS_BUFFER_OVERFLOW',
  'held data exceeds maxBufferedBytes',
];

/**
 * The first rule a frame header's first two bytes break, given the message in progress
 * (`messageOpcode` 0 when none). Masking and size limits are checked by the parser.
 */
function checkHeader(
  b0: number,
  b1: number,
  messageOpcode: number,
  hasInflater: boolean,
): Violation | undefined {
  const opcode = b0 & 0x0f;
  const isRsv1 = (b0 & 0x40) !== 0;
  // RFC 6455 §5.2: RSV2/RSV3 have no negotiated meaning; RSV1 only with permessage-deflate.
  if ((b0 & 0x30) !== 0) return [ProtocolError, 'WS_RESERVED_BITS', 'RSV2/RSV3 set'];
  if (opcode === Opcode.Ping || opcode === Opcode.Pong || opcode === Opcode.Close) {
    // RFC 6455 §5.5: control frames are never fragmented and carry at most 125 bytes.
    if ((b0 & 0x80) === 0) return [ProtocolError, 'WS_CONTROL_FRAGMENTED', 'fragmented control'];
    if ((b1 & 0x7f) > MAX_CONTROL_PAYLOAD) {
      return [ProtocolError, 'WS_CONTROL_TOO_LONG', 'control frame over 125 bytes'];
    }
    if (isRsv1) return [ProtocolError, 'WS_RESERVED_BITS', 'RSV1 on a control frame'];
  } else if (opcode === Opcode.Continuation) {
    if (messageOpcode === 0) return [ProtocolError, 'WS_UNEXPECTED_CONTINUATION', 'no message'];
    // RFC 7692 §6.1: RSV1 marks the first frame of a compressed message only.
    if (isRsv1) return [ProtocolError, 'WS_RESERVED_BITS', 'RSV1 on a continuation frame'];
  } else if (opcode === Opcode.Text || opcode === Opcode.Binary) {
    // RFC 6455 §5.4: the frames of a fragmented message are not interleaved with other messages.
    if (messageOpcode !== 0) return [ProtocolError, 'WS_EXPECTED_CONTINUATION', 'message open'];
    if (isRsv1 && !hasInflater) return [ProtocolError, 'WS_RESERVED_BITS', 'RSV1 not negotiated'];
  } else {
    return [ProtocolError, 'WS_INVALID_OPCODE', `reserved opcode ${opcode}`];
  }
  return undefined;
}

/** The first rule a close frame's payload breaks (RFC 6455 §5.5.1, §7.4). */
function checkClosePayload(data: Buffer): Violation | undefined {
  if (data.length === 0) return undefined;
  if (data.length === 1) return [ProtocolError, 'WS_INVALID_CLOSE_PAYLOAD', '1-byte close payload'];
  const code = data.readUInt16BE(0);
  if (!isValidCloseCode(code))
    return [ProtocolError, 'WS_INVALID_CLOSE_CODE', `close code ${code}`];
  if (!isValidUtf8(data.subarray(2))) return [InvalidPayload, 'WS_INVALID_UTF8', 'close reason'];
  return undefined;
}

/**
 * Parses incoming bytes into messages and control frames (RFC 6455 §5), enforcing framing,
 * masking, fragmentation, size and UTF-8 rules. Bytes are held as a list of chunks; payloads
 * that sit inside one chunk are handed out as views, unmasked in place.
 */
export class FrameParser {
  readonly #sink: FrameParserSink;
  readonly #expectMasked: boolean;
  readonly #maxPayload: number;
  /** Deflate may expand incompressible data a little (RFC 1951 §3.2.4 stored blocks); allow that much. */
  readonly #maxCompressedBytes: number;
  readonly #maxFragments: number;
  readonly #maxBufferedBytes: number;
  readonly #inflater: MessageInflater | undefined;
  /**
   * Made on the first text message that is fragmented or arrives in pieces: idle connections
   * should cost little memory.
   */
  #utf8: Utf8Validator | undefined;
  /** The masking key as a 32-bit big-endian number; no buffer per connection. */
  #maskKey = 0;
  /**
   * Bytes of the current payload already handled while it arrived: unmasked in place (when
   * masked) and, for uncompressed text, validated. Each byte is handled exactly once.
   */
  #processed = 0;
  /**
   * The buffer a large payload is delivered in, filled as the payload arrives (made once a
   * quarter of it is here, so a peer announcing a large frame and sending little makes the
   * parser hold at most four times what it sent).
   */
  #assembly: Buffer | undefined;
  /** Bytes of the current payload already moved into `#assembly` (all of them processed). */
  #assembled = 0;
  #onInflated: ((err: WebSocketError | null, inflated?: Buffer) => void) | undefined;

  #state: State = State.Header;
  #isRunning = false;
  #chunks: Buffer[] = [];
  /** Bytes of `#chunks[0]` already consumed. */
  #offset = 0;
  /** Unconsumed bytes in `#chunks`. */
  #buffered = 0;

  #isFinal = false;
  #opcode = 0;
  #isMasked = false;
  #payloadLength = 0;

  /** Opcode of the data message in progress, 0 when none. */
  #messageOpcode = 0;
  #isCompressed = false;
  #fragmentCount = 0;
  /** Payload bytes of the message announced by frame headers so far. */
  #wireBytes = 0;
  /**
   * The payload collected from the frames of a fragmented message; made on the first such
   * message (idle connections should cost little memory).
   */
  #fragments: FragmentBuffer | undefined;
  /** {@link HELD_FRAME_COST} for each frame of the fragmented message in progress. */
  #frameCost = 0;
  #inflatingBytes = 0;
  #isPauseReported = false;

  /**
   * @param sink - receives messages, control frames and failures
   * @param options - limits, masking direction and the optional inflater
   * @throws RangeError when `maxPayload` or `maxBufferedBytes` is not a number ≥ 0 or
   *   `maxFragments` is not ≥ 1
   */
  constructor(sink: FrameParserSink, options: FrameParserOptions) {
    const { maxPayload, maxFragments, maxBufferedBytes = Number.POSITIVE_INFINITY } = options;
    if (!(maxPayload >= 0)) throw new RangeError('maxPayload must be a number >= 0');
    if (!(maxFragments >= 1)) throw new RangeError('maxFragments must be a number >= 1');
    if (!(maxBufferedBytes >= 0)) throw new RangeError('maxBufferedBytes must be a number >= 0');
    this.#sink = sink;
    this.#expectMasked = options.expectMasked ?? true;
    this.#maxPayload = maxPayload;
    this.#maxCompressedBytes = maxPayload + Math.floor(maxPayload / 64) + 1024;
    this.#maxFragments = maxFragments;
    this.#maxBufferedBytes = maxBufferedBytes;
    this.#inflater = options.inflater;
  }

  /**
   * Bytes held in the parser: unparsed input (partial frames), the memory holding the fragments
   * of an unfinished message, the payload being inflated, and {@link HELD_FRAME_COST} for each
   * frame of an unfinished fragmented message.
   */
  get bufferedBytes(): number {
    const retained = (this.#fragments?.retainedBytes ?? 0) + (this.#assembly?.length ?? 0);
    return this.#buffered + retained + this.#inflatingBytes + this.#frameCost;
  }

  /** Whether the parser waits for the inflater: input that already arrived is not parsed yet. */
  get isPaused(): boolean {
    return this.#state === State.Inflating;
  }

  /** True after onFail (or after a close frame was parsed: nothing after a close is processed, RFC 6455 §5.5.1). */
  get isStopped(): boolean {
    return this.#state === State.Stopped;
  }

  /**
   * Feeds bytes read from the socket. Masked payloads are unmasked in place, so `chunk` is
   * modified and may be handed back (as views) through the sink.
   * @param chunk - the next bytes; ignored once the parser is stopped
   */
  push(chunk: Buffer): void {
    if (this.#state === State.Stopped || chunk.length === 0) return;
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    // A sink calling push() re-entrantly only queues; the running loop picks the bytes up.
    if (!this.#isRunning) this.#run();
  }

  #run(): void {
    this.#isRunning = true;
    try {
      for (;;) {
        switch (this.#state) {
          case State.Header:
            if (this.#buffered < 2) return;
            this.#readHeader();
            break;
          case State.Length16:
            if (this.#buffered < 2) return;
            this.#setPayloadLength((this.#peek(0) << 8) | this.#peek(1), 2);
            break;
          case State.Length64:
            if (this.#buffered < 8) return;
            this.#readLength64();
            break;
          case State.MaskKey:
            if (this.#buffered < 4) return;
            this.#maskKey =
              ((this.#peek(0) << 24) |
                (this.#peek(1) << 16) |
                (this.#peek(2) << 8) |
                this.#peek(3)) >>>
              0;
            this.#skip(4);
            this.#state = State.Payload;
            break;
          case State.Payload:
            if (this.#assembled + this.#buffered < this.#payloadLength) {
              this.#processArrived();
              return;
            }
            this.#readPayload();
            break;
          default:
            return;
        }
      }
    } finally {
      this.#isRunning = false;
    }
  }

  #readHeader(): void {
    const b0 = this.#peek(0);
    const b1 = this.#peek(1);
    this.#skip(2);
    const opcode = b0 & 0x0f;
    const violation = checkHeader(b0, b1, this.#messageOpcode, this.#inflater !== undefined);
    if (violation !== undefined) {
      this.#fail(violation);
      return;
    }
    if ((b1 & 0x80) !== (this.#expectMasked ? 0x80 : 0)) {
      // RFC 6455 §5.1: clients mask every frame, servers never do.
      this.#fail(
        this.#expectMasked
          ? [ProtocolError, 'WS_UNMASKED_FRAME', 'frame from the client is not masked']
          : [ProtocolError, 'WS_MASKED_FRAME', 'frame from the server is masked'],
      );
      return;
    }
    if (opcode === Opcode.Text || opcode === Opcode.Binary) {
      this.#messageOpcode = opcode;
      this.#isCompressed = (b0 & 0x40) !== 0;
    }
    if (opcode < Opcode.Close && ++this.#fragmentCount > this.#maxFragments) {
      this.#fail([MessageTooBig, 'WS_TOO_MANY_FRAGMENTS', 'too many fragments']);
      return;
    }
    this.#isFinal = (b0 & 0x80) !== 0;
    // A frame of a fragmented message is held until the last one: charge it from its header on.
    if (opcode === Opcode.Continuation || (opcode < Opcode.Close && !this.#isFinal)) {
      this.#frameCost += HELD_FRAME_COST;
    }
    this.#opcode = opcode;
    this.#isMasked = (b1 & 0x80) !== 0;
    const length = b1 & 0x7f;
    if (length === 126) this.#state = State.Length16;
    else if (length === 127) this.#state = State.Length64;
    else this.#setPayloadLength(length, 0);
  }

  #readLength64(): void {
    const high = this.#peekUint32(0);
    // RFC 6455 §5.2: the most significant bit must be 0 (1002).
    if (high > 0x7fffffff) {
      this.#fail([ProtocolError, 'WS_INVALID_LENGTH', '64-bit length has the top bit set']);
      return;
    }
    // A legal length beyond 2^53 - 1 is larger than any message we could hold: too big (1009).
    if (high > 0x1fffff) {
      this.#fail([MessageTooBig, 'WS_MESSAGE_TOO_BIG', 'length over 2^53-1']);
      return;
    }
    this.#setPayloadLength(high * 0x1_0000_0000 + this.#peekUint32(4), 8);
  }

  /**
   * Records the payload length, checking the message size and the bytes held before any
   * payload is buffered.
   */
  #setPayloadLength(length: number, lengthBytes: number): void {
    this.#skip(lengthBytes);
    if (this.#opcode < Opcode.Close) {
      const limit = this.#isCompressed ? this.#maxCompressedBytes : this.#maxPayload;
      this.#wireBytes += length;
      if (this.#wireBytes > limit) {
        this.#fail([MessageTooBig, 'WS_MESSAGE_TOO_BIG', 'message exceeds maxPayload']);
        return;
      }
      // A frame of a fragmented message will be held: if the parser could not hold it once it
      // has arrived, fail now. (A message in one frame is delivered as soon as it arrives; the
      // owner's check as bytes arrive covers it, and the fast path stays free of this.)
      if (this.#frameCost !== 0 && this.#wouldOverflow(length)) {
        this.#fail(OVERFLOW);
        return;
      }
    }
    this.#payloadLength = length;
    this.#state = this.#isMasked ? State.MaskKey : State.Payload;
  }

  /** Whether the parser would hold more than allowed once a payload of `length` has arrived. */
  #wouldOverflow(length: number): boolean {
    const missing = (this.#isMasked ? 4 : 0) + length - this.#buffered;
    return this.bufferedBytes + Math.max(0, missing) > this.#maxBufferedBytes;
  }

  /**
   * Handles the payload bytes that arrived while the frame is still incomplete, so the work
   * overlaps the wait for the rest: a large masked payload is unmasked as it arrives (instead of
   * adding to the message's latency at the end), and an uncompressed text payload is unmasked
   * and validated as it arrives, so invalid UTF-8 fails the connection as soon as it is received
   * (RFC 6455 §8.1) rather than when its frame ends. A text payload that arrives in one chunk
   * (with its header or after it) is never validated here and keeps the single native check of
   * {@link isValidUtf8}.
   */
  #processArrived(): void {
    const isText = this.#isPlainText();
    const isLarge = this.#payloadLength >= LARGE_PAYLOAD && this.#opcode < Opcode.Close;
    if (!isText && !isLarge) return;
    // The buffered bytes all belong to this payload: it is still incomplete.
    const available = this.#assembled + this.#buffered;
    if (available <= this.#processed) return;
    if (this.#isMasked) MASK_SCRATCH.writeUInt32BE(this.#maskKey, 0);
    const validator = isText ? this.#textValidator() : undefined;
    // The bytes not yet handled are the newest ones, at the end of the chunk list: walk back
    // over just those chunks (usually one), so a payload trickling in byte by byte costs O(1)
    // per chunk, not a walk over everything buffered.
    const chunks = this.#chunks;
    let index = chunks.length - 1;
    let pending = available - this.#processed;
    while (pending > chunks[index]!.length - (index === 0 ? this.#offset : 0)) {
      pending -= chunks[index]!.length - (index === 0 ? this.#offset : 0);
      index--;
    }
    for (; index < chunks.length; index++) {
      const chunk = chunks[index]!;
      const bytes = chunk.subarray(chunk.length - pending);
      if (this.#isMasked) unmaskAt(bytes, MASK_SCRATCH, this.#processed);
      this.#processed += pending;
      if (validator !== undefined && !validator.push(bytes)) {
        this.#fail(INVALID_TEXT);
        return;
      }
      pending = chunks[index + 1]?.length ?? 0;
    }
    if (isLarge) this.#assemble();
  }

  /** Moves the (processed) buffered bytes of a large payload into its delivery buffer. */
  #assemble(): void {
    if (this.#assembly === undefined) {
      if (4 * (this.#assembled + this.#buffered) < this.#payloadLength) return;
      this.#assembly = Buffer.allocUnsafe(this.#payloadLength);
    }
    const count = this.#buffered;
    this.#copyOut(this.#assembly, this.#assembled, count);
    this.#assembled += count;
  }

  /** Whether the current frame carries uncompressed text: validated here, as it arrives. */
  #isPlainText(): boolean {
    return (
      this.#opcode < Opcode.Close && this.#messageOpcode === Opcode.Text && !this.#isCompressed
    );
  }

  #readPayload(): void {
    let data: Buffer;
    const assembly = this.#assembly;
    if (assembly === undefined) data = this.#take(this.#payloadLength);
    else {
      this.#copyOut(assembly, this.#assembled, this.#payloadLength - this.#assembled);
      this.#assembly = undefined;
      this.#assembled = 0;
      data = assembly;
    }
    const done = this.#processed;
    if (this.#isMasked && done < data.length) {
      // The parser runs synchronously, so one shared scratch key serves every connection.
      MASK_SCRATCH.writeUInt32BE(this.#maskKey, 0);
      if (done === 0) unmask(data, MASK_SCRATCH);
      else unmaskAt(data.subarray(done), MASK_SCRATCH, done);
    }
    this.#processed = 0;
    this.#state = State.Header;
    if (this.#opcode === Opcode.Ping) this.#sink.onPing(data);
    else if (this.#opcode === Opcode.Pong) this.#sink.onPong(data);
    else if (this.#opcode === Opcode.Close) this.#readClose(data);
    else if (this.#isCompressed) this.#startInflate(data);
    else this.#addFragment(data, this.#messageOpcode === Opcode.Text ? done : 0);
  }

  #readClose(data: Buffer): void {
    const violation = checkClosePayload(data);
    if (violation !== undefined) {
      this.#fail(violation);
      return;
    }
    // RFC 6455 §5.5.1: nothing after a close frame is processed.
    this.#stop();
    const code = data.length === 0 ? undefined : data.readUInt16BE(0);
    this.#sink.onClose(code, data.toString('utf8', 2));
  }

  /**
   * Adds one frame's (inflated) payload to the message; delivers it on the final frame.
   * @param data - the payload
   * @param validated - how many leading bytes of a text payload were already validated while
   *   they arrived (see {@link FrameParser.#processArrived})
   */
  #addFragment(data: Buffer, validated: number): void {
    const isText = this.#messageOpcode === Opcode.Text;
    const fragments = this.#fragments;
    const held = fragments?.length ?? 0;
    if (this.#isFinal && held === 0 && validated === 0) {
      // A whole message in one frame, arrived whole: one native check, no copy.
      if (isText && !isValidUtf8(data)) {
        this.#fail(INVALID_TEXT);
        return;
      }
      this.#endMessage();
      this.#sink.onMessage(data, !isText);
      return;
    }
    // RFC 6455 §8.1: fail as soon as a fragment makes the text invalid, not at the end.
    if (isText && !this.#textValidator().push(validated === 0 ? data : data.subarray(validated))) {
      this.#fail(INVALID_TEXT);
      return;
    }
    if (!this.#isFinal) {
      this.#fragments ??= new FragmentBuffer(this.#maxPayload);
      this.#fragments.append(data);
      if (this.bufferedBytes > this.#maxBufferedBytes) this.#fail(OVERFLOW);
      return;
    }
    if (isText && !this.#utf8!.end()) {
      this.#fail(INVALID_TEXT);
      return;
    }
    const message = fragments === undefined ? data : fragments.finish(data);
    this.#endMessage();
    this.#sink.onMessage(message, !isText);
  }

  #endMessage(): void {
    this.#messageOpcode = 0;
    this.#isCompressed = false;
    this.#fragmentCount = 0;
    this.#wireBytes = 0;
    this.#frameCost = 0;
    this.#fragments?.reset();
  }

  #textValidator(): Utf8Validator {
    this.#utf8 ??= new Utf8Validator();
    return this.#utf8;
  }

  #inflateCallback(): (err: WebSocketError | null, inflated?: Buffer) => void {
    this.#onInflated ??= (err, inflated) => this.#finishInflate(err, inflated ?? EMPTY);
    return this.#onInflated;
  }

  #startInflate(data: Buffer): void {
    this.#state = State.Inflating;
    this.#inflatingBytes = data.length;
    this.#inflater!.inflate(
      data,
      this.#isFinal,
      this.#maxPayload - (this.#fragments?.length ?? 0),
      this.#inflateCallback(),
    );
    if (this.#state === State.Inflating && !this.#isPauseReported) {
      this.#isPauseReported = true;
      this.#sink.onPausedChange?.(true);
    }
  }

  #finishInflate(err: WebSocketError | null, inflated: Buffer): void {
    if (this.#state !== State.Inflating) return;
    this.#inflatingBytes = 0;
    this.#state = State.Header;
    if (err) this.#fail([err.closeCode, err.code, err.message]);
    else if ((this.#fragments?.length ?? 0) + inflated.length > this.#maxPayload) {
      this.#fail([MessageTooBig, 'WS_MESSAGE_TOO_BIG', 'inflated message exceeds maxPayload']);
    } else this.#addFragment(inflated, 0);
    if (this.#isPauseReported && !this.isStopped) {
      this.#isPauseReported = false;
      this.#sink.onPausedChange?.(false);
    }
    // A synchronous callback returns into the running loop; an asynchronous one restarts it.
    if (!this.#isRunning) this.#run();
  }

  /** Byte `index` of the unconsumed input; the caller has checked `#buffered` first. */
  #peek(index: number): number {
    let i = this.#offset + index;
    let c = 0;
    let chunk = this.#chunks[0]!;
    while (i >= chunk.length) {
      i -= chunk.length;
      chunk = this.#chunks[++c]!;
    }
    return chunk[i]!;
  }

  /** Big-endian 32-bit word at `index` of the unconsumed input. */
  #peekUint32(index: number): number {
    const b0 = this.#peek(index);
    const b1 = this.#peek(index + 1);
    return ((b0 << 24) | (b1 << 16) | (this.#peek(index + 2) << 8) | this.#peek(index + 3)) >>> 0;
  }

  #skip(count: number): void {
    this.#buffered -= count;
    let offset = this.#offset + count;
    const chunks = this.#chunks;
    while (chunks.length > 0 && offset >= chunks[0]!.length) {
      offset -= chunks[0]!.length;
      chunks.shift();
    }
    this.#offset = offset;
  }

  /** The next `count` bytes: a view when they sit in one chunk, else one copy. */
  #take(count: number): Buffer {
    if (count === 0) return EMPTY;
    const first = this.#chunks[0]!;
    const start = this.#offset;
    if (first.length - start >= count) {
      const view =
        start === 0 && first.length === count ? first : first.subarray(start, start + count);
      this.#skip(count);
      return view;
    }
    const out = Buffer.allocUnsafe(count);
    this.#copyOut(out, 0, count);
    return out;
  }

  /**
   * Copies the next `count` bytes into `target` at `at` and consumes them; `count` must not
   * exceed `#buffered`.
   */
  #copyOut(target: Buffer, at: number, count: number): void {
    const chunks = this.#chunks;
    let written = 0;
    let index = 0;
    let offset = this.#offset;
    while (written < count) {
      const chunk = chunks[index]!;
      const n = Math.min(chunk.length - offset, count - written);
      chunk.copy(target, at + written, offset, offset + n);
      written += n;
      offset += n;
      if (offset === chunk.length) {
        index++;
        offset = 0;
      }
    }
    // One splice for every chunk consumed: shifting them off one by one costs O(chunks held)
    // each, quadratic when a peer drips a large payload in tiny TCP segments.
    chunks.splice(0, index);
    this.#offset = offset;
    this.#buffered -= count;
  }

  #stop(): void {
    this.#state = State.Stopped;
    this.#chunks = [];
    this.#offset = 0;
    this.#buffered = 0;
    this.#fragments?.reset();
    this.#assembly = undefined;
    this.#assembled = 0;
    this.#frameCost = 0;
    this.#inflatingBytes = 0;
    this.#utf8?.reset();
  }

  #fail([closeCode, errorCode, message]: Violation): void {
    this.#stop();
    this.#sink.onFail(closeCode, errorCode, message);
  }
}
