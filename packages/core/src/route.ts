/**
 * A websocket route: its subprotocols with their handlers, its selection policy and limits,
 * compiled once at registration; and `negotiate()`, which turns an upgrade request into an
 * accepted handshake or a Boom without any I/O.
 * @module
 */
import {
  compileRouteAdmission,
  type RouteAdmission,
  type RouteAdmissionOptions,
} from './admission.js';
import type { ConnectionOptions } from './connection-types.js';
import { DEFAULT_LIMITS } from './constants.js';
import {
  type PerMessageDeflateOptions,
  resolvePerMessageDeflateOptions,
} from './deflate-options.js';
import { type HandshakeError, HandshakeErrorCode, handshakeError } from './errors.js';
import { parseExtensionHeader } from './extension-header.js';
import {
  computeAcceptKey,
  type UpgradeRequestInfo,
  type ValidatedUpgrade,
  validateUpgradeRequest,
} from './handshake.js';
import { type NegotiatedDeflateParams, negotiatePerMessageDeflate } from './permessage-deflate.js';
import { type ErasedProtocol, eraseProtocol, type ProtocolLike } from './protocol.js';
import { isToken, selectProtocol } from './subprotocol.js';

/**
 * Chooses the subprotocol from the client's offer. Whatever it returns must be one of the
 * offered protocols that the route supports, or undefined for none; anything else is refused
 * with 500 (`WS_PROTOCOL_SELECTION`) and never echoed to the client.
 */
export type ProtocolSelector = (
  offered: readonly string[],
  supported: readonly string[],
  request: UpgradeRequestInfo,
) => string | undefined | Promise<string | undefined>;

/** Limits and timers of a route; every field is optional and has a safe default. */
export interface RouteLimits {
  /** Largest incoming message in bytes; larger ones close with 1009. @default 16 MiB */
  readonly maxPayload?: number;
  /** Most frames per incoming message; more close with 1009. @default 1024 */
  readonly maxFragments?: number;
  /** Largest outgoing frame; larger messages are fragmented. @default 4 MiB */
  readonly maxFrameSize?: number;
  /** Closing handshake timeout in ms, after which the socket is destroyed. @default 5000 */
  readonly closeTimeout?: number;
  /** Ping interval in ms; a peer silent for a whole interval is terminated. 0 = off. @default 30000 */
  readonly heartbeatInterval?: number;
  /** Close with 1001 after this many ms without an incoming message. 0 = off. @default 0 */
  readonly idleTimeout?: number;
  /** `send()` returns false once this many bytes wait to be written. @default 65536 */
  readonly sendHighWaterMark?: number;
  /**
   * Reading from the peer pauses once this many bytes wait to be written (the socket's buffer
   * plus queued frames, replies and pongs included) and resumes when half of them are: a peer
   * that sends without reading meets TCP backpressure, whatever the handler does with `send()`'s
   * result. `Infinity` turns it off.
   * @default the larger of 1 MiB and `sendHighWaterMark`
   */
  readonly outputHighWaterMark?: number;
  /** Reading pauses while this many async `onMessage` calls are pending. @default 64 */
  readonly maxPendingMessages?: number;
  /** Reading pauses while this many bytes of messages wait for a consumer. @default 1 MiB */
  readonly inboxHighWaterMark?: number;
  /**
   * Hard cap on incoming bytes held by a connection (partial frames, fragments, messages waiting
   * for a consumer); crossing it closes with 1009 (`WS_BUFFER_OVERFLOW`). Reading pauses long
   * before in normal operation; this bounds memory whatever happens.
   * @default the larger of 32 MiB and 2 × maxPayload
   */
  readonly maxBufferedBytes?: number;
}

/**
 * What a route declares.
 * @typeParam TData - per-connection data attached at upgrade time
 */
export interface RouteOptions<TData> extends RouteLimits, RouteAdmissionOptions {
  /** The subprotocols the route speaks, each bound to its handlers (`defineProtocol`). */
  readonly protocols?: Readonly<Record<string, ProtocolLike<TData>>>;
  /**
   * Handlers for clients that offer no subprotocol. Without it such clients are refused with
   * 400 (`WS_PROTOCOL_REQUIRED`).
   */
  readonly defaultProtocol?: ProtocolLike<TData>;
  /** Custom selection; by default the first protocol in the client's order that the route supports. */
  readonly selectProtocol?: ProtocolSelector;
  /**
   * When the client offers only protocols the route does not support: `'reject'` answers 400
   * naming the supported ones (`WS_PROTOCOL_UNSUPPORTED`); `'accept'` accepts without a
   * `Sec-WebSocket-Protocol` header and uses `defaultProtocol` (which must then be declared).
   * @default 'reject'
   */
  readonly unsupportedProtocol?: 'reject' | 'accept';
  /**
   * permessage-deflate (RFC 7692): `true` for the defaults, or options. Off by default.
   * @default false
   */
  readonly perMessageDeflate?: boolean | PerMessageDeflateOptions;
}

/** A route compiled by {@link createRoute}. */
export interface WebSocketRoute<TData> {
  readonly supported: readonly string[];
  readonly options: RouteOptions<TData>;
  readonly connection: ConnectionOptions;
  readonly protocols: ReadonlyMap<string, ErasedProtocol<TData>>;
  readonly defaultProtocol: ErasedProtocol<TData> | undefined;
  /** Resolved permessage-deflate options, undefined when compression is off. */
  readonly deflate: PerMessageDeflateOptions | undefined;
  /** Origin policy, limits and counters, credential carrier (checked by the lifecycle). */
  readonly admission: RouteAdmission;
}

/** The result of a successful negotiation, ready for `accept()`. */
export interface AcceptedHandshake<TData> {
  /** `Sec-WebSocket-Accept` (RFC 6455 §4.2.2). */
  readonly acceptKey: string;
  /** The selected subprotocol, answered in `Sec-WebSocket-Protocol`; undefined for none. */
  readonly protocol: string | undefined;
  /** The `Sec-WebSocket-Extensions` answer, if any. */
  readonly extensions: string | undefined;
  /** The handlers of the selected protocol. */
  readonly handlers: ErasedProtocol<TData>;
  /** The connection options of the route. */
  readonly connection: ConnectionOptions;
  /** The agreed permessage-deflate parameters and the route's options, when negotiated. */
  readonly deflate?: {
    readonly params: NegotiatedDeflateParams;
    readonly options: PerMessageDeflateOptions;
  };
}

function positive(name: string, value: number | undefined, fallback: number, zero = false): number {
  if (value === undefined) return fallback;
  const isValid = Number.isFinite(value) || value === Number.POSITIVE_INFINITY;
  if (!isValid || value < 0 || (value === 0 && !zero)) {
    throw new TypeError(`${name} must be a ${zero ? 'non-negative' : 'positive'} number`);
  }
  return value;
}

/**
 * Resolves limits against the defaults.
 * @param limits - what the route declared
 * @returns complete connection options
 * @throws TypeError for a negative, zero or non-numeric limit
 */
export function resolveLimits(limits: RouteLimits): ConnectionOptions {
  return {
    maxPayload: positive('maxPayload', limits.maxPayload, DEFAULT_LIMITS.maxPayload),
    maxFragments: positive('maxFragments', limits.maxFragments, DEFAULT_LIMITS.maxFragments),
    maxFrameSize: positive('maxFrameSize', limits.maxFrameSize, DEFAULT_LIMITS.maxFrameSize),
    closeTimeout: positive('closeTimeout', limits.closeTimeout, DEFAULT_LIMITS.closeTimeout),
    heartbeatInterval: positive('heartbeatInterval', limits.heartbeatInterval, 30_000, true),
    idleTimeout: positive('idleTimeout', limits.idleTimeout, 0, true),
    sendHighWaterMark: positive('sendHighWaterMark', limits.sendHighWaterMark, 64 * 1024),
    outputHighWaterMark: positive(
      'outputHighWaterMark',
      limits.outputHighWaterMark,
      Math.max(1024 * 1024, limits.sendHighWaterMark ?? 0),
    ),
    maxPendingMessages: positive('maxPendingMessages', limits.maxPendingMessages, 64),
    inboxHighWaterMark: positive('inboxHighWaterMark', limits.inboxHighWaterMark, 1024 * 1024),
    maxBufferedBytes: positive(
      'maxBufferedBytes',
      limits.maxBufferedBytes,
      Math.max(
        DEFAULT_LIMITS.maxBufferedBytes,
        2 * (limits.maxPayload ?? DEFAULT_LIMITS.maxPayload),
      ),
    ),
  };
}

/**
 * Checks and compiles a route declaration. Call it at registration: bad configuration throws
 * here, synchronously, never at upgrade time.
 * @param options - the route declaration
 * @returns the compiled route
 * @throws TypeError for an invalid protocol name, a missing handler or an invalid limit
 */
export function createRoute<TData>(options: RouteOptions<TData>): WebSocketRoute<TData> {
  const protocols = new Map<string, ErasedProtocol<TData>>();
  for (const [name, protocol] of Object.entries(options.protocols ?? {})) {
    if (!isToken(name))
      throw new TypeError(`subprotocol name ${JSON.stringify(name)} is not a token`);
    const erased = eraseProtocol(protocol);
    // A protocol bound to a contract answers to the contract's name only.
    if (erased.name !== undefined && erased.name !== name) {
      throw new TypeError(
        `subprotocol ${JSON.stringify(name)} is bound to the contract ${JSON.stringify(erased.name)}`,
      );
    }
    protocols.set(name, erased);
  }
  const defaultProtocol = options.defaultProtocol
    ? eraseProtocol(options.defaultProtocol)
    : undefined;
  if (protocols.size === 0 && !defaultProtocol) {
    throw new TypeError('a websocket route needs `protocols` or a `defaultProtocol`');
  }
  const policy = options.unsupportedProtocol;
  if (policy !== undefined && policy !== 'reject' && policy !== 'accept') {
    throw new TypeError("unsupportedProtocol must be 'reject' or 'accept'");
  }
  if (policy === 'accept' && !defaultProtocol) {
    throw new TypeError("unsupportedProtocol: 'accept' needs a `defaultProtocol`");
  }
  if (options.selectProtocol !== undefined && typeof options.selectProtocol !== 'function') {
    throw new TypeError('selectProtocol must be a function');
  }
  const deflateOption = options.perMessageDeflate;
  const deflate =
    deflateOption === undefined || deflateOption === false
      ? undefined
      : resolvePerMessageDeflateOptions(deflateOption === true ? {} : deflateOption);
  return {
    supported: [...protocols.keys()],
    options,
    connection: resolveLimits(options),
    protocols,
    defaultProtocol,
    deflate,
    admission: compileRouteAdmission(options),
  };
}

/** The subprotocol chosen for an offer, or a refusal; a Promise only for an async selector. */
type Choice = string | undefined | HandshakeError;

function selectionFailed(message: string): HandshakeError {
  return handshakeError(500, HandshakeErrorCode.ProtocolSelection, message);
}

/** Checks a custom selector's answer: never echo what the client did not offer (RFC 6455 §4.1). */
function checkChoice<TData>(
  route: WebSocketRoute<TData>,
  offered: readonly string[],
  chosen: unknown,
): Choice {
  if (chosen === undefined) return undefined;
  if (typeof chosen !== 'string' || !offered.includes(chosen) || !route.protocols.has(chosen)) {
    return selectionFailed(
      'Subprotocol selection returned a protocol that was not offered or is not supported',
    );
  }
  return chosen;
}

function choose<TData>(
  route: WebSocketRoute<TData>,
  offered: readonly string[],
  request: UpgradeRequestInfo,
): Choice | Promise<Choice> {
  const select = route.options.selectProtocol;
  // The route's map of protocols answers `has()`: no set is built per handshake.
  if (!select) return selectProtocol(offered, route.protocols);
  let chosen: unknown;
  try {
    chosen = select(offered, route.supported, request);
  } catch {
    return selectionFailed('Subprotocol selection failed');
  }
  if (!(chosen instanceof Promise)) return checkChoice(route, offered, chosen);
  return chosen.then(
    (value: unknown) => checkChoice(route, offered, value),
    () => selectionFailed('Subprotocol selection failed'),
  );
}

/** The result of {@link negotiate}: synchronous unless the route's selector is async. */
export type Negotiation<TData> = AcceptedHandshake<TData> | HandshakeError;

/**
 * Validates an upgrade request against a route and negotiates its subprotocol. No I/O: the
 * caller writes the result with `accept()` or `reject()`. Synchronous unless the route
 * declares an async `selectProtocol`. The route's admission (origin, limits, credential) is
 * not checked here but by the lifecycle (`admission.ts`), which knows the socket and client.
 * @param request - the upgrade request (a Node `IncomingMessage` fits)
 * @param route - the compiled route
 * @returns the accepted handshake, or a Boom to answer with (in a Promise for an async selector)
 */
export function negotiate<TData>(
  request: UpgradeRequestInfo,
  route: WebSocketRoute<TData>,
): Negotiation<TData> | Promise<Negotiation<TData>> {
  const upgrade = validateUpgradeRequest(request);
  if ('isBoom' in upgrade) return upgrade;
  const offered = upgrade.offeredProtocols;
  if (offered.length === 0) {
    if (!route.defaultProtocol) {
      return handshakeError(
        400,
        HandshakeErrorCode.ProtocolRequired,
        `This route requires a subprotocol: ${route.supported.join(', ')}`,
      );
    }
    return finish(route, upgrade, undefined, route.defaultProtocol);
  }
  const chosen = choose(route, offered, request);
  if (chosen instanceof Promise) return chosen.then((value) => settle(route, upgrade, value));
  return settle(route, upgrade, chosen);
}

/** Turns the chosen subprotocol (or none) into the handshake. */
function settle<TData>(
  route: WebSocketRoute<TData>,
  upgrade: ValidatedUpgrade,
  chosen: Choice,
): Negotiation<TData> {
  if (typeof chosen === 'object') return chosen;
  if (chosen !== undefined) {
    const handlers = route.protocols.get(chosen);
    if (handlers) return finish(route, upgrade, chosen, handlers);
  }
  if (route.options.unsupportedProtocol !== 'accept' || !route.defaultProtocol) {
    return handshakeError(
      400,
      HandshakeErrorCode.ProtocolUnsupported,
      `Unsupported subprotocol; this route supports: ${route.supported.join(', ') || '(none)'}`,
    );
  }
  return finish(route, upgrade, undefined, route.defaultProtocol);
}

function finish<TData>(
  route: WebSocketRoute<TData>,
  upgrade: ValidatedUpgrade,
  protocol: string | undefined,
  handlers: ErasedProtocol<TData>,
): Negotiation<TData> {
  const accepted = {
    acceptKey: computeAcceptKey(upgrade.key),
    protocol,
    handlers,
    connection: route.connection,
    extensions: undefined,
  };
  if (!route.deflate || upgrade.extensions.length === 0) return accepted;
  // RFC 6455 §9.1: on a route with compression, a malformed header is refused even when no
  // offer would be taken. Routes without it ignore the header, as ws does.
  const offers = parseExtensionHeader(upgrade.extensions);
  if ('isBoom' in offers) return offers;
  const negotiated = negotiatePerMessageDeflate(offers, route.deflate);
  if (!negotiated) return accepted;
  return {
    ...accepted,
    extensions: negotiated.response,
    deflate: { params: negotiated.params, options: route.deflate },
  };
}
