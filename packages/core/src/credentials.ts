/**
 * Credentials carried in `Sec-WebSocket-Protocol`. A browser cannot set `Authorization` on a
 * WebSocket, so a client may offer its token as one more subprotocol,
 * `<prefix><base64url(token), no padding>` next to the real ones (the scheme Kubernetes uses,
 * `@wsroute/client`'s `token` option sends it).
 *
 * The carrier is taken out of the request as soon as it arrives, before the framework's hooks
 * run, for every request and whatever the route: the hooks read the decoded token from the
 * request (each adapter exposes it), and since the header no longer holds it, no route can
 * select or echo it and no logger that prints request headers ever sees it. Which routes take
 * a token at all is the route's `tokenCarrier` option, checked once the route is known.
 *
 * ```
 *   Sec-WebSocket-Protocol: chat.v1, base64url.bearer.czNjcmV0
 *     → token "s3cret" on the exchange, header rewritten to "chat.v1"
 * ```
 * Nothing here puts the token, or any part of the header, into an answer or an error message.
 * @module
 */
import { isUtf8 } from 'node:buffer';
import type { IncomingMessage } from 'node:http';
import { type HandshakeError, HandshakeErrorCode, handshakeError } from './errors.js';
import { isToken } from './subprotocol.js';

/** The default prefix of the subprotocol that carries a token (as `@wsroute/client` sends it). */
export const DEFAULT_TOKEN_PREFIX = 'base64url.bearer.';

const HEADER = 'sec-websocket-protocol';

/**
 * Checks the `tokenPrefix` option at registration.
 * @param entry - the entry point's name, for error messages
 * @param value - the option as given
 * @returns the prefix, {@link DEFAULT_TOKEN_PREFIX} when absent
 * @throws TypeError for a prefix that is not a non-empty RFC 7230 token
 */
export function resolveTokenPrefix(entry: string, value: unknown): string {
  if (value === undefined) return DEFAULT_TOKEN_PREFIX;
  if (typeof value !== 'string' || !isToken(value)) {
    throw new TypeError(
      `${entry}: tokenPrefix must be a non-empty token, e.g. 'base64url.bearer.'`,
    );
  }
  return value;
}

function isOws(c: number): boolean {
  return c === 0x20 || c === 0x09;
}

/** Trims optional whitespace (SP, HTAB) only, as the protocol list parser does. */
function trimOws(value: string): string {
  let from = 0;
  let to = value.length;
  while (from < to && isOws(value.charCodeAt(from))) from++;
  while (to > from && isOws(value.charCodeAt(to - 1))) to--;
  return value.slice(from, to);
}

/** `BASE64URL[c]` is the value of the base64url character `c` (RFC 4648 §5), -1 for others. */
const BASE64URL = new Int8Array(128).fill(-1);
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
for (let i = 0; i < ALPHABET.length; i++) BASE64URL[ALPHABET.charCodeAt(i)] = i;

/**
 * Decodes canonical base64url without padding into UTF-8 text. The alphabet is checked first,
 * then the bits a last partial group leaves over, which must be zero (RFC 4648 §3.5: a lenient
 * decoder drops them, so two strings would carry one token), then UTF-8 strictly.
 * @returns the token, or undefined when the encoding is not exactly that
 */
function decodeToken(encoded: string): string | undefined {
  const length = encoded.length;
  if (length === 0 || length % 4 === 1) return undefined;
  let last = 0;
  for (let i = 0; i < length; i++) {
    const c = encoded.charCodeAt(i);
    last = c < 128 ? (BASE64URL[c] ?? -1) : -1;
    if (last < 0) return undefined;
  }
  const leftover = length % 4 === 2 ? 0x0f : length % 4 === 3 ? 0x03 : 0;
  if ((last & leftover) !== 0) return undefined;
  const bytes = Buffer.from(encoded, 'base64url');
  return isUtf8(bytes) ? bytes.toString('utf8') : undefined;
}

function credentialError(code: HandshakeErrorCode, message: string): HandshakeError {
  return handshakeError(400, code, message);
}

/** Whether a raw header name is `Sec-WebSocket-Protocol`, in any case, without allocating. */
function isHeaderName(name: string | undefined): boolean {
  if (name === undefined || name.length !== HEADER.length) return false;
  for (let i = 0; i < HEADER.length; i++) {
    if ((name.charCodeAt(i) | 0x20) !== HEADER.charCodeAt(i)) return false;
  }
  return true;
}

/**
 * Rewrites `Sec-WebSocket-Protocol` in every form Node keeps it in (`headers`,
 * `headersDistinct`, `rawHeaders`) as one line holding `value`. Both parsed forms are built
 * first (reading them does), since Node builds them lazily from `rawHeaders` with the line
 * count it parsed.
 */
function rewriteHeader(request: IncomingMessage, value: string): void {
  const { headers, headersDistinct, rawHeaders } = request;
  headers[HEADER] = value;
  headersDistinct[HEADER] = [value];
  let isFirst = true;
  for (let i = 0; i < rawHeaders.length; ) {
    if (!isHeaderName(rawHeaders[i])) {
      i += 2;
    } else if (isFirst) {
      rawHeaders[i + 1] = value;
      isFirst = false;
      i += 2;
    } else {
      rawHeaders.splice(i, 2);
    }
  }
}

function hasPrefix(lines: readonly string[], prefix: string): boolean {
  for (const line of lines) {
    if (line.includes(prefix)) return true;
  }
  return false;
}

/**
 * Takes the credential out of a websocket upgrade request: finds the offered subprotocol that
 * starts with `prefix`, decodes its token, and rewrites `Sec-WebSocket-Protocol` without it.
 * A request without one is left untouched. Runs before any framework hook; linear in the
 * header's length.
 * @param request - the upgrade request; its headers are rewritten when a credential is found
 * @param prefix - the entry point's `tokenPrefix`
 * @returns the decoded token; undefined when none was offered; or a 400 whose code is
 *   `WS_CREDENTIAL_DUPLICATE` (two or more), `WS_CREDENTIAL_MALFORMED` (not canonical
 *   base64url of UTF-8, or empty), or `WS_CREDENTIAL_WITHOUT_PROTOCOL` (no real subprotocol
 *   left to answer: a browser fails a connection whose answer names none of its offers)
 */
export function takeToken(
  request: IncomingMessage,
  prefix: string,
): string | undefined | HandshakeError {
  const lines = request.headersDistinct[HEADER];
  if (lines === undefined || !hasPrefix(lines, prefix)) return undefined;
  let carrier: string | undefined;
  const rest: string[] = [];
  for (const line of lines) {
    for (const part of line.split(',')) {
      const element = trimOws(part);
      if (!element.startsWith(prefix)) {
        rest.push(element);
      } else if (carrier !== undefined) {
        return credentialError(
          HandshakeErrorCode.CredentialDuplicate,
          'More than one credential in Sec-WebSocket-Protocol',
        );
      } else {
        carrier = element;
      }
    }
  }
  if (carrier === undefined) return undefined;
  const token = decodeToken(carrier.slice(prefix.length));
  if (token === undefined) {
    return credentialError(
      HandshakeErrorCode.CredentialMalformed,
      'Malformed credential in Sec-WebSocket-Protocol: expected base64url without padding',
    );
  }
  if (!rest.some((element) => element !== '')) {
    return credentialError(
      HandshakeErrorCode.CredentialWithoutProtocol,
      'A credential in Sec-WebSocket-Protocol needs a subprotocol next to it',
    );
  }
  // Malformed leftovers (an empty element, a bad character) stay, for negotiation to refuse.
  rewriteHeader(request, rest.join(', '));
  return token;
}
