/**
 * The lazy upgrade a request carries through Koa's pipeline (`ctx.ws`): nothing is written
 * until a route middleware calls `upgrade()`, so every middleware before it can still answer
 * with plain HTTP.
 * @module
 */
import type { AnyConnection } from '@wsroute/core';
import type { UpgradeExchange, WebSocketRoute } from '@wsroute/core/adapter';
import { toKoaError } from './koa-error.js';

/** The part of Koa's context the upgrade needs. */
interface UpgradeContext {
  status: number;
  respond?: boolean | undefined;
}

/**
 * The upgrade of one request, present on `ctx.ws` for requests that arrived through the
 * server's `'upgrade'` event (absent for plain HTTP requests).
 */
export class WebSocketUpgrade {
  readonly #exchange: UpgradeExchange;
  readonly #ctx: UpgradeContext;

  /**
   * Internal: made by the middleware for each upgrade request.
   * @param exchange - core's exchange of the request
   * @param ctx - the request's Koa context
   */
  constructor(exchange: UpgradeExchange, ctx: UpgradeContext) {
    this.#exchange = exchange;
    this.#ctx = ctx;
  }

  /**
   * The credential the client offered in `Sec-WebSocket-Protocol` (`base64url.bearer.…`),
   * decoded, for your auth middleware to check (throw a 401 when it is bad); undefined when
   * none. Taken to routes with `tokenCarrier: true` only (others answer 400). Never log it.
   */
  get token(): string | undefined {
    return this.#exchange.token;
  }

  /** Whether the 101 has been sent: the socket now belongs to the websocket connection. */
  get isAccepted(): boolean {
    return this.#exchange.isAccepted;
  }

  /**
   * Negotiates with a route and completes the handshake. `resolveData` runs only after the
   * negotiation succeeded. Once upgraded (or when the client went away) Koa's response is
   * switched off (`ctx.respond = false`; `ctx.status = 101` for loggers).
   * @param route - a route compiled by `ws.compile()` (or core's `createRoute()`)
   * @param resolveData - returns the connection's data (may be async)
   * @returns the connection, or undefined when the client went away meanwhile
   * @throws a Boom carrying Koa's error fields when the handshake is refused (400, 403, 426,
   *   503 …); thrown on through Koa, it becomes a plain HTTP answer. An Error when called again
   *   while an upgrade runs or after the request was answered.
   */
  async upgrade<TData>(
    route: WebSocketRoute<TData>,
    resolveData: () => TData | Promise<TData>,
  ): Promise<AnyConnection | undefined> {
    const outcome = await this.#exchange.complete(route, resolveData);
    if (outcome.status === 'refused') throw toKoaError(outcome.error);
    this.#ctx.respond = false;
    if (outcome.status === 'gone') return undefined;
    this.#ctx.status = 101;
    return outcome.connection;
  }
}
