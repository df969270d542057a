export { upgradeRequiredError } from '@wsroute/core/adapter';
export { ExpressWebSocket, wsroute } from './middleware.js';
export { boomErrorHandler, sendBoom, toBoom } from './respond.js';
export type {
  DataFunction,
  ExpressRouteBaseOptions,
  ExpressRouteOptions,
  ExpressWebSocketOptions,
  NextCallback,
  UpgradeRequestListener,
  WebSocketRequest,
  WebSocketResponse,
  WebSocketRouteHandler,
} from './types.js';
