/**
 * Public types of the Express adapter: the options of the middleware and of its routes, and the
 * request and handler shapes it exchanges with Express.
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { EntryOptions, RouteOptions } from '@wsroute/core';
import type { Request, Response } from 'express';

/**
 * The Express request a websocket route's `data` function receives by default: params, query,
 * cookies and whatever earlier middleware attached (declare those on `Express.Request`, or pass
 * your own request type to `ws.route<TData, TRequest>()`). Bodies are typed `unknown`: an
 * upgrade request has none.
 */
export type WebSocketRequest = Request<
  Request['params'],
  unknown,
  unknown,
  Request['query'],
  Record<string, unknown>
>;

declare global {
  namespace Express {
    interface Request {
      /**
       * On a websocket upgrade: the credential the client offered in `Sec-WebSocket-Protocol`
       * (`base64url.bearer.…`), decoded, for your auth middleware to check (answer 401 when it
       * is bad); absent otherwise. Taken to routes with `tokenCarrier: true` only (others answer
       * 400). A non-enumerable own property, so that request loggers skip it; never log it.
       */
      readonly websocketToken?: string;
    }
  }
}

/** The Express response bound to the upgrade socket, as `data` receives it (e.g. for `res.locals`). */
export type WebSocketResponse = Response<unknown, Record<string, unknown>>;

/** Express's `next`, reduced to what the adapter calls. */
export type NextCallback = (error?: unknown) => void;

/**
 * The middleware `ws.route()` returns. Its parameters are the Node types that Express's request
 * and response extend, so it fits `app.get()`, `router.get()`, `app.use()` and `router.all()`.
 */
export type WebSocketRouteHandler = (
  req: IncomingMessage,
  res: ServerResponse,
  next: NextCallback,
) => void;

/**
 * What `ws.attach()` runs for every upgrade request: an Express application (or any handler
 * with Express's `(req, res, next)` signature). `next` is called when no route answered
 * (404) or with an error nobody handled.
 */
export type UpgradeRequestListener = (
  req: IncomingMessage,
  res: ServerResponse,
  next: NextCallback,
) => unknown;

/**
 * Options of {@link wsroute}: those of every entry point (`handshakeTimeout`,
 * `maxHeaderCount`, `maxHeaderBytes`, `shutdownTimeout`, `onError`, and admission: `origins`,
 * `trustProxy`, limits, `tokenPrefix`; see `@wsroute/core`).
 */
export interface ExpressWebSocketOptions extends EntryOptions {}

/** How a route builds each connection's data from the request. */
export type DataFunction<TData, TRequest extends IncomingMessage = WebSocketRequest> = (
  req: TRequest,
  res: WebSocketResponse,
) => TData | Promise<TData>;

/**
 * The fields of {@link ExpressRouteOptions}, with `data` optional whatever `TData` is.
 * @typeParam TData - per-connection data, typed in every handler as `connection.data`
 * @typeParam TRequest - the request type `data` receives
 */
export interface ExpressRouteBaseOptions<TData, TRequest extends IncomingMessage = WebSocketRequest>
  extends RouteOptions<TData> {
  /**
   * Builds the connection's data after the middleware ran and the handshake was negotiated,
   * before the 101. Throw (or reject with) a Boom, or call nothing and answer with `res`, to
   * refuse the upgrade with a plain HTTP response. Required when `TData` is not `undefined`.
   * @default undefined (the connection's data is `undefined`)
   */
  readonly data?: DataFunction<TData, TRequest>;
  /**
   * What a request without an upgrade gets on this route: `false` answers 426 Upgrade Required
   * (`Upgrade: websocket`); `true` calls `next()` so an HTTP handler declared after the route can
   * answer (e.g. a page on the same path).
   * @default false
   */
  readonly httpFallback?: boolean;
}

/**
 * A websocket route on Express: the core route declaration (protocols, handlers, limits) plus
 * how to build each connection's data from the request. `data` may be left out only when
 * `TData` admits `undefined`. (A conditional type rather than overloads of `ws.route()`:
 * TypeScript fixes the contextual types of inline handlers on the first overload it tries.)
 * @typeParam TData - per-connection data, typed in every handler as `connection.data`
 * @typeParam TRequest - the request type `data` receives; a claim about what the middleware
 *   before the route attached (e.g. `req.user`), not checked at run time
 */
export type ExpressRouteOptions<
  TData,
  TRequest extends IncomingMessage = WebSocketRequest,
> = ExpressRouteBaseOptions<TData, TRequest> &
  (undefined extends TData ? unknown : { readonly data: DataFunction<TData, TRequest> });
