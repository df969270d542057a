/**
 * Validation of the client's opening handshake (RFC 6455 §4.2.1), the accept key (§4.2.2)
 * and request header limits. The origin check (§10.2) is in `origin.ts`.
 *
 * Header values are scanned linearly; no regular expression runs over client input.
 * @module
 */
import * as crypto from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { WEBSOCKET_GUID, WEBSOCKET_VERSION } from './constants.js';
import { type HandshakeError, HandshakeErrorCode, handshakeError } from './errors.js';
import { parseProtocolList } from './subprotocol.js';

/** The parts of a Node `IncomingMessage` the handshake reads (so adapters can pass `req` directly). */
export interface UpgradeRequestInfo {
  readonly method?: string | undefined;
  readonly httpVersionMajor: number;
  readonly httpVersionMinor: number;
  readonly headers: IncomingHttpHeaders;
  readonly headersDistinct: NodeJS.Dict<string[]>;
  /**
   * Names and values alternating, as received (a Node `IncomingMessage` has them). When
   * present the handshake reads its headers from here, in one pass, and never makes Node build
   * `headers` or `headersDistinct`.
   */
  readonly rawHeaders?: readonly string[];
}

/** What a valid upgrade request offers, as read by {@link validateUpgradeRequest}. */
export interface ValidatedUpgrade {
  /** The `Sec-WebSocket-Key` value, already checked to be base64 of 16 bytes. */
  readonly key: string;
  /** The parsed `Sec-WebSocket-Protocol` list in client order, `[]` when absent. */
  readonly offeredProtocols: readonly string[];
  /** The `Origin` header, undefined when absent. */
  readonly origin: string | undefined;
  /** The raw `Sec-WebSocket-Extensions` header lines, `[]` when absent. */
  readonly extensions: readonly string[];
}

/** Length of a base64-encoded 16-byte nonce: 22 significant characters plus `==`. */
const KEY_LENGTH = 24;

/** Headers of the 426 answer to an unsupported version (RFC 6455 §4.2.2, §4.4). */
const VERSION_HEADERS = { Upgrade: 'websocket', 'Sec-WebSocket-Version': WEBSOCKET_VERSION };

/**
 * The lines of one request header. `headersDistinct` keeps repeated lines apart; the joined
 * `headers` form is only a fallback for hand-built request objects.
 */
function headerLines(
  req: Pick<UpgradeRequestInfo, 'headers' | 'headersDistinct'>,
  name: string,
): readonly string[] {
  const distinct = req.headersDistinct[name];
  if (distinct !== undefined) return distinct;
  const joined = req.headers[name];
  if (joined === undefined) return [];
  return typeof joined === 'string' ? [joined] : joined;
}

const NO_LINES: readonly string[] = [];

/**
 * The lines of every header the handshake reads, each kept apart as `headersDistinct` would
 * (RFC 7230 §3.2.2), gathered by {@link readHandshakeHeaders}.
 */
class HandshakeHeaders {
  upgrade = NO_LINES;
  connection = NO_LINES;
  host = NO_LINES;
  key = NO_LINES;
  version = NO_LINES;
  protocol = NO_LINES;
  origin = NO_LINES;
  extensions = NO_LINES;
}

/** Appends a line to a header's lines; most headers come once, so most lists hold one. */
function addLine(lines: readonly string[], value: string): readonly string[] {
  return lines === NO_LINES ? [value] : [...lines, value];
}

/**
 * Reads the handshake's headers from the request, in one pass over `rawHeaders` when it has
 * them (header names are matched ASCII case-insensitively, after a length check: the eight
 * names all differ in length), else from `headersDistinct`.
 */
function readHandshakeHeaders(req: UpgradeRequestInfo): HandshakeHeaders {
  const found = new HandshakeHeaders();
  const raw = req.rawHeaders;
  if (raw === undefined) {
    found.upgrade = headerLines(req, 'upgrade');
    found.connection = headerLines(req, 'connection');
    found.host = headerLines(req, 'host');
    found.key = headerLines(req, 'sec-websocket-key');
    found.version = headerLines(req, 'sec-websocket-version');
    found.protocol = headerLines(req, 'sec-websocket-protocol');
    found.origin = headerLines(req, 'origin');
    found.extensions = headerLines(req, 'sec-websocket-extensions');
    return found;
  }
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!;
    const value = raw[i + 1]!;
    switch (name.length) {
      case 4:
        if (equalsAsciiIgnoreCase(name, 'host')) found.host = addLine(found.host, value);
        break;
      case 6:
        if (equalsAsciiIgnoreCase(name, 'origin')) found.origin = addLine(found.origin, value);
        break;
      case 7:
        if (equalsAsciiIgnoreCase(name, 'upgrade')) found.upgrade = addLine(found.upgrade, value);
        break;
      case 10:
        if (equalsAsciiIgnoreCase(name, 'connection')) {
          found.connection = addLine(found.connection, value);
        }
        break;
      case 17:
        if (equalsAsciiIgnoreCase(name, 'sec-websocket-key')) found.key = addLine(found.key, value);
        break;
      case 21:
        if (equalsAsciiIgnoreCase(name, 'sec-websocket-version')) {
          found.version = addLine(found.version, value);
        }
        break;
      case 22:
        if (equalsAsciiIgnoreCase(name, 'sec-websocket-protocol')) {
          found.protocol = addLine(found.protocol, value);
        }
        break;
      case 24:
        if (equalsAsciiIgnoreCase(name, 'sec-websocket-extensions')) {
          found.extensions = addLine(found.extensions, value);
        }
        break;
    }
  }
  return found;
}

/** The lines of the `Upgrade` header, from `rawHeaders` when the request has them. */
function upgradeLines(
  req: Pick<UpgradeRequestInfo, 'headers' | 'headersDistinct' | 'rawHeaders'>,
): readonly string[] {
  const raw = req.rawHeaders;
  if (raw === undefined) return headerLines(req, 'upgrade');
  let lines = NO_LINES;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 7 && equalsAsciiIgnoreCase(name, 'upgrade'))
      lines = addLine(lines, raw[i + 1]!);
  }
  return lines;
}

/** Lower-cases ASCII letters only; `toLowerCase` would fold non-ASCII (U+212A → `k`). */
function equalsAsciiIgnoreCase(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x >= 0x41 && x <= 0x5a) x += 0x20;
    if (y >= 0x41 && y <= 0x5a) y += 0x20;
    if (x !== y) return false;
  }
  return true;
}

/** Whether `c` is optional whitespace, SP or HTAB (RFC 7230 §3.2.3). */
function isOws(c: number): boolean {
  return c === 0x20 || c === 0x09;
}

/** Whether `line[from..to)` equals the lower-case ASCII `token`, ignoring ASCII case. */
function isTokenAt(line: string, from: number, to: number, token: string): boolean {
  if (to - from !== token.length) return false;
  for (let i = 0; i < token.length; i++) {
    let c = line.charCodeAt(from + i);
    if (c >= 0x41 && c <= 0x5a) c += 0x20;
    if (c !== token.charCodeAt(i)) return false;
  }
  return true;
}

/**
 * Whether a comma-separated header (possibly spread over several lines) contains `token` (lower
 * case), compared ASCII case-insensitively, with OWS around elements ignored. Linear in the
 * input; no substring is made.
 */
function hasListToken(lines: readonly string[], token: string): boolean {
  for (const line of lines) {
    let start = 0;
    while (start <= line.length) {
      let end = line.indexOf(',', start);
      if (end === -1) end = line.length;
      let from = start;
      let to = end;
      while (from < to && isOws(line.charCodeAt(from))) from++;
      while (to > from && isOws(line.charCodeAt(to - 1))) to--;
      if (isTokenAt(line, from, to, token)) return true;
      start = end + 1;
    }
  }
  return false;
}

/**
 * Whether Node would treat a request as a websocket upgrade (emit `'upgrade'` for it when
 * listened to): `Connection` lists `upgrade` and `Upgrade` lists `websocket`.
 * @param req - the request; a Node `IncomingMessage` fits
 * @returns true for both tokens
 */
export function isUpgradeRequest(
  req: Pick<UpgradeRequestInfo, 'headers' | 'headersDistinct' | 'rawHeaders'>,
): boolean {
  return hasListToken(headerLines(req, 'connection'), 'upgrade') && isWebSocketUpgrade(req);
}

/**
 * Whether a request asks for the websocket protocol: its `Upgrade` header lists the token
 * `websocket` (RFC 9110 §7.8; RFC 6455 §4.2.1 item 3), in a comma-separated list over any number
 * of header lines, compared ASCII case-insensitively, linear in the header's length. Adapters use
 * it to tell websocket upgrades from others (e.g. `h2c`); it reads nothing else, so a request it
 * accepts may still fail {@link validateUpgradeRequest}.
 * @param req - the request; a Node `IncomingMessage` fits
 * @returns true when `Upgrade` lists `websocket`
 */
export function isWebSocketUpgrade(
  req: Pick<UpgradeRequestInfo, 'headers' | 'headersDistinct' | 'rawHeaders'>,
): boolean {
  return hasListToken(upgradeLines(req), 'websocket');
}

/** Whether `c` belongs to the base64 alphabet without padding (RFC 4648 §4). */
function isBase64Code(c: number): boolean {
  return (
    (c >= 0x41 && c <= 0x5a) ||
    (c >= 0x61 && c <= 0x7a) ||
    (c >= 0x30 && c <= 0x39) ||
    c === 0x2b ||
    c === 0x2f
  );
}

/**
 * Whether `key` is the canonical base64 encoding of exactly 16 bytes (RFC 6455 §4.1 step 7):
 * 22 characters of the alphabet, then `==`. 16 bytes are 128 bits and 22 characters carry 132,
 * so the last character's 4 low bits must be zero (`A`, `Q`, `g` or `w`): a lenient decoder
 * would drop them, and the key would not be canonical. No decoding, no allocation.
 */
function isValidKey(key: string): boolean {
  if (key.length !== KEY_LENGTH) return false;
  for (let i = 0; i < KEY_LENGTH - 2; i++) {
    if (!isBase64Code(key.charCodeAt(i))) return false;
  }
  if (key.charCodeAt(KEY_LENGTH - 2) !== 0x3d || key.charCodeAt(KEY_LENGTH - 1) !== 0x3d) {
    return false;
  }
  const last = key.charCodeAt(KEY_LENGTH - 3);
  return last === 0x41 || last === 0x51 || last === 0x67 || last === 0x77;
}

/** Builds a 400 rejection. */
function badRequest(code: HandshakeErrorCode, message: string): HandshakeError {
  return handshakeError(400, code, message);
}

/**
 * Validates a client's opening handshake (RFC 6455 §4.2.1). Checks run in this order and the
 * first failure is returned: method GET (405 with `Allow: GET`), HTTP/1.1 or later, `Upgrade`
 * lists `websocket`, `Connection` lists `upgrade`, exactly one non-empty `Host`, exactly one
 * valid `Sec-WebSocket-Key`, exactly one `Sec-WebSocket-Version: 13` (426 with `Upgrade` and
 * `Sec-WebSocket-Version` headers), a well-formed `Sec-WebSocket-Protocol`, at most one
 * `Origin`. Pure: no I/O, never throws.
 * @param req - the upgrade request; a Node `IncomingMessage` fits
 * @returns the offer read from the request, or a Boom whose `data.code` names the failure
 */
export function validateUpgradeRequest(req: UpgradeRequestInfo): ValidatedUpgrade | HandshakeError {
  if (req.method !== 'GET') {
    return handshakeError(
      405,
      HandshakeErrorCode.MethodNotAllowed,
      'WebSocket upgrade requires the GET method',
      { Allow: 'GET' },
    );
  }
  const { httpVersionMajor: major, httpVersionMinor: minor } = req;
  if (major < 1 || (major === 1 && minor < 1)) {
    return badRequest(HandshakeErrorCode.HttpVersion, 'WebSocket upgrade requires HTTP/1.1');
  }
  const headers = readHandshakeHeaders(req);
  if (!hasListToken(headers.upgrade, 'websocket')) {
    return badRequest(HandshakeErrorCode.UpgradeHeader, "Upgrade header must include 'websocket'");
  }
  if (!hasListToken(headers.connection, 'upgrade')) {
    return badRequest(
      HandshakeErrorCode.ConnectionHeader,
      "Connection header must include 'upgrade'",
    );
  }
  // Node does not enforce Host on upgrades; RFC 7230 §5.4 demands 400 for none or several.
  const hosts = headers.host;
  if (hosts.length !== 1 || hosts[0]?.trim() === '') {
    const problem = hosts.length > 1 ? 'sent more than once' : 'missing';
    return badRequest(HandshakeErrorCode.HostHeader, `Host header ${problem}`);
  }
  // RFC 6455 §11.3.1: Sec-WebSocket-Key must not appear more than once.
  const keys = headers.key;
  const key = keys[0];
  if (key === undefined || keys.length !== 1) {
    const problem = keys.length > 1 ? 'sent more than once' : 'missing';
    return badRequest(HandshakeErrorCode.KeyHeader, `Sec-WebSocket-Key header ${problem}`);
  }
  if (!isValidKey(key)) {
    return badRequest(
      HandshakeErrorCode.KeyHeader,
      'Sec-WebSocket-Key must be the base64 encoding of 16 bytes',
    );
  }
  // RFC 6455 §4.4, §11.3.5: one version header, and only version 13 is spoken.
  const versions = headers.version;
  if (versions.length !== 1 || versions[0] !== WEBSOCKET_VERSION) {
    const problem =
      versions.length === 0
        ? 'missing'
        : versions.length > 1
          ? 'sent more than once'
          : 'unsupported';
    return handshakeError(
      426,
      HandshakeErrorCode.VersionHeader,
      `Sec-WebSocket-Version header ${problem}; supported version is ${WEBSOCKET_VERSION}`,
      VERSION_HEADERS,
    );
  }
  const offeredProtocols = parseProtocolList(headers.protocol);
  if (!Array.isArray(offeredProtocols)) return offeredProtocols;
  // Two Origin lines are ambiguous: an allow-list check could pass on either one.
  const origins = headers.origin;
  if (origins.length > 1) {
    return handshakeError(403, HandshakeErrorCode.Origin, 'Origin header sent more than once');
  }
  return {
    key,
    offeredProtocols,
    origin: origins[0],
    extensions: headers.extensions,
  };
}

/**
 * Computes `Sec-WebSocket-Accept` for a key: base64 of the SHA-1 of the key followed by the
 * WebSocket GUID (RFC 6455 §4.2.2 step 5.4, example in §1.3).
 * @param key - the client's `Sec-WebSocket-Key`, as sent
 * @returns the value of the `Sec-WebSocket-Accept` response header
 */
export function computeAcceptKey(key: string): string {
  return sha1Base64(key + WEBSOCKET_GUID);
}

/**
 * SHA-1 as base64: the one-shot `crypto.hash` (Node ≥ 20.12) costs about a quarter of a
 * `createHash()` object per handshake; older Node 20 releases fall back to the latter.
 */
const sha1Base64: (input: string) => string =
  typeof crypto.hash === 'function'
    ? (input) => crypto.hash('sha1', input, 'base64')
    : (input) => crypto.createHash('sha1').update(input).digest('base64');

/**
 * Checks the request headers against count and size limits before anything else reads them.
 * Sizes count each line as `name: value\r\n`; Node decodes header bytes as latin1, so string
 * length equals byte length.
 * @param rawHeaders - `req.rawHeaders`: names and values alternating
 * @param limits - the most header lines and header bytes accepted (see `DEFAULT_LIMITS`)
 * @returns undefined when within limits, otherwise a 431 Boom with code `WS_HEADERS_TOO_LARGE`
 */
export function checkHeaderLimits(
  rawHeaders: readonly string[],
  limits: { maxHeaderCount: number; maxHeaderBytes: number },
): HandshakeError | undefined {
  const count = Math.ceil(rawHeaders.length / 2);
  if (count > limits.maxHeaderCount) {
    return handshakeError(431, HandshakeErrorCode.HeadersTooLarge, 'Too many request headers');
  }
  let bytes = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    bytes += (rawHeaders[i]?.length ?? 0) + (rawHeaders[i + 1]?.length ?? 0) + 4;
    if (bytes > limits.maxHeaderBytes) {
      return handshakeError(431, HandshakeErrorCode.HeadersTooLarge, 'Request headers too large');
    }
  }
  return undefined;
}
