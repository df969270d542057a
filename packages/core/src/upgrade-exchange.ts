/**
 * One upgrade request while the framework decides: its socket and the bytes that came with
 * it, the handshake deadline, an ordinary `ServerResponse` on which the framework can still
 * answer as plain HTTP (401, 404, a Boom), and the completion (negotiate → data → recheck →
 * accept) that ends in a 101.
 *
 * ```
 *   begin ─▶ pending ──complete()──▶ negotiating ──▶ accepted (101, the socket is a websocket)
 *               │  ▲                     │ refused (Boom) or data threw: back to pending
 *               │  └─────────────────────┘
 *               ├── the framework answers on `response` ─────────▶ answered (socket ended)
 *               ├── a 2xx from a plain route ────────────────────▶ answered 404 (WS_NOT_FOUND)
 *               └── handshakeTimeout ────────────────────────────▶ answered 408
 * ```
 *
 * The response is bound to the socket either at once (`early`: Fastify, Express), so the
 * framework writes straight to it, or only when the framework's pipeline has ended without a
 * 101 (`late`: Koa, whose `on-finished` would otherwise watch a socket that carries frames).
 * @module
 */
import { type IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Admission, AdmittedRequest } from './admission.js';
import type { ClientAddress } from './client-address.js';
import type { ConnectionOwner } from './connection.js';
import type { AnyConnection } from './connection-types.js';
import {
  type HandshakeError,
  handshakeTimeoutError,
  notFoundError,
  shuttingDownError,
} from './errors.js';
import { isWebSocketUpgrade } from './handshake.js';
import { endSocketGracefully, reject } from './http-reject.js';
import {
  type AcceptedHandshake,
  type Negotiation,
  negotiate,
  type WebSocketRoute,
} from './route.js';
import { accept } from './upgrade.js';
import { createUpgradeResponse } from './upgrade-response.js';

/** The exchange a response made by {@link UpgradeExchange} answers for. */
const kResponseExchange: unique symbol = Symbol('wsroute.responseExchange');
type ExchangeResponse = ServerResponse & { [kResponseExchange]?: UpgradeExchange };
const nodeWriteHead = ServerResponse.prototype.writeHead;
/** `writeHead` of every exchange's response: a 2xx to a websocket request is refused (404). */
let writeHeadOnUpgrade: ServerResponse['writeHead'];

/** When the response of an exchange is bound to its socket. */
export type ResponseBinding = 'early' | 'late';

/** What {@link UpgradeExchange.complete} ended with. */
export type UpgradeOutcome =
  /** The 101 was written; the connection is open. */
  | { readonly status: 'accepted'; readonly connection: AnyConnection }
  /** The handshake was refused: answer `error` through the framework (it is a Boom). */
  | { readonly status: 'refused'; readonly error: HandshakeError }
  /** The socket is gone, timed out or was answered meanwhile: nothing is left to do. */
  | { readonly status: 'gone' };

/** What an exchange needs from its lifecycle. Internal. */
export interface ExchangeHost extends ConnectionOwner {
  /** Whether shutdown has begun: a connection accepted now would never be closed by it. */
  readonly isShuttingDown: boolean;
  /** A connection was accepted. */
  onConnectionOpened(connection: AnyConnection): void;
  /** Origin, limits and credentials of the entry point. */
  readonly admission: Admission;
}

/** The lifecycle that compiled each route: its connections join that entry point. */
const routeOwners = new WeakMap<WebSocketRoute<never>, ExchangeHost>();

/**
 * Makes `host` the owner of the connections a route accepts, whichever entry point's exchange
 * completes it (two Express instances may share one server). Internal.
 * @param route - a compiled route
 * @param host - its lifecycle
 */
export function setRouteOwner(route: WebSocketRoute<never>, host: ExchangeHost): void {
  routeOwners.set(route, host);
}

const State = { Pending: 0, Negotiating: 1, Accepted: 2, Answered: 3 } as const;
type State = (typeof State)[keyof typeof State];

const GONE: UpgradeOutcome = { status: 'gone' };

/** The path part of a request target, without query or fragment. */
export function pathOf(url: string | undefined): string {
  if (!url) return '/';
  let end = url.length;
  for (let i = 0; i < url.length; i++) {
    const c = url.charCodeAt(i);
    if (c === 0x3f || c === 0x23) {
      end = i;
      break;
    }
  }
  return end === url.length ? url : url.slice(0, end);
}

function isThenable<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return (
    typeof value === 'object' &&
    value !== null &&
    'then' in value &&
    typeof value.then === 'function'
  );
}

function destroyOnError(this: Duplex): void {
  this.destroy();
}

/** One upgrade request in flight. Made by the lifecycle's `begin()`. */
export class UpgradeExchange {
  /** The upgrade request. */
  readonly request: IncomingMessage;
  readonly #socket: Duplex;
  readonly #head: Buffer;
  readonly #host: ExchangeHost;
  readonly #binding: ResponseBinding;
  #response: ServerResponse | undefined;
  #isWebSocket: boolean | undefined;
  #state: State = State.Pending;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<unknown> | undefined;
  readonly #token: string | undefined;
  #client: ClientAddress | undefined;

  /**
   * @param host - the lifecycle
   * @param request - the upgrade request
   * @param socket - its raw socket
   * @param head - bytes that arrived after the request headers
   * @param binding - when the response is bound to the socket
   * @param timeout - ms left of the handshake deadline
   * @param admitted - what admission learnt in `begin()`: the credential, the client
   */
  constructor(
    host: ExchangeHost,
    request: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    binding: ResponseBinding,
    timeout: number,
    admitted: AdmittedRequest = { token: undefined, client: undefined },
  ) {
    this.#host = host;
    this.request = request;
    this.#socket = socket;
    this.#head = head;
    this.#binding = binding;
    this.#token = admitted.token;
    this.#client = admitted.client;
    socket.on('error', destroyOnError);
    this.#timer = setTimeout(() => this.#onTimeout(), Math.max(0, timeout));
    this.#timer.unref();
  }

  /** Whether the request asks for `websocket` (not, e.g., `h2c`, which is plain HTTP/1.1). */
  get isWebSocket(): boolean {
    // Read on first use: the node attachment never asks, and negotiation reads the header anyway.
    this.#isWebSocket ??= isWebSocketUpgrade(this.request);
    return this.#isWebSocket;
  }

  /**
   * The response the framework answers on, made on first use. An `early` one is bound to the
   * socket now; a `late` one buffers until {@link UpgradeExchange.settle}. On a websocket
   * upgrade, a 2xx written on it (a plain route answered) becomes 404 `WS_NOT_FOUND`: a success
   * without 101 tells a websocket client nothing. Other upgrades (`h2c`) are plain HTTP/1.1.
   */
  get response(): ServerResponse {
    this.#response ??= this.#createResponse();
    return this.#response;
  }

  /**
   * The credential the client offered in `Sec-WebSocket-Protocol` (`<tokenPrefix><base64url>`),
   * decoded; undefined when none. It is no longer in the request's headers. For the
   * framework's auth step: never log it or put it in an answer.
   */
  get token(): string | undefined {
    return this.#token;
  }

  /** The client (its address through trusted proxies, see `trustProxy`), resolved on first use. */
  get client(): ClientAddress {
    this.#client ??= this.#host.admission.clientOf(this.request);
    return this.#client;
  }

  /** Whether the 101 was written. */
  get isAccepted(): boolean {
    return this.#state === State.Accepted;
  }

  /** Whether the socket may still get a 101: nothing answered, nothing timed out. */
  get isUpgradable(): boolean {
    if (this.#state === State.Accepted || this.#state === State.Answered) return false;
    // A late response is only a candidate answer until the pipeline ends: an upgrade wins.
    const response = this.#binding === 'early' ? this.#response : undefined;
    if (response && (response.headersSent || response.writableEnded)) return false;
    return !this.#socket.destroyed && !this.#socket.writableEnded;
  }

  /**
   * Completes the handshake against a route: checks its admission (credential, origin,
   * limits), negotiates, resolves the connection's data, rechecks that the socket is still
   * upgradable, the server not shutting down and the limits not reached, then writes the 101
   * and starts the connection.
   * @param route - the compiled route
   * @param resolveData - builds the connection's data; runs only once negotiation succeeded
   * @returns the outcome; a refusal is for the caller to answer through its framework
   * @throws what `resolveData` throws (the framework answers it); an Error when called while
   *   another completion runs or after the exchange ended
   */
  complete<TData>(
    route: WebSocketRoute<TData>,
    resolveData: () => TData | Promise<TData>,
  ): Promise<UpgradeOutcome> {
    if (this.#state !== State.Pending) {
      const reason = this.#state === State.Negotiating ? 'is being upgraded' : 'was answered';
      return Promise.reject(new Error(`wsroute: this request ${reason} already`));
    }
    if (!this.isUpgradable) return Promise.resolve(GONE);
    this.#state = State.Negotiating;
    // Synchronous unless the route's selector or `resolveData` is async: no promise is awaited
    // on the common path, so the 101 leaves within this call.
    let outcome: UpgradeOutcome | Promise<UpgradeOutcome>;
    try {
      const refusal = this.#ownerOf(route).admission.check(this, route.admission);
      if (refusal) {
        outcome = { status: 'refused', error: refusal };
      } else {
        const negotiated = negotiate(this.request, route);
        outcome =
          'then' in negotiated
            ? negotiated.then((handshake) => this.#resolve(route, handshake, resolveData))
            : this.#resolve(route, negotiated, resolveData);
      }
    } catch (error) {
      this.#state = State.Pending;
      return Promise.reject(error);
    }
    if (!(outcome instanceof Promise)) {
      if (this.#state === State.Negotiating) this.#state = State.Pending;
      return Promise.resolve(outcome);
    }
    const running = outcome.finally(() => {
      if (this.#state === State.Negotiating) this.#state = State.Pending;
    });
    this.#running = running;
    return running;
  }

  /** Resolves the connection's data, then accepts; a Promise only when `resolveData` is async. */
  #resolve<TData>(
    route: WebSocketRoute<TData>,
    handshake: Negotiation<TData>,
    resolveData: () => TData | Promise<TData>,
  ): UpgradeOutcome | Promise<UpgradeOutcome> {
    if ('isBoom' in handshake) return { status: 'refused', error: handshake };
    const data = resolveData();
    if (isThenable(data)) {
      return Promise.resolve(data).then((resolved) => this.#accept(route, handshake, resolved));
    }
    return this.#accept(route, handshake, data);
  }

  #ownerOf<TData>(route: WebSocketRoute<TData>): ExchangeHost {
    return routeOwners.get(route as WebSocketRoute<never>) ?? this.#host;
  }

  #accept<TData>(
    route: WebSocketRoute<TData>,
    handshake: AcceptedHandshake<TData>,
    data: TData,
  ): UpgradeOutcome {
    if (!this.isUpgradable) return GONE;
    const owner = this.#ownerOf(route);
    // Shutdown may have begun while the hooks ran: it would never close this connection.
    if (owner.isShuttingDown) return { status: 'refused', error: shuttingDownError() };
    // Counted at once with the 101: concurrent handshakes cannot overshoot a limit together.
    const ticket = owner.admission.open(this, route.admission);
    if ('isBoom' in ticket) return { status: 'refused', error: ticket };
    this.#state = State.Accepted;
    this.#release();
    if (this.#response && this.#binding === 'early') {
      this.#response.detachSocket(this.#socket as Socket);
    }
    const connection = accept(
      this.#socket,
      this.#head,
      handshake,
      data,
      pathOf(this.request.url),
      owner,
    );
    if (!connection) {
      ticket.release();
      return GONE;
    }
    owner.admission.bind(connection, ticket);
    owner.onConnectionOpened(connection);
    return { status: 'accepted', connection };
  }

  /**
   * Answers on the raw socket, bypassing the framework: for entry points without one, and for
   * answers the framework cannot give (its pipeline threw). Does nothing once answered.
   * @param error - the rejection; anything that is not a Boom gives a generic 500
   */
  reject(error: unknown): void {
    if (this.#state === State.Accepted || this.#state === State.Answered) return;
    this.#state = State.Answered;
    this.#release();
    const response = this.#response;
    if (response?.headersSent && !response.writableEnded) {
      // A response that started cannot carry another answer.
      this.#socket.destroy();
      return;
    }
    if (response && this.#binding === 'early') response.detachSocket(this.#socket as Socket);
    reject(this.#socket, error as HandshakeError);
  }

  /**
   * The framework's pipeline has ended: waits for a completion still running; unless it
   * accepted, a `late` response is bound now and sends what the framework wrote.
   * @returns whether the request was upgraded
   */
  async settle(): Promise<boolean> {
    await this.#running?.catch(() => undefined);
    if (this.#state === State.Accepted) return true;
    if (this.#state === State.Answered) return false;
    this.#state = State.Answered;
    if (this.#binding === 'late') this.#bindLate();
    return false;
  }

  #createResponse(): ServerResponse {
    const response: ExchangeResponse = createUpgradeResponse(this.request);
    // Own properties of our own response, not a patch of a framework's prototype (Express
    // swaps the prototype of `res` but keeps own properties). Node calls `this.writeHead` for
    // implicit headers too, so every answer passes here. One function for every response, which
    // finds its exchange in a data property: a closure per response kept each response (and
    // its handshake) alive through the next scavenge (measured on handshake cycles: +0.7 KB
    // survived and +15 µs of server CPU per handshake).
    response[kResponseExchange] = this;
    response.writeHead = writeHeadOnUpgrade;
    if (this.#binding === 'early') this.#bind(response);
    return response;
  }

  static {
    // Defined here to reach the exchange's private state; `this` is the response.
    writeHeadOnUpgrade = function writeHeadOnUpgrade(
      this: ExchangeResponse,
      ...args: Parameters<ServerResponse['writeHead']>
    ): ServerResponse {
      const exchange = this[kResponseExchange];
      const isSuccess = args[0] >= 200 && args[0] < 300;
      if (isSuccess && exchange?.isWebSocket && exchange.#state !== State.Accepted) {
        exchange.#refusePlainSuccess();
        return this;
      }
      return nodeWriteHead.apply(this, args);
    } as ServerResponse['writeHead'];
  }

  #bind(response: ServerResponse): void {
    const socket = this.#socket;
    response.assignSocket(socket as Socket);
    // `on`, not `once`: each event comes once per response anyway, and a `once` listener on
    // the response kept every handshake's objects alive through the next scavenge (measured on
    // handshake cycles with an early response: 4.6 KB survived per cycle instead of 1.6 KB,
    // +30 µs of server CPU per handshake).
    response.on('finish', () => {
      this.#state = State.Answered;
      this.#release();
      response.detachSocket(socket as Socket);
      endSocketGracefully(socket);
    });
    response.on('close', () => {
      if (this.#state !== State.Accepted) this.#release();
    });
  }

  #bindLate(): void {
    const socket = this.#socket;
    // Gone, or already answered 408.
    if (socket.destroyed || !socket.writable) {
      this.#release();
      return;
    }
    this.#bind(this.response);
  }

  /** Takes the socket from the response (which then writes nowhere) and answers 404 on it. */
  #refusePlainSuccess(): void {
    if (this.#state === State.Answered) return;
    this.#state = State.Answered;
    this.#release();
    if (this.#binding === 'early') this.#response?.detachSocket(this.#socket as Socket);
    reject(this.#socket, notFoundError());
  }

  #onTimeout(): void {
    this.#timer = undefined;
    const error = handshakeTimeoutError();
    this.reject(error);
  }

  #release(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#socket.off('error', destroyOnError);
  }
}
