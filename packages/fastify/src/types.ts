/**
 * Public types of the Fastify plugin: the plugin's options, the `websocket` route option (typed
 * by declaration merging on Fastify's route options), the per-connection data and the options
 * of the `injectWS` test helper.
 * @module
 */
import type { AnyConnection, EntryOptions, RouteOptions, WebSocketHub } from '@wsroute/core';
import type { WebSocketRoute } from '@wsroute/core/adapter';
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

/**
 * Options of the plugin, `app.register(wsroute, options)`: those of every entry point
 * (`handshakeTimeout`, `maxHeaderCount`, `maxHeaderBytes`, `shutdownTimeout`, `onError`, and
 * admission: `origins`, `trustProxy`, limits, `tokenPrefix`; see `@wsroute/core`). Handler
 * errors without `onError` go to the app's logger by default.
 */
export interface WsrouteOptions extends EntryOptions {}

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
     * This app's websockets: its open `connections` and `close()` (which `app.close()` runs,
     * closing every connection with 1001).
     */
    readonly websocket: WebSocketHub;
    /** The open websocket connections of this app (`app.websocket.connections`). */
    readonly websocketConnections: ReadonlySet<AnyConnection>;
  }

  interface FastifyRequest {
    /** Whether this request is a websocket upgrade (it came through the server's `'upgrade'`). */
    readonly isWebSocket: boolean;
    /**
     * The credential the client offered in `Sec-WebSocket-Protocol` (`base64url.bearer.…`),
     * decoded, for the route's hooks to check (reply 401 when it is bad); undefined when none.
     * Taken to routes with `tokenCarrier: true` only (others answer 400). Never log it.
     */
    readonly websocketToken: string | undefined;
  }
}
