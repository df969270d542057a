/**
 * Admission: which upgrade requests may become connections, written once for every entry
 * point. The lifecycle runs it in three places:
 *
 * ```
 *   begin()        credential taken out of Sec-WebSocket-Protocol (400s)
 *                  entry point: client's handshake budget (429), room for a connection (503/429)
 *   complete()     route takes a credential? (400), origin (403),
 *     before         route: client's handshake budget (429), room (503/429)
 *     negotiation
 *   the 101        room again, at once with counting the connection (no race with
 *                  handshakes whose hooks ran meanwhile) (503/429)
 *   close          the connection's counts released
 * ```
 *
 * and `shed()` closes open connections with 1013 when the application decides it is
 * overloaded.
 * @module
 */
import type { IncomingMessage } from 'node:http';
import {
  AdmissionGate,
  type AdmissionLimits,
  type ResolvedAdmissionLimits,
  resolveAdmissionLimits,
} from './admission-gate.js';
import {
  type ClientAddress,
  clientAddressOf,
  type ResolvedTrustProxy,
  resolveTrustProxy,
  type TrustProxy,
} from './client-address.js';
import { CloseCode } from './close-codes.js';
import type { AnyConnection } from './connection-types.js';
import { resolveTokenPrefix, takeToken } from './credentials.js';
import { type HandshakeError, HandshakeErrorCode, handshakeError } from './errors.js';
import {
  checkOrigin,
  type OriginPolicy,
  type RequestSite,
  type ResolvedOriginPolicy,
  resolveOriginPolicy,
} from './origin.js';

/** Origin options, on an entry point (its default) and on a route (which overrides it). */
export interface OriginOptions {
  /**
   * Which origins may open a connection (see {@link OriginPolicy}); others get 403
   * (`WS_ORIGIN_FORBIDDEN`) before the 101. A route's setting replaces the entry point's.
   * @default 'same-origin'
   */
  readonly origins?: OriginPolicy;
  /**
   * Refuses requests without `Origin` with 403 (`WS_ORIGIN_REQUIRED`): for endpoints only
   * browsers use. Off by default, since non-browser clients send none and could send any.
   * @default false
   */
  readonly requireOrigin?: boolean;
}

/** Admission options of an entry point (the node attachment, each adapter's plugin or middleware). */
export interface EntryAdmissionOptions extends OriginOptions, AdmissionLimits {
  /**
   * The proxies whose forwarding header names the client (for per-client limits, and the host
   * for same-origin). Without it the socket's peer is the client and forwarding headers are
   * ignored. There is no "trust every proxy": it would let any client pick its address.
   * @default undefined (trust no proxy)
   */
  readonly trustProxy?: TrustProxy;
  /**
   * The prefix of the offered subprotocol that carries a credential (see `tokenCarrier` on
   * routes). A value with it is always taken out of the offer, on every route.
   * @default 'base64url.bearer.'
   */
  readonly tokenPrefix?: string;
}

/** Admission options of a route. */
export interface RouteAdmissionOptions extends OriginOptions, AdmissionLimits {
  /**
   * Whether this route takes a credential in `Sec-WebSocket-Protocol`
   * (`<tokenPrefix><base64url(token)>`, next to at least one real subprotocol). The decoded
   * token is on the request before the framework's hooks run (Fastify `request.websocketToken`,
   * Express `req.websocketToken`, Koa `ctx.ws.token`, the node attachment's
   * `upgrade(request, { token })`); they decide whether it is good. A credential offered to a
   * route without this option is refused with 400 (`WS_CREDENTIAL_UNEXPECTED`) rather than
   * ignored, so a client never believes it authenticated where nobody checked.
   * @default false
   */
  readonly tokenCarrier?: boolean;
}

/** Checked entry admission options. Internal. */
export interface ResolvedEntryAdmission {
  readonly origins: ResolvedOriginPolicy;
  readonly requireOrigin: boolean;
  readonly trustProxy: ResolvedTrustProxy | undefined;
  readonly tokenPrefix: string;
  readonly limits: ResolvedAdmissionLimits;
}

/** A route's compiled admission: its overrides and its own counters. Internal. */
export interface RouteAdmission {
  readonly origins: ResolvedOriginPolicy | undefined;
  readonly requireOrigin: boolean | undefined;
  readonly tokenCarrier: boolean;
  /** Undefined when the route sets no limit. */
  readonly gate: AdmissionGate | undefined;
}

function readBoolean(name: string, value: unknown): boolean | undefined {
  if (value !== undefined && typeof value !== 'boolean') {
    throw new TypeError(`${name} must be a boolean`);
  }
  return value;
}

/**
 * Checks an entry point's admission options, at registration.
 * @param entry - the entry point's name, for error messages
 * @param options - the entry point's options
 * @returns the checked options, defaults applied
 * @throws TypeError for an invalid option, naming the entry point
 */
export function resolveEntryAdmission(
  entry: string,
  options: EntryAdmissionOptions,
): ResolvedEntryAdmission {
  try {
    return {
      origins: resolveOriginPolicy(options.origins) ?? { kind: 'same-origin' },
      requireOrigin: readBoolean('requireOrigin', options.requireOrigin) ?? false,
      trustProxy: resolveTrustProxy(entry, options.trustProxy),
      tokenPrefix: resolveTokenPrefix(entry, options.tokenPrefix),
      limits: resolveAdmissionLimits(options),
    };
  } catch (error) {
    const isNamed = error instanceof TypeError && error.message.startsWith(`${entry}:`);
    if (error instanceof TypeError && !isNamed) throw new TypeError(`${entry}: ${error.message}`);
    throw error;
  }
}

/**
 * Checks and compiles a route's admission options, at registration.
 * @param options - the route declaration
 * @returns the route's admission, with its own counters when it sets limits
 * @throws TypeError for an invalid option
 */
export function compileRouteAdmission(options: RouteAdmissionOptions): RouteAdmission {
  const limits = resolveAdmissionLimits(options);
  const gate = new AdmissionGate(limits);
  return {
    origins: resolveOriginPolicy(options.origins),
    requireOrigin: readBoolean('requireOrigin', options.requireOrigin),
    tokenCarrier: readBoolean('tokenCarrier', options.tokenCarrier) ?? false,
    gate: gate.isLimited ? gate : undefined,
  };
}

/** What admission reads of one upgrade request: the exchange. */
export interface AdmissionSubject {
  readonly request: IncomingMessage;
  /** The credential taken out of the offer in `begin()`, if any. */
  readonly token: string | undefined;
  /** The client, resolved on first use. */
  readonly client: ClientAddress;
}

/** What `begin()` learnt of a request that may go on. */
export interface AdmittedRequest {
  readonly token: string | undefined;
  /** Resolved already when the entry point counts per client. */
  readonly client: ClientAddress | undefined;
}

/** The counts one connection holds, released once when it closes. */
export class AdmissionTicket {
  readonly #gates: readonly AdmissionGate[];
  readonly #key: string;
  #isReleased = false;

  /**
   * @param gates - the gates that counted the connection
   * @param key - its client's key
   */
  constructor(gates: readonly AdmissionGate[], key: string) {
    this.#gates = gates;
    this.#key = key;
    for (const gate of gates) gate.add(key);
  }

  /** Releases the counts; later calls do nothing. */
  release(): void {
    if (this.#isReleased) return;
    this.#isReleased = true;
    for (const gate of this.#gates) gate.remove(this.#key);
  }
}

const NO_TICKET = new AdmissionTicket([], '');

function isEncrypted(request: IncomingMessage): boolean {
  return (request.socket as { encrypted?: unknown } | null)?.encrypted === true;
}

/** Which connections {@link Admission.shed} closes: how many (the newest first), or which. */
export type ShedSelection = number | ((connection: AnyConnection) => boolean);

/**
 * Closes open connections with 1013 (Try Again Later): the newest first when given a count —
 * they have the least invested, while long-lived sessions keep their state — or those a
 * predicate picks. Clients reconnect later, or to another instance.
 * @param connections - the entry point's connections
 * @param selection - a count, or a predicate
 * @param reason - the close reason
 * @returns how many connections were told to close
 * @throws RangeError for a count that is not a non-negative integer
 */
export function shedConnections(
  connections: ReadonlySet<AnyConnection>,
  selection: ShedSelection,
  reason = 'try again later',
): number {
  const open = [...connections].filter((connection) => connection.isOpen);
  let chosen: AnyConnection[];
  if (typeof selection === 'function') {
    chosen = open.filter((connection) => selection(connection) === true);
  } else {
    if (!Number.isSafeInteger(selection) || selection < 0) {
      throw new RangeError('shed: the count must be an integer >= 0');
    }
    chosen = open.slice(Math.max(0, open.length - selection));
  }
  for (const connection of chosen) connection.close(CloseCode.TryAgainLater, reason);
  return chosen.length;
}

/** The admission of one entry point. Made by its lifecycle. */
export class Admission {
  readonly #options: ResolvedEntryAdmission;
  readonly #gate: AdmissionGate;
  /** The tickets of open connections (strong, like the registry: released when they close). */
  readonly #tickets = new Map<AnyConnection, AdmissionTicket>();

  /** @param options - the entry point's checked admission options */
  constructor(options: ResolvedEntryAdmission) {
    this.#options = options;
    this.#gate = new AdmissionGate(options.limits);
  }

  /** The entry point's own counters. */
  get gate(): AdmissionGate {
    return this.#gate;
  }

  /**
   * Resolves the client of a request (see `trustProxy`).
   * @param request - the upgrade request
   * @returns its client
   */
  clientOf(request: IncomingMessage): ClientAddress {
    return clientAddressOf(request, this.#options.trustProxy);
  }

  /**
   * The first checks, before the framework sees the request: the credential carrier, the
   * client's handshake budget and room for one more connection at the entry point.
   * @param request - a websocket upgrade request
   * @returns what the exchange keeps, or the refusal to answer on the raw socket
   */
  begin(request: IncomingMessage): AdmittedRequest | HandshakeError {
    const gate = this.#gate;
    let client: ClientAddress | undefined;
    if (gate.isLimited) {
      client = gate.isPerClient ? this.clientOf(request) : undefined;
      const key = client?.key ?? '';
      const refusal = gate.takeHandshake(key) ?? gate.checkRoom(key);
      if (refusal) return refusal;
    }
    const token = takeToken(request, this.#options.tokenPrefix);
    if (typeof token === 'object') return token;
    return { token, client };
  }

  /**
   * The checks once the route is known, before negotiation: the route takes the credential
   * offered, the origin, the route's handshake budget and room.
   * @param subject - the exchange
   * @param route - the route's compiled admission
   * @returns undefined when the request may go on, or the refusal
   */
  check(subject: AdmissionSubject, route: RouteAdmission): HandshakeError | undefined {
    if (subject.token !== undefined && !route.tokenCarrier) {
      return handshakeError(
        400,
        HandshakeErrorCode.CredentialUnexpected,
        'This route takes no credential in Sec-WebSocket-Protocol',
      );
    }
    const request = subject.request;
    const refusal = checkOrigin(
      request,
      route.origins ?? this.#options.origins,
      route.requireOrigin ?? this.#options.requireOrigin,
      () => this.#siteOf(subject),
    );
    if (refusal || !route.gate) return refusal;
    const key = subject.client.key;
    return route.gate.takeHandshake(key) ?? route.gate.checkRoom(key);
  }

  /**
   * Counts a connection about to be accepted, if it fits: called synchronously right before
   * the 101, so handshakes whose hooks ran concurrently cannot overshoot a limit together.
   * @param subject - the exchange
   * @param route - the route's compiled admission
   * @returns the ticket to bind to the connection, or the refusal
   */
  open(subject: AdmissionSubject, route: RouteAdmission): AdmissionTicket | HandshakeError {
    const isEntryLimited = this.#gate.isLimited;
    if (!isEntryLimited && !route.gate) return NO_TICKET;
    const gates: AdmissionGate[] = [];
    if (isEntryLimited) gates.push(this.#gate);
    if (route.gate) gates.push(route.gate);
    const key = gates.some((gate) => gate.isPerClient) ? subject.client.key : '';
    for (const gate of gates) {
      const refusal = gate.checkRoom(key);
      if (refusal) return refusal;
    }
    return new AdmissionTicket(gates, key);
  }

  /**
   * Ties a ticket to the connection it admitted.
   * @param connection - the connection just accepted
   * @param ticket - its ticket from {@link Admission.open}
   */
  bind(connection: AnyConnection, ticket: AdmissionTicket): void {
    if (ticket !== NO_TICKET) this.#tickets.set(connection, ticket);
  }

  /** @param connection - a connection that closed: its counts are released */
  release(connection: AnyConnection): void {
    const ticket = this.#tickets.get(connection);
    if (!ticket) return;
    ticket.release();
    this.#tickets.delete(connection);
  }

  #siteOf(subject: AdmissionSubject): RequestSite {
    const request = subject.request;
    const hasProxy = this.#options.trustProxy !== undefined;
    const client = hasProxy ? subject.client : undefined;
    const proto = client?.forwardedProto;
    const isWebScheme = proto === 'http' || proto === 'https';
    return {
      // The distinct form is built already; reading `headers` would build the joined one.
      host: client?.forwardedHost ?? request.headersDistinct.host?.[0],
      scheme: isWebScheme ? proto : isEncrypted(request) ? 'https' : undefined,
    };
  }
}
