/**
 * The origin check (RFC 6455 §10.2), same-origin by default.
 *
 * The attack it prevents is cross-site WebSocket hijacking: a page on `https://evil.example`
 * opens `new WebSocket('wss://app.example/chat')`; the browser sends the victim's cookies for
 * app.example with it, and WebSockets are not bound by CORS, so without this check the page
 * would talk to the victim's account. The browser always sends the page's `Origin` and a page
 * cannot forge it, so refusing foreign origins before the 101 stops it. Non-browser clients
 * can send any `Origin` (or none): the check is not authentication.
 *
 * Same-origin compares the `Origin` with the request's own host, taken from `Host` (or, behind
 * a trusted proxy, from `Forwarded: host=` / `X-Forwarded-Host`): host and port must be equal.
 * The scheme comes from the `Origin`, since a server behind a TLS-terminating proxy does not
 * know whether its client used TLS; when the server does know (a TLS socket, or a trusted
 * proxy's `proto`), the schemes must agree too. Ports default from the scheme (http and ws 80,
 * https and wss 443).
 * @module
 */
import { type HandshakeError, HandshakeErrorCode, handshakeError } from './errors.js';
import type { UpgradeRequestInfo } from './handshake.js';

/** What an origin predicate receives besides the `Origin` value. */
export interface OriginContext {
  /** Whether the origin is the request's own (see the module's description). */
  readonly isSameOrigin: boolean;
  /** The upgrade request. */
  readonly request: UpgradeRequestInfo;
}

/**
 * Which origins may open a connection:
 * - `'same-origin'` (the default): only pages served from the host the request was sent to;
 * - a list of origins, `scheme://host[:port]` (compared ASCII case-insensitively, default
 *   ports implied): exactly these, the request's own origin included only when listed, so a
 *   list also pins the hosts (a same-origin check can be passed by a DNS-rebinding page);
 * - a predicate, told whether the origin is the request's own; returning anything but `true`
 *   refuses, throwing answers 500;
 * - `'*'`: every origin (public endpoints without ambient credentials, conformance tools).
 *
 * A request without `Origin` (not a browser) is allowed unless `requireOrigin` is set.
 */
export type OriginPolicy =
  | 'same-origin'
  | '*'
  | readonly string[]
  | ((origin: string, context: OriginContext) => boolean);

/** A checked origin policy. Internal. */
export type ResolvedOriginPolicy =
  | { readonly kind: 'same-origin' }
  | { readonly kind: 'any' }
  | { readonly kind: 'list'; readonly origins: ReadonlySet<string> }
  | {
      readonly kind: 'predicate';
      readonly predicate: (origin: string, context: OriginContext) => unknown;
    };

/** What the request says about its own origin; read only when a check needs it. */
export interface RequestSite {
  /** The host the client asked for: a trusted proxy's forwarded host, else `Host`. */
  readonly host: string | undefined;
  /** The scheme the client used, when known: `https` on a TLS socket or a trusted proxy's. */
  readonly scheme: string | undefined;
}

const SAME_ORIGIN: ResolvedOriginPolicy = { kind: 'same-origin' };
const ANY_ORIGIN: ResolvedOriginPolicy = { kind: 'any' };

/** The default port of the web schemes; other schemes have none. */
function defaultPort(scheme: string): string | undefined {
  if (scheme === 'http' || scheme === 'ws') return '80';
  if (scheme === 'https' || scheme === 'wss') return '443';
  return undefined;
}

function isSecureScheme(scheme: string): boolean {
  return scheme === 'https' || scheme === 'wss';
}

/** Splits `host[:port]` (IPv6 in brackets); lower-cases the host. Undefined when malformed. */
function splitAuthority(
  authority: string,
): { readonly host: string; readonly port: string | undefined } | undefined {
  let host = authority;
  let port: string | undefined;
  const close = authority.lastIndexOf(']');
  const colon = authority.lastIndexOf(':');
  if (colon > close) {
    host = authority.slice(0, colon);
    port = authority.slice(colon + 1);
    if (!isPort(port)) return undefined;
  }
  if (host === '' || hasForbiddenHostCode(host)) return undefined;
  return { host: host.toLowerCase(), port };
}

function isPort(value: string): boolean {
  if (value.length === 0 || value.length > 5) return false;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  return Number(value) <= 65535;
}

/** Characters that never appear in a serialized origin's host: paths, userinfo, spaces. */
function hasForbiddenHostCode(host: string): boolean {
  for (let i = 0; i < host.length; i++) {
    const c = host.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f || c === 0x2f || c === 0x40 || c === 0x3f || c === 0x23) {
      return true;
    }
  }
  return false;
}

/** A parsed `scheme://host[:port]`, the port explicit or the scheme's default. */
interface ParsedOrigin {
  readonly scheme: string;
  readonly host: string;
  readonly port: string | undefined;
}

/**
 * Parses a serialized origin (RFC 6454 §6.2): `scheme "://" host [ ":" port ]`, nothing else.
 * Linear, no regular expression over client input.
 */
function parseOrigin(value: string): ParsedOrigin | undefined {
  const separator = value.indexOf('://');
  if (separator <= 0) return undefined;
  const scheme = value.slice(0, separator);
  for (let i = 0; i < separator; i++) {
    // RFC 3986 §3.1, checked before lower-casing (Unicode folding maps U+212A to 'k').
    const c = scheme.charCodeAt(i) | 0x20;
    const isLetter = c >= 0x61 && c <= 0x7a;
    const isOther = i > 0 && ((c >= 0x30 && c <= 0x39) || c === 0x2b || c === 0x2d || c === 0x2e);
    if (!isLetter && !isOther) return undefined;
  }
  const authority = splitAuthority(value.slice(separator + 3));
  if (!authority) return undefined;
  const lower = scheme.toLowerCase();
  return { scheme: lower, host: authority.host, port: authority.port ?? defaultPort(lower) };
}

/** The comparable form of an origin: scheme, host and effective port. */
function originKey(origin: ParsedOrigin): string {
  return `${origin.scheme}://${origin.host}:${origin.port ?? ''}`;
}

/**
 * Checks an `origins` option at registration.
 * @param value - `'same-origin'`, `'*'`, a list of origins or a predicate
 * @returns the compiled policy, or undefined when the option is absent
 * @throws TypeError for anything else, a list entry that is not `scheme://host[:port]`
 *   (e.g. with a path or a trailing slash), or `'null'` (sandboxed and `file:` pages of any
 *   site send it: allowing it is allowing everyone; write a predicate if you mean it)
 */
export function resolveOriginPolicy(value: unknown): ResolvedOriginPolicy | undefined {
  if (value === undefined) return undefined;
  if (value === 'same-origin') return SAME_ORIGIN;
  if (value === '*') return ANY_ORIGIN;
  if (typeof value === 'function') {
    return { kind: 'predicate', predicate: value as (origin: string, c: OriginContext) => unknown };
  }
  if (!Array.isArray(value)) {
    throw new TypeError("origins must be 'same-origin', '*', a list of origins or a predicate");
  }
  const origins = new Set<string>();
  for (const entry of value as readonly unknown[]) {
    const parsed = typeof entry === 'string' ? parseOrigin(entry) : undefined;
    if (!parsed) {
      throw new TypeError(
        `origins: ${JSON.stringify(entry)} is not an origin: scheme://host[:port], without path`,
      );
    }
    origins.add(originKey(parsed));
  }
  return { kind: 'list', origins };
}

/**
 * Whether `origin` is the request's own origin (see the module's description).
 * @param origin - the `Origin` header
 * @param site - the request's host and, when known, scheme
 * @returns true when host and port match (and the schemes, when the request's is known)
 */
export function isSameOrigin(origin: string, site: RequestSite): boolean {
  const parsed = parseOrigin(origin);
  if (!parsed || defaultPort(parsed.scheme) === undefined || site.host === undefined) return false;
  const own = splitAuthority(site.host.trim());
  if (!own || own.host !== parsed.host) return false;
  const scheme = site.scheme;
  if (scheme !== undefined && isSecureScheme(scheme) !== isSecureScheme(parsed.scheme)) {
    return false;
  }
  return (own.port ?? defaultPort(scheme ?? parsed.scheme)) === parsed.port;
}

/**
 * Recent same-origin decisions. A site's handshakes carry the same `Origin` and `Host` again and
 * again, and parsing both costs a few µs per handshake. Bounded: at most {@link MAX_RECENT}
 * short entries; the map is emptied when full.
 */
const recentDecisions = new Map<string, boolean>();
const MAX_RECENT = 64;
/** Longest origin-and-site key remembered; longer ones are decided every time. */
const MAX_RECENT_KEY = 256;

/** {@link isSameOrigin}, remembering recent answers. */
function isSameOriginRemembered(origin: string, site: RequestSite): boolean {
  // LF never occurs in a header value (Node refuses it), so the key is unambiguous.
  const key = `${site.scheme ?? ''}\n${site.host ?? ''}\n${origin}`;
  const known = recentDecisions.get(key);
  if (known !== undefined) return known;
  const decision = isSameOrigin(origin, site);
  if (key.length <= MAX_RECENT_KEY) {
    if (recentDecisions.size >= MAX_RECENT) recentDecisions.clear();
    recentDecisions.set(key, decision);
  }
  return decision;
}

function forbidden(): HandshakeError {
  return handshakeError(403, HandshakeErrorCode.Origin, 'Origin not allowed');
}

/**
 * Applies the origin policy to a request. Never echoes the `Origin` value.
 * @param request - the upgrade request
 * @param policy - the route's policy, else the entry point's, else same-origin
 * @param requireOrigin - whether a request without `Origin` is refused
 * @param siteOf - the request's own host and scheme, read only when the policy needs them
 * @returns undefined when allowed; 403 `WS_ORIGIN_FORBIDDEN` (not allowed, or sent twice),
 *   403 `WS_ORIGIN_REQUIRED` (missing with `requireOrigin`), or 500 `WS_INTERNAL` (the
 *   predicate threw)
 */
export function checkOrigin(
  request: UpgradeRequestInfo,
  policy: ResolvedOriginPolicy,
  requireOrigin: boolean,
  siteOf: () => RequestSite,
): HandshakeError | undefined {
  const joined = request.headers.origin;
  const lines = request.headersDistinct.origin ?? (joined === undefined ? [] : [joined]);
  // Two Origin lines are ambiguous: a check could pass on either one.
  if (lines.length > 1) return forbidden();
  const origin = lines[0];
  if (origin === undefined) {
    if (!requireOrigin) return undefined;
    return handshakeError(403, HandshakeErrorCode.OriginRequired, 'Origin header required');
  }
  switch (policy.kind) {
    case 'any':
      return undefined;
    case 'same-origin':
      return isSameOriginRemembered(origin, siteOf()) ? undefined : forbidden();
    case 'list': {
      const parsed = parseOrigin(origin);
      return parsed && policy.origins.has(originKey(parsed)) ? undefined : forbidden();
    }
    case 'predicate': {
      let isAllowed: unknown;
      try {
        isAllowed = policy.predicate(origin, {
          isSameOrigin: isSameOriginRemembered(origin, siteOf()),
          request,
        });
      } catch {
        return handshakeError(500, HandshakeErrorCode.Internal, 'Origin check failed');
      }
      return isAllowed === true ? undefined : forbidden();
    }
  }
}
