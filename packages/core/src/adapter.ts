/**
 * `@wsroute/core/adapter`: the interface for framework adapters (Fastify, Express, Koa, or
 * your own). One object, {@link UpgradeLifecycle}, owns the whole upgrade lifecycle: option
 * validation, admission, the response bound to the socket, negotiate → data → accept, and
 * shutdown. An adapter only translates its framework's request, hook and response model into
 * `begin()` and `exchange.complete()`, and a Boom into its framework's answer
 * (`describeRejection`).
 * @module
 */
export type { ClientAddress } from './client-address.js';
export {
  handshakeError,
  internalError,
  notFoundError,
  shuttingDownError,
  upgradeRequiredError,
} from './errors.js';
export { isUpgradeRequest } from './handshake.js';
export { requestListenersOf } from './handshake-deadline.js';
export { describeRejection, type RejectionResponse } from './http-reject.js';
export { createRoute, type WebSocketRoute } from './route.js';
export type {
  ResponseBinding,
  UpgradeExchange,
  UpgradeOutcome,
} from './upgrade-exchange.js';
export {
  type AdapterInfo,
  type AttachOptions,
  exchangeOf,
  UpgradeLifecycle,
} from './upgrade-lifecycle.js';
