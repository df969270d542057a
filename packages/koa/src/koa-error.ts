/**
 * Boom errors in Koa's error model. Koa's `ctx.onerror` answers from `err.status`,
 * `err.expose` and `err.headers` and knows nothing of Boom, so a thrown Boom would otherwise
 * become a 500.
 * @module
 */
import type Boom from '@hapi/boom';
import { describeRejection } from '@wsroute/core/adapter';

/**
 * The answer to a plain request (no upgrade) on a websocket route, core's
 * `upgradeRequiredError`: 426 with `Upgrade: websocket` and `Sec-WebSocket-Version: 13`
 * (RFC 7231 §6.5.15, RFC 6455 §4.4) and code `WS_UPGRADE_REQUIRED`.
 */
export { upgradeRequiredError as upgradeRequired } from '@wsroute/core/adapter';

/** The fields Koa's `ctx.onerror` reads to write an error answer. */
export interface KoaErrorFields {
  /** The HTTP status Koa answers with. */
  status: number;
  /** Whether Koa sends `message` as the body (true for 4xx) or the status text (5xx). */
  expose: boolean;
  /** Response headers Koa sets on the error answer. */
  headers: Record<string, string | string[]>;
}

/** A Boom that Koa's own error handling answers with the Boom's status, headers and message. */
export type KoaBoom<TData = unknown> = Boom.Boom<TData> & KoaErrorFields;

/**
 * Adds Koa's error fields to a Boom so that Koa answers it as the Boom describes, with the
 * status and headers core's `reject()` would send (see `describeRejection`):
 * `output.statusCode` as status (a non-error status becomes 500), `output.headers` as headers
 * (numbers as strings; undefined values, invalid names and the framing headers dropped; control
 * characters replaced by spaces), the message as body for 4xx (5xx bodies are Koa's status
 * text, so server errors leak nothing). The Boom is changed in place, so error handlers
 * upstream still see the same Boom (`isBoom`, `data.code`).
 * @param boom - any Boom, e.g. `Boom.unauthorized()` or a handshake error from core
 * @returns the same Boom, typed with Koa's error fields
 */
export function toKoaError<TData>(boom: Boom.Boom<TData>): KoaBoom<TData> {
  const { statusCode, headers } = describeRejection(boom);
  const fields: KoaErrorFields = { status: statusCode, expose: statusCode < 500, headers };
  return Object.assign(boom, fields);
}
