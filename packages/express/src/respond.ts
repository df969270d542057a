/**
 * Plain HTTP answers through Express's response: a Boom (a handshake rejection or an error
 * from the app's middleware) becomes its status, headers and message; anything else becomes a
 * generic 500 that reveals nothing.
 * @module
 */
import { type IncomingMessage, type ServerResponse, STATUS_CODES } from 'node:http';
import Boom from '@hapi/boom';
import { HandshakeErrorCode, handshakeError } from '@wsroute/core';
import type { NextCallback } from './types.js';

/** Headers this module writes itself; a Boom may not override them. */
const OWN_HEADERS: ReadonlySet<string> = new Set([
  'connection',
  'content-length',
  'content-type',
  'transfer-encoding',
]);

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
  if (error === undefined || error === null) {
    return handshakeError(404, HandshakeErrorCode.NotFound, 'Not Found');
  }
  if (Boom.isBoom(error)) return error;
  if (typeof error === 'object') {
    const boom = fromStatusError(error);
    if (boom) return boom;
  }
  return handshakeError(500, HandshakeErrorCode.Internal, 'Internal Server Error');
}

/**
 * Answers a request with a Boom: its `output.statusCode`, its `output.headers` (e.g.
 * `WWW-Authenticate`, `Allow`, `Upgrade`) and `output.payload.message` as a
 * `text/plain; charset=utf-8` body. Headers Node refuses (invalid names or values) are dropped.
 * @param res - the response; its headers must not be sent yet
 * @param boom - the error to answer with
 */
export function sendBoom(res: ServerResponse, boom: Boom.Boom): void {
  const { statusCode, headers, payload } = boom.output;
  const status = isErrorStatus(statusCode) ? statusCode : 500;
  res.statusCode = status;
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || OWN_HEADERS.has(name.toLowerCase())) continue;
    try {
      res.setHeader(name, Array.isArray(value) ? value.map(String) : String(value));
    } catch {
      // Node refuses header names and values that could split the response: drop them.
    }
  }
  const message: unknown = status === statusCode ? payload.message : undefined;
  const body =
    typeof message === 'string' && message !== '' ? message : (STATUS_CODES[status] ?? 'Error');
  res.setHeader('Content-Type', 'text/plain; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(body));
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.end(body);
}

/**
 * The 426 a request without an upgrade gets on a websocket-only route. RFC 9110 §15.5.22: the
 * answer must name the protocol to upgrade to in `Upgrade`.
 * @returns a Boom with `data.code` `WS_UPGRADE_REQUIRED` and an `Upgrade: websocket` header
 */
export function upgradeRequiredError(): Boom.Boom {
  return handshakeError(426, HandshakeErrorCode.UpgradeRequired, 'Upgrade Required', {
    Upgrade: 'websocket',
  });
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
