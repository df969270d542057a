/**
 * The Koa 3 attachment: a middleware that exposes a lazy upgrade on `ctx.ws`, route
 * middleware that completes it (`@koa/router` friendly), and the server's `'upgrade'`
 * listener that runs Koa's whole pipeline before any 101. The lifecycle itself is core's.
 *
 * ```
 *  'upgrade' ─► admission ─► app.callback()(req, response bound late)
 *                               │ ws.middleware()  ctx.ws = lazy upgrade, Boom → Koa error
 *                               │ auth, routers…    may throw: plain HTTP answer
 *                               │ ws.route(opts)   negotiate → data(ctx) → 101
 *                               ▼
 *            accepted? nothing more : bind the response to the socket, write Koa's answer
 * ```
 * @module
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import Boom from '@hapi/boom';
import { type EntryOptions, type RouteOptions, WebSocketHub } from '@wsroute/core';
import {
  exchangeOf,
  internalError,
  type UpgradeExchange,
  UpgradeLifecycle,
  type WebSocketRoute,
} from '@wsroute/core/adapter';
import type { DefaultContext, DefaultState, Middleware, ParameterizedContext } from 'koa';
import { toKoaError, upgradeRequired } from './koa-error.js';
import { WebSocketUpgrade } from './websocket-upgrade.js';

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

/**
 * Options of {@link wsroute}: those of every entry point (`handshakeTimeout`,
 * `maxHeaderCount`, `maxHeaderBytes`, `shutdownTimeout`, `onError`, and admission: `origins`,
 * `trustProxy`, limits, `tokenPrefix`; see `@wsroute/core`).
 * Handler errors without `onError` go to the app's `'error'` event by default.
 */
export interface KoaWebSocketOptions extends EntryOptions {}

/** Anything with Koa's `callback()` and `emit()`: a Koa application. */
export interface KoaApplicationLike {
  callback(): (request: IncomingMessage, response: ServerResponse) => Promise<void>;
  /** Koa's `app.emit('error', error)`: where unhandled handler errors are logged. */
  emit?(event: 'error', error: unknown): boolean;
}

/** The part of Koa's context that finds and carries the upgrade. */
interface UpgradeCarrier {
  readonly req: IncomingMessage;
  status: number;
  respond?: boolean | undefined;
  ws?: WebSocketUpgrade | undefined;
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
export class KoaWebSocket extends WebSocketHub {
  readonly #lifecycle: UpgradeLifecycle;
  #hasWarned = false;
  readonly #middleware: Middleware;

  /**
   * @param options - handshake limits, shutdown deadline, error listener
   * @throws TypeError for an invalid option
   */
  constructor(options?: KoaWebSocketOptions) {
    const lifecycle = new UpgradeLifecycle(options, { name: '@wsroute/koa' });
    super(lifecycle);
    this.#lifecycle = lifecycle;
    this.#middleware = async (ctx, next) => {
      const exchange = exchangeOf(ctx.req);
      if (!exchange) return next();
      (ctx.req as CarrierRequest)[kSeen] = true;
      ctx.ws = upgradeOf(exchange, ctx);
      try {
        await next();
      } catch (error) {
        // Koa knows nothing of Boom: without its fields a Boom.unauthorized() would be a 500.
        throw Boom.isBoom(error) ? toKoaError(error) : error;
      }
    };
  }

  /**
   * The middleware to mount first, before anything that may refuse an upgrade
   * (`app.use(ws.middleware())`). On upgrade requests it sets `ctx.ws` and lets Koa answer a
   * thrown Boom with its status, headers and message. Plain requests pass through untouched.
   * @returns the same middleware on every call
   */
  middleware(): Middleware {
    return this.#middleware;
  }

  /**
   * Compiles a route declaration for `ctx.ws.upgrade()` (routes chosen at request time).
   * @param options - protocols, handlers, limits, origins
   * @returns the compiled route
   * @throws TypeError for an invalid declaration
   */
  compile<TData>(options: RouteOptions<TData>): WebSocketRoute<TData> {
    return this.#lifecycle.compileRoute(options);
  }

  /**
   * Declares a websocket route: middleware that upgrades the request when it is reached
   * (e.g. `router.get('/chat', auth, ws.route({...}))`). A plain request without upgrade gets
   * 426; a refused handshake gets core's plain HTTP answer (400, 403, 503…) through Koa.
   * @param options - protocols, handlers, limits, origins, and `data`
   * @returns the route middleware; it ends the pipeline (it never calls `next`)
   * @throws TypeError at registration for an invalid declaration
   */
  route<TData = undefined, StateT = DefaultState, ContextT = DefaultContext>(
    options: KoaRouteOptions<TData, StateT, ContextT>,
  ): Middleware<StateT, ContextT> {
    const data: unknown = options.data;
    if (data !== undefined && typeof data !== 'function') {
      throw new TypeError('@wsroute/koa: `data` must be a function of the Koa context');
    }
    const route = this.#lifecycle.compileRoute<TData>(options);
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
   * application, whose middleware is composed now (as `app.callback()` does). The server's
   * `close()` then also closes every connection with 1001; unhandled handler errors go to the
   * app's `'error'` event.
   * @param server - a `node:http` or `node:https` server, usually serving `app.callback()`
   * @param app - the Koa application
   * @returns the server, for chaining (e.g. `.listen()`)
   * @throws TypeError when the server is attached already
   */
  attach<TServer extends Server>(server: TServer, app: KoaApplicationLike): TServer {
    const handler = app.callback();
    const emit = app.emit?.bind(app);
    if (emit) this.#lifecycle.setErrorLogger((error) => emit('error', error));
    this.#lifecycle.attach(server, (request, socket, head) => {
      const exchange = this.#lifecycle.begin(request, socket, head, 'late');
      if (!exchange) return;
      handler(request, exchange.response).then(
        () => {
          if (!(request as CarrierRequest)[kSeen]) this.#warnUnmounted(emit);
          return exchange.settle();
        },
        // Koa's handler catches errors itself; reaching here means its error handling failed.
        () => exchange.reject(internalError()),
      );
    });
    return server;
  }

  #warnUnmounted(emit: ((event: 'error', error: unknown) => boolean) | undefined): void {
    if (this.#hasWarned || !emit) return;
    this.#hasWarned = true;
    const message =
      '@wsroute/koa: an upgrade request went through the app without ws.middleware(): ' +
      'mount it first (app.use(ws.middleware())) so that a thrown Boom is answered with its status';
    emit('error', new TypeError(message));
  }

  #upgradeFor(ctx: UpgradeCarrier): WebSocketUpgrade | undefined {
    const exchange = exchangeOf(ctx.req);
    return exchange && upgradeOf(exchange, ctx);
  }
}

/**
 * The upgrade of a request, and whether `ws.middleware()` saw it: own properties of the
 * request, as core keeps the exchange. Not a WeakMap or WeakSet keyed by the exchange: V8's
 * scavenger keeps a young key's entry alive until the next full GC, so every handshake's
 * objects would be promoted to the old generation.
 */
const kUpgrade: unique symbol = Symbol('wsroute.koa.upgrade');
const kSeen: unique symbol = Symbol('wsroute.koa.seen');
type CarrierRequest = IncomingMessage & { [kUpgrade]?: WebSocketUpgrade; [kSeen]?: true };

function upgradeOf(exchange: UpgradeExchange, ctx: UpgradeCarrier): WebSocketUpgrade {
  const request = ctx.req as CarrierRequest;
  request[kUpgrade] ??= new WebSocketUpgrade(exchange, ctx);
  return request[kUpgrade];
}

/**
 * Creates the websocket support of one Koa application.
 * @param options - handshake limits, shutdown deadline, error listener
 * @returns the instance: `middleware()`, `route()`, `attach()`, `close()`, `connections`
 * @throws TypeError for an invalid option
 */
export function wsroute(options?: KoaWebSocketOptions): KoaWebSocket {
  return new KoaWebSocket(options);
}
