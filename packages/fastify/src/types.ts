/**
 * Public types of the Fastify plugin: the plugin's options, the `websocket` route option (typed
 * by declaration merging on Fastify's route options), the per-connection data and the options
 * of the `injectWS` test helper.
 * @module
 */
import type { AnyConnection, RouteOptions, WebSocketRoute } from '@wsroute/core';
import type {
  ContextConfigDefault,
  FastifyBaseLogger,
  FastifyRequest,
  FastifySchema,
  FastifyTypeProvider,
  FastifyTypeProviderDefault,
  RawReplyDefaultExpression,
  RawRequestDefaultExpression,
  RawServerBase,
  RawServerDefault,
  RouteGenericInterface,
} from 'fastify';
import type WebSocket from 'ws';

/** Options of the plugin, `app.register(wsroute, options)`. */
export interface WsrouteOptions {
  /**
   * Time from the `'upgrade'` event to the 101, hooks included, in ms. A slower handshake is
   * answered 408 (`WS_HANDSHAKE_TIMEOUT`).
   * @default 10000
   */
  readonly handshakeTimeout?: number;
  /** Most request header lines on an upgrade; more get 431 (`WS_HEADERS_TOO_LARGE`). @default 100 */
  readonly maxHeaderCount?: number;
  /** Most bytes of request headers on an upgrade; more get 431 (`WS_HEADERS_TOO_LARGE`). @default 16384 */
  readonly maxHeaderBytes?: number;
  /**
   * Deadline of the closing handshakes when `app.close()` closes every connection with 1001, in
   * ms; sockets still open afterwards are destroyed.
   * @default 5000
   */
  readonly shutdownTimeout?: number;
}

/**
 * The data of a connection on a route that declares no `data` function: the Fastify request
 * of the upgrade, after every hook ran (params, query, decorations such as `request.user`).
 * @typeParam TRequest - the route's request type
 */
export interface RequestData<TRequest = FastifyRequest> {
  readonly request: TRequest;
}

/**
 * The `websocket` option written inline: the core route declaration (protocols, handlers,
 * limits); every connection's data is {@link RequestData}. For other data, use
 * `defineWebSocketRoute({ data, ... })`.
 * @typeParam TRequest - the route's request type
 */
export interface DefaultWebSocketOptions<TRequest = FastifyRequest>
  extends RouteOptions<RequestData<TRequest>> {
  /** Only with `defineWebSocketRoute()`, which types the handlers after what `data` returns. */
  readonly data?: undefined;
}

/**
 * What `defineWebSocketRoute()` takes: the core route declaration plus the function that builds
 * each connection's data.
 * @typeParam TData - per-connection data, typed in every handler as `connection.data`
 * @typeParam TRequest - the request type `data` receives (the route's, when written inline)
 */
export interface WebSocketDataOptions<TData, TRequest = FastifyRequest>
  extends RouteOptions<TData> {
  /**
   * Builds the connection's data after the route's hooks ran and the handshake was negotiated,
   * before the 101. Throw (or reject with) a Boom to refuse the upgrade with its status.
   */
  readonly data: (request: TRequest) => TData | Promise<TData>;
}

/** Marks a route made by `defineWebSocketRoute()`. */
export const kWebSocketRoute: unique symbol = Symbol('wsroute.fastify.route');

/**
 * A compiled route and its data function. Internal: reach it through `defineWebSocketRoute()`.
 * @typeParam TRequest - the request type `data` receives
 */
export interface CompiledWebSocketRoute<TRequest = FastifyRequest> {
  readonly route: WebSocketRoute<unknown>;
  readonly data: (request: TRequest) => unknown;
}

/**
 * A websocket route declaration made by `defineWebSocketRoute()`: already validated, with its
 * own data function. Fits the `websocket` option of any route whose request type is assignable
 * to `TRequest`.
 * @typeParam TRequest - the request type its `data` function receives
 */
export interface FastifyWebSocketRoute<TRequest = FastifyRequest> {
  readonly [kWebSocketRoute]: CompiledWebSocketRoute<TRequest>;
}

/**
 * The type of the `websocket` route option.
 * @typeParam TRequest - the route's request type
 */
export type WebSocketRouteOption<TRequest = FastifyRequest> =
  | DefaultWebSocketOptions<TRequest>
  | FastifyWebSocketRoute<TRequest>;

/** Options of `app.injectWS()`. */
export interface InjectWSOptions {
  /** Subprotocols to offer, in order of preference. @default [] */
  readonly protocols?: string | readonly string[];
  /** Extra request headers (e.g. `authorization`, `origin`). @default {} */
  readonly headers?: Readonly<Record<string, string>>;
  /** Whether to offer permessage-deflate. @default false */
  readonly perMessageDeflate?: boolean;
  /** Time allowed for the handshake, in ms. @default 5000 */
  readonly timeout?: number;
}

declare module 'fastify' {
  interface RouteShorthandOptions<
    RawServer extends RawServerBase = RawServerDefault,
    RawRequest extends
      RawRequestDefaultExpression<RawServer> = RawRequestDefaultExpression<RawServer>,
    RawReply extends RawReplyDefaultExpression<RawServer> = RawReplyDefaultExpression<RawServer>,
    RouteGeneric extends RouteGenericInterface = RouteGenericInterface,
    ContextConfig = ContextConfigDefault,
    SchemaCompiler extends FastifySchema = FastifySchema,
    TypeProvider extends FastifyTypeProvider = FastifyTypeProviderDefault,
    Logger extends FastifyBaseLogger = FastifyBaseLogger,
  > {
    /**
     * Makes this GET route a websocket route too: an upgrade request runs the route's hooks,
     * then is negotiated against these protocols and accepted with a 101. The route's
     * `handler` still answers plain HTTP requests (use `upgradeRequired` for a 426).
     */
    websocket?: WebSocketRouteOption<
      FastifyRequest<
        RouteGeneric,
        RawServer,
        RawRequest,
        SchemaCompiler,
        TypeProvider,
        ContextConfig,
        Logger
      >
    >;
  }

  interface FastifyInstance {
    /**
     * Opens a real `ws` client to `path` over a loopback socket handed to the app's server (the
     * app needs not listen). Resolves once the 101 was received and checked: `ws` verifies the
     * accept key and that the answered subprotocol was offered (and that one was answered when
     * some were offered). Rejects with an {@link InjectWSError}-shaped error (`statusCode`,
     * `headers`, `body`) when the upgrade is refused. Needs the `ws` package.
     */
    injectWS(path: string, options?: InjectWSOptions): Promise<WebSocket>;
    /** The open websocket connections of this app. */
    readonly websocketConnections: ReadonlySet<AnyConnection>;
  }

  interface FastifyRequest {
    /** Whether this request is a websocket upgrade (it came through the server's `'upgrade'`). */
    readonly isWebSocket: boolean;
  }
}
