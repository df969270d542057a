/**
 * WebSockets on a plain `node:http` (or `node:https`) server: routes by path on the server's
 * `'upgrade'` event, 404 before any 101 for an unknown path, 426 for a plain GET to a
 * websocket route, graceful shutdown with 1001. The first user of the upgrade lifecycle.
 * @module
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { EntryOptions } from './entry-options.js';
import { type HandshakeError, notFoundError, upgradeRequiredError } from './errors.js';
import { describeRejection } from './http-reject.js';
import { WebSocketHub } from './hub.js';
import type { RouteOptions, WebSocketRoute } from './route.js';
import { pathOf } from './upgrade-exchange.js';
import { UpgradeLifecycle } from './upgrade-lifecycle.js';

/** What the `upgrade` hook receives besides the request. */
export interface NodeUpgradeContext {
  /**
   * The credential offered in `Sec-WebSocket-Protocol` on a route with `tokenCarrier`,
   * decoded; undefined when none. Throw `Boom.unauthorized()` for a bad one.
   */
  readonly token: string | undefined;
}

/**
 * A route of the node attachment: a core route plus an optional `upgrade` hook.
 * @typeParam TData - what `upgrade` returns, attached to each connection as `data`
 */
export interface NodeRouteOptions<TData> extends RouteOptions<TData> {
  /**
   * Runs before the 101, once the handshake was negotiated; returns the connection's data.
   * Throw (or reject with) a Boom to refuse the handshake with that status, e.g.
   * `Boom.unauthorized()`; any other error gives a generic 500.
   */
  readonly upgrade?: (
    request: IncomingMessage,
    context: NodeUpgradeContext,
  ) => TData | Promise<TData>;
}

/** Options of {@link WebSocketServer}: those of every entry point. */
export interface WebSocketServerOptions extends EntryOptions {}

interface NodeRoute {
  readonly route: WebSocketRoute<unknown>;
  readonly upgrade: NodeRouteOptions<unknown>['upgrade'];
}

/** Answers a plain HTTP request with a rejection, as `reject()` would on a raw socket. */
function answer(response: ServerResponse, error: HandshakeError): void {
  const { statusCode, headers, body } = describeRejection(error);
  response.writeHead(statusCode, {
    ...headers,
    connection: 'close',
    'content-type': 'text/plain; charset=utf-8',
  });
  response.end(body);
}

/**
 * Routes WebSocket upgrades of a `node:http` server by path.
 * @example
 * ```ts
 * const wss = new WebSocketServer().route('/echo', {
 *   defaultProtocol: { onMessage: (conn, message) => conn.send(message) },
 * });
 * wss.attach(http.createServer()).listen(8080);
 * ```
 */
export class WebSocketServer extends WebSocketHub {
  readonly #lifecycle: UpgradeLifecycle;
  readonly #routes = new Map<string, NodeRoute>();

  /**
   * @param options - handshake limits, shutdown deadline, error listener
   * @throws TypeError for an invalid option
   */
  constructor(options?: WebSocketServerOptions) {
    const lifecycle = new UpgradeLifecycle(options, { name: '@wsroute/core' });
    super(lifecycle);
    this.#lifecycle = lifecycle;
  }

  /**
   * Declares a websocket route.
   * @param path - exact path (query ignored), or `'*'` for every path without its own route
   * @param options - protocols, handlers, limits, and the `upgrade` hook
   * @returns this server, for chaining
   * @throws TypeError for an invalid declaration or a path declared twice
   */
  route<TData = undefined>(path: string, options: NodeRouteOptions<TData>): this {
    if (this.#routes.has(path)) throw new TypeError(`a websocket route for ${path} exists already`);
    if (path !== '*' && !path.startsWith('/')) throw new TypeError('a route path starts with /');
    const upgrade: unknown = options.upgrade;
    if (upgrade !== undefined && typeof upgrade !== 'function') {
      throw new TypeError('upgrade must be a function');
    }
    const route = this.#lifecycle.compileRoute(options) as WebSocketRoute<unknown>;
    this.#routes.set(path, { route, upgrade: options.upgrade });
    return this;
  }

  /**
   * Listens to the server's `'upgrade'` event. When the server has no `'request'` listener,
   * also answers plain HTTP requests: 426 on a websocket route, 404 elsewhere. The server's
   * `close()` then also closes every websocket with 1001, as {@link WebSocketHub.close}.
   * @param server - a `node:http` or `node:https` server
   * @returns the server, for chaining (e.g. `.listen()`)
   * @throws TypeError when the server is attached already
   */
  attach<TServer extends Server>(server: TServer): TServer {
    const hasRequestListener = server.listenerCount('request') > 0;
    this.#lifecycle.attach(server, (request, socket, head) => {
      this.handleUpgrade(request, socket, head);
    });
    if (!hasRequestListener) {
      server.on('request', (request: IncomingMessage, response: ServerResponse) => {
        if (!this.handleRequest(request, response)) answer(response, notFoundError());
      });
    }
    return server;
  }

  /**
   * Answers a non-upgrade request to a websocket route with 426 Upgrade Required.
   * @param request - the request
   * @param response - its response
   * @returns true when it answered, false when the path is not a websocket route
   */
  handleRequest(request: IncomingMessage, response: ServerResponse): boolean {
    if (!this.#find(request)) return false;
    answer(response, upgradeRequiredError());
    return true;
  }

  /**
   * Handles one upgrade request: admission, routing, negotiation, the `upgrade` hook, then the
   * 101 or a plain HTTP refusal. `attach()` calls it; call it yourself when you route the
   * server's `'upgrade'` event.
   * @param request - the upgrade request
   * @param socket - its raw socket
   * @param head - bytes that arrived after the request headers
   */
  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    const exchange = this.#lifecycle.begin(request, socket, head, 'early');
    if (!exchange) return;
    const entry = this.#find(request);
    if (!entry) {
      exchange.reject(notFoundError());
      return;
    }
    const hook = entry.upgrade;
    exchange
      .complete(entry.route, () => hook?.(request, { token: exchange.token }))
      .then(
        (outcome) => {
          if (outcome.status === 'refused') exchange.reject(outcome.error);
        },
        (error: unknown) => exchange.reject(error),
      );
  }

  #find(request: IncomingMessage): NodeRoute | undefined {
    return this.#routes.get(pathOf(request.url)) ?? this.#routes.get('*');
  }
}
