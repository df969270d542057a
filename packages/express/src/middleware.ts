/**
 * The Express 5 middleware: `ws.route()` declares a websocket route like any other route, after
 * whatever middleware it needs; `ws.attach(server)` runs the app for every upgrade request
 * against a response bound to the socket, so that middleware answers with plain HTTP before
 * the 101 and the route completes the handshake through core.
 * @module
 */
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketHub } from '@wsroute/core';
import {
  exchangeOf,
  requestListenersOf,
  UpgradeLifecycle,
  type UpgradeOutcome,
  upgradeRequiredError,
  type WebSocketRoute,
} from '@wsroute/core/adapter';
import { sendBoom, toBoom } from './respond.js';
import type {
  DataFunction,
  ExpressRouteOptions,
  ExpressWebSocketOptions,
  NextCallback,
  UpgradeRequestListener,
  WebSocketRequest,
  WebSocketResponse,
  WebSocketRouteHandler,
} from './types.js';

/** The request listener `app.listen()` (or `http.createServer(app)`) installed. */
function findRequestListener(server: Server): UpgradeRequestListener {
  const listeners = requestListenersOf(server);
  const [listener] = listeners;
  if (listeners.length !== 1 || typeof listener !== 'function') {
    throw new TypeError(
      `@wsroute/express: the server has ${listeners.length} 'request' listeners: pass the Express app to attach(server, app)`,
    );
  }
  return listener as UpgradeRequestListener;
}

/**
 * WebSocket routes for one Express application (or several): makes route middleware, runs the
 * app for the servers' upgrades and holds the open connections. Made by {@link wsroute}.
 */
export class ExpressWebSocket extends WebSocketHub {
  readonly #lifecycle: UpgradeLifecycle;

  /**
   * @param options - handshake limits, shutdown deadline, error listener
   * @throws TypeError for an invalid option
   */
  constructor(options?: ExpressWebSocketOptions) {
    const lifecycle = new UpgradeLifecycle(options, { name: '@wsroute/express' });
    super(lifecycle);
    this.#lifecycle = lifecycle;
  }

  /**
   * Declares a websocket route: returns the middleware to place last in an `app.get()`,
   * `router.get()` or `app.use()` chain. The middleware before it runs first, as for any
   * request; this one negotiates the handshake, builds the connection's data and answers 101.
   * Handshake failures are answered with their Boom's status (400, 403, 426, …); a request
   * without an upgrade gets 426, or `next()` with `httpFallback`.
   * @example
   * ```ts
   * app.get('/chat', requireUser, ws.route({
   *   data: (req) => ({ user: req.user }),
   *   defaultProtocol: { onMessage(conn, message) { conn.send(message) } },
   * }));
   * ```
   * @param options - protocols, handlers, limits, `data` and `httpFallback`
   * @returns the route's middleware
   * @throws TypeError for an invalid declaration, at registration
   */
  route<TData = undefined, TRequest extends IncomingMessage = WebSocketRequest>(
    options: ExpressRouteOptions<TData, TRequest>,
  ): WebSocketRouteHandler {
    if (options.data !== undefined && typeof options.data !== 'function') {
      throw new TypeError('@wsroute/express: data must be a function');
    }
    if (options.httpFallback !== undefined && typeof options.httpFallback !== 'boolean') {
      throw new TypeError('@wsroute/express: httpFallback must be a boolean');
    }
    const route: WebSocketRoute<TData> = this.#lifecycle.compileRoute(options);
    // `TRequest` is the caller's claim about what earlier middleware attached (see its doc).
    const data = options.data as DataFunction<TData, IncomingMessage> | undefined;
    const isFallthrough = options.httpFallback === true;
    return (req, res, next) => {
      const exchange = exchangeOf(req);
      if (!exchange) {
        if (isFallthrough) {
          next();
          return;
        }
        // RFC 9110 §7.8: whoever sends `Upgrade` lists `upgrade` in `Connection`.
        res.setHeader('Connection', 'Upgrade');
        sendBoom(res, upgradeRequiredError());
        return;
      }
      const resolveData = () => data?.(req, res as WebSocketResponse) as TData;
      exchange.complete(route, resolveData).then(
        (outcome: UpgradeOutcome) => {
          if (outcome.status === 'refused' && exchange.isUpgradable) sendBoom(res, outcome.error);
        },
        (error: unknown) => {
          if (exchange.isUpgradable) next(error);
        },
      );
    };
  }

  /**
   * Runs the app for every upgrade request of a server. Call it once per server, before or
   * right after `listen()` (Express's `app.listen()` returns the server synchronously). The
   * server's `close()` then also closes every connection with 1001 (see `shutdownTimeout`).
   * @example
   * ```ts
   * const server = ws.attach(app.listen(3000));
   * ```
   * @param server - a `node:http` or `node:https` server
   * @param app - the Express app; by default the server's only `'request'` listener, which is
   *   the app when the server comes from `app.listen()` or `http.createServer(app)`
   * @returns the server, for chaining
   * @throws TypeError when the server is already attached, or `app` is omitted and the server
   *   does not have exactly one `'request'` listener
   */
  attach<TServer extends Server>(server: TServer, app?: UpgradeRequestListener): TServer {
    const listener = app ?? findRequestListener(server);
    if (typeof listener !== 'function') {
      throw new TypeError('@wsroute/express: app must be a request handler');
    }
    this.#lifecycle.attach(server, (req, socket, head) => {
      this.handleUpgrade(listener, req, socket, head);
    });
    return server;
  }

  /**
   * Handles one upgrade request, for servers whose `'upgrade'` event you route yourself:
   * admission, then `app` runs with a response bound to the socket. Requests that another
   * entry point already handles are ignored.
   * @param app - the Express app
   * @param req - the upgrade request
   * @param socket - its raw socket
   * @param head - bytes that arrived after the request headers
   */
  handleUpgrade(
    app: UpgradeRequestListener,
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
  ): void {
    const exchange = this.#lifecycle.begin(req, socket, head, 'early');
    if (!exchange) return;
    if (exchange.token !== undefined) {
      // Own and non-enumerable: Express swaps the prototype of `req`, loggers skip it.
      Object.defineProperty(req, 'websocketToken', { value: exchange.token, configurable: true });
    }
    const { response } = exchange;
    // Express calls this instead of its own final handler: a 404 or an error nobody answered.
    const finish: NextCallback = (error) => {
      if (exchange.isUpgradable) sendBoom(response, toBoom(error));
      else exchange.reject(toBoom(error));
    };
    try {
      app(req, response, finish);
    } catch (error) {
      finish(error);
    }
  }
}

/**
 * Creates the websocket middleware of an Express app.
 * @example
 * ```ts
 * const ws = wsroute();
 * app.get('/echo', ws.route({ defaultProtocol: { onMessage: (c, m) => c.send(m) } }));
 * ws.attach(app.listen(3000));
 * ```
 * @param options - handshake limits, shutdown deadline, error listener
 * @returns the middleware factory, attachment and shutdown
 * @throws TypeError for an invalid option
 */
export function wsroute(options?: ExpressWebSocketOptions): ExpressWebSocket {
  return new ExpressWebSocket(options);
}
