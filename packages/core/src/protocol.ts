/**
 * Typed handlers: a subprotocol's codec, validator and event handlers, bound together.
 * @module
 */
import {
  type AnyContract,
  type ClientMessage,
  checkMessage,
  isStandardSchema,
  type ServerMessageInput,
  type ValidationResult,
} from '@wsroute/contract';
import type { Connection, RawMessage, RawOutgoing } from './connection-types.js';

/**
 * Codecs shared with `@wsroute/contract` (and so with browsers): `jsonCodec()` for JSON over
 * text messages (a binary message or invalid JSON fails decoding, 1007), `textCodec()` for
 * text only.
 */
export { jsonCodec, textCodec } from '@wsroute/contract';
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
  /** A contract's Standard Schema for incoming messages; may answer with a Promise. */
  readonly check:
    | ((message: unknown) => ValidationResult<unknown> | Promise<ValidationResult<unknown>>)
    | undefined;
  /** The contract's name, when the protocol was bound to one. */
  readonly name: string | undefined;
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
 * Binds handlers to a contract (`@wsroute/contract`), the module server and browser share:
 * the contract's codec encodes and decodes, its `client` spec types and validates incoming
 * messages (a Standard Schema is awaited when async, in message order; a failure closes with
 * 1008 and hands the issues to `onError`), its `server` spec types what `send()` takes.
 * @example
 * ```ts
 * const chat = defineProtocol(chatV2, {
 *   onMessage(conn, msg) { conn.send({ type: 'message', from: conn.data.name, text: msg.text }) },
 * });
 * wss.route('/chat', { protocols: { [chatV2.name]: chat } });
 * ```
 * @param contract - the contract
 * @param handler - the handlers
 * @returns an opaque protocol; a route must list it under the contract's name
 */
export function defineProtocol<TData = unknown, C extends AnyContract = AnyContract>(
  contract: C,
  handler: WebSocketHandler<TData, ClientMessage<C>, ServerMessageInput<C>>,
): BoundProtocol<TData>;
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
>(definition: ProtocolDefinition<TData, TIn, TOut, TGuard>): BoundProtocol<TData>;
export function defineProtocol<TData>(
  definition: ProtocolDefinition<TData, unknown, unknown, unknown> | AnyContract,
  contractHandler?: WebSocketHandler<TData, never, never>,
): BoundProtocol<TData> {
  if (contractHandler !== undefined) {
    return bindContract(definition as AnyContract, contractHandler);
  }
  const { codec, validate, handler } = definition as ProtocolDefinition<
    TData,
    unknown,
    unknown,
    unknown
  >;
  if (typeof handler !== 'object' || handler === null) {
    throw new TypeError('defineProtocol needs a `handler` object');
  }
  if (validate !== undefined && typeof validate !== 'function') {
    throw new TypeError('validate must be a function');
  }
  const erased: ErasedProtocol<TData> = {
    decode: codec ? (data, isBinary) => codec.decode(data, isBinary) : undefined,
    validate,
    check: undefined,
    name: undefined,
    // The connection hands encode only what `send()` accepted, typed TOut by its caller.
    encode: codec ? (message) => (codec as Codec<unknown, unknown>).encode(message) : undefined,
    handler: handler as WebSocketHandler<TData, unknown, unknown>,
  };
  return { [kProtocol]: erased };
}

function bindContract<TData>(
  contract: AnyContract,
  handler: WebSocketHandler<TData, never, never>,
): BoundProtocol<TData> {
  const { name, codec, client } = contract;
  if (typeof name !== 'string' || typeof client !== 'object' || client === null) {
    throw new TypeError(
      'defineProtocol(contract, handler) needs a contract made by defineContract',
    );
  }
  if (typeof handler !== 'object' || handler === null) {
    throw new TypeError('defineProtocol needs a `handler` object');
  }
  const erased: ErasedProtocol<TData> = {
    decode: codec ? (data, isBinary) => codec.decode(data, isBinary) : undefined,
    validate: undefined,
    // A type marker checks nothing: no per-message work.
    check: isStandardSchema(client) ? (message) => checkMessage(client, message) : undefined,
    name,
    encode: codec ? (message) => codec.encode(message) : undefined,
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
