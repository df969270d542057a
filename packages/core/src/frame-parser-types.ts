/**
 * What a {@link FrameParser} needs from its owner and reports to it: the sink, the optional
 * inflater and the options, plus the per-frame charge of its byte accounting.
 * @module
 */
import type { ProtocolErrorCode, WebSocketError } from './errors.js';
import type { FrameParser } from './frame-parser.js';

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
