/**
 * `@wsroute/core`: what application code writes. The server (`WebSocketServer`, the
 * `node:http` attachment) and the hub every entry point shares, routes and their options,
 * `defineProtocol` and codecs, the connection type handlers receive, close codes, error codes
 * and classes. Adapters use `@wsroute/core/adapter`.
 * @module
 */
export type {
  EntryAdmissionOptions,
  OriginOptions,
  RouteAdmissionOptions,
  ShedSelection,
} from './admission.js';
export type { AdmissionLimits, HandshakeRate } from './admission-gate.js';
export type { Backplane, BackplaneSink, RelayResult } from './backplane.js';
export type {
  ForwardingHeader,
  TrustedProxies,
  TrustProxy,
  TrustProxyOptions,
} from './client-address.js';
export { CloseCode } from './close-codes.js';
export {
  type AnyConnection,
  type Connection,
  ConnectionState,
  type RawMessage,
  type RawOutgoing,
} from './connection-types.js';
export { MAX_CLOSE_REASON_BYTES } from './constants.js';
export { DEFAULT_TOKEN_PREFIX } from './credentials.js';
export type { PerMessageDeflateOptions } from './deflate-options.js';
export type { EntryOptions, UnhandledErrorListener } from './entry-options.js';
export {
  type HandshakeError,
  HandshakeErrorCode,
  type HandshakeErrorData,
  isHandshakeError,
  ProtocolErrorCode,
  WebSocketError,
} from './errors.js';
export type { UpgradeRequestInfo } from './handshake.js';
export { WebSocketHub } from './hub.js';
export {
  type NodeRouteOptions,
  type NodeUpgradeContext,
  WebSocketServer,
  type WebSocketServerOptions,
} from './node-server.js';
export type { OriginContext, OriginPolicy } from './origin.js';
export {
  type BoundProtocol,
  type Codec,
  defineProtocol,
  type IncomingOf,
  jsonCodec,
  type MessageGuard,
  type ProtocolDefinition,
  type ProtocolLike,
  textCodec,
  type WebSocketHandler,
} from './protocol.js';
export type { ShutdownOptions } from './registry.js';
export type { ProtocolSelector, RouteLimits, RouteOptions } from './route.js';
export {
  type PublishOptions,
  type PublishReport,
  type SlowSubscriberPolicy,
  type Topic,
  type TopicLike,
  type TopicOptions,
  type TopicStats,
  topic,
} from './topics.js';
