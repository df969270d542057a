/**
 * Websocket routes on Fastify: compiling the `websocket` route option at registration, the
 * route handler that completes upgrades through core (and leaves plain requests to the
 * route's HTTP handler), and the answers in Fastify's terms (Booms, 426).
 * @module
 */
import Boom from '@hapi/boom';
import type { RouteOptions } from '@wsroute/core';
import {
  createRoute,
  describeRejection,
  exchangeOf,
  internalError,
  isUpgradeRequest,
  notFoundError,
  upgradeRequiredError,
} from '@wsroute/core/adapter';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  type CompiledWebSocketRoute,
  type FastifyWebSocketRoute,
  kWebSocketRoute,
  type RequestData,
  type WebSocketDataOptions,
} from './types.js';

/** Fastify's route handler, as the plugin wraps it. */
export type FastifyHandler = (
  this: FastifyInstance,
  request: FastifyRequest,
  reply: FastifyReply,
) => unknown;

/** Fastify's route-level error handler, as the plugin wraps it. */
export type FastifyErrorHandler = (
  this: FastifyInstance,
  error: FastifyError,
  request: FastifyRequest,
  reply: FastifyReply,
) => unknown;

/** The default data function: the connection keeps the Fastify request. */
function requestData(request: FastifyRequest): RequestData {
  return { request };
}

function compile(
  options: RouteOptions<unknown> & { readonly data?: unknown },
): CompiledWebSocketRoute {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError('the websocket option must be an object');
  }
  const data = options.data ?? requestData;
  if (typeof data !== 'function') throw new TypeError('websocket data must be a function');
  return { route: createRoute(options), data: data as (request: FastifyRequest) => unknown };
}

/**
 * Declares a websocket route with its own per-connection data, for the `websocket` route
 * option. The declaration is validated here, at once.
 * @example
 * ```ts
 * app.get('/rooms/:room', {
 *   onRequest: authenticate,
 *   websocket: defineWebSocketRoute({
 *     data: (request) => ({ user: request.user, room: request.params.room }),
 *     protocols: { chat: { onMessage(conn, msg) { conn.send(`${conn.data.user}: ${msg}`) } } },
 *   }),
 * }, upgradeRequired);
 * ```
 * @param options - protocols, handlers, limits, and `data`
 * @returns a declaration for the `websocket` route option
 * @throws TypeError for an invalid declaration (see core's route options)
 */
export function defineWebSocketRoute<TData, TRequest = FastifyRequest>(
  options: WebSocketDataOptions<TData, TRequest>,
): FastifyWebSocketRoute<TRequest> {
  if (typeof options?.data !== 'function') {
    throw new TypeError('defineWebSocketRoute needs a `data` function');
  }
  const compiled = compile(options as RouteOptions<unknown> & { readonly data: unknown });
  return Object.freeze({
    [kWebSocketRoute]: compiled as unknown as CompiledWebSocketRoute<TRequest>,
  });
}

/**
 * Compiles the `websocket` option of a route. Internal, called from `onRoute`.
 * @param option - what the route declared
 * @returns the compiled route and its data function
 * @throws TypeError for an invalid declaration
 */
export function compileWebSocketOption(option: unknown): CompiledWebSocketRoute {
  if (typeof option === 'object' && option !== null && kWebSocketRoute in option) {
    return (option as FastifyWebSocketRoute)[kWebSocketRoute];
  }
  return compile(option as RouteOptions<unknown>);
}

/**
 * Answers with a Boom through Fastify exactly as core answers on a raw socket (see
 * `describeRejection`): its status, its `output.headers` made safe and its payload message as
 * a plain-text body. Used for handshake rejections (`data.code` names the reason).
 * @param reply - the reply of the upgrade request
 * @param error - the Boom to answer with
 * @returns the reply
 */
export function sendBoom(reply: FastifyReply, error: Boom.Boom): FastifyReply {
  const { statusCode, headers, body } = describeRejection(error);
  return reply.code(statusCode).headers(headers).type('text/plain; charset=utf-8').send(body);
}

/** Apps already told that their websocket routes cannot work: one log line each. */
const warnedApps = new WeakSet<object>();

/**
 * The handler of a websocket-only route: a plain HTTP request gets 426 Upgrade Required with
 * `Upgrade: websocket` and `Sec-WebSocket-Version: 13` (RFC 6455 §4.2.2, RFC 9110 §15.5.22).
 * Upgrade requests never reach it on a route the plugin compiled. One that does reached a
 * route declared before the plugin was registered, or an app without the plugin: it is
 * refused with 500 (`WS_INTERNAL`) and the app's log says once how to fix it.
 * @param request - the request
 * @param reply - its reply
 * @returns the reply
 */
export function upgradeRequired(request: FastifyRequest, reply: FastifyReply): FastifyReply {
  // Registered, the plugin takes upgrades to routes it compiled; without it, Node hands them
  // to the router as ordinary requests.
  const isMissed = request.server.hasDecorator('websocket')
    ? exchangeOf(request.raw)?.isWebSocket === true
    : isUpgradeRequest(request.raw);
  if (!isMissed) return sendBoom(reply, upgradeRequiredError());
  if (!warnedApps.has(request.server)) {
    warnedApps.add(request.server);
    request.log.error(
      { url: request.url },
      'a websocket upgrade reached a route whose `websocket` option was never compiled: ' +
        'register @wsroute/fastify (await app.register(wsroute)) before declaring the route',
    );
  }
  // Without the plugin Node kept the connection as HTTP: the client cannot use it anyway.
  return sendBoom(reply.header('connection', 'close'), internalError());
}

/**
 * Lets Fastify's error handlers answer a Boom with its status and headers: Fastify reads
 * `statusCode` and `headers` on the error, Boom keeps them in `output`.
 */
function exposeBoomOutput(error: Boom.Boom): void {
  const target = error as Boom.Boom & { statusCode?: unknown; headers?: unknown };
  const { statusCode, headers } = describeRejection(error);
  target.statusCode ??= statusCode;
  target.headers ??= headers;
}

/**
 * Wraps a websocket route's error handler so that a Boom thrown by a hook (or by `data`) is
 * answered with its own status and headers; other errors take Fastify's usual path.
 * @param own - the route's own `errorHandler`, if it declared one
 * @returns the route-level error handler
 */
export function createErrorHandler(own: FastifyErrorHandler | undefined): FastifyErrorHandler {
  return function onWebSocketRouteError(error, request, reply) {
    if (Boom.isBoom(error)) exposeBoomOutput(error);
    if (own) return own.call(request.server, error, request, reply);
    // Rethrown, the error reaches the scope's error handler (setErrorHandler, or Fastify's).
    throw error;
  };
}

/**
 * Builds the handler of a websocket route: upgrade requests complete through core, plain
 * requests go to the route's HTTP handler.
 * @param compiled - the compiled `websocket` option
 * @param http - the route's own handler
 * @returns the route handler
 */
export function createWebSocketHandler(
  compiled: CompiledWebSocketRoute,
  http: FastifyHandler,
): FastifyHandler {
  return async function onWebSocketRoute(request, reply) {
    const exchange = exchangeOf(request.raw);
    if (!exchange?.isWebSocket) return http.call(this, request, reply);
    const outcome = await exchange.complete(compiled.route, () => compiled.data(request));
    if (outcome.status === 'refused') return sendBoom(reply, outcome.error);
    // The socket is the connection's now (or gone): Fastify writes nothing more.
    reply.hijack();
    return undefined;
  };
}

/**
 * Builds the handler of a route without the `websocket` option: a websocket upgrade that
 * reaches it is answered 404 (`WS_NOT_FOUND`, as for a path without any route: a 2xx without
 * 101 tells a websocket client nothing); every other request goes to the route's handler.
 * @param http - the route's own handler
 * @returns the route handler
 */
export function createPlainHandler(http: FastifyHandler): FastifyHandler {
  return function onPlainRoute(request, reply) {
    if (!exchangeOf(request.raw)?.isWebSocket) return http.call(this, request, reply);
    return sendBoom(reply, notFoundError());
  };
}
