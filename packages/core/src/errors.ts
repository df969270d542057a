/**
 * Stable error codes and the Boom factories for handshake rejections.
 *
 * Before the 101 every failure is a `@hapi/boom` error whose `data.code` is one of
 * {@link HandshakeErrorCode}; after the 101 every failure is a close frame whose reason is
 * reported together with one of {@link ProtocolErrorCode}.
 * @module
 */
import Boom from '@hapi/boom';
import type { ValidationIssue as StandardSchemaIssue } from '@wsroute/contract';
import { WEBSOCKET_VERSION } from './constants.js';

/** Machine-readable codes of handshake rejections, found in `boom.data.code`. */
export const HandshakeErrorCode = {
  MethodNotAllowed: 'WS_METHOD_NOT_ALLOWED',
  HttpVersion: 'WS_HTTP_VERSION',
  UpgradeHeader: 'WS_UPGRADE_HEADER',
  ConnectionHeader: 'WS_CONNECTION_HEADER',
  HostHeader: 'WS_HOST_HEADER',
  KeyHeader: 'WS_KEY_HEADER',
  VersionHeader: 'WS_VERSION_HEADER',
  ProtocolHeader: 'WS_PROTOCOL_HEADER',
  ProtocolRequired: 'WS_PROTOCOL_REQUIRED',
  ProtocolUnsupported: 'WS_PROTOCOL_UNSUPPORTED',
  ProtocolSelection: 'WS_PROTOCOL_SELECTION',
  ExtensionHeader: 'WS_EXTENSION_HEADER',
  Origin: 'WS_ORIGIN_FORBIDDEN',
  /** No `Origin` header on an entry point or route with `requireOrigin`. */
  OriginRequired: 'WS_ORIGIN_REQUIRED',
  NotFound: 'WS_NOT_FOUND',
  UpgradeRequired: 'WS_UPGRADE_REQUIRED',
  HeadersTooLarge: 'WS_HEADERS_TOO_LARGE',
  HandshakeTimeout: 'WS_HANDSHAKE_TIMEOUT',
  ShuttingDown: 'WS_SHUTTING_DOWN',
  Internal: 'WS_INTERNAL',
  /** 429: the client used up its handshake budget (`handshakesPerClient`). */
  RateLimited: 'WS_RATE_LIMITED',
  /** 429: the client has `maxConnectionsPerClient` connections open already. */
  ClientConnectionLimit: 'WS_CLIENT_CONNECTION_LIMIT',
  /** 503: `maxConnections` connections are open already. */
  TooManyConnections: 'WS_TOO_MANY_CONNECTIONS',
  /** 400: more than one credential in `Sec-WebSocket-Protocol`. */
  CredentialDuplicate: 'WS_CREDENTIAL_DUPLICATE',
  /** 400: a credential that is not canonical base64url (no padding) of UTF-8 text. */
  CredentialMalformed: 'WS_CREDENTIAL_MALFORMED',
  /** 400: a credential offered without any real subprotocol next to it. */
  CredentialWithoutProtocol: 'WS_CREDENTIAL_WITHOUT_PROTOCOL',
  /** 400: a credential offered to a route that does not take one (`tokenCarrier`). */
  CredentialUnexpected: 'WS_CREDENTIAL_UNEXPECTED',
} as const;
export type HandshakeErrorCode = (typeof HandshakeErrorCode)[keyof typeof HandshakeErrorCode];

/** Machine-readable codes of failures after the 101, reported with the close code sent. */
export const ProtocolErrorCode = {
  UnmaskedFrame: 'WS_UNMASKED_FRAME',
  MaskedFrame: 'WS_MASKED_FRAME',
  ReservedBits: 'WS_RESERVED_BITS',
  InvalidOpcode: 'WS_INVALID_OPCODE',
  ControlFragmented: 'WS_CONTROL_FRAGMENTED',
  ControlTooLong: 'WS_CONTROL_TOO_LONG',
  UnexpectedContinuation: 'WS_UNEXPECTED_CONTINUATION',
  ExpectedContinuation: 'WS_EXPECTED_CONTINUATION',
  InvalidLength: 'WS_INVALID_LENGTH',
  InvalidUtf8: 'WS_INVALID_UTF8',
  InvalidCloseCode: 'WS_INVALID_CLOSE_CODE',
  InvalidClosePayload: 'WS_INVALID_CLOSE_PAYLOAD',
  MessageTooBig: 'WS_MESSAGE_TOO_BIG',
  TooManyFragments: 'WS_TOO_MANY_FRAGMENTS',
  BufferOverflow: 'WS_BUFFER_OVERFLOW',
  InflateFailed: 'WS_INFLATE_FAILED',
  DecodeFailed: 'WS_DECODE_FAILED',
  ValidationFailed: 'WS_VALIDATION_FAILED',
  HandlerError: 'WS_HANDLER_ERROR',
  HeartbeatTimeout: 'WS_HEARTBEAT_TIMEOUT',
  IdleTimeout: 'WS_IDLE_TIMEOUT',
  CloseTimeout: 'WS_CLOSE_TIMEOUT',
  SocketError: 'WS_SOCKET_ERROR',
} as const;
export type ProtocolErrorCode = (typeof ProtocolErrorCode)[keyof typeof ProtocolErrorCode];

/** What a handshake Boom carries in `data`. */
export interface HandshakeErrorData {
  readonly code: HandshakeErrorCode;
  /** Extra response headers, e.g. `Allow` for 405 or `Sec-WebSocket-Version` for 426. */
  readonly headers?: Readonly<Record<string, string>>;
}

/** A Boom whose `data` is {@link HandshakeErrorData}. */
export type HandshakeError = Boom.Boom<HandshakeErrorData>;

/**
 * Builds the Boom for a handshake rejection.
 * @param statusCode - the HTTP status to answer with (4xx or 5xx)
 * @param code - the stable error code, placed in `data.code`
 * @param message - a short human-readable explanation, sent as the response body
 * @param headers - extra response headers
 * @returns a Boom error; it is returned, never thrown, by the core
 */
export function handshakeError(
  statusCode: number,
  code: HandshakeErrorCode,
  message: string,
  headers?: Readonly<Record<string, string>>,
): HandshakeError {
  const data: HandshakeErrorData = headers ? { code, headers } : { code };
  const err = new Boom.Boom<HandshakeErrorData>(message, { statusCode, data });
  if (headers) Object.assign(err.output.headers, headers);
  return err;
}

/**
 * The 426 for a plain request (no upgrade) to a websocket-only endpoint: it names the protocol
 * to upgrade to (RFC 9110 §15.5.22) and the only version spoken (RFC 6455 §4.2.2, §4.4).
 * @returns a 426 Boom with code `WS_UPGRADE_REQUIRED`, message `Upgrade Required` and the
 *   headers `Upgrade: websocket` and `Sec-WebSocket-Version: 13`
 */
export function upgradeRequiredError(): HandshakeError {
  return handshakeError(426, HandshakeErrorCode.UpgradeRequired, 'Upgrade Required', {
    Upgrade: 'websocket',
    'Sec-WebSocket-Version': WEBSOCKET_VERSION,
  });
}

/**
 * The 404 for an upgrade that no websocket route serves: an unknown path, or a plain HTTP
 * route (a 2xx without 101 would tell a websocket client nothing).
 * @returns a 404 Boom with code `WS_NOT_FOUND` and message `Not Found`
 */
export function notFoundError(): HandshakeError {
  return handshakeError(404, HandshakeErrorCode.NotFound, 'Not Found');
}

/**
 * The 503 for an upgrade that arrives once shutdown has begun: a connection accepted now would
 * never be closed by it.
 * @returns a 503 Boom with code `WS_SHUTTING_DOWN` and message `Server shutting down`
 */
export function shuttingDownError(): HandshakeError {
  return handshakeError(503, HandshakeErrorCode.ShuttingDown, 'Server shutting down');
}

/**
 * The 408 for a handshake that outlasted `handshakeTimeout`: request headers still incomplete
 * (the handshake deadline's sweep) or an upgrade still undecided (the exchange's timer).
 * @returns a 408 Boom with code `WS_HANDSHAKE_TIMEOUT` and message `Handshake timed out`
 */
export function handshakeTimeoutError(): HandshakeError {
  return handshakeError(408, HandshakeErrorCode.HandshakeTimeout, 'Handshake timed out');
}

/**
 * The 500 for an upgrade that failed inside the server (a router or framework error nobody
 * answered). Boom replaces the payload message of every 500 with a generic text, so the
 * answer reveals nothing.
 * @returns a 500 Boom with code `WS_INTERNAL` and message `Internal Server Error`
 */
export function internalError(): HandshakeError {
  return handshakeError(500, HandshakeErrorCode.Internal, 'Internal Server Error');
}

/**
 * Whether a value is a handshake Boom made by {@link handshakeError}.
 * @param value - anything
 * @returns true for a Boom carrying a handshake error code
 */
export function isHandshakeError(value: unknown): value is HandshakeError {
  if (!Boom.isBoom(value)) return false;
  const data: unknown = value.data;
  return typeof data === 'object' && data !== null && 'code' in data;
}

/** An error raised after the 101, with the close code that was (or will be) sent. */
export class WebSocketError extends Error {
  /** The close code sent to the peer. */
  readonly closeCode: number;
  /** The stable error code. */
  readonly code: ProtocolErrorCode;
  /**
   * What a contract's Standard Schema found wrong (`WS_VALIDATION_FAILED` from a schema);
   * undefined otherwise.
   */
  readonly issues: readonly StandardSchemaIssue[] | undefined;
  /**
   * @param closeCode - the close code sent to the peer
   * @param code - the stable error code
   * @param message - a human-readable explanation
   * @param options - `cause`, and `issues` of a failed schema
   */
  constructor(
    closeCode: number,
    code: ProtocolErrorCode,
    message: string,
    options?: ErrorOptions & { readonly issues?: readonly StandardSchemaIssue[] },
  ) {
    super(message, options);
    this.name = 'WebSocketError';
    this.closeCode = closeCode;
    this.code = code;
    this.issues = options?.issues;
  }
}
