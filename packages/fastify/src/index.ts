/**
 * `@wsroute/fastify`: websocket routes for Fastify 5, with per-route subprotocols, typed
 * handlers, and the route's hooks running before the 101. Test helpers are in
 * `@wsroute/fastify/testing`.
 * @module
 */
import { wsroute } from './plugin.js';

export { defineWebSocketRoute, sendBoom, upgradeRequired } from './route.js';
export type {
  CompiledWebSocketRoute,
  DefaultWebSocketOptions,
  FastifyWebSocketRoute,
  RequestData,
  WebSocketDataOptions,
  WebSocketRouteOption,
  WsrouteOptions,
} from './types.js';
export { kWebSocketRoute } from './types.js';
export { wsroute };
export default wsroute;
