/**
 * The workings of one connection's closing handshake (RFC 6455 §5.5.1, §7.1): the close codes
 * received and sent, our close frame, the timer that destroys a socket whose peer does not
 * finish the handshake, and ending TCP only once every queued frame is out, the close frame
 * last, including when the peer's FIN arrives first. When to close is the connection's
 * decision (its phases are drawn in `connection.ts`).
 * @module
 */
import type { Duplex } from 'node:stream';
import { ProtocolErrorCode, WebSocketError } from './errors.js';
import type { FrameParser } from './frame-parser.js';
import type { FrameWriter } from './frame-writer.js';
import type { MessageSender } from './message-sender.js';

const EMPTY = Buffer.alloc(0);

/** Where the close timer reports: the connection's `onError`. */
export interface CloseErrorSink {
  /**
   * Hands an error to `onError`.
   * @param error - the close timeout
   */
  reportError(error: unknown): void;
}

/** The closing handshake of one connection. Internal, one per connection. */
export class CloseHandshake {
  readonly #socket: Duplex;
  readonly #parser: FrameParser;
  readonly #writer: FrameWriter;
  readonly #sender: MessageSender;
  readonly #closeTimeout: number;
  readonly #errors: CloseErrorSink;
  #receivedCode: number | undefined;
  #receivedReason = '';
  #sentCode: number | undefined;
  #timer: NodeJS.Timeout | undefined;
  #isEndPending = false;
  /** The peer's FIN arrived while the parser still held input waiting for the inflater. */
  #hasPeerEnded = false;

  /**
   * @param socket - the upgraded socket
   * @param parser - the connection's frame parser, paused while it waits for the inflater
   * @param writer - the connection's frame writer
   * @param sender - the connection's message sender: the close frame goes after what it queued
   * @param closeTimeout - how long to wait for the peer after our close frame, in ms
   * @param errors - told when that time runs out
   */
  constructor(
    socket: Duplex,
    parser: FrameParser,
    writer: FrameWriter,
    sender: MessageSender,
    closeTimeout: number,
    errors: CloseErrorSink,
  ) {
    this.#socket = socket;
    this.#parser = parser;
    this.#writer = writer;
    this.#sender = sender;
    this.#closeTimeout = closeTimeout;
    this.#errors = errors;
  }

  /** Whether the peer's close frame arrived. */
  get hasReceived(): boolean {
    return this.#receivedCode !== undefined;
  }

  /**
   * The code `onClose` reports: the peer's (1005 when its close frame had none), else the one
   * we failed the connection or started the handshake with, else 1006.
   */
  get code(): number {
    return this.#receivedCode ?? this.#sentCode ?? 1006;
  }

  /** The reason in the peer's close frame, or ''. */
  get reason(): string {
    return this.#receivedReason;
  }

  /**
   * Records the peer's close frame.
   * @param code - its close code, undefined when it had none
   * @param reason - its reason
   */
  receive(code: number | undefined, reason: string): void {
    this.#receivedCode = code ?? 1005;
    this.#receivedReason = reason;
  }

  /**
   * Sends our close frame after every message queued before it and arms the close timer.
   * @param code - the close code; undefined sends a close frame without one (echoing a peer's)
   * @param reason - the reason, at most 123 UTF-8 bytes
   * @param isFailing - a protocol violation: `code` is reported even over a received one
   */
  send(code: number | undefined, reason: string, isFailing: boolean): void {
    if (isFailing || this.#receivedCode === undefined) this.#sentCode = code;
    if (code === undefined) {
      this.#sender.sendClose(EMPTY);
    } else {
      const payload = Buffer.allocUnsafe(2 + Buffer.byteLength(reason));
      payload.writeUInt16BE(code, 0);
      payload.write(reason, 2);
      this.#sender.sendClose(payload);
    }
    if (this.#timer) return;
    this.#timer = setTimeout(() => {
      const message = `closing handshake not completed within ${this.#closeTimeout} ms`;
      this.#errors.reportError(new WebSocketError(1006, ProtocolErrorCode.CloseTimeout, message));
      this.#socket.destroy();
    }, this.#closeTimeout);
    this.#timer.unref();
  }

  /** Ends TCP once every queued frame, the close frame last, has been handed to the socket. */
  endWhenFlushed(): void {
    if (!this.#sender.isIdle) {
      this.#isEndPending = true;
      return;
    }
    this.#writer.flush();
    this.#socket.end();
  }

  /** The sender handed every queued frame to the writer: TCP ends now if it was waiting to. */
  onQueueFlushed(): void {
    if (this.#isEndPending) {
      this.#isEndPending = false;
      this.endWhenFlushed();
    }
  }

  /**
   * The peer half-closed: without a close frame this is an abnormal closure (1006). What it
   * sent before its FIN is answered first: input still waiting for the inflater is parsed (it
   * may hold a close frame), and replies being compressed go out before TCP ends.
   */
  onPeerEnd(): void {
    if (this.#socket.writableEnded) return;
    if (this.#parser.isPaused) this.#hasPeerEnded = true;
    else this.endWhenFlushed();
  }

  /** The parser resumed after the inflater: a FIN that waited for it is handled after its input. */
  onParserResumed(): void {
    // The parser goes on with its held input right after this call returns.
    if (this.#hasPeerEnded) queueMicrotask(() => this.#endAfterParsing());
  }

  /** Stops the close timer: the socket is gone. */
  stop(): void {
    clearTimeout(this.#timer);
  }

  #endAfterParsing(): void {
    if (!this.#hasPeerEnded || this.#parser.isPaused || this.#socket.writableEnded) return;
    this.#hasPeerEnded = false;
    this.endWhenFlushed();
  }
}
