/**
 * One WebSocket connection after the 101: its phases, the closing handshake, and where
 * incoming messages go. Backpressure lives in `backpressure.ts`, timers in `keepalive.ts`,
 * socket listeners in `connection-listeners.ts`.
 *
 * Phases (RFC 6455 §7.1, server side):
 *
 * ```
 *   open ──close(), idle, handler error──▶ closing ──peer's close frame──▶ end TCP ─┐
 *     │ ──peer's close frame: echo it, end TCP───────────────────────────────────────┤
 *     └──protocol violation (fail): close frame, end TCP──▶ failing ─────────────────┤
 *                                                          'close' from the socket ──▶ closed
 *   TCP ends after every queued frame (compressed replies included) and the close frame;
 *   closeTimeout after the close frame, the socket is destroyed.
 * ```
 * @module
 */
import type { Duplex } from 'node:stream';
import type { ValidationIssue } from '@wsroute/contract';
import { DrainSignal, type DrainTarget, PauseReason, ReadGate } from './backpressure.js';
import { isValidCloseCode } from './close-codes.js';
import { ConnectionSink, listenToSocket, setConnectionInternals } from './connection-listeners.js';
import type {
  AnyConnection,
  Connection,
  ConnectionOptions,
  RawMessage,
  RawOutgoing,
} from './connection-types.js';
import { ConnectionState } from './connection-types.js';
import { MAX_CLOSE_REASON_BYTES, MAX_CONTROL_PAYLOAD, Opcode } from './constants.js';
import { ProtocolErrorCode, WebSocketError } from './errors.js';
import { FrameParser, HELD_FRAME_COST } from './frame-parser.js';
import { FrameWriter } from './frame-writer.js';
import { Inbox } from './inbox.js';
import { HeartbeatSweep, IdleTimeout } from './keepalive.js';
import { MessageSender } from './message-sender.js';
import type { PerMessageDeflate } from './permessage-deflate.js';
import type { ErasedProtocol, WebSocketHandler } from './protocol.js';
import {
  type Delivery,
  type PublishOptions,
  type PublishReport,
  type SharedFrame,
  type SlowSubscriberPolicy,
  type Subscriber,
  type TopicHub,
  type TopicLike,
  topicName,
} from './topics.js';
import { ValidationQueue, type ValidationTarget } from './validation-queue.js';

/** Where the connection stands; `failing` is closing after a protocol violation. */
const Phase = { Open: 0, Closing: 1, Failing: 2, Closed: 3 } as const;
type Phase = (typeof Phase)[keyof typeof Phase];

/** Where incoming messages go. */
const ReadMode = {
  /** To `onMessage`. */
  Dispatch: 0,
  /** Into the inbox until an async `onOpen` settles, then to `onMessage`. */
  Hold: 1,
  /** Into the inbox, read by `messages()`. */
  Iterate: 2,
} as const;
type ReadMode = (typeof ReadMode)[keyof typeof ReadMode];

const EMPTY = Buffer.alloc(0);
const NO_TOPICS: ReadonlySet<string> = new Set();

/** Who owns a connection: told when it closes, and of handler errors nobody handled. */
export interface ConnectionOwner {
  /** The topics the connection may subscribe to. */
  readonly topics: TopicHub;
  /** The connection closed (its socket is gone). */
  onConnectionClosed(connection: AnyConnection): void;
  /** A handler failed and its protocol declares no `onError`. */
  onUnhandledError(connection: AnyConnection, error: WebSocketError): void;
}

/** What `accept()` hands a connection. Internal. */
export interface ConnectionInit<TData> {
  readonly socket: Duplex;
  readonly data: TData;
  readonly path: string;
  readonly protocol: string | undefined;
  readonly extensions: string | undefined;
  readonly handlers: ErasedProtocol<TData>;
  readonly options: ConnectionOptions;
  /** The connection's permessage-deflate state, when negotiated. */
  readonly deflate?: PerMessageDeflate | undefined;
  readonly owner?: ConnectionOwner | undefined;
}

// Set by the class's static block: starting a connection is not part of its public shape.
let startConnection: (connection: WebSocketConnection<never>, head: Buffer) => void;

/**
 * Makes a connection and starts it: listens to the socket, runs `onOpen`, then feeds the bytes
 * that arrived with the handshake. Internal, called by `accept()`.
 * @param init - socket, handlers and resolved options
 * @param head - bytes received after the request headers
 * @returns the open connection
 */
export function openConnection<TData>(
  init: ConnectionInit<TData>,
  head: Buffer,
): WebSocketConnection<TData> {
  const connection = new WebSocketConnection(init);
  startConnection(connection as WebSocketConnection<never>, head);
  return connection;
}

/** A server-side WebSocket connection. Internal: handlers see it as a {@link Connection}. */
export class WebSocketConnection<TData>
  implements Connection<TData, unknown, unknown>, DrainTarget, Subscriber, ValidationTarget
{
  readonly data: TData;
  readonly protocol: string | undefined;
  readonly extensions: string;
  readonly path: string;
  readonly #socket: Duplex;
  readonly #options: ConnectionOptions;
  readonly #handlers: ErasedProtocol<TData>;
  readonly #handler: WebSocketHandler<TData, unknown, unknown>;
  readonly #owner: ConnectionOwner | undefined;
  readonly #sink: ConnectionSink;
  readonly #parser: FrameParser;
  readonly #writer: FrameWriter;
  readonly #sender: MessageSender;
  readonly #gate: ReadGate;
  #drain: DrainSignal | undefined;
  #phase: Phase = Phase.Open;
  #readMode: ReadMode = ReadMode.Dispatch;
  #inbox: Inbox<unknown> | undefined;
  #pendingHandlers = 0;
  #settle: readonly [() => void, (error: unknown) => void] | undefined;
  #isEndPending = false;
  /** The peer's FIN arrived while the parser still held input waiting for the inflater. */
  #hasPeerEnded = false;
  #receivedCode: number | undefined;
  #receivedReason = '';
  #sentCode: number | undefined;
  #closeTimer: NodeJS.Timeout | undefined;
  #idle: IdleTimeout | undefined;
  /** The payload of the latest ping still to be answered while the socket is backed up. */
  #pendingPong: Buffer | undefined;
  /** Whether the socket still held unwritten bytes when the chunk being parsed arrived. */
  #isBacklogged = false;
  #validation: ValidationQueue | undefined;
  #topics: Set<string> | undefined;

  /** @param init - socket, handlers and resolved options */
  constructor(init: ConnectionInit<TData>) {
    this.#socket = init.socket;
    this.data = init.data;
    this.path = init.path;
    this.protocol = init.protocol;
    this.extensions = init.extensions ?? '';
    this.#handlers = init.handlers;
    this.#handler = init.handlers.handler;
    this.#options = init.options;
    this.#owner = init.owner;
    this.#gate = new ReadGate(init.socket);
    this.#writer = new FrameWriter(init.socket, { maxFrameSize: init.options.maxFrameSize });
    this.#sink = new ConnectionSink(this);
    this.#parser = new FrameParser(this.#sink, {
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
        onQueueFlushed: () => this.#onQueueFlushed(),
      },
    );
  }

  get state(): ConnectionState {
    if (this.#phase === Phase.Open) return ConnectionState.Open;
    return this.#phase === Phase.Closed ? ConnectionState.Closed : ConnectionState.Closing;
  }

  get isOpen(): boolean {
    return this.#phase === Phase.Open;
  }

  get bufferedAmount(): number {
    return this.#socket.writableLength + this.#writer.pendingBytes + this.#sender.queuedBytes;
  }

  get pendingWriterBytes(): number {
    return this.#writer.pendingBytes;
  }

  get remoteAddress(): string | undefined {
    const socket: object = this.#socket;
    return 'remoteAddress' in socket && typeof socket.remoteAddress === 'string'
      ? socket.remoteAddress
      : undefined;
  }

  send(message: unknown): boolean {
    if (this.#phase !== Phase.Open) return false;
    const encode = this.#handlers.encode;
    const raw: unknown = encode ? encode(message) : message;
    if (typeof raw === 'string') this.#sender.sendText(raw);
    else if (raw instanceof Uint8Array) this.#sender.sendBinary(raw);
    else throw new TypeError('a message must encode to a string or bytes');
    return this.#checkBackpressure();
  }

  sendRaw(data: RawOutgoing): boolean {
    if (this.#phase !== Phase.Open) return false;
    if (typeof data === 'string') this.#sender.sendText(data);
    else this.#sender.sendBinary(data);
    return this.#checkBackpressure();
  }

  ping(payload: string | Uint8Array = EMPTY): void {
    const bytes = typeof payload === 'string' ? Buffer.from(payload) : payload;
    if (bytes.byteLength > MAX_CONTROL_PAYLOAD) {
      throw new RangeError('a ping payload is limited to 125 bytes');
    }
    if (this.#phase === Phase.Open) this.#writer.writeMessage(Opcode.Ping, bytes);
  }

  drained(): Promise<void> {
    if (this.bufferedAmount < this.#options.sendHighWaterMark || this.#phase !== Phase.Open) {
      return Promise.resolve();
    }
    return this.#drainSignal().wait();
  }

  messages(): AsyncIterableIterator<unknown> {
    this.#readMode = ReadMode.Iterate;
    // Iterating (inside an async onOpen too) means reading: the inbox paces it from now on.
    this.#gate.resume(PauseReason.Opening);
    const inbox = this.#inbox ?? new Inbox<unknown>();
    this.#inbox = inbox;
    if (this.#phase === Phase.Closed) inbox.end();
    const iterator: AsyncIterableIterator<unknown> = {
      next: async () => {
        const result = await inbox.next();
        this.#resumeIfInboxLow();
        return result;
      },
      // An early exit ends the connection, as leaving a loop over a Node stream destroys it.
      return: async () => {
        this.#inbox = undefined;
        inbox.end();
        this.close(1000);
        this.#gate.resume(PauseReason.Inbox);
        return { value: undefined, done: true };
      },
      [Symbol.asyncIterator]: () => iterator,
    };
    return iterator;
  }

  close(code = 1000, reason = ''): void {
    if (!isValidCloseCode(code)) throw new RangeError(`invalid close code ${code}`);
    if (Buffer.byteLength(reason) > MAX_CLOSE_REASON_BYTES) {
      throw new RangeError('a close reason is limited to 123 UTF-8 bytes');
    }
    if (this.#phase === Phase.Open) this.#beginClosing(Phase.Closing, code, reason);
  }

  terminate(): void {
    this.#socket.destroy();
  }

  get topics(): ReadonlySet<string> {
    return this.#topics ?? NO_TOPICS;
  }

  /** The protocol: subscribers speaking the same one share encoded frames. */
  get topicGroup(): object {
    return this.#handlers;
  }

  subscribe(topic: TopicLike<unknown>): boolean {
    const name = topicName(topic);
    if (this.#phase === Phase.Closed || this.#topics?.has(name)) return false;
    this.#topicHub().add(name, this);
    this.#topics ??= new Set();
    this.#topics.add(name);
    return true;
  }

  unsubscribe(topic: TopicLike<unknown>): boolean {
    const name = topicName(topic);
    if (!this.#topics?.delete(name)) return false;
    this.#topicHub().remove(name, this);
    return true;
  }

  isSubscribed(topic: TopicLike<unknown>): boolean {
    return this.#topics?.has(topicName(topic)) ?? false;
  }

  publish(topic: TopicLike<unknown>, value: unknown, options?: PublishOptions): PublishReport {
    const exclude = options?.includeSelf === true ? undefined : this;
    return this.#topicHub().publish(topicName(topic), value, exclude);
  }

  encodeForTopic(value: unknown): RawOutgoing {
    const encode = this.#handlers.encode;
    return (encode ? encode(value) : value) as RawOutgoing;
  }

  deliver(shared: SharedFrame, highWaterMark: number, policy: SlowSubscriberPolicy): Delivery {
    if (this.#phase !== Phase.Open) return 'dropped';
    if (this.bufferedAmount >= highWaterMark) {
      if (policy === 'drop') return 'dropped';
      this.#beginClosing(Phase.Closing, 1013, 'subscriber too slow');
      return 'closed';
    }
    // Gathered with what else this subscriber is sent in this tick: one write per burst.
    this.#writer.deferFlush();
    const { opcode, payload } = shared;
    if (
      payload.byteLength > this.#options.maxFrameSize ||
      this.#sender.compresses(payload.byteLength)
    ) {
      this.#sender.sendMessage(opcode, payload);
    } else {
      this.#sender.sendFrame(opcode, payload, shared.frame);
    }
    return 'delivered';
  }

  #topicHub(): TopicHub {
    const hub = this.#owner?.topics;
    if (!hub) throw new Error('this connection belongs to no entry point: it has no topics');
    return hub;
  }

  flushWriter(): void {
    this.#writer.flush();
  }

  onDrained(): void {
    const onDrain = this.#handler.onDrain;
    if (onDrain && this.#phase === Phase.Open) {
      this.#callDetached(() => onDrain.call(this.#handler, this));
    }
  }

  #start(head: Buffer): void {
    listenToSocket(this.#socket, this);
    const { heartbeatInterval, idleTimeout } = this.#options;
    if (heartbeatInterval > 0) HeartbeatSweep.join(this.#sink, heartbeatInterval);
    if (idleTimeout > 0) this.#idle = new IdleTimeout(idleTimeout, () => this.#onIdle(idleTimeout));
    const onOpen = this.#handler.onOpen;
    const opening = onOpen && this.#call(() => onOpen.call(this.#handler, this));
    if (opening) {
      // onOpen may have started reading with messages() already: then it keeps that mode.
      if (this.#readMode === ReadMode.Dispatch) {
        this.#readMode = ReadMode.Hold;
        this.#inbox = new Inbox<unknown>();
        this.#gate.pause(PauseReason.Opening);
      }
      opening.then(
        () => this.#onOpened(),
        (error: unknown) => {
          // The held messages are dropped: the connection fails with 1011.
          if (this.#readMode === ReadMode.Hold) this.#inbox = undefined;
          this.#onOpened();
          this.#handlerFailed(error);
        },
      );
    }
    if (head.length > 0) this.#onSocketData(head);
  }

  #onOpened(): void {
    this.#gate.resume(PauseReason.Opening);
    if (this.#readMode !== ReadMode.Hold) return;
    this.#readMode = ReadMode.Dispatch;
    const inbox = this.#inbox;
    this.#inbox = undefined;
    for (let entry = inbox?.shift(); entry; entry = inbox?.shift()) this.#dispatch(entry.item);
    // The held messages were handed out: a pause for a full inbox no longer applies.
    this.#gate.resume(PauseReason.Inbox);
  }

  #onSocketData(chunk: Buffer): void {
    this.#sink.isAlive = true;
    // Once failing, what still arrives is only read to see the peer's FIN.
    if (this.#phase === Phase.Failing) return;
    const held = this.#parser.bufferedBytes + (this.#inbox?.bytes ?? 0) + chunk.length;
    if (held > this.#options.maxBufferedBytes) {
      this.#fail(1009, ProtocolErrorCode.BufferOverflow, 'incoming data exceeds maxBufferedBytes');
      return;
    }
    this.#isBacklogged = this.#socket.writableLength !== 0;
    const writer = this.#writer;
    writer.beginBatch();
    try {
      this.#parser.push(chunk);
    } finally {
      writer.endBatch();
    }
    this.#checkOutput();
  }

  /**
   * Stops reading while more than `outputHighWaterMark` bytes wait to be written (replies and
   * pongs included): a peer that sends without reading then meets TCP backpressure, whatever the
   * handler does with `send()`'s result. Reading resumes once half of it has been written.
   */
  #checkOutput(): void {
    if (this.bufferedAmount < this.#options.outputHighWaterMark) return;
    // While closing, the peer's close frame and FIN must still be read (and nothing more is
    // answered).
    if (this.#phase !== Phase.Open || this.#gate.holds(PauseReason.Output)) return;
    this.#gate.pause(PauseReason.Output);
    this.#drainSignal().holdReading();
  }

  onOutputDrained(): void {
    this.#gate.resume(PauseReason.Output);
  }

  #onSocketDrain(): void {
    // The peer read what we wrote: a sign of life, even while we do not read.
    this.#sink.isAlive = true;
    this.#drain?.check();
  }

  #onSocketEnd(): void {
    // The peer half-closed: without a close frame this is an abnormal closure (1006). What it
    // sent before its FIN is answered first: input still waiting for the inflater is parsed
    // (it may hold a close frame), and replies being compressed go out before TCP ends.
    if (this.#socket.writableEnded) return;
    if (this.#parser.isPaused) this.#hasPeerEnded = true;
    else this.#endWhenFlushed();
  }

  /** The parser paused for the inflater, or resumed and parsed what it held. */
  #onParserPausedChange(isPaused: boolean): void {
    if (isPaused) {
      this.#gate.pause(PauseReason.Parser);
      return;
    }
    this.#gate.resume(PauseReason.Parser);
    // The parser goes on with its held input right after this call returns.
    if (this.#hasPeerEnded) queueMicrotask(() => this.#endAfterParsing());
  }

  #endAfterParsing(): void {
    if (!this.#hasPeerEnded || this.#parser.isPaused || this.#socket.writableEnded) return;
    this.#hasPeerEnded = false;
    this.#endWhenFlushed();
  }

  #onSocketError(error: Error): void {
    // A reset or a broken pipe: 'close' follows and reports 1006.
    this.#reportError(
      new WebSocketError(1006, ProtocolErrorCode.SocketError, error.message, { cause: error }),
    );
  }

  #onSocketClose(): void {
    if (this.#phase === Phase.Closed) return;
    this.#phase = Phase.Closed;
    this.#sender.close();
    clearTimeout(this.#closeTimer);
    if (this.#options.heartbeatInterval > 0) {
      HeartbeatSweep.leave(this.#sink, this.#options.heartbeatInterval);
    }
    this.#idle?.stop();
    this.#pendingPong = undefined;
    this.#drain?.release();
    this.#inbox?.end();
    const topics = this.#topics;
    if (topics) {
      this.#topics = undefined;
      for (const name of topics) this.#owner?.topics.remove(name, this);
    }
    this.#owner?.onConnectionClosed(this);
    const code = this.#receivedCode ?? this.#sentCode ?? 1006;
    const onClose = this.#handler.onClose;
    if (onClose) {
      this.#callDetached(() => onClose.call(this.#handler, this, code, this.#receivedReason));
    }
  }

  #onMessage(data: Buffer, isBinary: boolean): void {
    if (this.#phase !== Phase.Open) return;
    this.#idle?.markMessage();
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
    const check = this.#handlers.check;
    if (check) {
      this.#validation ??= new ValidationQueue(this);
      this.#validation.push(() => check(message), data.length);
      return;
    }
    this.#accept(message, data.length);
  }

  /** A message that passed every check goes to `onMessage` or waits in the inbox. */
  #accept(message: unknown, size: number): void {
    const inbox = this.#inbox;
    if (this.#readMode === ReadMode.Dispatch || !inbox) {
      this.#dispatch(message);
      return;
    }
    // A held message costs its bookkeeping too, whatever its size.
    inbox.push(message, size + HELD_FRAME_COST);
    if (inbox.bytes >= this.#options.inboxHighWaterMark) this.#gate.pause(PauseReason.Inbox);
  }

  onValidated(value: unknown, size: number): void {
    if (this.#phase === Phase.Open) this.#accept(value, size);
  }

  onInvalid(issues: readonly ValidationIssue[]): void {
    const message = 'message failed its schema';
    this.#fail(1008, ProtocolErrorCode.ValidationFailed, message, undefined, issues);
  }

  onValidatorError(error: unknown): void {
    this.#handlerFailed(error);
  }

  onPendingChange(): void {
    this.#updatePendingPause();
  }

  #resumeIfInboxLow(): void {
    if ((this.#inbox?.bytes ?? 0) < this.#options.inboxHighWaterMark) {
      this.#gate.resume(PauseReason.Inbox);
    }
  }

  #dispatch(message: unknown): void {
    const onMessage = this.#handler.onMessage;
    if (!onMessage || this.#phase === Phase.Closed) return;
    const result = this.#call(() => onMessage.call(this.#handler, this, message));
    if (!result) return;
    this.#pendingHandlers++;
    this.#updatePendingPause();
    this.#settle ??= [
      () => this.#onHandlerSettled(),
      (error) => {
        this.#onHandlerSettled();
        this.#handlerFailed(error);
      },
    ];
    result.then(...this.#settle);
  }

  #onHandlerSettled(): void {
    this.#pendingHandlers--;
    this.#updatePendingPause();
  }

  /** Pending async handlers and validations together hold reading at `maxPendingMessages`. */
  #updatePendingPause(): void {
    const pending = this.#pendingHandlers + (this.#validation?.pending ?? 0);
    if (pending >= this.#options.maxPendingMessages) this.#gate.pause(PauseReason.PendingHandlers);
    else this.#gate.resume(PauseReason.PendingHandlers);
  }

  /** Runs a user handler; a throw fails the connection (1011). Returns a thenable result. */
  #call(run: () => unknown): PromiseLike<unknown> | undefined {
    let result: unknown;
    try {
      result = run();
    } catch (error) {
      this.#handlerFailed(error);
      return undefined;
    }
    if (typeof result === 'object' && result !== null && 'then' in result) {
      if (typeof result.then === 'function') return result as PromiseLike<unknown>;
    }
    return undefined;
  }

  /** Runs a handler whose promise nobody awaits: a rejection is handled like a throw. */
  #callDetached(run: () => unknown): void {
    this.#call(run)?.then(undefined, (error: unknown) => this.#handlerFailed(error));
  }

  #handlerFailed(error: unknown): void {
    if (this.#handler.onError) this.#reportError(error);
    else {
      const message = `a handler failed: ${error instanceof Error ? error.message : String(error)}`;
      const wrapped = new WebSocketError(1011, ProtocolErrorCode.HandlerError, message, {
        cause: error,
      });
      this.#owner?.onUnhandledError(this, wrapped);
    }
    if (this.#phase === Phase.Open) this.#beginClosing(Phase.Closing, 1011, 'internal error');
  }

  #reportError(error: unknown): void {
    const onError = this.#handler.onError;
    if (!onError) return;
    try {
      onError.call(this.#handler, this, error);
    } catch {
      // An error hook that throws has nowhere left to report to.
    }
  }

  #onCloseFrame(code: number | undefined, reason: string): void {
    this.#receivedCode = code ?? 1005;
    this.#receivedReason = reason;
    // RFC 6455 §5.5.1: answer with a close frame echoing the status code; the server then
    // ends the TCP connection first (§7.1.1).
    if (this.#phase === Phase.Open) this.#beginClosing(Phase.Closing, code, '');
    else this.#endWhenFlushed();
  }

  #fail(
    closeCode: number,
    code: ProtocolErrorCode,
    message: string,
    cause?: unknown,
    issues?: readonly ValidationIssue[],
  ): void {
    if (this.#phase === Phase.Closed || this.#phase === Phase.Failing) return;
    if (this.#phase === Phase.Open) this.#beginClosing(Phase.Failing, closeCode, '');
    else {
      // RFC 6455 §7.1.7: after failing, close the TCP connection; what still arrives is ignored.
      this.#phase = Phase.Failing;
      this.#endWhenFlushed();
    }
    const options = {
      ...(cause === undefined ? {} : { cause }),
      ...(issues === undefined ? {} : { issues }),
    };
    this.#reportError(new WebSocketError(closeCode, code, message, options));
  }

  /**
   * The one way out of `open`: sends the close frame after every message queued before it,
   * arms the close timer and lets the peer's close frame and FIN be read. A failure, and a
   * close frame from the peer, end TCP as soon as that frame is out.
   */
  #beginClosing(phase: Phase, code: number | undefined, reason: string): void {
    this.#phase = phase;
    // A pong still waiting for the socket goes before the close frame, the last frame we send.
    const pong = this.#pendingPong;
    this.#pendingPong = undefined;
    if (pong) this.#writer.writeMessage(Opcode.Pong, pong);
    if (phase === Phase.Failing || this.#receivedCode === undefined) this.#sentCode = code;
    this.#writeCloseFrame(code, reason);
    this.#armCloseTimer();
    this.#validation?.stop();
    this.#gate.resumeAll();
    if (phase === Phase.Failing || this.#receivedCode !== undefined) this.#endWhenFlushed();
    else this.#writer.flush();
  }

  /** Ends TCP once every queued frame, the close frame last, has been handed to the socket. */
  #endWhenFlushed(): void {
    if (!this.#sender.isIdle) {
      this.#isEndPending = true;
      return;
    }
    this.#writer.flush();
    this.#socket.end();
  }

  #onQueueFlushed(): void {
    if (this.#isEndPending) {
      this.#isEndPending = false;
      this.#endWhenFlushed();
    }
    this.#drain?.check();
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
    this.#closeTimer = setTimeout(() => {
      const message = `closing handshake not completed within ${this.#options.closeTimeout} ms`;
      this.#reportError(new WebSocketError(1006, ProtocolErrorCode.CloseTimeout, message));
      this.#socket.destroy();
    }, this.#options.closeTimeout);
    this.#closeTimer.unref();
  }

  #onDead(): void {
    if (this.#phase === Phase.Closed) return;
    const message = 'no pong within the interval';
    this.#reportError(new WebSocketError(1006, ProtocolErrorCode.HeartbeatTimeout, message));
    this.#socket.destroy();
  }

  #onIdle(timeout: number): void {
    if (this.#phase !== Phase.Open) return;
    const message = `no message for ${timeout} ms`;
    this.#reportError(new WebSocketError(1001, ProtocolErrorCode.IdleTimeout, message));
    this.#beginClosing(Phase.Closing, 1001, 'idle timeout');
  }

  #drainSignal(): DrainSignal {
    const { sendHighWaterMark, outputHighWaterMark } = this.#options;
    this.#drain ??= new DrainSignal(
      this.#socket,
      this,
      sendHighWaterMark,
      Math.floor(outputHighWaterMark / 2),
    );
    return this.#drain;
  }

  #checkBackpressure(): boolean {
    if (this.bufferedAmount < this.#options.sendHighWaterMark) return true;
    this.#drainSignal().owe(this.#handler.onDrain !== undefined);
    // Outside a read (a timer, an async handler) the output limit is checked here.
    this.#checkOutput();
    return false;
  }

  /** Whether the heartbeat may blame the peer for silence. */
  #isPeerAccountable(): boolean {
    // Held back by us (an async onOpen, a lagging consumer), the peer's pongs sit unread; held
    // back because it does not read what we write, the silence is its own.
    return this.#gate.isReading || this.#gate.isHeldOnlyBy(PauseReason.Output);
  }

  #onPing(payload: Buffer): void {
    if (this.#phase === Phase.Open) this.#answerPing(payload);
    const onPing = this.#handler.onPing;
    if (onPing) this.#callDetached(() => onPing.call(this.#handler, this, payload));
  }

  /**
   * Answers a ping with a pong echoing its payload (RFC 6455 §5.5.2). While the socket is backed
   * up (it held unwritten bytes before this chunk was read), earlier pongs are still unsent:
   * only the latest ping is answered, once the socket has written what it holds (RFC 6455
   * §5.5.3 allows answering only the most recent ping), so a ping flood from a peer that does
   * not read costs a single pong's worth of memory.
   */
  #answerPing(payload: Buffer): void {
    const socket = this.#socket;
    if (!this.#isBacklogged && this.#pendingPong === undefined) {
      this.#writer.writeMessage(Opcode.Pong, payload);
      return;
    }
    const isWaiting = this.#pendingPong !== undefined;
    // A copy: the payload may be a view into a socket chunk.
    this.#pendingPong = Buffer.from(payload);
    if (isWaiting || socket.destroyed || socket.writableEnded) return;
    socket.write(EMPTY, () => {
      const pong = this.#pendingPong;
      this.#pendingPong = undefined;
      if (pong && this.#phase === Phase.Open) this.#writer.writeMessage(Opcode.Pong, pong);
    });
  }

  #onPong(payload: Buffer): void {
    const onPong = this.#handler.onPong;
    if (onPong) this.#callDetached(() => onPong.call(this.#handler, this, payload));
  }

  static {
    startConnection = (c, head) => c.#start(head);
    // Module-level listeners and the parser sink reach private state through these.
    setConnectionInternals({
      socketData: (c, chunk) => c.#onSocketData(chunk),
      socketEnd: (c) => c.#onSocketEnd(),
      socketError: (c, error) => c.#onSocketError(error),
      socketDrain: (c) => c.#onSocketDrain(),
      socketClose: (c) => c.#onSocketClose(),
      message: (c, data, isBinary) => c.#onMessage(data, isBinary),
      ping: (c, payload) => c.#onPing(payload),
      pong: (c, payload) => c.#onPong(payload),
      closeFrame: (c, code, reason) => c.#onCloseFrame(code, reason),
      fail: (c, closeCode, errorCode, message) => c.#fail(closeCode, errorCode, message),
      pausedChange: (c, paused) => c.#onParserPausedChange(paused),
      isPeerAccountable: (c) => c.#isPeerAccountable(),
      heartbeat: (c) => c.ping(),
      dead: (c) => c.#onDead(),
    });
  }
}
