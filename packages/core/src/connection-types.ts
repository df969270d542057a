/**
 * The connection as handlers and applications see it (the handler-facing interface), its
 * states, and the resolved per-connection options.
 * @module
 */
import type { PublishOptions, PublishReport, TopicLike } from './topics.js';

/** A received message before decoding: text frames give a string, binary frames a Buffer. */
export type RawMessage = string | Buffer;

/** What `sendRaw()` takes, and `send()` without a codec: a string is sent as text, bytes as binary. */
export type RawOutgoing = string | Uint8Array;

/** Connection states, as `connection.state` reports them. */
export const ConnectionState = {
  /** Messages flow both ways. */
  Open: 'open',
  /** A close frame was sent or received; the closing handshake is under way. */
  Closing: 'closing',
  /** The TCP connection is gone. */
  Closed: 'closed',
} as const;
export type ConnectionState = (typeof ConnectionState)[keyof typeof ConnectionState];

/**
 * One WebSocket connection, server side, as every handler receives it.
 * @typeParam TData - per-connection data attached at upgrade time (e.g. the authenticated user)
 * @typeParam TIn - decoded incoming messages, as `messages()` yields them
 * @typeParam TOut - what `send()` accepts (the protocol's outgoing type)
 */
export interface Connection<TData = unknown, TIn = RawMessage, TOut = RawOutgoing> {
  /** Per-connection data attached at upgrade time. */
  readonly data: TData;
  /** The negotiated subprotocol, or undefined when none was. */
  readonly protocol: string | undefined;
  /** The negotiated extensions as answered in `Sec-WebSocket-Extensions`, or ''. */
  readonly extensions: string;
  /** The path of the upgrade request, without its query (e.g. `/rooms/42`). */
  readonly path: string;
  /** The peer's IP address, when the socket is a TCP socket. */
  readonly remoteAddress: string | undefined;
  /** The connection state. */
  readonly state: ConnectionState;
  /** Whether messages can be sent (`state === 'open'`). */
  readonly isOpen: boolean;
  /** Bytes accepted by `send()` and not yet handed to the operating system. */
  readonly bufferedAmount: number;
  /**
   * Sends a message, encoded by the protocol's codec (without a codec: a string as text,
   * bytes as binary). Dropped when the connection is not open.
   * @param message - the message
   * @returns false when the caller should wait (`drained()`, `onDrain`) before sending more,
   *   or when the connection is not open
   * @throws TypeError when the codec encodes to something other than a string or bytes
   */
  send(message: TOut): boolean;
  /**
   * Sends a frame as is, bypassing the codec: a string as a text message, bytes as binary.
   * @param data - the message
   * @returns as {@link Connection.send}
   */
  sendRaw(data: RawOutgoing): boolean;
  /**
   * Sends a ping (RFC 6455 §5.5.2).
   * @param payload - up to 125 bytes of application data
   * @throws RangeError when the payload is larger than 125 bytes
   */
  ping(payload?: string | Uint8Array): void;
  /**
   * Resolves when buffered output has fallen below the high-water mark, or the connection closed.
   * @returns a promise that never rejects
   */
  drained(): Promise<void>;
  /**
   * Reads messages as an async iterator instead of `onMessage`: reading pauses while the
   * consumer lags, and the iteration ends when the connection closes. Leaving the loop early
   * (`break`, `return`, a throw) closes the connection with 1000, as leaving a loop over a Node
   * stream destroys the stream.
   * @returns an async iterator over decoded messages
   */
  messages(): AsyncIterableIterator<TIn>;
  /**
   * Starts the closing handshake (RFC 6455 §7.1.2). Does nothing unless open.
   * @param code - a close code that may be sent: 1000–1003, 1007–1014, 3000–4999 @default 1000
   * @param reason - at most 123 bytes once UTF-8 encoded @default ''
   * @throws RangeError for an invalid code or an over-long reason
   */
  close(code?: number, reason?: string): void;
  /** Destroys the socket at once, without a closing handshake. */
  terminate(): void;
  /** The topics this connection is subscribed to. */
  readonly topics: ReadonlySet<string>;
  /**
   * Subscribes to a topic of this entry point (and, with a backplane, of every process).
   * Published values reach the connection through its protocol's codec, so a typed topic
   * must carry what `send()` takes. A closed connection cannot subscribe; closing releases
   * every subscription.
   * @param topic - a name or a typed `topic<T>(name)`
   * @returns true when newly subscribed, false when it already was or the connection is closed
   */
  subscribe<T extends TOut>(topic: TopicLike<T>): boolean;
  /**
   * Leaves a topic.
   * @param topic - a name or a typed topic
   * @returns true when it was subscribed
   */
  unsubscribe(topic: TopicLike<unknown>): boolean;
  /**
   * @param topic - a name or a typed topic
   * @returns whether this connection is subscribed to it
   */
  isSubscribed(topic: TopicLike<unknown>): boolean;
  /**
   * Publishes a value to a topic's subscribers (not to this connection unless
   * `includeSelf`), here and, with a backplane, in every other process.
   * @param topic - a name or a typed topic
   * @param value - encoded once per subscribed protocol
   * @param options - `includeSelf`
   * @returns what happened to every subscriber in this process, and the relay
   */
  publish<T>(topic: TopicLike<T>, value: T, options?: PublishOptions): PublishReport;
}

/** A connection of any protocol, as the connection sets of every entry point hold them. */
export type AnyConnection = Connection<unknown, unknown, unknown>;

/** Per-connection settings, resolved from the route's options. */
export interface ConnectionOptions {
  /** Largest incoming message in bytes (1009 beyond). */
  readonly maxPayload: number;
  /** Most frames per incoming message (1009 beyond). */
  readonly maxFragments: number;
  /** Largest outgoing frame; larger messages are fragmented. */
  readonly maxFrameSize: number;
  /** How long to wait for the peer during the closing handshake, in ms. */
  readonly closeTimeout: number;
  /** Ping interval in ms; a peer silent for a whole interval is terminated. 0 turns it off. */
  readonly heartbeatInterval: number;
  /** Close (1001) after this many ms without a data message. 0 turns it off. */
  readonly idleTimeout: number;
  /** `send()` returns false once this many bytes wait to be written. */
  readonly sendHighWaterMark: number;
  /** Reading pauses while this many bytes wait to be written, until half of them are. */
  readonly outputHighWaterMark: number;
  /** Reading pauses while this many async `onMessage` calls are pending. */
  readonly maxPendingMessages: number;
  /** Reading pauses while this many bytes of messages wait for a consumer. */
  readonly inboxHighWaterMark: number;
  /** Incoming bytes a connection may hold at most (1009 beyond). */
  readonly maxBufferedBytes: number;
}
