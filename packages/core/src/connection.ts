/**
 * One WebSocket connection after the 101: its phases, its socket and its backpressure. Its
 * parts: `close-handshake.ts`, `message-reader.ts`, `handler-calls.ts`, `pong-reply.ts`,
 * `connection-topics.ts`, `backpressure.ts`, `keepalive.ts`, `connection-listeners.ts`.
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
import { CloseHandshake } from './close-handshake.js';
import type { ConnectionInit, ConnectionOwner } from './connection-init.js';
import { ConnectionSink, listenToSocket, setConnectionInternals } from './connection-listeners.js';
import { ConnectionTopics, type TopicMember } from './connection-topics.js';
import type { Connection, ConnectionOptions, RawOutgoing } from './connection-types.js';
import { ConnectionState } from './connection-types.js';
import { MAX_CLOSE_REASON_BYTES, MAX_CONTROL_PAYLOAD, Opcode } from './constants.js';
import { ProtocolErrorCode, WebSocketError } from './errors.js';
import { FrameParser } from './frame-parser.js';
import { FrameWriter } from './frame-writer.js';
import { HandlerCalls } from './handler-calls.js';
import { HeartbeatSweep, IdleTimeout } from './keepalive.js';
import { MessageReader, type MessageReaderHost } from './message-reader.js';
import { MessageSender } from './message-sender.js';
import { PongReply } from './pong-reply.js';
import type { ErasedProtocol, WebSocketHandler } from './protocol.js';
import {
  type PublishOptions,
  type PublishReport,
  type TopicHub,
  type TopicLike,
  topicName,
} from './topics.js';

/** Where the connection stands; `failing` is closing after a protocol violation. */
const Phase = { Open: 0, Closing: 1, Failing: 2, Closed: 3 } as const;
type Phase = (typeof Phase)[keyof typeof Phase];

const EMPTY = Buffer.alloc(0);
const NO_TOPICS: ReadonlySet<string> = new Set();

export type { ConnectionInit, ConnectionOwner };

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
  implements Connection<TData, unknown, unknown>, DrainTarget, MessageReaderHost, TopicMember
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
  readonly #calls: HandlerCalls<TData>;
  readonly #reader: MessageReader<TData>;
  #closing: CloseHandshake | undefined; // made when closing begins or the peer ends first
  #pongs: PongReply | undefined; // made on the first ping
  #isBacklogged = false; // the socket held unwritten bytes when the current chunk arrived
  #drain: DrainSignal | undefined;
  #phase: Phase = Phase.Open;
  #idle: IdleTimeout | undefined;
  #topics: ConnectionTopics | undefined; // made on the first subscribe(), dropped on close

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
    this.#calls = new HandlerCalls(init.handlers.handler, this, init.owner);
    this.#reader = new MessageReader(this, init.handlers, this.#calls, this.#gate, init.options);
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
        onError: (error) => this.#calls.handleFailure(error),
        onQueueFlushed: () => this.#onQueueFlushed(),
      },
    );
  }

  #closingHandshake(): CloseHandshake {
    this.#closing ??= new CloseHandshake(
      this.#socket,
      this.#parser,
      this.#writer,
      this.#sender,
      this.#options.closeTimeout,
      this.#calls,
    );
    return this.#closing;
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
    return this.#reader.messages();
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
    return this.#topics?.names ?? NO_TOPICS;
  }

  subscribe(topic: TopicLike<unknown>): boolean {
    const name = topicName(topic);
    if (this.#phase === Phase.Closed) return false;
    this.#topics ??= new ConnectionTopics(
      this.#topicHub(),
      this,
      this.#handlers,
      this.#writer,
      this.#sender,
      this.#options.maxFrameSize,
    );
    return this.#topics.subscribe(name);
  }

  unsubscribe(topic: TopicLike<unknown>): boolean {
    return this.#topics?.unsubscribe(topicName(topic)) ?? false;
  }

  isSubscribed(topic: TopicLike<unknown>): boolean {
    return this.#topics?.has(topicName(topic)) ?? false;
  }

  publish(topic: TopicLike<unknown>, value: unknown, options?: PublishOptions): PublishReport {
    // Not subscribed, the connection is not among the subscribers: nobody to leave out.
    const exclude = options?.includeSelf === true ? undefined : this.#topics;
    return this.#topicHub().publish(topicName(topic), value, exclude);
  }

  #topicHub(): TopicHub {
    const hub = this.#owner?.topics;
    if (hub) return hub;
    throw new Error('this connection belongs to no entry point: it has no topics');
  }

  flushWriter(): void {
    this.#writer.flush();
  }

  onDrained(): void {
    const onDrain = this.#handler.onDrain;
    if (onDrain && this.#phase === Phase.Open) {
      this.#calls.callDetached(() => onDrain.call(this.#handler, this));
    }
  }

  onOutputDrained(): void {
    this.#gate.resume(PauseReason.Output);
  }

  #start(head: Buffer): void {
    listenToSocket(this.#socket, this);
    const { heartbeatInterval, idleTimeout } = this.#options;
    if (heartbeatInterval > 0) HeartbeatSweep.join(this.#sink, heartbeatInterval);
    if (idleTimeout > 0) this.#idle = new IdleTimeout(idleTimeout, () => this.#onIdle(idleTimeout));
    const onOpen = this.#handler.onOpen;
    const opening = onOpen && this.#calls.call(() => onOpen.call(this.#handler, this));
    if (opening) this.#reader.holdUntil(opening);
    if (head.length > 0) this.#onSocketData(head);
  }

  #onSocketData(chunk: Buffer): void {
    this.#sink.isAlive = true;
    // Once failing, what still arrives is only read to see the peer's FIN.
    if (this.#phase === Phase.Failing) return;
    const held = this.#parser.bufferedBytes + this.#reader.heldBytes + chunk.length;
    if (held > this.#options.maxBufferedBytes) {
      this.fail(1009, ProtocolErrorCode.BufferOverflow, 'incoming data exceeds maxBufferedBytes');
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

  #onMessage(data: Buffer, isBinary: boolean): void {
    if (this.#phase !== Phase.Open) return;
    this.#idle?.markMessage();
    this.#reader.read(data, isBinary);
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

  #onSocketDrain(): void {
    // The peer read what we wrote: a sign of life, even while we do not read.
    this.#sink.isAlive = true;
    this.#drain?.check();
  }

  /** The parser paused for the inflater, or resumed and parsed what it held. */
  #onParserPausedChange(isPaused: boolean): void {
    if (isPaused) {
      this.#gate.pause(PauseReason.Parser);
      return;
    }
    this.#gate.resume(PauseReason.Parser);
    this.#closing?.onParserResumed();
  }

  #onSocketError(error: Error): void {
    // A reset or a broken pipe: 'close' follows and reports 1006.
    this.#calls.reportError(
      new WebSocketError(1006, ProtocolErrorCode.SocketError, error.message, { cause: error }),
    );
  }

  #onSocketClose(): void {
    if (this.#phase === Phase.Closed) return;
    this.#phase = Phase.Closed;
    this.#sender.close();
    this.#closing?.stop();
    if (this.#options.heartbeatInterval > 0) {
      HeartbeatSweep.leave(this.#sink, this.#options.heartbeatInterval);
    }
    this.#idle?.stop();
    this.#pongs?.drop();
    this.#drain?.release();
    this.#reader.end();
    const topics = this.#topics;
    if (topics) {
      this.#topics = undefined;
      topics.leaveAll();
    }
    this.#owner?.onConnectionClosed(this);
    const onClose = this.#handler.onClose;
    if (onClose) {
      const { code, reason } = this.#closing ?? { code: 1006, reason: '' };
      this.#calls.callDetached(() => onClose.call(this.#handler, this, code, reason));
    }
  }

  #onCloseFrame(code: number | undefined, reason: string): void {
    this.#closingHandshake().receive(code, reason);
    // RFC 6455 §5.5.1: answer with a close frame echoing the status code; the server then
    // ends the TCP connection first (§7.1.1).
    if (this.#phase === Phase.Open) this.#beginClosing(Phase.Closing, code, '');
    else this.#closingHandshake().endWhenFlushed();
  }

  /**
   * Fails the connection (STYLE §6), for the parser, the reader and held input: sends the close
   * frame, ends TCP and hands the error to `onError`. Internal: see {@link MessageReaderHost}.
   */
  fail(
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
      this.#closingHandshake().endWhenFlushed();
    }
    const options = {
      ...(cause === undefined ? {} : { cause }),
      ...(issues === undefined ? {} : { issues }),
    };
    this.#calls.reportError(new WebSocketError(closeCode, code, message, options));
  }

  /**
   * The one way out of `open`: sends the close frame after every message queued before it,
   * arms the close timer and lets the peer's close frame and FIN be read. A failure, and a
   * close frame from the peer, end TCP as soon as that frame is out.
   */
  #beginClosing(phase: Phase, code: number | undefined, reason: string): void {
    this.#phase = phase;
    const isFailing = phase === Phase.Failing;
    // A pong still waiting for the socket goes before the close frame, the last frame we send.
    this.#pongs?.flush();
    const closing = this.#closingHandshake();
    closing.send(code, reason, isFailing);
    this.#reader.stop();
    this.#gate.resumeAll();
    if (isFailing || closing.hasReceived) closing.endWhenFlushed();
    else this.#writer.flush();
  }

  #onQueueFlushed(): void {
    this.#closing?.onQueueFlushed();
    this.#drain?.check();
  }

  #onDead(): void {
    if (this.#phase === Phase.Closed) return;
    const message = 'no pong within the interval';
    this.#calls.reportError(new WebSocketError(1006, ProtocolErrorCode.HeartbeatTimeout, message));
    this.#socket.destroy();
  }

  #onIdle(timeout: number): void {
    if (this.#phase !== Phase.Open) return;
    const message = `no message for ${timeout} ms`;
    this.#calls.reportError(new WebSocketError(1001, ProtocolErrorCode.IdleTimeout, message));
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
    if (this.#phase === Phase.Open) {
      this.#pongs ??= new PongReply(this.#socket, this.#writer, this);
      this.#pongs.answer(payload, this.#isBacklogged);
    }
    this.#calls.callDetachedWith(this.#handler.onPing, payload);
  }

  static {
    startConnection = (c, head) => c.#start(head);
    // Module-level listeners and the parser sink reach private state through these.
    setConnectionInternals({
      socketData: (c, chunk) => c.#onSocketData(chunk),
      socketEnd: (c) => c.#closingHandshake().onPeerEnd(),
      socketError: (c, error) => c.#onSocketError(error),
      socketDrain: (c) => c.#onSocketDrain(),
      socketClose: (c) => c.#onSocketClose(),
      message: (c, data, isBinary) => c.#onMessage(data, isBinary),
      ping: (c, payload) => c.#onPing(payload),
      pong: (c, payload) => c.#calls.callDetachedWith(c.#handler.onPong, payload),
      closeFrame: (c, code, reason) => c.#onCloseFrame(code, reason),
      fail: (c, closeCode, errorCode, message) => c.fail(closeCode, errorCode, message),
      pausedChange: (c, paused) => c.#onParserPausedChange(paused),
      isPeerAccountable: (c) => c.#isPeerAccountable(),
      heartbeat: (c) => c.ping(),
      dead: (c) => c.#onDead(),
    });
  }
}
