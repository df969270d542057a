/**
 * The Koa 3 attachment: a middleware that exposes a lazy upgrade on `ctx.ws`, route
 * middleware that completes it (`@koa/router` friendly), the server's `'upgrade'` listener
 * that runs Koa's whole pipeline before any 101, and graceful shutdown.
 *
 * ```
 *  'upgrade' ─► header limits ─► app.callback()(req, response bound later)
 *                                  │ ws.middleware()  ctx.ws = lazy upgrade, Boom → Koa error
 *                                  │ auth, routers…    may throw: plain HTTP answer
 *                                  │ ws.route(opts)   negotiate → data(ctx) → 101
 *                                  ▼
 *               accepted? nothing more : bind response to socket, write Koa's answer, end
 * ```
 * @module
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import Boom from '@hapi/boom';
import {
  type AnyConnection,
  ConnectionRegistry,
  checkHeaderLimits,
  createRoute,
  DEFAULT_LIMITS,
  guardUpgradeSocket,
  type HandshakeError,
  internalError,
  notFoundError,
  type RouteOptions,
  reject,
  type ShutdownOptions,
  shuttingDownError,
} from '@wsroute/core';
import type { DefaultContext, DefaultState, Middleware, ParameterizedContext } from 'koa';
import { toKoaError, upgradeRequired } from './koa-error.js';
import { createUpgradeResponse, sendOnSocket } from './socket-response.js';
import { type PendingUpgrade, WebSocketUpgrade } from './websocket-upgrade.js';

declare module 'koa' {
  interface ExtendableContext {
    /**
     * The lazy websocket upgrade, set by `ws.middleware()` on requests that arrived through
     * the server's `'upgrade'` event; absent on plain HTTP requests.
     */
    ws?: WebSocketUpgrade;
  }
}

/**
 * Returns a connection's data from the Koa context, e.g. `(ctx) => ({ user: ctx.state.user })`.
 * Runs after the handshake was negotiated, before the 101; throwing (a Boom, `ctx.throw(403)`)
 * refuses the upgrade with that plain HTTP answer.
 */
export type DataResolver<TData, StateT = DefaultState, ContextT = DefaultContext> = (
  ctx: ParameterizedContext<StateT, ContextT>,
) => TData | Promise<TData>;

/**
 * `data` is optional when the connection data may be undefined, required otherwise.
 * @typeParam TData - the per-connection data
 */
export type KoaDataOption<
  TData,
  StateT = DefaultState,
  ContextT = DefaultContext,
> = undefined extends TData
  ? { readonly data?: DataResolver<TData, StateT, ContextT> }
  : { readonly data: DataResolver<TData, StateT, ContextT> };

/**
 * A websocket route in Koa: the core route declaration (protocols, limits, origins…) plus
 * `data`, which turns the Koa context into the connection's data.
 * @typeParam TData - the per-connection data, typed in every handler as `connection.data`
 */
export type KoaRouteOptions<
  TData = undefined,
  StateT = DefaultState,
  ContextT = DefaultContext,
> = RouteOptions<TData> & KoaDataOption<TData, StateT, ContextT>;

/** Options of {@link wsroute}. */
export interface KoaWebSocketOptions {
  /**
   * Time from the `'upgrade'` event to the 101 (the whole Koa pipeline included), in ms;
   * slower handshakes are answered 408. @default 10000
   */
  readonly handshakeTimeout?: number;
  /** Most request header lines on an upgrade; more are answered 431. @default 100 */
  readonly maxHeaderCount?: number;
  /** Most bytes of request headers on an upgrade; more are answered 431. @default 16384 */
  readonly maxHeaderBytes?: number;
}

/** Anything with Koa's `callback()`: a Koa application. */
export interface KoaApplicationLike {
  callback(): (request: IncomingMessage, response: ServerResponse) => Promise<void>;
}

/** The state of one upgrade request while Koa runs. */
interface PendingEntry {
  readonly pending: PendingUpgrade;
  upgrade: WebSocketUpgrade | undefined;
}

/** The part of Koa's context that finds and carries the upgrade. */
interface UpgradeCarrier {
  readonly req: IncomingMessage;
  status: number;
  respond?: boolean | undefined;
  ws?: WebSocketUpgrade | undefined;
}

function checkLimit(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value <= 0) {
    throw new TypeError(`${name} must be a positive integer`);
  }
  return value;
}

function once(fn: () => void): () => void {
  let isDone = false;
  return () => {
    if (isDone) return;
    isDone = true;
    fn();
  };
}

/**
 * WebSockets for one Koa application. Create it with {@link wsroute}.
 * @example
 * ```ts
 * const ws = wsroute();
 * app.use(ws.middleware());
 * router.get('/chat', auth, ws.route({ defaultProtocol: chat, data: (ctx) => ({ user: ctx.state.user }) }));
 * app.use(router.routes());
 * ws.attach(http.createServer(app.callback()), app).listen(3000);
 * ```
 */
export class KoaWebSocket {
  readonly #registry = new ConnectionRegistry();
  readonly #pending = new WeakMap<IncomingMessage, PendingEntry>();
  readonly #servers = new WeakSet<Server>();
  readonly #handshakeTimeout: number;
  readonly #headerLimits: { maxHeaderCount: number; maxHeaderBytes: number };
  readonly #middleware: Middleware;

  /**
   * @param options - handshake limits
   * @throws TypeError for a limit that is not a positive integer
   */
  constructor(options: KoaWebSocketOptions = {}) {
    this.#handshakeTimeout = checkLimit(
      'handshakeTimeout',
      options.handshakeTimeout,
      DEFAULT_LIMITS.handshakeTimeout,
    );
    this.#headerLimits = {
      maxHeaderCount: checkLimit(
        'maxHeaderCount',
        options.maxHeaderCount,
        DEFAULT_LIMITS.maxHeaderCount,
      ),
      maxHeaderBytes: checkLimit(
        'maxHeaderBytes',
        options.maxHeaderBytes,
        DEFAULT_LIMITS.maxHeaderBytes,
      ),
    };
    this.#middleware = async (ctx, next) => {
      const upgrade = this.#upgradeFor(ctx);
      if (!upgrade) return next();
      ctx.ws = upgrade;
      try {
        await next();
      } catch (error) {
        // Koa knows nothing of Boom: without its fields a Boom.unauthorized() would be a 500.
        throw Boom.isBoom(error) ? toKoaError(error) : error;
      }
      const isPlainSuccess = ctx.status >= 200 && ctx.status < 300 && ctx.respond !== false;
      if (isPlainSuccess && !upgrade.isAccepted && !ctx.headerSent) {
        // A plain route answered: a success without 101 tells a websocket client nothing, so
        // say what the node attachment says for a path without a websocket route.
        throw toKoaError(notFoundError());
      }
    };
  }

  /** The open connections of every route of this instance. */
  get connections(): ReadonlySet<AnyConnection> {
    return this.#registry.connections;
  }

  /**
   * The middleware to mount first, before anything that may refuse an upgrade
   * (`app.use(ws.middleware())`). On upgrade requests it sets `ctx.ws`, lets Koa answer a
   * thrown Boom with its status, headers and message, and turns a 2xx answer without upgrade
   * (a plain route was reached) into 404 `WS_NOT_FOUND`. Plain requests pass through untouched.
   * @returns the same middleware on every call
   */
  middleware(): Middleware {
    return this.#middleware;
  }

  /**
   * Declares a websocket route: middleware that upgrades the request when it is reached
   * (e.g. `router.get('/chat', auth, ws.route({...}))`). A plain request without upgrade gets
   * 426; a refused handshake gets core's plain HTTP answer (400, 403, 503…) through Koa.
   * @param options - protocols, handlers, limits, origins, and `data`
   * @returns the route middleware; it ends the pipeline (it never calls `next`)
   * @throws TypeError at registration for an invalid declaration (see `createRoute`)
   */
  route<TData = undefined, StateT = DefaultState, ContextT = DefaultContext>(
    options: KoaRouteOptions<TData, StateT, ContextT>,
  ): Middleware<StateT, ContextT> {
    const route = createRoute<TData>(options);
    const data: unknown = options.data;
    if (data !== undefined && typeof data !== 'function') {
      throw new TypeError('`data` must be a function of the Koa context');
    }
    // Without `data` the option type guarantees that undefined is a valid TData.
    const resolveData = (options.data ?? (() => undefined)) as DataResolver<
      TData,
      StateT,
      ContextT
    >;
    return async (ctx) => {
      const upgrade = this.#upgradeFor(ctx);
      if (!upgrade) throw toKoaError(upgradeRequired());
      await upgrade.upgrade(route, () => resolveData(ctx));
    };
  }

  /**
   * Listens to the server's `'upgrade'` event and runs every upgrade request through the
   * application, whose middleware is composed now (as `app.callback()` does).
   * @param server - a `node:http` or `node:https` server, usually serving `app.callback()`
   * @param app - the Koa application
   * @returns the server, for chaining (e.g. `.listen()`)
   * @throws TypeError when the server is attached already
   */
  attach<TServer extends Server>(server: TServer, app: KoaApplicationLike): TServer {
    if (this.#servers.has(server)) throw new TypeError('this server is attached already');
    this.#servers.add(server);
    const handler = app.callback();
    server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
      this.#handleUpgrade(handler, request, socket, head);
    });
    return server;
  }

  /**
   * Closes every connection with 1001 (or `options.code`) and answers new upgrades 503.
   * Call it before `server.close()`, which waits for upgraded sockets too.
   * @param options - code, reason, and the deadline in ms after which sockets are destroyed
   * @returns resolves once every connection is closed
   */
  close(options?: ShutdownOptions): Promise<void> {
    return this.#registry.shutdown(options);
  }

  #upgradeFor(ctx: UpgradeCarrier): WebSocketUpgrade | undefined {
    const entry = this.#pending.get(ctx.req);
    if (!entry) return undefined;
    entry.upgrade ??= new WebSocketUpgrade(entry.pending, ctx);
    return entry.upgrade;
  }

  #refusal(request: IncomingMessage): HandshakeError | undefined {
    const limitError = checkHeaderLimits(request.rawHeaders, this.#headerLimits);
    if (limitError) return limitError;
    return this.#registry.isShuttingDown ? shuttingDownError() : undefined;
  }

  #handleUpgrade(
    handler: (request: IncomingMessage, response: ServerResponse) => Promise<void>,
    request: IncomingMessage,
    socket: Duplex,
    head: Buffer,
  ): void {
    const release = once(guardUpgradeSocket(socket, this.#handshakeTimeout));
    const refusal = this.#refusal(request);
    if (refusal) {
      release();
      reject(socket, refusal);
      return;
    }
    const entry: PendingEntry = {
      pending: { request, socket, head, registry: this.#registry, release },
      upgrade: undefined,
    };
    this.#pending.set(request, entry);
    const response = createUpgradeResponse(request);
    handler(request, response)
      .then(() => entry.upgrade?.expire() ?? false)
      .then(
        (isAccepted) => {
          this.#pending.delete(request);
          if (isAccepted) return;
          release();
          sendOnSocket(response, socket);
        },
        () => {
          // Koa's handler catches errors itself; reaching here means its error handling failed.
          this.#pending.delete(request);
          release();
          reject(socket, internalError());
        },
      );
  }
}

/**
 * Creates the websocket support of one Koa application.
 * @param options - handshake limits
 * @returns the instance: `middleware()`, `route()`, `attach()`, `close()`
 * @throws TypeError for an invalid limit
 */
export function wsroute(options?: KoaWebSocketOptions): KoaWebSocket {
  return new KoaWebSocket(options);
}
