/**
 * The lazy upgrade a request carries through Koa's pipeline (`ctx.ws`): nothing is written
 * until a route middleware calls `upgrade()`, so every middleware before it can still answer
 * with plain HTTP.
 * @module
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import {
  accept,
  type Connection,
  type ConnectionRegistry,
  negotiate,
  shuttingDownError,
  type WebSocketRoute,
} from '@wsroute/core';
import { toKoaError } from './koa-error.js';

/**
 * What the `'upgrade'` event handed over, kept for the request while Koa runs. Internal.
 */
export interface PendingUpgrade {
  readonly request: IncomingMessage;
  readonly socket: Duplex;
  readonly head: Buffer;
  readonly registry: ConnectionRegistry;
  /** Stops the handshake timer and the socket's error guard. */
  readonly release: () => void;
}

/** The part of Koa's context the upgrade needs. */
interface UpgradeContext {
  status: number;
  respond?: boolean | undefined;
}

/** How far an upgrade went. */
const UpgradeState = {
  Pending: 'pending',
  Negotiating: 'negotiating',
  Accepted: 'accepted',
  /** Koa's pipeline ended without an upgrade: the socket carries an HTTP answer now. */
  Expired: 'expired',
} as const;
type UpgradeState = (typeof UpgradeState)[keyof typeof UpgradeState];

/**
 * The upgrade of one request, present on `ctx.ws` for requests that arrived through the
 * server's `'upgrade'` event (absent for plain HTTP requests).
 */
export class WebSocketUpgrade {
  readonly #pending: PendingUpgrade;
  readonly #ctx: UpgradeContext;
  #state: UpgradeState = UpgradeState.Pending;
  #settled: Promise<unknown> = Promise.resolve();

  /**
   * Internal: made by the middleware for each upgrade request.
   * @param pending - the socket, head and registry of the request
   * @param ctx - the request's Koa context
   */
  constructor(pending: PendingUpgrade, ctx: UpgradeContext) {
    this.#pending = pending;
    this.#ctx = ctx;
  }

  /** Whether the 101 has been sent: the socket now belongs to the websocket connection. */
  get isAccepted(): boolean {
    return this.#state === UpgradeState.Accepted;
  }

  /**
   * Internal, called when Koa's pipeline has ended: waits for an `upgrade()` still running,
   * and unless it accepted, refuses any later call (the socket gets Koa's HTTP answer).
   * @returns whether the request was upgraded
   */
  async expire(): Promise<boolean> {
    await this.#settled;
    if (this.isAccepted) return true;
    this.#state = UpgradeState.Expired;
    return false;
  }

  /**
   * Negotiates with a route and completes the handshake. `resolveData` runs only after the
   * negotiation succeeded. On success Koa's response is switched off (`ctx.respond = false`,
   * `ctx.status = 101` for loggers).
   * @param route - a route compiled with `createRoute()` from `@wsroute/core`
   * @param resolveData - returns the connection's data (may be async)
   * @returns the connection, or undefined when the client went away meanwhile
   * @throws a Boom carrying Koa's error fields when the handshake is refused (400, 403, 426,
   *   503 …); thrown on through Koa, it becomes a plain HTTP answer. An Error when called twice.
   */
  upgrade<TData>(
    route: WebSocketRoute<TData>,
    resolveData: () => TData | Promise<TData>,
  ): Promise<Connection<TData, never, unknown> | undefined> {
    if (this.#state !== UpgradeState.Pending) {
      const reason = this.#state === UpgradeState.Expired ? 'was answered' : 'is being upgraded';
      return Promise.reject(new Error(`wsroute: this request ${reason} already`));
    }
    this.#state = UpgradeState.Negotiating;
    const result = this.#upgrade(route, resolveData);
    this.#settled = result.catch(() => {
      // Refused (the Boom becomes Koa's answer): a later middleware may try another route.
      if (this.#state === UpgradeState.Negotiating) this.#state = UpgradeState.Pending;
    });
    return result;
  }

  async #upgrade<TData>(
    route: WebSocketRoute<TData>,
    resolveData: () => TData | Promise<TData>,
  ): Promise<Connection<TData, never, unknown> | undefined> {
    const { request, socket, head, registry, release } = this.#pending;
    const handshake = await negotiate(request, route);
    if ('isBoom' in handshake) throw toKoaError(handshake);
    const data = await resolveData();
    // Checked last: a shutdown may have begun while the data was resolved.
    if (registry.isShuttingDown) throw toKoaError(shuttingDownError());
    release();
    this.#state = UpgradeState.Accepted;
    this.#ctx.status = 101;
    this.#ctx.respond = false;
    return accept(socket, head, handshake, data, { registry });
  }
}
