/**
 * One WebSocket connection after the 101: state, the closing handshake, heartbeat, idle
 * timeout and backpressure in both directions.
 *
 * Closing handshake (RFC 6455 §7.1, server side):
 *
 * ```
 *   we close:   open --close()--> closing --peer's close frame--> end TCP --'close'--> closed
 *   peer closes: open --peer's close frame--> echo its code, end TCP --'close'--> closed
 *   failure:    open --fail(code)--> send close(code), end TCP --'close'--> closed
 *   every path: closeTimeout after closing starts, the socket is destroyed
 * ```
 * @module
 */
import type { Duplex } from 'node:stream';
import { isValidCloseCode } from './close-codes.js';
import {
  type AnyConnection,
  ConnectionSink,
  listenToSocket,
  setConnectionInternals,
} from './connection-listeners.js';
import {
  type ConnectionInit,
  type ConnectionOptions,
  ConnectionState,
} from './connection-types.js';
import { MAX_CLOSE_REASON_BYTES, MAX_CONTROL_PAYLOAD, Opcode } from './constants.js';
import { ProtocolErrorCode, WebSocketError } from './errors.js';
import { FrameParser } from './frame-parser.js';
import { FrameWriter } from './frame-writer.js';
import { Inbox } from './inbox.js';
import { KeepAlive, type KeepAliveTarget } from './keepalive.js';
import { MessageSender } from './message-sender.js';
import type { ErasedProtocol, RawMessage, RawOutgoing } from './protocol.js';

// Reasons reading is paused, as bits: reading resumes when none is left.
const PAUSE_OPENING = 1;
const PAUSE_PENDING = 2;
const PAUSE_INBOX = 4;
const PAUSE_PARSER = 8;

const EMPTY = Buffer.alloc(0);

export { type ConnectionInit, type ConnectionOptions, ConnectionState };

/**
 * A WebSocket connection, server side.
 * @typeParam TData - per-connection data attached at upgrade time
 * @typeParam TOut - what `send()` accepts (the protocol's outgoing type)
 * @typeParam TIn - decoded incoming messages, as `messages()` yields them
 */
export class Connection<TData = unknown, TOut = RawOutgoing, TIn = RawMessage> {
  /** Per-connection data attached at upgrade time (e.g. the authenticated user). */
  readonly data: TData;
  /** The negotiated subprotocol, or undefined when none was. */
  readonly protocol: string | undefined;
  /** The negotiated extensions as answered in `Sec-WebSocket-Extensions`, or ''. */
  readonly extensions: string;

  readonly #socket: Duplex;
  readonly #options: ConnectionOptions;
  readonly #handlers: ErasedProtocol<TData>;
  readonly #parser: FrameParser;
  readonly #writer: FrameWriter;
  readonly #sender: MessageSender;
  readonly #onClosed: ((connection: Connection<TData, never, unknown>) => void) | undefined;
  #state: ConnectionState = ConnectionState.Open;
  #pauseReasons = 0;
  #pendingHandlers = 0;
  #inbox: Inbox<TIn> | undefined;
  #isIterating = false;
  #hasFailed = false;
  #needsDrain = false;
  #isDrainProbeArmed = false;
  #drainWaiters: Array<() => void> | undefined;
  #settle: readonly [() => void, (error: unknown) => void] | undefined;
  #receivedCode: number | undefined;
  #receivedReason = '';
  #sentCode: number | undefined;
  #closeTimer: NodeJS.Timeout | undefined;
  #keepAlive: KeepAlive | undefined;

  /**
   * Made by `accept()`; not constructed directly.
   * @param init - socket, handlers and resolved options
   */
  constructor(init: ConnectionInit<TData>) {
    this.#socket = init.socket;
    this.data = init.data;
    this.protocol = init.protocol;
    this.extensions = init.extensions ?? '';
    this.#handlers = init.handlers;
    this.#options = init.options;
    this.#onClosed = init.onClosed as
      | ((connection: Connection<TData, never, unknown>) => void)
      | undefined;
    this.#writer = new FrameWriter(init.socket, { maxFrameSize: init.options.maxFrameSize });
    this.#parser = new FrameParser(new ConnectionSink(this as unknown as AnyConnection), {
      expectMasked: true,
      maxPayload: init.options.maxPayload,
      maxFragments: init.options.maxFragments,
      maxBufferedBytes: init.options.maxBufferedBytes,
      ...(init.deflate ? { inflater: init.deflate } : {}),
    });
    // Without compression nothing is ever queued, so no callbacks are needed.
    this.#sender = new MessageSender(
      this.#writer,
      init.deflate,
      init.deflate && {
        onError: (error) => this.#handlerFailed(error),
        onQueueFlushed: () => this.#onSocketDrain(),
      },
    );
  }

  /** This connection as the type-erased handlers see it. */
  get #erased(): Connection<TData, unknown, unknown> {
    return this as unknown as Connection<TData, unknown, unknown>;
  }

  /** The connection state. */
  get state(): ConnectionState {
    return this.#state;
  }

  /** Whether messages can be sent. */
  get isOpen(): boolean {
    return this.#state === ConnectionState.Open;
  }

  /** Bytes accepted by `send()` and not yet handed to the operating system. */
  get bufferedAmount(): number {
    return this.#socket.writableLength + this.#writer.pendingBytes + this.#sender.queuedBytes;
  }

  /** The peer's IP address, when the socket is a TCP socket. */
  get remoteAddress(): string | undefined {
    const socket: object = this.#socket;
    return 'remoteAddress' in socket && typeof socket.remoteAddress === 'string'
      ? socket.remoteAddress
      : undefined;
  }

  /**
   * Sends a message: a string as text, bytes as binary, or the protocol's outgoing type
   * through its codec. Messages sent when the connection is not open are dropped.
   * @param message - the message
   * @returns false when the caller should wait (`onDrain` / `drained()`) before sending more
   */
  send(message: TOut): boolean {
    if (this.#state !== ConnectionState.Open) return false;
    const encode = this.#handlers.encode;
    const raw = encode ? encode(message) : (message as RawOutgoing);
    if (typeof raw === 'string') this.#sender.sendText(raw);
    else this.#sender.sendBinary(raw);
    return this.#checkBackpressure();
  }

  /**
   * Sends a ping (RFC 6455 §5.5.2).
   * @param payload - up to 125 bytes of application data
   * @throws RangeError when the payload is larger than 125 bytes
   */
  ping(payload: string | Uint8Array = EMPTY): void {
    const bytes = typeof payload === 'string' ? Buffer.from(payload) : payload;
    if (bytes.byteLength > MAX_CONTROL_PAYLOAD) {
      throw new RangeError('a ping payload is limited to 125 bytes');
    }
    if (this.#state !== ConnectionState.Open) return;
    this.#writer.writeMessage(Opcode.Ping, bytes);
  }

  /**
   * Resolves when buffered output has fallen below the high-water mark, or the connection closed.
   * @returns a promise that never rejects
   */
  drained(): Promise<void> {
    if (this.bufferedAmount < this.#options.sendHighWaterMark || !this.isOpen) {
      return Promise.resolve();
    }
    this.#needsDrain = true;
    this.#armDrainProbe();
    return new Promise((resolve) => {
      this.#drainWaiters ??= [];
      this.#drainWaiters.push(resolve);
    });
  }

  /**
   * Reads messages as an async iterator instead of `onMessage`: reading pauses while the
   * consumer lags, and the iteration ends when the connection closes.
   * @returns an async iterator over decoded messages
   */
  messages(): AsyncIterableIterator<TIn> {
    this.#isIterating = true;
    const inbox = this.#inbox ?? new Inbox<TIn>();
    this.#inbox = inbox;
    if (this.#state === ConnectionState.Closed) inbox.end();
    const resume = () => {
      if (inbox.bytes < this.#options.inboxHighWaterMark) this.#resumeReading(PAUSE_INBOX);
    };
    const iterator: AsyncIterableIterator<TIn> = {
      next: async () => {
        const result = await inbox.next();
        resume();
        return result;
      },
      return: async () => {
        this.#isIterating = false;
        resume();
        return { value: undefined, done: true };
      },
      [Symbol.asyncIterator]: () => iterator,
    };
    return iterator;
  }

  /**
   * Starts the closing handshake (RFC 6455 §7.1.2).
   * @param code - a close code that may be sent: 1000–1003, 1007–1014, 3000–4999
   * @param reason - at most 123 bytes once UTF-8 encoded
   * @throws RangeError for an invalid code or an over-long reason
   */
  close(code: number = 1000, reason = ''): void {
    if (!isValidCloseCode(code)) throw new RangeError(`invalid close code ${code}`);
    if (Buffer.byteLength(reason) > MAX_CLOSE_REASON_BYTES) {
      throw new RangeError('a close reason is limited to 123 UTF-8 bytes');
    }
    if (this.#state !== ConnectionState.Open) return;
    this.#startClosing(code, reason);
  }

  /** Destroys the socket at once, without a closing handshake. */
  terminate(): void {
    this.#socket.destroy();
  }

  /**
   * Starts the connection: listens to the socket, runs `onOpen`, then feeds the bytes that
   * arrived with the handshake. Internal, called by `accept()`.
   * @param head - bytes received after the request headers
   */
  start(head: Buffer): void {
    const socket = this.#socket;
    // Listeners are shared by every connection and find theirs on the socket: no closures
    // per connection (memory per idle connection, measured by `pnpm bench`).
    listenToSocket(socket, this as unknown as AnyConnection);
    const { heartbeatInterval, idleTimeout } = this.#options;
    if (heartbeatInterval > 0 || idleTimeout > 0) {
      this.#keepAlive = new KeepAlive(this.#keepAliveTarget(), heartbeatInterval, idleTimeout);
    }
    const onOpen = this.#handlers.handler.onOpen;
    if (onOpen) {
      const result = this.#call(() => onOpen.call(this.#handlers.handler, this.#erased));
      if (result) {
        this.#inbox ??= new Inbox<TIn>();
        this.#pauseReading(PAUSE_OPENING);
        result.then(
          () => this.#onOpened(),
          (error: unknown) => this.#onOpenRejected(error),
        );
      }
    }
    if (head.length > 0) this.#onSocketData(head);
  }

  #onSocketData(chunk: Buffer): void {
    this.#keepAlive?.markAlive();
    // After a failure what still arrives is only read to see the peer's FIN.
    if (this.#hasFailed) return;
    const held = this.#parser.bufferedBytes + (this.#inbox?.bytes ?? 0) + chunk.length;
    if (held > this.#options.maxBufferedBytes) {
      this.#fail(1009, ProtocolErrorCode.BufferOverflow, 'incoming data exceeds maxBufferedBytes');
      return;
    }
    const writer = this.#writer;
    writer.beginBatch();
    try {
      this.#parser.push(chunk);
    } finally {
      writer.endBatch();
    }
  }

  #onSocketEnd(): void {
    // The peer half-closed: without a close frame this is an abnormal closure (1006).
    if (!this.#socket.writableEnded) this.#socket.end();
  }

  #onSocketDrain(): void {
    if (!this.#needsDrain) return;
    if (this.bufferedAmount >= this.#options.sendHighWaterMark) {
      this.#armDrainProbe();
      return;
    }
    this.#needsDrain = false;
    this.#releaseDrainWaiters();
    const onDrain = this.#handlers.handler.onDrain;
    if (onDrain && this.#state === ConnectionState.Open) {
      this.#callDetached(() => onDrain.call(this.#handlers.handler, this.#erased));
    }
  }

  #onSocketClose(): void {
    if (this.#state === ConnectionState.Closed) return;
    this.#state = ConnectionState.Closed;
    this.#sender.close();
    clearTimeout(this.#closeTimer);
    this.#keepAlive?.stop();
    this.#releaseDrainWaiters();
    this.#inbox?.end();
    this.#onClosed?.(this as unknown as Connection<TData, never, unknown>);
    const code = this.#receivedCode ?? this.#sentCode ?? 1006;
    const onClose = this.#handlers.handler.onClose;
    if (onClose) {
      this.#callDetached(() =>
        onClose.call(this.#handlers.handler, this.#erased, code, this.#receivedReason),
      );
    }
  }

  #onOpened(): void {
    this.#resumeReading(PAUSE_OPENING);
    if (this.#isIterating) return;
    const inbox = this.#inbox;
    this.#inbox = undefined;
    if (!inbox) return;
    for (let entry = inbox.shift(); entry; entry = inbox.shift()) this.#dispatch(entry.item);
    // The held messages were handed out: a pause for a full inbox no longer applies.
    this.#resumeReading(PAUSE_INBOX);
  }

  #onOpenRejected(error: unknown): void {
    // onOpen is not counted among pending onMessage calls: only its own pause is lifted.
    this.#resumeReading(PAUSE_OPENING);
    if (!this.#isIterating) this.#inbox = undefined;
    this.#handlerFailed(error);
  }

  /** Called back once every write handed to the socket so far has been flushed. */
  #onDrainProbe(): void {
    this.#isDrainProbeArmed = false;
    this.#onSocketDrain();
  }

  #onHandlerSettled(): void {
    if (--this.#pendingHandlers < this.#options.maxPendingMessages) {
      this.#resumeReading(PAUSE_PENDING);
    }
  }

  #onHandlerRejected(error: unknown): void {
    this.#onHandlerSettled();
    this.#handlerFailed(error);
  }

  /** Callbacks for async handlers' promises, made once per connection when first needed. */
  #settlers(): readonly [() => void, (error: unknown) => void] {
    this.#settle ??= [() => this.#onHandlerSettled(), (error) => this.#onHandlerRejected(error)];
    return this.#settle;
  }

  #onMessage(data: Buffer, isBinary: boolean): void {
    if (this.#state !== ConnectionState.Open) return;
    this.#keepAlive?.markMessage();
    const raw: RawMessage = isBinary ? data : data.toString();
    let message: unknown = raw;
    const { decode, validate } = this.#handlers;
    if (decode) {
      try {
        message = decode(raw, isBinary);
      } catch (error) {
        this.#fail(1007, ProtocolErrorCode.DecodeFailed, 'message could not be decoded', error);
        return;
      }
    }
    if (validate) {
      let isValid = false;
      try {
        isValid = validate(message);
      } catch (error) {
        this.#handlerFailed(error);
        return;
      }
      if (!isValid) {
        this.#fail(1008, ProtocolErrorCode.ValidationFailed, 'message failed validation');
        return;
      }
    }
    const inbox = this.#inbox;
    if (inbox) {
      inbox.push(message as TIn, data.length);
      if (inbox.bytes >= this.#options.inboxHighWaterMark) this.#pauseReading(PAUSE_INBOX);
      return;
    }
    this.#dispatch(message as TIn);
  }

  #dispatch(message: TIn): void {
    const handler = this.#handlers.handler;
    const onMessage = handler.onMessage;
    if (!onMessage || this.#state === ConnectionState.Closed) return;
    const result = this.#call(() => onMessage.call(handler, this.#erased, message));
    if (!result) return;
    if (++this.#pendingHandlers >= this.#options.maxPendingMessages) {
      this.#pauseReading(PAUSE_PENDING);
    }
    const [onSettled, onRejected] = this.#settlers();
    result.then(onSettled, onRejected);
  }

  /** Runs a user handler; a throw goes to onError and closes with 1011. Returns a thenable result. */
  #call(run: () => unknown): PromiseLike<unknown> | undefined {
    let result: unknown;
    try {
      result = run();
    } catch (error) {
      this.#handlerFailed(error);
      return undefined;
    }
    if (typeof result === 'object' && result !== null && 'then' in result) {
      const then: unknown = result.then;
      if (typeof then === 'function') return result as PromiseLike<unknown>;
    }
    return undefined;
  }

  /**
   * Runs a handler whose promise nobody waits for: a rejection is handled like a throw (onError,
   * then 1011 while open) instead of becoming an unhandled rejection that ends the process.
   */
  #callDetached(run: () => unknown): void {
    const result = this.#call(run);
    if (result) result.then(undefined, (error: unknown) => this.#handlerFailed(error));
  }

  #handlerFailed(error: unknown): void {
    this.#reportError(error);
    if (this.#state === ConnectionState.Open) this.#startClosing(1011, 'internal error');
  }

  #reportError(error: unknown): void {
    const onError = this.#handlers.handler.onError;
    if (!onError) return;
    try {
      onError.call(this.#handlers.handler, this.#erased, error);
    } catch {
      // An error hook that throws has nowhere left to report to.
    }
  }

  #onCloseFrame(code: number | undefined, reason: string): void {
    this.#receivedCode = code ?? 1005;
    this.#receivedReason = reason;
    if (this.#state === ConnectionState.Open) {
      // RFC 6455 §5.5.1: answer with a close frame echoing the status code.
      this.#state = ConnectionState.Closing;
      this.#writeCloseFrame(code, '');
      this.#armCloseTimer();
    }
    // The handshake is complete: the server ends the TCP connection first (RFC 6455 §7.1.1).
    this.#writer.flush();
    this.#socket.end();
  }

  #fail(closeCode: number, code: ProtocolErrorCode, message: string, cause?: unknown): void {
    if (this.#state === ConnectionState.Closed || this.#hasFailed) return;
    this.#hasFailed = true;
    if (this.#state === ConnectionState.Open) {
      this.#state = ConnectionState.Closing;
      this.#sentCode = closeCode;
      this.#writeCloseFrame(closeCode, '');
      this.#armCloseTimer();
      this.#stopHoldingInput();
    }
    // RFC 6455 §7.1.7: after failing, close the TCP connection. The parser ignores what still
    // arrives; reading goes on only so that the peer's FIN is seen.
    this.#writer.flush();
    this.#socket.end();
    this.#reportError(
      new WebSocketError(closeCode, code, message, cause === undefined ? undefined : { cause }),
    );
  }

  #startClosing(code: number, reason: string): void {
    this.#state = ConnectionState.Closing;
    this.#sentCode = code;
    this.#writeCloseFrame(code, reason);
    this.#writer.flush();
    this.#armCloseTimer();
    this.#stopHoldingInput();
  }

  /**
   * Once closing, incoming messages are dropped, so a lagging consumer no longer needs reading
   * paused; the peer's close frame and FIN must be read or the handshake waits for closeTimeout.
   */
  #stopHoldingInput(): void {
    if (this.#pauseReasons === 0) return;
    this.#pauseReasons = 0;
    this.#socket.resume();
  }

  #writeCloseFrame(code: number | undefined, reason: string): void {
    if (code === undefined) {
      this.#sender.sendClose(EMPTY);
      return;
    }
    const payload = Buffer.allocUnsafe(2 + Buffer.byteLength(reason));
    payload.writeUInt16BE(code, 0);
    payload.write(reason, 2);
    this.#sender.sendClose(payload);
  }

  #armCloseTimer(): void {
    if (this.#closeTimer) return;
    this.#closeTimer = setTimeout(() => this.#socket.destroy(), this.#options.closeTimeout);
    this.#closeTimer.unref();
  }

  #keepAliveTarget(): KeepAliveTarget {
    return {
      isReading: () => this.#pauseReasons === 0,
      ping: () => {
        if (this.#state === ConnectionState.Open) this.#writer.writeMessage(Opcode.Ping, EMPTY);
      },
      onDead: () => {
        if (this.#state === ConnectionState.Closed) return;
        const message = 'no pong within the interval';
        this.#reportError(new WebSocketError(1006, ProtocolErrorCode.HeartbeatTimeout, message));
        this.#socket.destroy();
      },
      onIdle: (timeout) => {
        if (this.#state !== ConnectionState.Open) return;
        const message = `no message for ${timeout} ms`;
        this.#reportError(new WebSocketError(1001, ProtocolErrorCode.IdleTimeout, message));
        this.#startClosing(1001, 'idle timeout');
      },
    };
  }

  #checkBackpressure(): boolean {
    if (this.bufferedAmount < this.#options.sendHighWaterMark) return true;
    this.#needsDrain = true;
    // The probe (a flush and an empty write) is only worth it when someone listens: drained()
    // arms it itself. Arming it on every send would break up the batch of one chunk's replies.
    if (this.#handlers.handler.onDrain) this.#armDrainProbe();
    return false;
  }

  /**
   * The socket emits 'drain' only after a write returned false, i.e. above its own high-water
   * mark. When `sendHighWaterMark` is lower, an empty write's callback tells when the bytes
   * before it have been flushed.
   */
  #armDrainProbe(): void {
    const socket = this.#socket;
    if (this.#isDrainProbeArmed || socket.writableNeedDrain) return;
    if (socket.destroyed || socket.writableEnded) return;
    // Bytes still waiting for compression are not the socket's: the sender reports their
    // flush through onQueueFlushed. Probing an empty socket would only spin.
    if (socket.writableLength + this.#writer.pendingBytes === 0) return;
    this.#isDrainProbeArmed = true;
    this.#writer.flush();
    socket.write(EMPTY, () => this.#onDrainProbe());
  }

  #releaseDrainWaiters(): void {
    const waiters = this.#drainWaiters;
    if (!waiters) return;
    this.#drainWaiters = undefined;
    for (const resolve of waiters) resolve();
  }

  #pauseReading(reason: number): void {
    if (this.#pauseReasons === 0) this.#socket.pause();
    this.#pauseReasons |= reason;
  }

  #resumeReading(reason: number): void {
    if ((this.#pauseReasons & reason) === 0) return;
    this.#pauseReasons &= ~reason;
    if (this.#pauseReasons === 0 && this.#state !== ConnectionState.Closed) this.#socket.resume();
  }

  static {
    // Module-level listeners and the parser sink reach private state through these.
    setConnectionInternals({
      socketData: (c, chunk) => c.#onSocketData(chunk),
      socketEnd: (c) => c.#onSocketEnd(),
      socketDrain: (c) => c.#onSocketDrain(),
      socketClose: (c) => c.#onSocketClose(),
      message: (c, data, isBinary) => c.#onMessage(data, isBinary),
      ping: (c, payload) => c.#onPing(payload),
      pong: (c, payload) => c.#onPong(payload),
      closeFrame: (c, code, reason) => c.#onCloseFrame(code, reason),
      fail: (c, closeCode, errorCode, message) => c.#fail(closeCode, errorCode, message),
      pausedChange: (c, paused) => {
        if (paused) c.#pauseReading(PAUSE_PARSER);
        else c.#resumeReading(PAUSE_PARSER);
      },
    });
  }

  #onPing(payload: Buffer): void {
    if (this.#state === ConnectionState.Open) this.#writer.writeMessage(Opcode.Pong, payload);
    const onPing = this.#handlers.handler.onPing;
    if (onPing) {
      this.#callDetached(() => onPing.call(this.#handlers.handler, this.#erased, payload));
    }
  }

  #onPong(payload: Buffer): void {
    const onPong = this.#handlers.handler.onPong;
    if (onPong) {
      this.#callDetached(() => onPong.call(this.#handlers.handler, this.#erased, payload));
    }
  }
}
