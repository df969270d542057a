/**
 * The upgrade lifecycle of one entry point, written once for all of them: the entry point's
 * options (one rule set), admission (the handshake deadline from the first byte, header limits,
 * 503 while shutting down), the exchange of each upgrade request (its response bound to the
 * socket, negotiate → data → recheck → accept), the open connections, and shutdown (every
 * connection closed with 1001 within a deadline when the server or app closes).
 *
 * An adapter makes one, attaches it to its server(s) and translates its framework's request,
 * hook and response model into `begin()` and `exchange.complete()`.
 *
 * ```
 *   'upgrade' ─▶ begin(): header limits (431), shutting down (503), admission ─▶ exchange
 *                  │ the framework runs against exchange.response (hooks may answer)
 *                  │ the route: exchange.complete(route, data) ─▶ 101 or a Boom to answer
 *   server.close() / app.close() ─▶ shutdown(): 1001 to every connection, 503 to new upgrades
 * ```
 * @module
 */
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { Admission, type ShedSelection, shedConnections } from './admission.js';
import type { AnyConnection } from './connection-types.js';
import {
  type EntryOptions,
  type ResolvedEntryOptions,
  resolveEntryOptions,
} from './entry-options.js';
import { shuttingDownError, type WebSocketError } from './errors.js';
import { checkHeaderLimits, isWebSocketUpgrade } from './handshake.js';
import { HandshakeDeadline } from './handshake-deadline.js';
import { reject } from './http-reject.js';
import { ConnectionRegistry, type ShutdownOptions } from './registry.js';
import { createRoute, type RouteOptions, type WebSocketRoute } from './route.js';
import { TopicHub } from './topics.js';
import {
  type ExchangeHost,
  type ResponseBinding,
  setRouteOwner,
  UpgradeExchange,
} from './upgrade-exchange.js';

/** What an adapter tells the lifecycle about itself. */
export interface AdapterInfo {
  /** The entry point's name, for error messages, e.g. `@wsroute/koa`. */
  readonly name: string;
  /**
   * Where handler errors that no `onError` handled go when the application set no `onError`
   * option: the framework's logger. Without it they go to `process.emitWarning`.
   */
  readonly logError?: ((error: WebSocketError, connection: AnyConnection) => void) | undefined;
}

/** Options of {@link UpgradeLifecycle.attach}. */
export interface AttachOptions {
  /**
   * Whether the server's own `close()` starts the shutdown (1001 to every connection): `false`
   * when the framework has a close hook of its own (Fastify's `preClose`).
   * @default true
   */
  readonly closeWithServer?: boolean;
}

/**
 * The exchange of each upgrade request, found again from the request by adapters: an own
 * property of the request. Not a WeakMap: V8's scavenger keeps a young key's entry (and all it
 * reaches: the exchange, the socket, the connection) alive until the next full GC, so every
 * short-lived connection would be promoted to the old generation; measured on handshake
 * cycles, that was most of the garbage collector's work.
 */
const kExchange: unique symbol = Symbol('wsroute.exchange');
type RequestWithExchange = IncomingMessage & { [kExchange]?: UpgradeExchange };

/**
 * The exchange an upgrade request is in, when it came through an attached `'upgrade'` listener.
 * @param request - any request
 * @returns its exchange, or undefined for a plain HTTP request
 */
export function exchangeOf(request: IncomingMessage): UpgradeExchange | undefined {
  return (request as RequestWithExchange)[kExchange];
}

function emitWarning(error: WebSocketError): void {
  process.emitWarning(error);
}

/** The upgrade lifecycle of one entry point. */
export class UpgradeLifecycle implements ExchangeHost {
  /** The entry point's options, defaults applied. */
  readonly options: ResolvedEntryOptions;
  /** Origin, limits and credentials: checked in `begin()`, at completion and at the 101. */
  readonly admission: Admission;
  readonly #name: string;
  /** The topics of the entry point's connections. */
  readonly topics: TopicHub;
  readonly #registry = new ConnectionRegistry();
  readonly #deadline: HandshakeDeadline;
  readonly #servers = new WeakSet<Server>();
  #logError: (error: WebSocketError, connection: AnyConnection) => void;

  /**
   * @param options - the application's options for the entry point
   * @param adapter - the entry point's name and logger
   * @throws TypeError for an invalid option
   */
  constructor(options: EntryOptions | undefined, adapter: AdapterInfo) {
    this.#name = adapter.name;
    this.options = resolveEntryOptions(adapter.name, options);
    this.admission = new Admission(this.options.admission);
    this.#deadline = new HandshakeDeadline(this.options.handshakeTimeout);
    this.topics = new TopicHub(this.options.topics, this.options.backplane);
    this.#logError = this.options.onError ?? adapter.logError ?? emitWarning;
  }

  /** The open connections. */
  get connections(): ReadonlySet<AnyConnection> {
    return this.#registry.connections;
  }

  /** Whether shutdown has begun: new upgrades are refused with 503. */
  get isShuttingDown(): boolean {
    return this.#registry.isShuttingDown;
  }

  /**
   * Sets where unhandled handler errors go, for adapters that learn their framework's logger
   * late (Koa's app). An `onError` option of the application still wins.
   * @param logError - the framework's logger
   */
  setErrorLogger(logError: (error: WebSocketError, connection: AnyConnection) => void): void {
    if (!this.options.onError) this.#logError = logError;
  }

  /**
   * Checks and compiles a route declaration, at registration.
   * @param options - the route declaration
   * @returns the compiled route
   * @throws TypeError for an invalid declaration, naming the entry point
   */
  compileRoute<TData>(options: RouteOptions<TData>): WebSocketRoute<TData> {
    try {
      const route = createRoute(options);
      setRouteOwner(route as WebSocketRoute<never>, this);
      return route;
    } catch (error) {
      if (error instanceof TypeError) throw new TypeError(`${this.#name}: ${error.message}`);
      throw error;
    }
  }

  /**
   * Attaches the lifecycle to a server: `onUpgrade` runs for every `'upgrade'` event, the
   * handshake deadline watches new connections from their first byte, and (by default) the
   * server's `close()` starts the shutdown, since `'close'` itself fires only once every
   * socket, websockets included, has ended.
   * @param server - a `node:http` or `node:https` server
   * @param onUpgrade - the adapter's upgrade handler (usually calls `begin()`)
   * @param options - whether the server's `close()` shuts the connections down
   * @returns detaches again
   * @throws TypeError when this lifecycle is attached to the server already
   */
  attach(
    server: Server,
    onUpgrade: (request: IncomingMessage, socket: Duplex, head: Buffer) => void,
    options: AttachOptions = {},
  ): () => void {
    if (this.#servers.has(server)) {
      throw new TypeError(`${this.#name}: this server is attached already`);
    }
    this.#servers.add(server);
    const unwatch = this.#deadline.watch(server);
    server.on('upgrade', onUpgrade);
    const ownClose = Object.getOwnPropertyDescriptor(server, 'close');
    if (options.closeWithServer !== false) {
      const close = server.close;
      const shutdown = (): Promise<void> => this.shutdown();
      // An own property of this server, not a patch of `Server.prototype`.
      Object.defineProperty(server, 'close', {
        configurable: true,
        writable: true,
        value(this: Server, callback?: (error?: Error) => void): Server {
          void shutdown();
          return close.call(this, callback);
        },
      });
    }
    return () => {
      unwatch();
      server.off('upgrade', onUpgrade);
      this.#servers.delete(server);
      if (options.closeWithServer === false) return;
      if (ownClose) Object.defineProperty(server, 'close', ownClose);
      else delete (server as Partial<Server>).close;
    };
  }

  /**
   * Admits an upgrade request: refuses it on the raw socket when its headers exceed the limits
   * (431), shutdown has begun (503), the client used up its handshake budget or the entry
   * point is full (429, 503), or a credential in `Sec-WebSocket-Protocol` is malformed (400);
   * otherwise takes that credential out of the offer (`exchange.token`) and starts the
   * exchange, with what is left of the handshake deadline. None of this runs for upgrades to
   * other protocols (`h2c`), which are plain HTTP.
   * @param request - the upgrade request
   * @param socket - its raw socket
   * @param head - bytes that arrived after the request headers
   * @param binding - when the exchange's response is bound to the socket
   * @returns the exchange, or undefined when the request was refused or another entry point
   *   already handles it
   */
  begin(
    request: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    binding: ResponseBinding,
  ): UpgradeExchange | undefined {
    if ((request as RequestWithExchange)[kExchange] !== undefined) return undefined;
    const { maxHeaderCount, maxHeaderBytes } = this.options;
    const refusal =
      checkHeaderLimits(request.rawHeaders, { maxHeaderCount, maxHeaderBytes }) ??
      (this.#registry.isShuttingDown ? shuttingDownError() : undefined);
    const admitted =
      refusal ?? (isWebSocketUpgrade(request) ? this.admission.begin(request) : undefined);
    if (admitted && 'isBoom' in admitted) {
      reject(socket, admitted);
      return undefined;
    }
    const timeout = this.#deadline.remaining(socket);
    const exchange = new UpgradeExchange(this, request, socket, head, binding, timeout, admitted);
    (request as RequestWithExchange)[kExchange] = exchange;
    return exchange;
  }

  /**
   * Closes every connection with 1001 (or `options.code`) and refuses new upgrades with 503.
   * @param options - code, reason, and the deadline (default `shutdownTimeout`)
   * @returns resolves once every connection is closed
   */
  async shutdown(options: ShutdownOptions = {}): Promise<void> {
    await this.#registry.shutdown({ timeout: this.options.shutdownTimeout, ...options });
    await this.topics.close();
  }

  /** @param connection - a connection just accepted */
  onConnectionOpened(connection: AnyConnection): void {
    this.#registry.add(connection);
  }

  /** @param connection - a connection whose socket closed */
  onConnectionClosed(connection: AnyConnection): void {
    this.#registry.delete(connection);
    this.admission.release(connection);
  }

  /**
   * Sheds load: closes open connections with 1013 (Try Again Later).
   * @param selection - how many (the newest first), or a predicate picking them
   * @param reason - the close reason
   * @returns how many were told to close
   * @throws RangeError for a count that is not an integer >= 0
   */
  shed(selection: ShedSelection, reason?: string): number {
    return shedConnections(this.#registry.connections, selection, reason);
  }

  /**
   * @param connection - the connection whose handler failed
   * @param error - the failure, code `WS_HANDLER_ERROR`, with what the handler threw as `cause`
   */
  onUnhandledError(connection: AnyConnection, error: WebSocketError): void {
    try {
      this.#logError(error, connection);
    } catch {
      // A logger that throws has nowhere left to report to.
    }
  }
}
