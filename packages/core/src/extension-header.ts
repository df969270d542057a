/**
 * Parsing and formatting of the `Sec-WebSocket-Extensions` header (RFC 6455 §9.1).
 *
 * ```text
 * extension-list  = 1#extension
 * extension       = extension-token *( ";" extension-param )
 * extension-param = token [ "=" ( token | quoted-string ) ]
 * ```
 *
 * The parser is one linear scan per header line with no regular expression (ws 7.4.5 shipped a
 * ReDoS in a regex over a handshake header, CVE-2021-32640). It only checks syntax: which
 * extensions and parameters are acceptable is decided by each extension's negotiation.
 * @module
 */
import { type HandshakeError, HandshakeErrorCode, handshakeError } from './errors.js';

/** One offered (or answered) extension: its name and its parameters in header order. */
export interface ExtensionOffer {
  /** The extension token, e.g. `permessage-deflate`. Case-sensitive. */
  readonly name: string;
  /**
   * Parameters in header order; `true` for a parameter without a value. Duplicates are kept so
   * that negotiation can decline the offer (RFC 7692 §7.1).
   */
  readonly params: ReadonlyArray<readonly [string, string | true]>;
}

/** `TCHAR[c]` is 1 when ASCII code `c` is an RFC 7230 §3.2.6 `tchar`. */
const TCHAR = new Uint8Array(128);
for (let c = 0x30; c <= 0x39; c++) TCHAR[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) TCHAR[c] = 1;
for (let c = 0x61; c <= 0x7a; c++) TCHAR[c] = 1;
for (const ch of "!#$%&'*+-.^_`|~") TCHAR[ch.charCodeAt(0)] = 1;

const HTAB = 0x09;
const SP = 0x20;
const DQUOTE = 0x22;
const COMMA = 0x2c;
const SEMICOLON = 0x3b;
const EQUALS = 0x3d;
const BACKSLASH = 0x5c;

function isTcharCode(c: number): boolean {
  return c < 128 && TCHAR[c] === 1;
}

function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) if (!isTcharCode(s.charCodeAt(i))) return false;
  return true;
}

/** Describes a character for an error message without echoing control characters back. */
function describeChar(line: string, i: number): string {
  if (i >= line.length) return 'end of line';
  const c = line.charCodeAt(i);
  const shown =
    c > 0x20 && c < 0x7f
      ? `'${String.fromCharCode(c)}'`
      : `U+${c.toString(16).toUpperCase().padStart(4, '0')}`;
  return `${shown} at position ${i}`;
}

/** Thrown inside the scanner only, turned into a 400 by {@link parseExtensionHeader}. */
class ExtensionSyntaxError {
  constructor(readonly problem: string) {}
}

/** A cursor over one header line. */
class Scanner {
  i = 0;
  constructor(readonly line: string) {}

  get isAtEnd(): boolean {
    return this.i >= this.line.length;
  }

  peek(): number {
    return this.i < this.line.length ? this.line.charCodeAt(this.i) : -1;
  }

  /** Skips RFC 7230 OWS (SP / HTAB). */
  skipOws(): void {
    while (this.peek() === SP || this.peek() === HTAB) this.i++;
  }

  unexpected(what: string): ExtensionSyntaxError {
    return new ExtensionSyntaxError(`expected ${what}, found ${describeChar(this.line, this.i)}`);
  }

  readToken(what: string): string {
    const start = this.i;
    while (isTcharCode(this.peek())) this.i++;
    if (this.i === start) throw this.unexpected(what);
    return this.line.slice(start, this.i);
  }

  /**
   * Reads a quoted-string whose unescaped content must be a token (RFC 6455 §9.1), so only
   * tchar and quoted-pairs of tchar are accepted between the quotes.
   */
  readQuotedToken(): string {
    this.i++; // opening DQUOTE
    let value = '';
    let start = this.i;
    for (;;) {
      const c = this.peek();
      if (c === DQUOTE) break;
      if (c === BACKSLASH) {
        value += this.line.slice(start, this.i);
        this.i++;
        if (!isTcharCode(this.peek())) throw this.unexpected('a token character after \\');
        start = this.i;
        this.i++;
      } else if (isTcharCode(c)) {
        this.i++;
      } else {
        throw this.unexpected(c === -1 ? 'a closing quote' : 'a token character in quotes');
      }
    }
    value += this.line.slice(start, this.i);
    this.i++; // closing DQUOTE
    if (value.length === 0) throw new ExtensionSyntaxError('empty quoted parameter value');
    return value;
  }

  /** Reads `token [ OWS "=" OWS ( token | quoted-string ) ]` after a `;`. */
  readParam(): [string, string | true] {
    const name = this.readToken('a parameter name');
    this.skipOws();
    if (this.peek() !== EQUALS) return [name, true];
    this.i++;
    this.skipOws();
    const value =
      this.peek() === DQUOTE ? this.readQuotedToken() : this.readToken('a parameter value');
    this.skipOws();
    return [name, value];
  }
}

/** Parses one header line, appending its extensions to `out`. */
function parseLine(line: string, out: ExtensionOffer[]): void {
  const s = new Scanner(line);
  for (;;) {
    s.skipOws();
    if (s.isAtEnd) return;
    // RFC 7230 §7: a recipient accepts and ignores empty list elements ("a, , b").
    if (s.peek() === COMMA) {
      s.i++;
      continue;
    }
    const name = s.readToken('an extension name');
    const params: Array<[string, string | true]> = [];
    s.skipOws();
    while (s.peek() === SEMICOLON) {
      s.i++;
      s.skipOws();
      params.push(s.readParam());
    }
    out.push({ name, params });
    if (s.isAtEnd) return;
    if (s.peek() !== COMMA) throw s.unexpected("',' or ';'");
    s.i++;
  }
}

/**
 * Parses the `Sec-WebSocket-Extensions` request header (RFC 6455 §9.1). Several header lines
 * form one list (RFC 7230 §3.2.2), so pass `req.headersDistinct['sec-websocket-extensions']`.
 * Accepts several extensions per line, OWS around `,`, `;` and `=`, and parameter values as
 * tokens or quoted-strings whose unescaped content is a token. Empty list elements are ignored.
 * Runs in time linear in the input.
 * @param lines - the header lines (an absent header is `[]`)
 * @returns the offers in header order, or a 400 Boom with code `WS_EXTENSION_HEADER`
 */
export function parseExtensionHeader(lines: readonly string[]): ExtensionOffer[] | HandshakeError {
  const offers: ExtensionOffer[] = [];
  for (const line of lines) {
    try {
      parseLine(line, offers);
    } catch (err) {
      if (!(err instanceof ExtensionSyntaxError)) throw err;
      return handshakeError(
        400,
        HandshakeErrorCode.ExtensionHeader,
        `Invalid Sec-WebSocket-Extensions header: ${err.problem}`,
      );
    }
  }
  return offers;
}

/**
 * Formats extensions as a `Sec-WebSocket-Extensions` value: `name; a; b=v, other`. Values are
 * written as bare tokens, which RFC 6455 §9.1 requires of every value anyway.
 * @param extensions - the extensions to write, in order
 * @returns the header value (`''` for an empty list)
 * @throws TypeError when a name or value is not an RFC 7230 token
 */
export function formatExtensionHeader(extensions: readonly ExtensionOffer[]): string {
  const parts: string[] = [];
  for (const { name, params } of extensions) {
    if (!isToken(name))
      throw new TypeError(`Extension name is not a token: ${JSON.stringify(name)}`);
    let part = name;
    for (const [key, value] of params) {
      if (!isToken(key) || (value !== true && !isToken(value))) {
        throw new TypeError(`Extension parameter is not a token: ${JSON.stringify(key)}`);
      }
      part += value === true ? `; ${key}` : `; ${key}=${value}`;
    }
    parts.push(part);
  }
  return parts.join(', ');
}
