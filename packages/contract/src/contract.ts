/**
 * Contracts: a subprotocol's name, its codec and the messages each side sends, in one object
 * that the server and the browser both import. Nothing here touches a socket or Node.
 * @module
 */
import type { StandardSchemaV1 } from '@standard-schema/spec';
import type { Codec, WireData } from './codec.js';

declare const kMessageType: unique symbol;

/**
 * Declares a message type without runtime validation: made by {@link type}. Received messages
 * are trusted as they come out of the codec.
 * @typeParam T - the message type
 */
export interface TypeMarker<T> {
  /** Tells a marker from a schema at run time. */
  readonly '~wsroute.type': true;
  /** Never set: carries `T` for inference only (a getter keeps it covariant). */
  readonly [kMessageType]?: () => T;
}

/**
 * How a contract describes one direction's messages: a Standard Schema (validated on receipt;
 * its output type is what the receiver gets, its input type what the sender may send) or a
 * {@link TypeMarker} (types only).
 * @typeParam T - the message type
 */
export type MessageSpec<T = unknown> = StandardSchemaV1<unknown, T> | TypeMarker<T>;

/**
 * A protocol's contract.
 * @typeParam TName - the subprotocol name offered in `Sec-WebSocket-Protocol`
 * @typeParam TClient - the messages the client sends (the server receives)
 * @typeParam TServer - the messages the server sends (the client receives)
 */
export interface Contract<
  TName extends string = string,
  TClient extends MessageSpec = MessageSpec,
  TServer extends MessageSpec = MessageSpec,
> {
  /** The subprotocol name, an RFC 7230 token. */
  readonly name: TName;
  /** Encodes and decodes messages; `undefined` means raw (strings as text, bytes as binary). */
  readonly codec: Codec | undefined;
  /** What the client sends: the server validates its incoming messages with it. */
  readonly client: TClient;
  /** What the server sends: the client validates its incoming messages with it. */
  readonly server: TServer;
}

/** Any contract, whatever its name and messages. */
export type AnyContract = Contract<string, MessageSpec, MessageSpec>;

/**
 * The type a spec declares, as the receiver sees it: a schema's output type, or a marker's type.
 * @typeParam S - a {@link MessageSpec}
 */
export type InferMessage<S> =
  S extends TypeMarker<infer T>
    ? T
    : S extends StandardSchemaV1
      ? StandardSchemaV1.InferOutput<S>
      : never;

/**
 * The type a spec accepts, as the sender sees it: a schema's input type (before transforms and
 * defaults), or a marker's type.
 * @typeParam S - a {@link MessageSpec}
 */
export type InferMessageInput<S> =
  S extends TypeMarker<infer T>
    ? T
    : S extends StandardSchemaV1
      ? StandardSchemaV1.InferInput<S>
      : never;

/** The subprotocol name of a contract. */
export type ContractName<C extends AnyContract> = C['name'];
/** A client message after validation: what server handlers receive. */
export type ClientMessage<C extends AnyContract> = InferMessage<C['client']>;
/** A client message before validation: what the client's `send()` accepts. */
export type ClientMessageInput<C extends AnyContract> = InferMessageInput<C['client']>;
/** A server message after validation: what the client receives. */
export type ServerMessage<C extends AnyContract> = InferMessage<C['server']>;
/** A server message before validation: what the server's `send()` accepts. */
export type ServerMessageInput<C extends AnyContract> = InferMessageInput<C['server']>;

/** The spec of an omitted direction: whatever the codec decodes, raw data without a codec. */
export type DefaultSpec<TCodec> =
  TCodec extends Codec<infer T, never> ? TypeMarker<T> : TypeMarker<WireData>;

/**
 * What {@link defineContract} takes.
 * @typeParam TName - the subprotocol name
 * @typeParam TCodec - the codec, or `undefined` for raw messages
 * @typeParam TClient - the client's messages
 * @typeParam TServer - the server's messages
 */
export interface ContractDefinition<
  TName extends string,
  TCodec extends Codec<unknown, never> | undefined,
  TClient extends MessageSpec | undefined,
  TServer extends MessageSpec | undefined,
> {
  /** The subprotocol name: an RFC 7230 token such as `chat.v2`. */
  readonly name: TName;
  /** @default undefined (raw: strings as text messages, bytes as binary messages) */
  readonly codec?: TCodec;
  /** The messages the client sends. @default the codec's decoded type, unvalidated */
  readonly client?: TClient;
  /** The messages the server sends. @default the codec's decoded type, unvalidated */
  readonly server?: TServer;
}

const MARKER: TypeMarker<never> = Object.freeze({ '~wsroute.type': true });

/**
 * Declares a message type without runtime validation.
 * @example
 * ```ts
 * defineContract({ name: 'ticks', codec: jsonCodec(), server: type<{ at: number }>() });
 * ```
 * @typeParam T - the message type
 * @returns a marker carrying `T` (the same frozen object for every `T`)
 */
export function type<T>(): TypeMarker<T> {
  return MARKER;
}

/**
 * @param spec - a message spec
 * @returns whether it is a Standard Schema (rather than a {@link type} marker)
 */
export function isStandardSchema(spec: MessageSpec): spec is StandardSchemaV1 {
  return typeof spec === 'object' && spec !== null && '~standard' in spec;
}

/** RFC 7230 §3.2.6 token characters. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * @param value - a candidate subprotocol name
 * @returns whether it is an RFC 7230 token, as `Sec-WebSocket-Protocol` requires (RFC 6455 §4.1)
 */
export function isToken(value: string): boolean {
  return TOKEN.test(value);
}

function checkSpec(spec: unknown, side: string): void {
  if (spec === undefined || spec === MARKER) return;
  const standard = (spec as { '~standard'?: { validate?: unknown } } | null)?.['~standard'];
  if (typeof standard?.validate !== 'function') {
    throw new TypeError(`contract ${side}: expected a Standard Schema or type<T>()`);
  }
}

/**
 * Defines a protocol's contract, to import from both the server and the client.
 * @example
 * ```ts
 * export const chat = defineContract({
 *   name: 'chat.v2',
 *   codec: jsonCodec(),
 *   client: z.object({ type: z.literal('say'), text: z.string() }),
 *   server: type<{ type: 'said'; from: string; text: string }>(),
 * });
 * ```
 * @param definition - name, codec and each side's messages
 * @returns a frozen contract
 * @throws TypeError when the name is not a token, the codec lacks `decode`/`encode`, or a side
 *   is neither a Standard Schema nor a {@link type} marker
 */
export function defineContract<
  TName extends string,
  TCodec extends Codec<unknown, never> | undefined = undefined,
  TClient extends MessageSpec | undefined = undefined,
  TServer extends MessageSpec | undefined = undefined,
>(
  definition: ContractDefinition<TName, TCodec, TClient, TServer>,
): Contract<
  TName,
  TClient extends MessageSpec ? TClient : DefaultSpec<TCodec>,
  TServer extends MessageSpec ? TServer : DefaultSpec<TCodec>
> {
  const { name, codec, client, server } = definition;
  if (typeof name !== 'string' || !isToken(name)) {
    throw new TypeError(`contract name ${JSON.stringify(name)} is not an RFC 7230 token`);
  }
  if (
    codec !== undefined &&
    (typeof codec?.decode !== 'function' || typeof codec.encode !== 'function')
  ) {
    throw new TypeError(`contract ${name}: a codec needs decode() and encode()`);
  }
  checkSpec(client, `${name} client`);
  checkSpec(server, `${name} server`);
  // An omitted side is the codec's own type, unvalidated: the marker says exactly that.
  return Object.freeze({
    name,
    codec: codec as Codec | undefined,
    client: client ?? MARKER,
    server: server ?? MARKER,
  }) as Contract<
    TName,
    TClient extends MessageSpec ? TClient : DefaultSpec<TCodec>,
    TServer extends MessageSpec ? TServer : DefaultSpec<TCodec>
  >;
}
