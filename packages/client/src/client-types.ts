/**
 * The client's public types: its states and events, `connect()`'s options, and the union of
 * per-contract views that `connect()` resolves to.
 * @module
 */
import type { AnyContract, ClientMessageInput, ServerMessage } from '@wsroute/contract';
import type { CloseInfo } from './close-info.js';
import type { ClientError } from './errors.js';
import type { ReconnectOptions } from './reconnect.js';
import type { WebSocketConstructor } from './websocket-like.js';

/** Where the client is in its life. */
export type ClientState = 'connecting' | 'open' | 'closing' | 'reconnecting' | 'closed';

/** A pending reconnect: which attempt comes next and after how long. */
export interface ReconnectInfo {
  /** The attempt number, from 1. */
  readonly attempt: number;
  /** How many attempts the policy allows. */
  readonly attempts: number;
  /** The delay before this attempt, in ms. */
  readonly delay: number;
  /** Why the previous connection or attempt ended. */
  readonly close: CloseInfo;
}

/** The `open` event: a connection (the first or a reconnect) is open. */
export interface OpenInfo {
  /** The negotiated protocol. */
  readonly protocol: string;
  /** Whether this is a reconnect. */
  readonly reconnected: boolean;
}

/** The `close` event: how a connection ended, and whether the client will reconnect. */
export interface ClosedInfo extends CloseInfo {
  /** `false` marks the client's end: no more messages or connections. */
  readonly willReconnect: boolean;
}

/** The client's lifecycle events. */
export interface ClientEvents {
  /** A connection opened (after `connect()` resolved, only reconnects fire it). */
  readonly open: OpenInfo;
  /** An open connection ended; or, with `willReconnect: false`, the client gave up. */
  readonly close: ClosedInfo;
  /** A reconnect attempt is scheduled. */
  readonly reconnecting: ReconnectInfo;
  /** A message failed decoding or validation, or the server changed protocol on a reconnect. */
  readonly error: ClientError;
}

/** What `connect()` takes besides the URL and the contracts. */
export interface ConnectOptions {
  /** The WebSocket implementation. @default globalThis.WebSocket (pass undici's on Node 20) */
  readonly WebSocket?: WebSocketConstructor;
  /**
   * A credential sent as one more offered subprotocol, after the contracts' names:
   * `<tokenPrefix><base64url(token)>`. A function is called before every connection attempt.
   * @default none
   */
  readonly token?: string | (() => string | Promise<string>);
  /** The token subprotocol's prefix. @default 'base64url.bearer.' */
  readonly tokenPrefix?: string;
  /** Reconnect after a drop: `true` for the default policy, or its options. @default false */
  readonly reconnect?: boolean | ReconnectOptions;
  /**
   * What a message that fails decoding or validation does: `'close'` emits `error` and closes
   * with a {@link ClientCloseCode} (no reconnect); `'skip'` emits `error` and drops it.
   * @default 'close'
   */
  readonly invalidMessage?: 'close' | 'skip';
}

/** What every client has, whatever its contract. */
export interface ClientBase {
  /** The URL connected to. */
  readonly url: string;
  /** The offered contract names, in order of preference. */
  readonly offered: readonly string[];
  /** Where the client is in its life. */
  readonly state: ClientState;
  /** The scheduled reconnect while `state` is `'reconnecting'`, else `undefined`. */
  readonly reconnecting: ReconnectInfo | undefined;
  /** Bytes handed to `send()` and not yet sent. */
  readonly bufferedAmount: number;
  /** Resolves when the client has ended (never rejects). */
  readonly closed: Promise<ClosedInfo>;
  /**
   * Listens to a lifecycle event.
   * @param type - the event
   * @param listener - called with the event's value; a throw is reported, not propagated
   * @returns a function that removes the listener
   */
  on<E extends keyof ClientEvents>(type: E, listener: (event: ClientEvents[E]) => void): () => void;
  /**
   * Closes for good: no reconnect follows.
   * @param code - 1000 or 3000–4999 (what a WHATWG WebSocket may send)
   * @param reason - at most 123 UTF-8 bytes
   * @default code 1000, reason ''
   * @returns the client's end
   * @throws RangeError for another code or a longer reason
   */
  close(code?: number, reason?: string): Promise<ClosedInfo>;
}

/**
 * A client whose negotiated protocol is `C`'s.
 * @typeParam C - the contract
 */
export interface ContractClient<C extends AnyContract> extends ClientBase {
  /** The negotiated protocol; a reconnect offers only this one, so it never changes. */
  readonly protocol: C['name'];
  /** The negotiated contract. */
  readonly contract: C;
  /**
   * Encodes and sends a message.
   * @param message - a message of the contract's client side (its schema's input type)
   * @returns false when no connection is open (the message is dropped)
   * @throws what the codec throws
   */
  send(message: ClientMessageInput<C>): boolean;
  /**
   * Listens to the server's messages, validated and in arrival order. Messages that arrived
   * before the first listener or iterator are held for it.
   * @param listener - called with each message
   * @returns a function that removes the listener
   */
  onMessage(listener: (message: ServerMessage<C>) => void): () => void;
  /**
   * The server's messages as an async iterator (from now on, plus those held for the first
   * consumer); it ends when the client ends.
   */
  messages(): AsyncIterableIterator<ServerMessage<C>, undefined, undefined>;
}

/**
 * What `connect()` resolves to: a union, narrowed by `protocol`, of one client per contract.
 * @typeParam Cs - the offered contracts
 */
export type Client<Cs extends readonly AnyContract[]> = {
  [K in keyof Cs]: Cs[K] extends AnyContract ? ContractClient<Cs[K]> : never;
}[number];
