/**
 * Plain HTTP/1.1 error answers on a raw socket whose upgrade is refused before the 101
 * (RFC 6455 §4.2.2: the server answers an unacceptable handshake with an HTTP error).
 * @module
 */
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import Boom from '@hapi/boom';
import { isToken } from './subprotocol.js';

/**
 * How long the socket stays open after the answer is written, waiting for the peer to close
 * first. Destroying right after the write can turn into a TCP RST that discards the answer
 * before the client reads it; a peer that never closes must not hold the socket forever.
 */
const CLOSE_GRACE_MS = 1_000;

/** Headers `reject` writes itself; the Boom may not override them. */
const OWN_HEADERS: ReadonlySet<string> = new Set([
  'connection',
  'content-length',
  'content-type',
  'transfer-encoding',
]);

/** The plain HTTP answer to a refused upgrade, as {@link reject} writes it. */
export interface RejectionResponse {
  /** The status, 400 to 599. */
  readonly statusCode: number;
  /**
   * The extra headers: the Boom's `output.headers` without undefined values, invalid names and
   * the headers the answer sets itself (`Connection`, `Content-Length`, `Content-Type`,
   * `Transfer-Encoding`); values are strings with CR, LF and other control characters replaced
   * by spaces. A fresh object on every call, so the caller may keep or change it.
   */
  readonly headers: Record<string, string | string[]>;
  /** The plain-text body. */
  readonly body: string;
}

/** The body of the generic 500 that anything which is not a valid Boom gets. */
const INTERNAL_ERROR_BODY = 'Internal Server Error';

/** Whether a code unit may stay in a header value: HTAB, visible ASCII, SP, obs-text. */
function isFieldValueCode(c: number): boolean {
  return c === 0x09 || (c >= 0x20 && c <= 0xff && c !== 0x7f);
}

/**
 * Neutralises a header value (RFC 7230 §3.2): CR, LF, other controls and characters beyond
 * latin1 become spaces, so a value can never end the header line or inject another one.
 */
function sanitizeFieldValue(value: string): string {
  let i = 0;
  while (i < value.length && isFieldValueCode(value.charCodeAt(i))) i++;
  if (i === value.length) return value;
  const out: string[] = [value.slice(0, i)];
  for (; i < value.length; i++) {
    const c = value.charCodeAt(i);
    out.push(isFieldValueCode(c) ? value.charAt(i) : ' ');
  }
  return out.join('');
}

/**
 * Copies Boom's `output.headers`, dropping undefined values, invalid names and headers `reject`
 * owns, and sanitising every value. `Object.fromEntries` defines own properties, so a header
 * named `__proto__` stays a header.
 */
function collectHeaders(
  headers: Readonly<Record<string, string | string[] | number | undefined>>,
): Record<string, string | string[]> {
  const entries: [string, string | string[]][] = [];
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || !isToken(name) || OWN_HEADERS.has(name.toLowerCase())) continue;
    entries.push([
      name,
      Array.isArray(value)
        ? value.map((v) => sanitizeFieldValue(String(v)))
        : sanitizeFieldValue(String(value)),
    ]);
  }
  return Object.fromEntries(entries);
}

/**
 * Reads the plain HTTP answer to a refused upgrade out of an error, exactly as {@link reject}
 * writes it, so that adapters answering through their framework's response say the same:
 * the Boom's status (400 to 599), its `output.headers` made safe (see
 * {@link RejectionResponse.headers}), and `output.payload.message` as body (the status text
 * when empty; Boom itself replaces the message of a 500 with a generic text). Anything that is
 * not a Boom, or a Boom whose status is not an error status, becomes a generic 500 without
 * headers that never reveals the error's message.
 * @param err - the rejection, typically a handshake Boom; anything is accepted
 * @returns the status, headers and body to answer with
 * @throws never
 */
export function describeRejection(err: unknown): RejectionResponse {
  if (!Boom.isBoom(err)) return { statusCode: 500, headers: {}, body: INTERNAL_ERROR_BODY };
  const { statusCode, headers, payload } = err.output;
  if (!Number.isInteger(statusCode) || statusCode < 400 || statusCode > 599) {
    return { statusCode: 500, headers: {}, body: INTERNAL_ERROR_BODY };
  }
  const message: unknown = payload.message;
  const body =
    typeof message === 'string' && message !== '' ? message : (STATUS_CODES[statusCode] ?? 'Error');
  return { statusCode, headers: collectHeaders(headers), body };
}

/** Serialises the answer; the head is latin1 (already sanitised), the body UTF-8. */
function serialize({ statusCode, headers, body }: RejectionResponse): Buffer {
  const payload = Buffer.from(body, 'utf8');
  let head = `HTTP/1.1 ${statusCode} ${STATUS_CODES[statusCode] ?? 'Unknown'}\r\n`;
  head += 'Connection: close\r\n';
  head += 'Content-Type: text/plain; charset=utf-8\r\n';
  head += `Content-Length: ${payload.length}\r\n`;
  for (const [name, value] of Object.entries(headers)) {
    for (const line of typeof value === 'string' ? [value] : value) head += `${name}: ${line}\r\n`;
  }
  head += '\r\n';
  return Buffer.concat([Buffer.from(head, 'latin1'), payload]);
}

/** Destroys a socket, swallowing anything a broken stream might throw. */
function destroyQuietly(socket: Duplex): void {
  try {
    socket.destroy();
  } catch {
    // Nothing left to release; reject must never throw.
  }
}

/** Ignores late socket errors (EPIPE, ECONNRESET) once the answer is on its way. */
function ignoreError(): void {}

/**
 * Writes a plain HTTP/1.1 error answer for a Boom on a raw, not yet upgraded socket, then ends
 * the socket: status line with the Boom's status and standard reason phrase,
 * `Connection: close`, `Content-Type: text/plain; charset=utf-8`, `Content-Length`, the Boom's
 * `output.headers` (e.g. `Allow`, `Upgrade`, `Sec-WebSocket-Version`) with CR/LF and other
 * control characters replaced by spaces, and `output.payload.message` as body. Anything that
 * is not a Boom yields a generic 500 that never reveals the error's message.
 *
 * Unread request bytes are discarded. The socket is destroyed once both sides have ended, or
 * after a one-second grace period (unref'd timer) if the peer does not close.
 * @param socket - the upgrade socket; may already be destroyed
 * @param err - the rejection, typically from `handshakeError`
 * @throws never: a destroyed or failing socket is released silently
 */
export function reject(socket: Duplex, err: Boom.Boom): void {
  try {
    if (socket.destroyed) return;
    socket.on('error', ignoreError);
    if (!socket.writable) {
      destroyQuietly(socket);
      return;
    }
    endSocketGracefully(socket, serialize(describeRejection(err)));
  } catch {
    destroyQuietly(socket);
  }
}

/**
 * Ends a socket that carries a plain HTTP answer (or after writing `last`): what the client
 * still sends is read and discarded so its FIN surfaces, and the socket is destroyed once both
 * sides have ended, or after a one-second grace period (unref'd timer). Adapters use it after
 * the framework answered an upgrade request with an ordinary response.
 * @param socket - the upgrade socket
 * @param last - bytes to write before ending, if any
 * @throws never
 */
export function endSocketGracefully(socket: Duplex, last?: string | Uint8Array): void {
  try {
    if (socket.destroyed) return;
    socket.on('error', ignoreError);
    let isPeerEnded = socket.readableEnded;
    let isFlushed = socket.writableFinished;
    const destroyWhenDone = (): void => {
      if (isPeerEnded && isFlushed) destroyQuietly(socket);
    };
    const timer = setTimeout(() => destroyQuietly(socket), CLOSE_GRACE_MS);
    timer.unref();
    // `on`: each of these comes once per socket, and `once` wrappers outlive the socket's
    // scavenge (see UpgradeExchange's response listeners).
    socket.on('close', () => clearTimeout(timer));
    socket.on('end', () => {
      isPeerEnded = true;
      destroyWhenDone();
    });
    socket.on('finish', () => {
      isFlushed = true;
      destroyWhenDone();
    });
    // Flow mode drains what the client still sends, so its FIN surfaces as 'end'.
    socket.resume();
    if (last === undefined) socket.end();
    else socket.end(last);
  } catch {
    destroyQuietly(socket);
  }
}
