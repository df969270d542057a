export type { Backplane, BackplaneSink, RelayResult } from './backplane.js';
export { CloseCode, isValidCloseCode } from './close-codes.js';
export { Connection, type ConnectionOptions, ConnectionState } from './connection.js';
export { DEFAULT_LIMITS, MAX_CLOSE_REASON_BYTES, Opcode, WEBSOCKET_GUID } from './constants.js';
export {
  PER_MESSAGE_DEFLATE_DEFAULTS,
  type PerMessageDeflateOptions,
} from './deflate-options.js';
export {
  type HandshakeError,
  HandshakeErrorCode,
  type HandshakeErrorData,
  handshakeError,
  internalError,
  isHandshakeError,
  notFoundError,
  ProtocolErrorCode,
  shuttingDownError,
  upgradeRequiredError,
  WebSocketError,
} from './errors.js';
export {
  type ExtensionOffer,
  formatExtensionHeader,
  parseExtensionHeader,
} from './extension-header.js';
export {
  checkHeaderLimits,
  checkOrigin,
  computeAcceptKey,
  isWebSocketUpgrade,
  type OriginPolicy,
  type UpgradeRequestInfo,
  type ValidatedUpgrade,
  validateUpgradeRequest,
} from './handshake.js';
export {
  describeRejection,
  endSocketGracefully,
  type RejectionResponse,
  reject,
} from './http-reject.js';
export {
  type NodeRouteOptions,
  WebSocketServer,
  type WebSocketServerOptions,
} from './node-server.js';
export {
  type NegotiatedDeflateParams,
  negotiatePerMessageDeflate,
  PERMESSAGE_DEFLATE,
  PerMessageDeflate,
} from './permessage-deflate.js';
export {
  type BoundProtocol,
  type Codec,
  defineProtocol,
  jsonCodec,
  type ProtocolDefinition,
  type ProtocolLike,
  type RawMessage,
  type RawOutgoing,
  textCodec,
  type WebSocketHandler,
} from './protocol.js';
export { type AnyConnection, ConnectionRegistry, type ShutdownOptions } from './registry.js';
export {
  type AcceptedHandshake,
  createRoute,
  negotiate,
  type ProtocolSelector,
  type RouteLimits,
  type RouteOptions,
  resolveLimits,
  type WebSocketRoute,
} from './route.js';
export { isToken, parseProtocolList, selectProtocol } from './subprotocol.js';
export { type AcceptOptions, accept, guardUpgradeSocket } from './upgrade.js';
export { bindUpgradeResponse, createUpgradeResponse, isUpgradable } from './upgrade-response.js';
