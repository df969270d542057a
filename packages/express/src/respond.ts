/**
 * Plain HTTP answers through Express's response: a Boom (a handshake rejection or an error
 * from the app's middleware) becomes its status, headers and message; anything else becomes a
 * generic 500 that reveals nothing.
 * @module
 */
import { type IncomingMessage, type ServerResponse, STATUS_CODES } from 'node:http';
import Boom from '@hapi/boom';
import { describeRejection, internalError, notFoundError } from '@wsroute/core/adapter';
import type { NextCallback } from './types.js';

function isErrorStatus(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 400 && value <= 599;
}

/**
 * Reads a status from an `http-errors`-style error (`status` or `statusCode`, plus `expose` and
 * `headers`), the convention Express's own final handler follows.
 */
function fromStatusError(error: object): Boom.Boom | undefined {
  const { status, statusCode, expose, message, headers } = error as Record<string, unknown>;
  const code = isErrorStatus(status) ? status : isErrorStatus(statusCode) ? statusCode : undefined;
  if (code === undefined) return undefined;
  const isExposed = expose === true || (expose === undefined && code < 500);
  const text = isExposed && typeof message === 'string' && message !== '' ? message : undefined;
  const boom = new Boom.Boom(text ?? STATUS_CODES[code] ?? 'Error', { statusCode: code });
  if (typeof headers === 'object' && headers !== null) {
    for (const [name, value] of Object.entries(headers)) {
      if (typeof value === 'string') boom.output.headers[name] = value;
    }
  }
  return boom;
}

/**
 * Turns what Express's `next` received at the end of the stack into the answer: nothing means
 * no route answered (404, `WS_NOT_FOUND`), a Boom is kept, an `http-errors`-style error keeps
 * its status, anything else is a 500 (`WS_INTERNAL`).
 * @param error - the value passed to the final `next`, or undefined
 * @returns the Boom to answer with
 */
export function toBoom(error: unknown): Boom.Boom {
  if (error === undefined || error === null) return notFoundError();
  if (Boom.isBoom(error)) return error;
  if (typeof error === 'object') {
    const boom = fromStatusError(error);
    if (boom) return boom;
  }
  return internalError();
}

/**
 * Answers a request with a Boom exactly as core's `reject()` answers on a raw socket (see
 * `describeRejection`): its `output.statusCode` (a non-error status becomes a generic 500), its
 * `output.headers` (e.g. `WWW-Authenticate`, `Allow`, `Upgrade`) with invalid names dropped and
 * control characters in values replaced by spaces, and `output.payload.message` as a
 * `text/plain; charset=utf-8` body, plus `X-Content-Type-Options: nosniff`.
 * @param res - the response; its headers must not be sent yet
 * @param boom - the error to answer with
 */
export function sendBoom(res: ServerResponse, boom: Boom.Boom): void {
  const { statusCode, headers, body } = describeRejection(boom);
  res.statusCode = statusCode;
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  res.setHeader('Content-Type', 'text/plain; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(body));
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.end(body);
}

/**
 * An Express error handler that answers Boom errors the way websocket routes do (status,
 * `output.headers`, message as plain text) and passes every other error on. Optional: upgrade
 * requests get this mapping anyway when no handler of yours answers; add it with `app.use()`
 * after your routes to answer plain HTTP requests the same way.
 * @returns an error-handling middleware (four parameters)
 */
export function boomErrorHandler(): (
  error: unknown,
  req: IncomingMessage,
  res: ServerResponse,
  next: NextCallback,
) => void {
  return function renderBoom(error, _req, res, next) {
    if (!Boom.isBoom(error) || res.headersSent) {
      next(error);
      return;
    }
    sendBoom(res, error);
  };
}
