/**
 * Raw HTTP for upgrade tests: requests written byte for byte and response heads parsed from
 * what the server wrote.
 */

/** A valid `Sec-WebSocket-Key` (RFC 6455 §1.3). */
export const SAMPLE_KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
/** The `Sec-WebSocket-Accept` value for {@link SAMPLE_KEY} (RFC 6455 §1.3). */
export const SAMPLE_ACCEPT = 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=';

/** Extra request headers: null drops a default header, an array writes one line per value. */
export type RequestHeaders = Readonly<Record<string, string | readonly string[] | null>>;

/**
 * A raw upgrade request with the five mandatory headers (RFC 6455 §4.1) plus `headers`. A header
 * spelled like a default replaces it in place; any other is added after the defaults.
 * @param path - the request target
 * @param headers - extra headers
 * @param requestLine - the request line
 * @default path '/', requestLine `GET ${path} HTTP/1.1`
 * @returns the request, ending with the blank line
 */
export function upgradeRequest(
  path = '/',
  headers: RequestHeaders = {},
  requestLine = `GET ${path} HTTP/1.1`,
): string {
  const lines: RequestHeaders = {
    Host: '127.0.0.1',
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Key': SAMPLE_KEY,
    'Sec-WebSocket-Version': '13',
    ...headers,
  };
  let request = `${requestLine}\r\n`;
  for (const [name, value] of Object.entries(lines)) {
    if (value === null) continue;
    for (const v of typeof value === 'string' ? [value] : value) request += `${name}: ${v}\r\n`;
  }
  return `${request}\r\n`;
}

/** The status line and header lines of an HTTP response. */
export interface HttpHead {
  readonly status: number;
  readonly statusLine: string;
  /** Header lines as `[lower-case name, value]`, in order, repeated names kept. */
  readonly headers: ReadonlyArray<readonly [string, string]>;
}

/**
 * Parses a response head.
 * @param text - everything before the blank line
 * @returns the status and the header lines in order
 */
export function parseHttpHead(text: string): HttpHead {
  const [statusLine = '', ...lines] = text.split('\r\n');
  const headers = lines.map((line): readonly [string, string] => {
    const colon = line.indexOf(':');
    return [line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim()];
  });
  return { status: Number(statusLine.split(' ')[1]), statusLine, headers };
}

/**
 * Every value of a header.
 * @param head - a parsed head
 * @param name - the header name, in any case
 * @returns the values in order, empty when absent
 */
export function headerValues(head: HttpHead, name: string): string[] {
  const lower = name.toLowerCase();
  return head.headers.filter(([n]) => n === lower).map(([, v]) => v);
}

/** A response head with its headers as a record. */
export interface ResponseHead {
  readonly status: number;
  readonly statusLine: string;
  /** Lower-cased names; repeated lines joined with ', '. */
  readonly headers: Readonly<Record<string, string>>;
}

/**
 * Parses a response head into a record of headers.
 * @param text - everything before the blank line
 * @returns the status and the headers, repeated ones joined with ', '
 */
export function parseResponseHead(text: string): ResponseHead {
  const { status, statusLine, headers: lines } = parseHttpHead(text);
  const headers: Record<string, string> = {};
  for (const [name, value] of lines) {
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  return { status, statusLine, headers };
}
