export { type KoaBoom, type KoaErrorFields, toKoaError } from './koa-error.js';
export {
  type DataResolver,
  type KoaApplicationLike,
  type KoaDataOption,
  type KoaRouteOptions,
  KoaWebSocket,
  type KoaWebSocketOptions,
  wsroute,
} from './koa-websocket.js';
export { WebSocketUpgrade } from './websocket-upgrade.js';
