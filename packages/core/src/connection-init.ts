/**
 * What a connection is made from: the init `accept()` hands it and the owner it reports to (the
 * entry point's upgrade lifecycle). Internal.
 * @module
 */
import type { Duplex } from 'node:stream';
import type { AnyConnection, ConnectionOptions } from './connection-types.js';
import type { WebSocketError } from './errors.js';
import type { PerMessageDeflate } from './permessage-deflate.js';
import type { ErasedProtocol } from './protocol.js';
import type { TopicHub } from './topics.js';

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
