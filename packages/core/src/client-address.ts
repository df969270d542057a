/**
 * Who the client is, for admission limits: the socket's peer address, or — only behind proxies
 * the application names — the nearest address those proxies did not vouch for.
 *
 * Forwarding headers are written by whoever sends them: a client that talks to the server
 * directly can claim any `X-Forwarded-For`. So the chain is walked from the socket outwards,
 * as proxy-addr (Express) and Fastify's `trustProxy` do: the socket's peer, then each address
 * the headers list from right (added last, by the nearest proxy) to left. The first address
 * that is not a trusted proxy is the client; addresses further left were written by it and
 * are ignored.
 *
 * ```
 *   X-Forwarded-For: spoofed, 203.0.113.7, 10.0.0.2      socket peer: 10.0.0.1
 *   hop 0 10.0.0.1 trusted → hop 1 10.0.0.2 trusted → hop 2 203.0.113.7 not trusted: the client
 * ```
 *
 * Only one header is read, the one the proxies write (`trustProxy.header`): a proxy that writes
 * `X-Forwarded-For` passes a client's own `Forwarded` header through untouched, and the other
 * way round, so believing whichever is present would let a client choose its address.
 * @module
 */
import { isIP } from 'node:net';
import {
  clientKeyOf,
  type IpRange,
  isInAnyRange,
  normalizeAddress,
  parseIpRange,
} from './ip-address.js';

/**
 * Which proxies may be believed: addresses and CIDR ranges (`'10.0.0.0/8'`, `'::1'`) or the
 * names `'loopback'`, `'linklocal'` and `'uniquelocal'` (private ranges); a count of hops
 * (the N nearest proxies, whatever their addresses); or a predicate of an address and its hop
 * (0 is the socket's peer).
 */
export type TrustedProxies =
  | readonly string[]
  | number
  | ((address: string, hop: number) => boolean);

/** The header trusted proxies write the client's address into. */
export type ForwardingHeader = 'x-forwarded-for' | 'forwarded';

/** The full form of the `trustProxy` option. */
export interface TrustProxyOptions {
  /** The proxies whose forwarding header is believed. */
  readonly proxies: TrustedProxies;
  /**
   * The header those proxies write: `X-Forwarded-For` (nginx, HAProxy, cloud load balancers)
   * or `Forwarded` (RFC 7239). The other one is never read.
   * @default 'x-forwarded-for'
   */
  readonly header?: ForwardingHeader;
}

/** The `trustProxy` option: the proxies (reading `X-Forwarded-For`), or the full form. */
export type TrustProxy = TrustedProxies | TrustProxyOptions;

/** A checked `trustProxy` option. Internal. */
export interface ResolvedTrustProxy {
  readonly isTrusted: (address: string, hop: number) => boolean;
  readonly header: ForwardingHeader;
}

/** The client of an upgrade request, as admission limits and the origin check see it. */
export interface ClientAddress {
  /** The client's address (IPv4-mapped IPv6 addresses in their IPv4 form). */
  readonly address: string;
  /**
   * What per-client limits count by: the address, or for IPv6 its /64 prefix (`2001:db8:0:1::/64`),
   * since one subscriber usually holds a whole /64 and could otherwise rotate addresses.
   */
  readonly key: string;
  /** The host the client asked the outermost trusted proxy for; undefined without one. */
  readonly forwardedHost: string | undefined;
  /** The scheme the client used with the outermost trusted proxy (`http`, `https`). */
  readonly forwardedProto: string | undefined;
}

/** The parts of a request the resolution reads; a Node `IncomingMessage` fits. */
export interface ClientRequestInfo {
  readonly headersDistinct: NodeJS.Dict<string[]>;
  readonly socket: { readonly remoteAddress?: string | undefined };
}

/** Named ranges, as proxy-addr names them. */
const NAMED_RANGES: Readonly<Record<string, readonly string[]>> = {
  loopback: ['127.0.0.0/8', '::1/128'],
  linklocal: ['169.254.0.0/16', 'fe80::/10'],
  uniquelocal: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'],
};

/** The address the socket reports when it has none (a closed or non-TCP socket). */
const UNKNOWN_ADDRESS = 'unknown';

function compileList(entryName: string, entries: readonly string[]): (address: string) => boolean {
  const ranges: IpRange[] = [];
  for (const entry of entries) {
    const expanded = typeof entry === 'string' ? (NAMED_RANGES[entry] ?? [entry]) : [];
    const parsed = expanded.map(parseIpRange);
    if (expanded.length === 0 || parsed.some((range) => range === undefined)) {
      throw new TypeError(
        `${entryName}: trustProxy: ${JSON.stringify(entry)} is not an IP address, a CIDR range, 'loopback', 'linklocal' or 'uniquelocal'`,
      );
    }
    ranges.push(...(parsed as IpRange[]));
  }
  return (address) => isInAnyRange(address, ranges);
}

function compileProxies(entry: string, proxies: unknown): ResolvedTrustProxy['isTrusted'] {
  if (typeof proxies === 'function') {
    const predicate = proxies as (address: string, hop: number) => unknown;
    return (address, hop) => predicate(address, hop) === true;
  }
  if (typeof proxies === 'number') {
    if (!Number.isSafeInteger(proxies) || proxies < 0) {
      throw new TypeError(`${entry}: trustProxy as a hop count must be an integer >= 0`);
    }
    return (_address, hop) => hop < proxies;
  }
  if (Array.isArray(proxies)) {
    const isListed = compileList(entry, proxies as readonly string[]);
    return (address) => isListed(address);
  }
  throw new TypeError(
    `${entry}: trustProxy must be a list of addresses, a hop count, a predicate or { proxies, header }`,
  );
}

/**
 * Checks the `trustProxy` option at registration.
 * @param entry - the entry point's name, for error messages
 * @param value - the option as given
 * @returns the compiled option, or undefined when absent (the socket's peer is the client)
 * @throws TypeError for an invalid address, range, count, header or shape
 */
export function resolveTrustProxy(entry: string, value: unknown): ResolvedTrustProxy | undefined {
  if (value === undefined) return undefined;
  const isFullForm = typeof value === 'object' && value !== null && !Array.isArray(value);
  const options = (isFullForm ? value : { proxies: value }) as TrustProxyOptions;
  const header: unknown = options.header ?? 'x-forwarded-for';
  if (header !== 'x-forwarded-for' && header !== 'forwarded') {
    throw new TypeError(`${entry}: trustProxy.header must be 'x-forwarded-for' or 'forwarded'`);
  }
  return { isTrusted: compileProxies(entry, options.proxies), header };
}

/**
 * Reads one address out of a forwarding header element: strips RFC 7239 quotes, IPv6
 * brackets and a port (`"[2001:db8::1]:4711"`, `192.0.2.1:8080`). Anything that is not an IP
 * address (`unknown`, an obfuscated `_node`) is kept as written: it is never a trusted proxy.
 */
function forwardedNode(value: string): string {
  let node = value.trim();
  if (node.length >= 2 && node.startsWith('"') && node.endsWith('"')) node = node.slice(1, -1);
  if (node.startsWith('[')) {
    const close = node.indexOf(']');
    if (close !== -1) node = node.slice(1, close);
  } else {
    const colon = node.indexOf(':');
    // One colon is an IPv4 address with a port; IPv6 has several.
    if (colon !== -1 && node.indexOf(':', colon + 1) === -1) node = node.slice(0, colon);
  }
  return isIP(node) === 0 ? node : normalizeAddress(node);
}

/** One element of a forwarding chain: the address a proxy saw, and what else it recorded. */
interface ForwardedHop {
  readonly node: string;
  readonly host?: string | undefined;
  readonly proto?: string | undefined;
}

/** The values of a comma-separated header over all its lines, left to right, trimmed. */
function listValues(lines: readonly string[] | undefined): string[] {
  const values: string[] = [];
  for (const line of lines ?? []) {
    for (const part of line.split(',')) {
      const value = part.trim();
      if (value !== '') values.push(value);
    }
  }
  return values;
}

/** Removes the backslash of each quoted-pair (RFC 7230 §3.2.6) of a quoted string's content. */
function unquote(content: string): string {
  if (!content.includes('\\')) return content;
  let out = '';
  for (let i = 0; i < content.length; i++) {
    const c = content.charAt(i);
    out += c === '\\' && i + 1 < content.length ? content.charAt(++i) : c;
  }
  return out;
}

/**
 * Splits `Forwarded` (RFC 7239 §4) into elements and their `for`, `host` and `proto`
 * parameters, honouring quoted strings (which may hold `,` and `;`). Linear in the input.
 */
function parseForwarded(lines: readonly string[]): ForwardedHop[] {
  const hops: ForwardedHop[] = [];
  for (const line of lines) {
    let params: Record<string, string> = {};
    let token = '';
    let isQuoted = false;
    const endParam = (): void => {
      const equals = token.indexOf('=');
      if (equals !== -1) {
        const name = token.slice(0, equals).trim().toLowerCase();
        let value = token.slice(equals + 1).trim();
        if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) {
          value = unquote(value.slice(1, -1));
        }
        params[name] = value;
      }
      token = '';
    };
    const endElement = (): void => {
      endParam();
      if (params.for !== undefined) {
        hops.push({ node: forwardedNode(params.for), host: params.host, proto: params.proto });
      }
      params = {};
    };
    for (let i = 0; i < line.length; i++) {
      const c = line.charAt(i);
      if (isQuoted) {
        token += c;
        if (c === '\\' && i + 1 < line.length) token += line.charAt(++i);
        else if (c === '"') isQuoted = false;
      } else if (c === '"') {
        isQuoted = true;
        token += c;
      } else if (c === ';') endParam();
      else if (c === ',') endElement();
      else token += c;
    }
    endElement();
  }
  return hops;
}

function forwardingChain(request: ClientRequestInfo, header: ForwardingHeader): ForwardedHop[] {
  const lines = request.headersDistinct[header] ?? [];
  if (header === 'forwarded') return parseForwarded(lines);
  return listValues(lines).map((value) => ({ node: forwardedNode(value) }));
}

/**
 * Resolves the client of a request: the socket's peer, unless it is a trusted proxy; then the
 * chain of the configured forwarding header is walked from the right while addresses are
 * trusted (see the module's description). Behind a trusted proxy the host and scheme the
 * client asked for come from `Forwarded` (the element naming the client) or from the first
 * `X-Forwarded-Host` / `X-Forwarded-Proto` value, for the same-origin check.
 * @param request - the upgrade request
 * @param trust - the compiled `trustProxy` option; undefined trusts no proxy
 * @returns the client's address, its key for per-client limits, and the forwarded host/scheme
 */
export function clientAddressOf(
  request: ClientRequestInfo,
  trust: ResolvedTrustProxy | undefined,
): ClientAddress {
  const peer = normalizeAddress(request.socket.remoteAddress ?? UNKNOWN_ADDRESS);
  if (!trust?.isTrusted(peer, 0)) {
    return {
      address: peer,
      key: clientKeyOf(peer),
      forwardedHost: undefined,
      forwardedProto: undefined,
    };
  }
  const chain = forwardingChain(request, trust.header);
  let index = chain.length - 1;
  // Stop at the first untrusted address; when every one is trusted, the leftmost is the client.
  for (let hop = 1; index > 0 && trust.isTrusted(chain[index]?.node ?? '', hop); hop++) index--;
  const client = chain[index];
  // Browsers cannot set forwarding headers on a websocket, so the host and scheme a trusted
  // proxy forwards are as good as its Host header for the same-origin check (see origin.ts).
  const isForwardedHeader = trust.header === 'forwarded';
  const forwardedHost = isForwardedHeader
    ? client?.host
    : listValues(request.headersDistinct['x-forwarded-host'])[0];
  const forwardedProto = isForwardedHeader
    ? client?.proto
    : listValues(request.headersDistinct['x-forwarded-proto'])[0];
  // A trusted proxy that forwards no address is itself the client (a health check).
  const address = client?.node ?? peer;
  return {
    address,
    key: clientKeyOf(address),
    forwardedHost,
    forwardedProto: forwardedProto?.toLowerCase(),
  };
}
