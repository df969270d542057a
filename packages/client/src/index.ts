export { connect } from './client.js';
export type {
  Client,
  ClientBase,
  ClientEvents,
  ClientState,
  ClosedInfo,
  ConnectOptions,
  ContractClient,
  OpenInfo,
  ReconnectInfo,
} from './client-types.js';
export {
  ClientCloseCode,
  CloseCode,
  type CloseCodeName,
  type CloseInfo,
  closeCodeName,
  type KnownCloseCode,
} from './close-info.js';
export { ClientError, type ClientErrorCode, type ClientErrorDetails } from './errors.js';
export {
  backoffDelay,
  isTransientClose,
  type ReconnectOptions,
  type ReconnectPolicy,
  resolveReconnect,
} from './reconnect.js';
export { DEFAULT_TOKEN_PREFIX, encodeTokenProtocol } from './token.js';
export type {
  WebSocketConstructor,
  WebSocketEventLike,
  WebSocketLike,
} from './websocket-like.js';
