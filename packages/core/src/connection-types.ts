/**
 * The connection's public state type, its resolved options and what `accept()` hands it.
 * @module
 */
import type { Duplex } from 'node:stream';
import type { Connection } from './connection.js';
import type { PerMessageDeflate } from './permessage-deflate.js';
import type { ErasedProtocol } from './protocol.js';

/** Connection states. */
export const ConnectionState = {
  Open: 'open',
  Closing: 'closing',
  Closed: 'closed',
} as const;
export type ConnectionState = (typeof ConnectionState)[keyof typeof ConnectionState];

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
  /** Reading pauses while this many async `onMessage` calls are pending. */
  readonly maxPendingMessages: number;
  /** Reading pauses while this many bytes of messages wait for a consumer. */
  readonly inboxHighWaterMark: number;
  /** Incoming bytes a connection may hold at most (1009 beyond). */
  readonly maxBufferedBytes: number;
}

/** What `accept()` hands the connection. Internal. */
export interface ConnectionInit<TData> {
  readonly socket: Duplex;
  readonly data: TData;
  readonly protocol: string | undefined;
  readonly extensions: string | undefined;
  readonly handlers: ErasedProtocol<TData>;
  readonly options: ConnectionOptions;
  /** The connection's permessage-deflate state, when negotiated. */
  readonly deflate?: PerMessageDeflate | undefined;
  readonly onClosed?: ((connection: Connection<TData, never, unknown>) => void) | undefined;
}
