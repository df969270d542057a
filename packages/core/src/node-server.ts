/**
 * WebSockets on a plain `node:http` (or `node:https`) server: routes by path on the server's
 * `'upgrade'` event, 404 before any 101 for an unknown path, 426 for a plain GET to a
 * websocket route, graceful shutdown with 1001.
 * @module
 */

import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import Boom from '@hapi/boom';
import type { Connection } from './connection.js';
import { DEFAULT_LIMITS } from './constants.js';
import {
  type HandshakeError,
  internalError,
  notFoundError,
  shuttingDownError,
  upgradeRequiredError,
} from './errors.js';
import { checkHeaderLimits } from './handshake.js';
import { describeRejection, reject } from './http-reject.js';
import { type AnyConnection, ConnectionRegistry, type ShutdownOptions } from './registry.js';
import { createRoute, negotiate, type RouteOptions, type WebSocketRoute } from './route.js';
import { accept, guardUpgradeSocket } from './upgrade.js';

/**
 * A route of the node attachment: a core route plus an optional `upgrade` hook.
 * @typeParam TData - what `upgrade` returns, attached to each connection as `data`
 */
export interface NodeRouteOptions<TData> extends RouteOptions<TData> {
  /**
   * Runs before the 101 with the request; returns the connection's data. Throw (or reject
   * with) a Boom to refuse the handshake with that status, e.g. `Boom.unauthorized()`.
   */
  readonly upgrade?: (request: IncomingMessage) => TData | Promise<TData>;
}

/** Options of {@link WebSocketServer}. */
export interface WebSocketServerOptions {
  /** Time from the `'upgrade'` event to the 101, in ms; slower handshakes get 408. @default 10000 */
  readonly handshakeTimeout?: number;
  /** Most request header lines on an upgrade; more get 431. @default 100 */
  readonly maxHeaderCount?: number;
  /** Most bytes of request headers on an upgrade; more get 431. @default 16384 */
  readonly maxHeaderBytes?: number;
}

interface NodeRoute {
  readonly route: WebSocketRoute<unknown>;
  readonly upgrade: ((request: IncomingMessage) => unknown) | undefined;
}

/** The path part of a request target, without query or fragment. */
function pathOf(url: string | undefined): string {
  if (!url) return '/';
  const end = url.search(/[?#]/);
  return end === -1 ? url : url.slice(0, end);
}

function toBoom(error: unknown): Boom.Boom {
  if (Boom.isBoom(error)) return error;
  return internalError();
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
 *   defaultProtocol: { onMessage(conn, message) { conn.send(message) } },
 * });
 * wss.attach(http.createServer()).listen(8080);
 * ```
 */
export class WebSocketServer {
  readonly #routes = new Map<string, NodeRoute>();
  readonly #registry = new ConnectionRegistry();
  readonly #handshakeTimeout: number;
  readonly #headerLimits: { maxHeaderCount: number; maxHeaderBytes: number };

  /**
   * @param options - handshake limits
   */
  constructor(options: WebSocketServerOptions = {}) {
    this.#handshakeTimeout = options.handshakeTimeout ?? DEFAULT_LIMITS.handshakeTimeout;
    this.#headerLimits = {
      maxHeaderCount: options.maxHeaderCount ?? DEFAULT_LIMITS.maxHeaderCount,
      maxHeaderBytes: options.maxHeaderBytes ?? DEFAULT_LIMITS.maxHeaderBytes,
    };
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
    const route = createRoute(options) as WebSocketRoute<unknown>;
    this.#routes.set(path, { route, upgrade: options.upgrade });
    return this;
  }

  /** The open connections. */
  get connections(): ReadonlySet<Connection<unknown, never, unknown>> {
    return this.#registry.connections;
  }

  /**
   * Listens to the server's `'upgrade'` event. When the server has no `'request'` listener,
   * also answers plain HTTP requests: 426 on a websocket route, 404 elsewhere. The server's
   * `close()` then also closes every websocket with 1001, as {@link WebSocketServer.close}.
   * @param server - a `node:http` or `node:https` server
   * @returns the server, for chaining (e.g. `.listen()`)
   */
  attach<TServer extends Server>(server: TServer): TServer {
    server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
      this.handleUpgrade(request, socket, head);
    });
    if (server.listenerCount('request') === 0) {
      server.on('request', (request: IncomingMessage, response: ServerResponse) => {
        if (!this.handleRequest(request, response)) answer(response, notFoundError());
      });
    }
    // 'close' fires only after every socket has ended, websockets included, so waiting for it
    // would never start the shutdown: the instance's close() starts it (1001 to every client).
    const closeServer = server.close;
    const shutdown = (): Promise<void> => this.close();
    Object.defineProperty(server, 'close', {
      configurable: true,
      writable: true,
      value(this: TServer, callback?: (error?: Error) => void): TServer {
        void shutdown();
        return closeServer.call(this, callback);
      },
    });
    return server;
  }

  #find(request: IncomingMessage): NodeRoute | undefined {
    return this.#routes.get(pathOf(request.url)) ?? this.#routes.get('*');
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
   * Handles one upgrade request: routes it, runs `upgrade`, negotiates, then accepts or rejects.
   * @param request - the upgrade request
   * @param socket - its raw socket
   * @param head - bytes that arrived after the request headers
   */
  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    const release = guardUpgradeSocket(socket, this.#handshakeTimeout);
    this.#upgrade(request, socket, head).then(
      (error) => {
        release();
        if (error) reject(socket, error);
      },
      (error: unknown) => {
        release();
        reject(socket, toBoom(error));
      },
    );
  }

  async #upgrade(
    request: IncomingMessage,
    socket: Duplex,
    head: Buffer,
  ): Promise<HandshakeError | undefined> {
    const limitError = checkHeaderLimits(request.rawHeaders, this.#headerLimits);
    if (limitError) return limitError;
    if (this.#registry.isShuttingDown) {
      return shuttingDownError();
    }
    const entry = this.#find(request);
    if (!entry) return notFoundError();
    const handshake = await negotiate(request, entry.route);
    if ('isBoom' in handshake) return handshake;
    const data = entry.upgrade ? await entry.upgrade(request) : undefined;
    if (socket.destroyed) return undefined;
    // Shutdown may have begun while the hooks ran: it would never close this connection.
    if (this.#registry.isShuttingDown) {
      return shuttingDownError();
    }
    accept(socket, head, handshake, data, { registry: this.#registry });
    return undefined;
  }

  /**
   * Closes every connection with 1001 (or `options.code`) and refuses new handshakes with 503.
   * @param options - code, reason and the deadline after which sockets are destroyed
   * @returns resolves once every connection is closed
   */
  close(options?: ShutdownOptions): Promise<void> {
    return this.#registry.shutdown(options);
  }
}

export type { AnyConnection };
