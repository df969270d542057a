/**
 * The client's errors: one class, a stable `code` per cause.
 * @module
 */
import type { ValidationIssue } from '@wsroute/contract';
import type { CloseInfo } from './close-info.js';

/**
 * Why the client failed:
 * - `HANDSHAKE_FAILED`: the connection closed before it opened (refused, unreachable, or a
 *   handshake the WebSocket implementation rejected, such as an unoffered protocol); see `close`.
 * - `UNEXPECTED_PROTOCOL`: the server selected a protocol that is not one of the contracts
 *   (e.g. it echoed the token carrier); see `protocol`.
 * - `NO_PROTOCOL`: the server selected no protocol.
 * - `DECODE_FAILED`: the contract's codec threw on a message; see `cause`.
 * - `INVALID_MESSAGE`: the contract's schema rejected a message; see `issues` and `data`.
 * - `VALIDATOR_FAILED`: the contract's schema threw or rejected; see `cause`.
 */
export type ClientErrorCode =
  | 'HANDSHAKE_FAILED'
  | 'UNEXPECTED_PROTOCOL'
  | 'NO_PROTOCOL'
  | 'DECODE_FAILED'
  | 'INVALID_MESSAGE'
  | 'VALIDATOR_FAILED';

/** Details of a {@link ClientError}, by cause. */
export interface ClientErrorDetails {
  /** How the connection ended (`HANDSHAKE_FAILED`). */
  readonly close?: CloseInfo;
  /** The protocol the server selected (`UNEXPECTED_PROTOCOL`). */
  readonly protocol?: string;
  /** What the schema found (`INVALID_MESSAGE`). */
  readonly issues?: readonly ValidationIssue[];
  /** The decoded message the schema rejected (`INVALID_MESSAGE`). */
  readonly data?: unknown;
  /** The underlying error (`DECODE_FAILED`, `VALIDATOR_FAILED`, `HANDSHAKE_FAILED`). */
  readonly cause?: unknown;
}

/** An error of the client; tests and callers switch on `code`, never on the message. */
export class ClientError extends Error implements ClientErrorDetails {
  override readonly name = 'ClientError';
  /** The stable cause. */
  readonly code: ClientErrorCode;
  readonly close?: CloseInfo;
  readonly protocol?: string;
  readonly issues?: readonly ValidationIssue[];
  readonly data?: unknown;

  /**
   * @param code - the cause
   * @param message - a human-readable description
   * @param details - what goes with the cause
   */
  constructor(code: ClientErrorCode, message: string, details: ClientErrorDetails = {}) {
    super(message, { cause: details.cause });
    this.code = code;
    if (details.close !== undefined) this.close = details.close;
    if (details.protocol !== undefined) this.protocol = details.protocol;
    if (details.issues !== undefined) this.issues = details.issues;
    if ('data' in details) this.data = details.data;
  }
}
