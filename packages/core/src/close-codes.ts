/**
 * Close codes (RFC 6455 §7.4) and their validity rules.
 * @module
 */

/** Close codes the library sends or interprets. */
export const CloseCode = {
  Normal: 1000,
  GoingAway: 1001,
  ProtocolError: 1002,
  UnsupportedData: 1003,
  /** Reserved: never sent on the wire; reported when a close frame has no code. */
  NoStatus: 1005,
  /** Reserved: never sent on the wire; reported when the TCP connection ended without a close frame. */
  Abnormal: 1006,
  InvalidPayload: 1007,
  PolicyViolation: 1008,
  MessageTooBig: 1009,
  MandatoryExtension: 1010,
  InternalError: 1011,
  ServiceRestart: 1012,
  TryAgainLater: 1013,
  BadGateway: 1014,
} as const;
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

/**
 * Whether a close code may appear in a close frame on the wire (RFC 6455 §7.4.1, §7.4.2 and
 * the IANA registry): 1000–1003, 1007–1014, and 3000–4999. 1004, 1005, 1006 and 1015 are
 * reserved and never sent; everything below 1000 or from 5000 on is invalid.
 * @param code - the close code to check
 * @returns true when the code may be sent or received
 */
export function isValidCloseCode(code: number): boolean {
  if (!Number.isInteger(code)) return false;
  if (code >= 1000 && code <= 1014) {
    return code !== 1004 && code !== 1005 && code !== 1006;
  }
  return code >= 3000 && code <= 4999;
}
