/**
 * Parsing and selection of the `Sec-WebSocket-Protocol` header (RFC 6455 §4.1, §4.2.2, §11.3.4).
 *
 * The parser is a single linear scan over each header line, no regular expression: ws 7.4.5
 * shipped a ReDoS in a regex over this header (CVE-2021-32640).
 * @module
 */
import { type HandshakeError, HandshakeErrorCode, handshakeError } from './errors.js';

/**
 * `TCHAR[c]` is 1 when the ASCII code `c` is an RFC 7230 §3.2.6 `tchar`:
 * `!#$%&'*+-.^_`|~`, DIGIT and ALPHA.
 */
const TCHAR = new Uint8Array(128);
for (let c = 0x30; c <= 0x39; c++) TCHAR[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) TCHAR[c] = 1;
for (let c = 0x61; c <= 0x7a; c++) TCHAR[c] = 1;
for (const ch of "!#$%&'*+-.^_`|~") TCHAR[ch.charCodeAt(0)] = 1;

const SP = 0x20;
const HTAB = 0x09;
const COMMA = 0x2c;

/** Whether the UTF-16 code unit `c` is an RFC 7230 `tchar`. */
function isTcharCode(c: number): boolean {
  return c < 128 && TCHAR[c] === 1;
}

/** Whether the UTF-16 code unit `c` is optional whitespace (RFC 7230 §3.2.3 OWS). */
function isOwsCode(c: number): boolean {
  return c === SP || c === HTAB;
}

/**
 * Describes one character for an error message: at most one printable ASCII character of the
 * client's header is ever quoted, never a control character or a longer excerpt.
 * @param c - a UTF-16 code unit
 * @returns `'x'` for printable ASCII, `U+XXXX` otherwise
 */
function describeChar(c: number): string {
  if (c > 0x20 && c < 0x7f) return `'${String.fromCharCode(c)}'`;
  return `U+${c.toString(16).toUpperCase().padStart(4, '0')}`;
}

/** Builds the 400 rejection for a malformed `Sec-WebSocket-Protocol` header. */
function protocolHeaderError(problem: string): HandshakeError {
  return handshakeError(
    400,
    HandshakeErrorCode.ProtocolHeader,
    `Invalid Sec-WebSocket-Protocol header: ${problem}`,
  );
}

/**
 * Whether a string is a valid RFC 7230 §3.2.6 token, the syntax RFC 6455 §4.1 requires of
 * every subprotocol name. Used to validate route declarations at registration.
 * @param s - the candidate subprotocol name
 * @returns true when `s` is non-empty and made of `tchar` only
 */
export function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    if (!isTcharCode(s.charCodeAt(i))) return false;
  }
  return true;
}

/**
 * Parses the `Sec-WebSocket-Protocol` request header. Several header lines form one logical
 * comma-separated list (RFC 7230 §3.2.2), so pass `req.headersDistinct['sec-websocket-protocol']`.
 * Each element must be a token; optional SP/HTAB is allowed around commas. Empty elements
 * (`a,,b`, a trailing comma, an empty header line), invalid characters and duplicates are
 * rejected: RFC 6455 §4.1 requires unique, non-empty tokens. Runs in time linear in the input.
 * @param lines - the header lines, or undefined when the header is absent
 * @returns the offered subprotocols in client order (`[]` when absent), or a 400 Boom with
 *   code `WS_PROTOCOL_HEADER` naming the problem
 */
export function parseProtocolList(lines: readonly string[] | undefined): string[] | HandshakeError {
  const protocols: string[] = [];
  if (lines === undefined || lines.length === 0) return protocols;
  // Duplicates: a linear scan while the list is short, a set once it is long (no quadratic
  // work on a hostile header).
  let seen: Set<string> | undefined;
  for (const line of lines) {
    const n = line.length;
    let i = 0;
    // One iteration per list element: OWS token OWS ("," | end of line).
    for (;;) {
      while (i < n && isOwsCode(line.charCodeAt(i))) i++;
      const start = i;
      while (i < n && isTcharCode(line.charCodeAt(i))) i++;
      if (i === start) {
        if (i === n || line.charCodeAt(i) === COMMA) return protocolHeaderError('empty element');
        return protocolHeaderError(
          `invalid character ${describeChar(line.charCodeAt(i))} at position ${i}`,
        );
      }
      const protocol = line.slice(start, i);
      if (protocols.length >= 8) seen ??= new Set(protocols);
      const isDuplicate = seen ? seen.has(protocol) : protocols.includes(protocol);
      // The name is not quoted: the client's values are never echoed (they may carry a secret).
      if (isDuplicate) return protocolHeaderError(`duplicate protocol at position ${start}`);
      seen?.add(protocol);
      protocols.push(protocol);
      while (i < n && isOwsCode(line.charCodeAt(i))) i++;
      if (i === n) break;
      const c = line.charCodeAt(i);
      if (c !== COMMA) {
        return protocolHeaderError(`invalid character ${describeChar(c)} at position ${i}`);
      }
      i++;
    }
  }
  return protocols;
}

/** Anything that answers whether it holds a name: a set, or the keys of a map. */
export interface NameLookup {
  has(name: string): boolean;
}

/** Narrows the `supported` union; `Array.isArray` alone does not narrow readonly arrays. */
function isList(value: NameLookup | readonly string[]): value is readonly string[] {
  return Array.isArray(value);
}

/**
 * Default subprotocol selection: the first of the client's offers, in client order, that the
 * server supports. The client orders its list by preference (RFC 6455 §4.1), so client order
 * wins over the order of `supported`.
 * @param offered - the parsed client offer, from {@link parseProtocolList}
 * @param supported - the subprotocols the route accepts: a list, or a lookup built once (a set,
 *   or the route's map of protocols) so that nothing is built per handshake
 * @returns the selected subprotocol, or undefined when none matches
 */
export function selectProtocol(
  offered: readonly string[],
  supported: NameLookup | readonly string[],
): string | undefined {
  const set: NameLookup = isList(supported) ? new Set(supported) : supported;
  for (const protocol of offered) {
    if (set.has(protocol)) return protocol;
  }
  return undefined;
}
