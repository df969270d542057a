/**
 * Typed handlers: a subprotocol's codec, validator and event handlers, bound together.
 * @module
 */
import type { Connection, RawMessage, RawOutgoing } from './connection-types.js';

export type { RawMessage, RawOutgoing };

/**
 * Turns raw messages into a protocol's incoming type and its outgoing type into frames.
 * `decode` may throw: the connection then closes with 1007 (`WS_DECODE_FAILED`).
 * @typeParam TIn - what `decode` produces
 * @typeParam TOut - what `encode` accepts
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
 * Event handlers of one subprotocol. Every handler may be async and may return anything; a
 * throw or a rejection reaches `onError` (or, without one, the entry point's error log) and
 * closes the connection with 1011.
 * @typeParam TData - per-connection data attached at upgrade time (e.g. the authenticated user)
 * @typeParam TIn - decoded incoming messages
 * @typeParam TOut - what `send()` accepts
 */
export interface WebSocketHandler<TData = unknown, TIn = RawMessage, TOut = RawOutgoing> {
  /** The connection is open; messages are held back until a returned promise settles. */
  onOpen?(connection: Connection<TData, TIn, TOut>): unknown;
  /** A message arrived. While returned promises are pending beyond a limit, reading pauses. */
  onMessage?(connection: Connection<TData, TIn, TOut>, message: TIn): unknown;
  /** The send buffer fell below the high-water mark after `send()` returned false. */
  onDrain?(connection: Connection<TData, TIn, TOut>): unknown;
  /** A ping arrived (the pong is sent automatically). */
  onPing?(connection: Connection<TData, TIn, TOut>, payload: Buffer): unknown;
  /** A pong arrived. */
  onPong?(connection: Connection<TData, TIn, TOut>, payload: Buffer): unknown;
  /**
   * The connection failed: a protocol violation by the peer, a handler error, a timeout.
   * `error` is a `WebSocketError` when the library raised it, or what a handler threw.
   */
  onError?(connection: Connection<TData, TIn, TOut>, error: unknown): unknown;
  /**
   * The connection is closed (TCP ended). `code` is the peer's close code, 1005 when its close
   * frame had none, the code we sent when we failed the connection, or 1006 when it ended
   * without a close frame.
   */
  onClose?(connection: Connection<TData, TIn, TOut>, code: number, reason: string): unknown;
}

/**
 * A validator that is a type guard: it receives what the codec produced, `unknown` until
 * checked, and narrows it to the protocol's incoming type.
 */
export type MessageGuard<TIn> = (message: unknown) => message is TIn;

/**
 * The incoming type of a protocol: the validator's guarded type when it is a type guard, else
 * what the codec decodes to (raw messages without a codec).
 */
export type IncomingOf<TIn, TGuard> = [TGuard] extends [never] ? TIn : TGuard;

/**
 * A subprotocol declaration: optional codec and validator plus the handlers.
 * @typeParam TData - per-connection data
 * @typeParam TIn - what the codec decodes to
 * @typeParam TOut - what `send()` accepts
 * @typeParam TGuard - the type a type-guard validator narrows to (inferred)
 */
export interface ProtocolDefinition<TData, TIn, TOut, TGuard = never> {
  /** Decodes incoming and encodes outgoing messages. Without it messages are raw. */
  readonly codec?: Codec<TIn, TOut>;
  /**
   * Checks each decoded message, which it receives as `unknown`; `false` closes with 1008
   * (`WS_VALIDATION_FAILED`). A type guard (`(m: unknown) => m is ChatIn`) also types the
   * messages the handlers receive.
   */
  readonly validate?: MessageGuard<TGuard> | ((message: unknown) => boolean);
  /** The handlers. */
  readonly handler: WebSocketHandler<TData, IncomingOf<TIn, TGuard>, TOut>;
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
 * Binds a codec, a validator and handlers into one protocol for a route. With a type-guard
 * validator the incoming type is the guard's; otherwise it is the codec's claim.
 * @example
 * ```ts
 * const chat = defineProtocol({
 *   codec: jsonCodec<unknown, ChatOut>(),
 *   validate: isChatIn, // (message: unknown) => message is ChatIn
 *   handler: { onMessage(conn, msg) { conn.send({ type: 'echo', text: msg.text }) } },
 * });
 * ```
 * @param definition - codec, validator and handlers
 * @returns an opaque protocol to place in a route's `protocols` or `defaultProtocol`
 */
export function defineProtocol<
  TData = unknown,
  TIn = RawMessage,
  TOut = RawOutgoing,
  TGuard = never,
>(definition: ProtocolDefinition<TData, TIn, TOut, TGuard>): BoundProtocol<TData> {
  const { codec, validate, handler } = definition;
  if (typeof handler !== 'object' || handler === null) {
    throw new TypeError('defineProtocol needs a `handler` object');
  }
  if (validate !== undefined && typeof validate !== 'function') {
    throw new TypeError('validate must be a function');
  }
  const erased: ErasedProtocol<TData> = {
    decode: codec ? (data, isBinary) => codec.decode(data, isBinary) : undefined,
    validate,
    // The connection hands encode only what `send()` accepted, typed TOut by its caller.
    encode: codec ? (message) => (codec as Codec<unknown, unknown>).encode(message) : undefined,
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
 * @throws TypeError when `protocol` is neither
 */
export function eraseProtocol<TData>(protocol: ProtocolLike<TData>): ErasedProtocol<TData> {
  if (typeof protocol !== 'object' || protocol === null) {
    throw new TypeError('a protocol is made by defineProtocol() or is a handler object');
  }
  if (kProtocol in protocol) return protocol[kProtocol];
  return defineProtocol<TData>({ handler: protocol })[kProtocol];
}

/**
 * A JSON codec over text messages. Binary messages and invalid JSON fail decoding (1007).
 * Pair it with a type-guard `validate`: decoded JSON is whatever the peer sent.
 * @typeParam TIn - what decoding claims to produce (leave `unknown` when `validate` narrows)
 * @typeParam TOut - what `send()` accepts
 * @returns a codec
 */
export function jsonCodec<TIn = unknown, TOut = unknown>(): Codec<TIn, TOut> {
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
