/**
 * Typed handlers: a subprotocol's codec, validator and event handlers, bound together.
 * @module
 */
import type { Connection } from './connection.js';

/** A received message before decoding: text frames give a string, binary frames a Buffer. */
export type RawMessage = string | Buffer;

/** What `send()` takes without a codec: a string is sent as text, bytes as binary. */
export type RawOutgoing = string | Uint8Array;

/**
 * Turns raw messages into a protocol's incoming type and its outgoing type into frames.
 * `decode` may throw: the connection then closes with 1007 (`WS_DECODE_FAILED`).
 */
export interface Codec<TIn, TOut> {
  /**
   * @param data - the received message
   * @param isBinary - whether it arrived as a binary message
   * @returns the decoded message
   * @throws when the message is not of this protocol's format
   */
  decode(data: RawMessage, isBinary: boolean): TIn;
  /**
   * @param message - an outgoing message
   * @returns a string (sent as text) or bytes (sent as binary)
   */
  encode(message: TOut): RawOutgoing;
}

/**
 * Event handlers of one subprotocol. Every handler may be async; a throw or a rejection reaches
 * `onError` and closes the connection with 1011.
 * @typeParam TData - per-connection data attached at upgrade time (e.g. the authenticated user)
 * @typeParam TIn - decoded incoming messages
 * @typeParam TOut - what `send()` accepts
 */
export interface WebSocketHandler<TData, TIn = RawMessage, TOut = RawOutgoing> {
  /** The connection is open; messages are held back until a returned promise settles. */
  onOpen?(connection: Connection<TData, TOut, TIn>): void | Promise<void>;
  /** A message arrived. While returned promises are pending beyond a limit, reading pauses. */
  onMessage?(connection: Connection<TData, TOut, TIn>, message: TIn): void | Promise<void>;
  /** The send buffer fell below the high-water mark after `send()` returned false. */
  onDrain?(connection: Connection<TData, TOut, TIn>): void;
  /** A ping arrived (the pong is sent automatically). */
  onPing?(connection: Connection<TData, TOut, TIn>, payload: Buffer): void;
  /** A pong arrived. */
  onPong?(connection: Connection<TData, TOut, TIn>, payload: Buffer): void;
  /**
   * The connection failed: a protocol violation by the peer, a handler error, a timeout.
   * `error` is a `WebSocketError` when the library raised it, or what a handler threw.
   */
  onError?(connection: Connection<TData, TOut, TIn>, error: unknown): void;
  /**
   * The connection is closed (TCP ended). `code` is the peer's close code, 1005 when its close
   * frame had none, the code we sent when we failed the connection, or 1006 when it ended
   * without a close frame.
   */
  onClose?(connection: Connection<TData, TOut, TIn>, code: number, reason: string): void;
}

/** A subprotocol declaration: optional codec and validator plus the handlers. */
export interface ProtocolDefinition<TData, TIn, TOut> {
  /** Decodes incoming and encodes outgoing messages. Without it messages are raw. */
  readonly codec?: Codec<TIn, TOut>;
  /** Checks each decoded message; `false` closes with 1008 (`WS_VALIDATION_FAILED`). */
  readonly validate?: (message: TIn) => boolean;
  /** The handlers. */
  readonly handler: WebSocketHandler<TData, TIn, TOut>;
}

const kProtocol: unique symbol = Symbol('wsroute.protocol');
declare const kDataType: unique symbol;

/** A type-erased protocol, as the connection runs it. Internal. */
export interface ErasedProtocol<TData> {
  readonly decode: ((data: RawMessage, isBinary: boolean) => unknown) | undefined;
  readonly validate: ((message: unknown) => boolean) | undefined;
  readonly encode: ((message: unknown) => RawOutgoing) | undefined;
  readonly handler: WebSocketHandler<TData, unknown, unknown>;
}

/**
 * A protocol bound to its handlers, made by {@link defineProtocol}. Opaque: routes hold these so
 * that protocols with different message types can sit side by side in one route.
 * @typeParam TData - the per-connection data it needs
 */
export interface BoundProtocol<TData> {
  readonly [kProtocol]: ErasedProtocol<TData>;
  /**
   * Never set: makes the type contravariant in `TData` (a property of function type, unlike a
   * method, is checked strictly), so a protocol needing more data than a route provides is a
   * compile error, while one needing less fits anywhere.
   */
  readonly [kDataType]?: (data: TData) => void;
}

/**
 * Binds a codec, a validator and handlers into one protocol for a route.
 * @example
 * ```ts
 * const chat = defineProtocol({
 *   codec: jsonCodec<ChatIn, ChatOut>(),
 *   validate: isChatIn,
 *   handler: { onMessage(conn, msg) { conn.send({ type: 'echo', text: msg.text }) } },
 * });
 * ```
 * @param definition - codec, validator and handlers
 * @returns an opaque protocol to place in a route's `protocols` or `defaultProtocol`
 */
export function defineProtocol<TData = unknown, TIn = RawMessage, TOut = RawOutgoing>(
  definition: ProtocolDefinition<TData, TIn, TOut>,
): BoundProtocol<TData> {
  const { codec, validate, handler } = definition;
  const erased: ErasedProtocol<TData> = {
    decode: codec ? (data, isBinary) => codec.decode(data, isBinary) : undefined,
    // The connection only hands these functions what the codec produced, so the casts hold.
    validate: validate ? (message) => validate(message as TIn) : undefined,
    encode: codec ? (message) => codec.encode(message as TOut) : undefined,
    handler: handler as WebSocketHandler<TData, unknown, unknown>,
  };
  return { [kProtocol]: erased };
}

/**
 * A route accepts a bound protocol or, for raw messages, a bare handler object.
 * @typeParam TData - the per-connection data
 */
export type ProtocolLike<TData> = BoundProtocol<TData> | WebSocketHandler<TData>;

/**
 * Unwraps a protocol or a bare handler. Internal.
 * @param protocol - what the route declared
 * @returns the erased protocol
 */
export function eraseProtocol<TData>(protocol: ProtocolLike<TData>): ErasedProtocol<TData> {
  if (kProtocol in protocol) return protocol[kProtocol];
  return defineProtocol<TData>({ handler: protocol })[kProtocol];
}

/**
 * A JSON codec over text messages. Binary messages and invalid JSON fail decoding (1007).
 * The types are the caller's claim: pair it with `validate` to check incoming messages.
 * @returns a codec
 */
export function jsonCodec<TIn, TOut>(): Codec<TIn, TOut> {
  return {
    decode(data, isBinary) {
      if (isBinary) throw new TypeError('expected a text message');
      return JSON.parse(data as string) as TIn;
    },
    encode(message) {
      return JSON.stringify(message);
    },
  };
}

/**
 * A codec that accepts only text messages (a binary message fails decoding with 1007).
 * @returns a codec of strings
 */
export function textCodec(): Codec<string, string> {
  return {
    decode(data, isBinary) {
      if (isBinary) throw new TypeError('expected a text message');
      return data as string;
    },
    encode(message) {
      return message;
    },
  };
}
