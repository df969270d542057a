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
 * The input is held in a {@link ChunkQueue}; the rules a header or a close payload can break
 * are in `frame-rules.ts`; the current frame's payload is read by a {@link PayloadAssembler},
 * which unmasks, validates and assembles an incomplete payload while the rest arrives.
 * @module
 */

import { ChunkQueue } from './chunk-queue.js';
import { Opcode } from './constants.js';
import type { WebSocketError } from './errors.js';
import { FragmentBuffer } from './fragment-buffer.js';
import {
  type FrameParserOptions,
  type FrameParserSink,
  HELD_FRAME_COST,
  type MessageInflater,
} from './frame-parser-types.js';
import {
  checkClosePayload,
  checkHeader,
  checkLength64,
  INFLATED_TOO_BIG,
  INVALID_TEXT,
  MESSAGE_TOO_BIG,
  OVERFLOW,
  TOO_MANY_FRAGMENTS,
  type Violation,
} from './frame-rules.js';
import { LARGE_PAYLOAD, PayloadAssembler } from './payload-assembler.js';
import { isValidUtf8, Utf8Validator } from './utf8.js';

// The parser's contract with its owner lives in its own module; importers use this one.
export {
  type FrameParserOptions,
  type FrameParserSink,
  HELD_FRAME_COST,
  type MessageInflater,
} from './frame-parser-types.js';

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

/**
 * Parses incoming bytes into messages and control frames (RFC 6455 §5), enforcing framing,
 * masking, fragmentation, size and UTF-8 rules. Bytes are held in a {@link ChunkQueue};
 * payloads that sit inside one chunk are handed out as views, unmasked in place.
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
  #onInflated: ((err: WebSocketError | null, inflated?: Buffer) => void) | undefined;

  #state: State = State.Header;
  #isRunning = false;
  /** The input not consumed yet. */
  readonly #input = new ChunkQueue();
  /** The current frame's payload, read from `#input`. */
  readonly #payload = new PayloadAssembler(this.#input);

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
    const retained = (this.#fragments?.retainedBytes ?? 0) + this.#payload.retainedBytes;
    return this.#input.length + retained + this.#inflatingBytes + this.#frameCost;
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
    this.#input.push(chunk);
    // A sink calling push() re-entrantly only queues; the running loop picks the bytes up.
    if (!this.#isRunning) this.#run();
  }

  #run(): void {
    const input = this.#input;
    this.#isRunning = true;
    try {
      for (;;) {
        switch (this.#state) {
          case State.Header:
            if (input.length < 2) return;
            this.#readHeader();
            break;
          case State.Length16:
            if (input.length < 2) return;
            this.#setPayloadLength((input.peek(0) << 8) | input.peek(1), 2);
            break;
          case State.Length64:
            if (input.length < 8) return;
            this.#readLength64();
            break;
          case State.MaskKey:
            if (input.length < 4) return;
            this.#maskKey = input.peekUint32(0);
            input.skip(4);
            this.#state = State.Payload;
            break;
          case State.Payload:
            if (this.#payload.arrived < this.#payloadLength) {
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
    const input = this.#input;
    const b0 = input.peek(0);
    const b1 = input.peek(1);
    input.skip(2);
    const opcode = b0 & 0x0f;
    const hasInflater = this.#inflater !== undefined;
    const violation = checkHeader(b0, b1, this.#messageOpcode, hasInflater, this.#expectMasked);
    if (violation !== undefined) {
      this.#fail(violation);
      return;
    }
    if (opcode === Opcode.Text || opcode === Opcode.Binary) {
      this.#messageOpcode = opcode;
      this.#isCompressed = (b0 & 0x40) !== 0;
    }
    if (opcode < Opcode.Close && ++this.#fragmentCount > this.#maxFragments) {
      this.#fail(TOO_MANY_FRAGMENTS);
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
    const high = this.#input.peekUint32(0);
    const violation = checkLength64(high);
    if (violation !== undefined) this.#fail(violation);
    else this.#setPayloadLength(high * 0x1_0000_0000 + this.#input.peekUint32(4), 8);
  }

  /**
   * Records the payload length, checking the message size and the bytes held before any
   * payload is buffered.
   */
  #setPayloadLength(length: number, lengthBytes: number): void {
    this.#input.skip(lengthBytes);
    if (this.#opcode < Opcode.Close) {
      const limit = this.#isCompressed ? this.#maxCompressedBytes : this.#maxPayload;
      this.#wireBytes += length;
      if (this.#wireBytes > limit) {
        this.#fail(MESSAGE_TOO_BIG);
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
    const missing = (this.#isMasked ? 4 : 0) + length - this.#input.length;
    return this.bufferedBytes + Math.max(0, missing) > this.#maxBufferedBytes;
  }

  /**
   * Hands the payload bytes that arrived while the frame is still incomplete to
   * {@link PayloadAssembler.processArrived}, so the work overlaps the wait for the rest and
   * invalid UTF-8 fails the connection as soon as it is received (RFC 6455 §8.1) rather than
   * when its frame ends. Only uncompressed text and large payloads (never control frames: at
   * most 125 bytes) are handled early. A text payload that arrives in one chunk (with its
   * header or after it) is never validated here and keeps the single native check of
   * {@link isValidUtf8}.
   */
  #processArrived(): void {
    const payload = this.#payload;
    const isText = this.#isPlainText();
    if (!isText && this.#payloadLength < LARGE_PAYLOAD) return;
    // Nothing new arrived: make no validator yet (idle connections should cost little memory).
    if (payload.arrived <= payload.processed) return;
    const validator = isText ? this.#textValidator() : undefined;
    if (!payload.processArrived(this.#payloadLength, this.#isMasked, this.#maskKey, validator)) {
      this.#fail(INVALID_TEXT);
    }
  }

  /** Whether the current frame carries uncompressed text: validated here, as it arrives. */
  #isPlainText(): boolean {
    return (
      this.#opcode < Opcode.Close && this.#messageOpcode === Opcode.Text && !this.#isCompressed
    );
  }

  #readPayload(): void {
    const done = this.#payload.processed;
    const data = this.#payload.take(this.#payloadLength, this.#isMasked, this.#maskKey);
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
      this.#fail(INFLATED_TOO_BIG);
    } else this.#addFragment(inflated, 0);
    if (this.#isPauseReported && !this.isStopped) {
      this.#isPauseReported = false;
      this.#sink.onPausedChange?.(false);
    }
    // A synchronous callback returns into the running loop; an asynchronous one restarts it.
    if (!this.#isRunning) this.#run();
  }

  #stop(): void {
    this.#state = State.Stopped;
    this.#input.clear();
    this.#fragments?.reset();
    this.#payload.reset();
    this.#frameCost = 0;
    this.#inflatingBytes = 0;
    this.#utf8?.reset();
  }

  #fail([closeCode, errorCode, message]: Violation): void {
    this.#stop();
    this.#sink.onFail(closeCode, errorCode, message);
  }
}
