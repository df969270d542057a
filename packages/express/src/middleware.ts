/**
 * The Express 5 middleware: `ws.route()` declares a websocket route like any other route, after
 * whatever middleware it needs; `ws.attach(server)` runs the app for every upgrade request
 * against a response bound to the socket, so that middleware answers with plain HTTP before
 * the 101 and the route completes the handshake through core.
 * @module
 */
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import {
  type AnyConnection,
  accept,
  ConnectionRegistry,
  checkHeaderLimits,
  createRoute,
  DEFAULT_LIMITS,
  guardUpgradeSocket,
  negotiate,
  reject,
  type ShutdownOptions,
  shuttingDownError,
  upgradeRequiredError,
  type WebSocketRoute,
} from '@wsroute/core';
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
import { UpgradeContext } from './upgrade-context.js';

const DEFAULT_SHUTDOWN_TIMEOUT = 5_000;

function checkPositive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || Number.isNaN(value) || value <= 0) {
    throw new TypeError(`${name} must be a positive number`);
  }
  return value;
}

/** The request listener `app.listen()` (or `http.createServer(app)`) installed. */
function findRequestListener(server: Server): UpgradeRequestListener {
  const listeners = server.listeners('request');
  const [listener] = listeners;
  if (listeners.length !== 1 || typeof listener !== 'function') {
    throw new TypeError(
      `the server has ${listeners.length} 'request' listeners: pass the Express app to attach(server, app)`,
    );
  }
  return listener as UpgradeRequestListener;
}

/** What a websocket route needs at request time. */
interface CompiledRoute<TData> {
  readonly route: WebSocketRoute<TData>;
  readonly data: DataFunction<TData, IncomingMessage> | undefined;
}

/**
 * WebSocket routes for one Express application (or several): makes route middleware, listens
 * to the servers' upgrades and tracks the open connections for graceful shutdown. Made by
 * {@link wsroute}.
 */
export class ExpressWebSocket {
  readonly #registry = new ConnectionRegistry();
  readonly #servers = new WeakSet<Server>();
  readonly #handshakeTimeout: number;
  readonly #headerLimits: { readonly maxHeaderCount: number; readonly maxHeaderBytes: number };
  readonly #shutdownTimeout: number;

  /**
   * @param options - handshake limits and the shutdown deadline
   * @throws TypeError for a limit that is not a positive number
   */
  constructor(options: ExpressWebSocketOptions = {}) {
    this.#handshakeTimeout = checkPositive(
      'handshakeTimeout',
      options.handshakeTimeout,
      DEFAULT_LIMITS.handshakeTimeout,
    );
    this.#headerLimits = {
      maxHeaderCount: checkPositive(
        'maxHeaderCount',
        options.maxHeaderCount,
        DEFAULT_LIMITS.maxHeaderCount,
      ),
      maxHeaderBytes: checkPositive(
        'maxHeaderBytes',
        options.maxHeaderBytes,
        DEFAULT_LIMITS.maxHeaderBytes,
      ),
    };
    this.#shutdownTimeout = checkPositive(
      'shutdownTimeout',
      options.shutdownTimeout,
      DEFAULT_SHUTDOWN_TIMEOUT,
    );
  }

  /** The open connections of every route made by this instance. */
  get connections(): ReadonlySet<AnyConnection> {
    return this.#registry.connections;
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
   * @throws TypeError for an invalid declaration (protocol names, missing handlers, limits,
   *   `data` or `httpFallback` of the wrong type), at registration
   */
  route<TData = undefined, TRequest extends IncomingMessage = WebSocketRequest>(
    options: ExpressRouteOptions<TData, TRequest>,
  ): WebSocketRouteHandler {
    if (options.data !== undefined && typeof options.data !== 'function') {
      throw new TypeError('data must be a function');
    }
    if (options.httpFallback !== undefined && typeof options.httpFallback !== 'boolean') {
      throw new TypeError('httpFallback must be a boolean');
    }
    const compiled: CompiledRoute<TData> = {
      route: createRoute(options),
      // `TRequest` is the caller's claim about what earlier middleware attached (see its doc).
      data: options.data as CompiledRoute<TData>['data'],
    };
    const isFallthrough = options.httpFallback === true;
    return (req, res, next) => {
      const context = UpgradeContext.of(req);
      if (!context) {
        if (isFallthrough) {
          next();
          return;
        }
        // RFC 9110 §7.8: whoever sends `Upgrade` lists `upgrade` in `Connection`.
        res.setHeader('Connection', 'Upgrade');
        sendBoom(res, upgradeRequiredError());
        return;
      }
      this.#upgrade(context, compiled, req, res as WebSocketResponse, next).catch(next);
    };
  }

  async #upgrade<TData>(
    context: UpgradeContext,
    compiled: CompiledRoute<TData>,
    req: IncomingMessage,
    res: WebSocketResponse,
    next: NextCallback,
  ): Promise<void> {
    if (!context.isUpgradable) return;
    if (this.#registry.isShuttingDown) {
      sendBoom(res, shuttingDownError());
      return;
    }
    const handshake = await negotiate(req, compiled.route);
    if ('isBoom' in handshake) {
      if (context.isUpgradable) sendBoom(res, handshake);
      return;
    }
    let data: TData;
    try {
      data = compiled.data ? await compiled.data(req, res) : (undefined as TData);
    } catch (error) {
      if (context.isUpgradable) next(error);
      return;
    }
    if (this.#registry.isShuttingDown && context.isUpgradable) {
      sendBoom(res, shuttingDownError());
      return;
    }
    if (!context.takeOver()) return;
    try {
      accept(context.socket, context.head, handshake, data, { registry: this.#registry });
    } catch {
      // Only an invalid header value can make accept() throw; the socket is ours alone now.
      context.socket.destroy();
    }
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
    if (this.#servers.has(server)) throw new TypeError('this server is attached already');
    const listener = app ?? findRequestListener(server);
    if (typeof listener !== 'function') throw new TypeError('app must be a request handler');
    this.#servers.add(server);
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      this.handleUpgrade(listener, req, socket, head);
    });
    // `'close'` fires only once every socket has ended, websockets included, so shutdown has to
    // start when `close()` is called: wrap this server's own `close`, not the prototype.
    const target: Server = server;
    const close = target.close;
    const shutdownTimeout = this.#shutdownTimeout;
    const closeConnections = (options: ShutdownOptions): Promise<void> => this.close(options);
    target.close = function closeWithConnections(this: Server, callback?: (error?: Error) => void) {
      void closeConnections({ timeout: shutdownTimeout });
      return close.call(this, callback);
    };
    return server;
  }

  /**
   * Handles one upgrade request, for servers whose `'upgrade'` event you route yourself:
   * guards the socket, checks header limits, then runs `app` with a response bound to the
   * socket. Requests that another `ExpressWebSocket` already handles are ignored.
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
    if (UpgradeContext.of(req)) return;
    const release = guardUpgradeSocket(socket, this.#handshakeTimeout);
    const refusal =
      checkHeaderLimits(req.rawHeaders, this.#headerLimits) ??
      (this.#registry.isShuttingDown ? shuttingDownError() : undefined);
    if (refusal) {
      release();
      reject(socket, refusal);
      return;
    }
    const context = UpgradeContext.begin(req, socket, head, release);
    const { response } = context;
    // Express calls this instead of its own final handler: a 404 or an error nobody answered.
    const finish: NextCallback = (error) => {
      if (context.isTaken) return;
      if (!context.isUpgradable) {
        // Like Express's own final handler: a response that started cannot carry the error.
        if (response.headersSent && !response.writableEnded) socket.destroy();
        return;
      }
      sendBoom(response, toBoom(error));
    };
    try {
      app(req, response, finish);
    } catch (error) {
      finish(error);
    }
  }

  /**
   * Closes every connection with 1001 (or `options.code`) and refuses new handshakes with 503
   * (`WS_SHUTTING_DOWN`).
   * @param options - code, reason, and the deadline after which sockets are destroyed
   * @returns resolves once every connection is closed
   */
  close(options?: ShutdownOptions): Promise<void> {
    return this.#registry.shutdown(options);
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
 * @param options - handshake limits and the shutdown deadline
 * @returns the middleware factory, attachment and shutdown
 * @throws TypeError for an invalid option
 */
export function wsroute(options?: ExpressWebSocketOptions): ExpressWebSocket {
  return new ExpressWebSocket(options);
}
