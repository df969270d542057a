/**
 * Close codes as typed values: the RFC 6455 §7.4.1 / IANA registry names for 1000–1015, and
 * the private-use codes this client sends when it gives up on a connection itself.
 * @module
 */

/** The registered close codes 1000–1015, by name (RFC 6455 §7.4.1, IANA registry). */
export const CloseCode = {
  NORMAL_CLOSURE: 1000,
  GOING_AWAY: 1001,
  PROTOCOL_ERROR: 1002,
  UNSUPPORTED_DATA: 1003,
  RESERVED: 1004,
  NO_STATUS_RECEIVED: 1005,
  ABNORMAL_CLOSURE: 1006,
  INVALID_FRAME_PAYLOAD_DATA: 1007,
  POLICY_VIOLATION: 1008,
  MESSAGE_TOO_BIG: 1009,
  MANDATORY_EXTENSION: 1010,
  INTERNAL_ERROR: 1011,
  SERVICE_RESTART: 1012,
  TRY_AGAIN_LATER: 1013,
  BAD_GATEWAY: 1014,
  TLS_HANDSHAKE: 1015,
} as const;

/** The name of a registered close code. */
export type CloseCodeName = keyof typeof CloseCode;
/** A registered close code, 1000–1015. */
export type KnownCloseCode = (typeof CloseCode)[CloseCodeName];

/**
 * The codes this client closes with when it fails a connection itself. A WHATWG WebSocket may
 * only send 1000 or 3000–4999, so these mirror 1002, 1007, 1008 and 1011 in the private range.
 */
export const ClientCloseCode = {
  /** The server selected a protocol that was not offered, or none. */
  UNEXPECTED_PROTOCOL: 4002,
  /** A message the contract's codec could not decode. */
  DECODE_FAILED: 4007,
  /** A message the contract's schema rejected. */
  INVALID_MESSAGE: 4008,
  /** The contract's schema threw instead of answering. */
  VALIDATOR_FAILED: 4011,
} as const;

/** How a connection ended. */
export interface CloseInfo {
  /** The close code: the peer's, 1005 when its close frame had none, 1006 without a close frame. */
  readonly code: KnownCloseCode | (number & {});
  /** The close reason ('' when none). */
  readonly reason: string;
  /** Whether the closing handshake completed. */
  readonly wasClean: boolean;
  /** The registered name of `code`, or `undefined` outside 1000–1015. */
  readonly name: CloseCodeName | undefined;
}

const NAMES = Object.keys(CloseCode) as CloseCodeName[];

/**
 * @param code - a close code
 * @returns its registered name, or `undefined` outside 1000–1015
 */
export function closeCodeName(code: number): CloseCodeName | undefined {
  return NAMES[code - 1000];
}

/**
 * @param code - the close code
 * @param reason - the close reason
 * @param wasClean - whether the closing handshake completed
 * @returns a {@link CloseInfo}
 */
export function closeInfo(code: number, reason: string, wasClean: boolean): CloseInfo {
  return { code, reason, wasClean, name: closeCodeName(code) };
}
