/**
 * IP addresses as admission counts them: parsing to bytes, CIDR ranges, the normal form of an
 * address (IPv4-mapped IPv6 unmapped) and the key per-client limits use (IPv6 by /64).
 *
 * Written out rather than `net.BlockList`: its `check()` crosses into C++ and allocates, about
 * 3 µs per call, paid for every hop of every handshake behind a proxy; this is a few hundred ns.
 * @module
 */
import { isIP, isIPv4 } from 'node:net';

/** A CIDR range: the network's bytes (4 or 16) and the prefix length in bits. */
export interface IpRange {
  readonly bytes: Uint8Array;
  readonly prefix: number;
}

/** Parses dotted-quad IPv4 into `out` at `offset`, in one scan; false unless exactly that. */
function parseIPv4Into(address: string, out: Uint8Array, offset: number): boolean {
  let part = 0;
  let value = 0;
  let digits = 0;
  for (let i = 0; i <= address.length; i++) {
    const c = i === address.length ? 0x2e : address.charCodeAt(i);
    if (c === 0x2e) {
      if (digits === 0 || part > 3) return false;
      out[offset + part++] = value;
      value = 0;
      digits = 0;
    } else {
      const digit = c - 0x30;
      if (digit < 0 || digit > 9 || ++digits > 3) return false;
      value = value * 10 + digit;
      if (value > 255) return false;
    }
  }
  return part === 4;
}

/** The value of a hexadecimal digit, or -1. */
function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const lower = c | 0x20;
  return lower >= 0x61 && lower <= 0x66 ? lower - 0x61 + 10 : -1;
}

/** Parses the 16-bit groups of one side of `::` into `groups`; false when malformed. */
function parseGroups(side: string, groups: number[], allowIPv4Tail: boolean): boolean {
  if (side === '') return true;
  const parts = side.split(':');
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i] ?? '';
    if (allowIPv4Tail && i === parts.length - 1 && part.includes('.')) {
      const tail = new Uint8Array(4);
      if (!parseIPv4Into(part, tail, 0)) return false;
      groups.push(((tail[0] ?? 0) << 8) | (tail[1] ?? 0), ((tail[2] ?? 0) << 8) | (tail[3] ?? 0));
      continue;
    }
    if (part.length === 0 || part.length > 4) return false;
    let value = 0;
    for (let j = 0; j < part.length; j++) {
      const digit = hexValue(part.charCodeAt(j));
      if (digit < 0) return false;
      value = (value << 4) | digit;
    }
    groups.push(value);
  }
  return true;
}

/**
 * Parses an IP address into its bytes.
 * @param address - IPv4 dotted-quad or IPv6 (`::`, an IPv4 tail and a `%zone` allowed)
 * @param scratch - buffers to write into instead of allocating (the result is then only valid
 *   until the next call with the same buffers)
 * @returns 4 or 16 bytes, or undefined when it is not an IP address
 */
export function parseIp(
  address: string,
  scratch?: { readonly v4: Uint8Array; readonly v6: Uint8Array },
): Uint8Array | undefined {
  if (address.includes('.') && !address.includes(':')) {
    const bytes = scratch?.v4 ?? new Uint8Array(4);
    return parseIPv4Into(address, bytes, 0) ? bytes : undefined;
  }
  const zone = address.indexOf('%');
  const plain = zone === -1 ? address : address.slice(0, zone);
  const gap = plain.indexOf('::');
  if (gap !== -1 && plain.indexOf('::', gap + 1) !== -1) return undefined;
  const head: number[] = [];
  const tail: number[] = [];
  const isParsed =
    gap === -1
      ? parseGroups(plain, head, true)
      : parseGroups(plain.slice(0, gap), head, false) &&
        parseGroups(plain.slice(gap + 2), tail, true);
  const count = head.length + tail.length;
  if (!isParsed || (gap === -1 ? count !== 8 : count > 7)) return undefined;
  const groups = [...head, ...new Array<number>(8 - count).fill(0), ...tail];
  const bytes = scratch?.v6 ?? new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    const group = groups[i] ?? 0;
    bytes[2 * i] = group >> 8;
    bytes[2 * i + 1] = group & 0xff;
  }
  return bytes;
}

/**
 * Parses `address` or `address/prefix`.
 * @param range - e.g. `10.0.0.0/8`, `fd00::/8`, `127.0.0.1`
 * @returns the range, or undefined when malformed (or the prefix is too long)
 */
export function parseIpRange(range: string): IpRange | undefined {
  const slash = range.indexOf('/');
  const bytes = parseIp(slash === -1 ? range : range.slice(0, slash));
  if (!bytes) return undefined;
  if (slash === -1) return { bytes, prefix: bytes.length * 8 };
  const bits = range.slice(slash + 1);
  const prefix = Number(bits);
  const isPrefix = bits.length > 0 && bits.length <= 3 && Number.isInteger(prefix) && prefix >= 0;
  if (!isPrefix || prefix > bytes.length * 8) return undefined;
  return { bytes, prefix };
}

/** Buffers {@link isInAnyRange} parses into: it runs synchronously, so one pair serves all. */
const SCRATCH = { v4: new Uint8Array(4), v6: new Uint8Array(16) };

/**
 * Whether an address lies in one of the ranges, without allocating.
 * @param address - an address (anything else is in no range)
 * @param ranges - parsed ranges
 * @returns true inside one of them
 */
export function isInAnyRange(address: string, ranges: readonly IpRange[]): boolean {
  const bytes = parseIp(address, SCRATCH);
  if (!bytes) return false;
  for (const range of ranges) {
    if (isInRange(bytes, range)) return true;
  }
  return false;
}

/**
 * Whether an address lies in a range; IPv4 and IPv6 never match each other (normalize
 * IPv4-mapped addresses first, see {@link normalizeAddress}).
 * @param bytes - the address, from {@link parseIp}
 * @param range - the range, from {@link parseIpRange}
 * @returns true inside the range
 */
export function isInRange(bytes: Uint8Array, range: IpRange): boolean {
  if (bytes.length !== range.bytes.length) return false;
  const whole = range.prefix >> 3;
  for (let i = 0; i < whole; i++) {
    if (bytes[i] !== range.bytes[i]) return false;
  }
  const rest = range.prefix & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return ((bytes[whole] ?? 0) & mask) === ((range.bytes[whole] ?? 0) & mask);
}

/**
 * Lower-cases and unmaps an IPv4-mapped IPv6 address (`::ffff:10.0.0.1` → `10.0.0.1`), so that
 * the same client on a dual-stack socket has one form.
 * @param address - an address as a socket or a forwarding header gives it
 * @returns its normal form
 */
export function normalizeAddress(address: string): string {
  const lower = address.toLowerCase();
  if (lower.startsWith('::ffff:') && isIPv4(lower.slice(7))) return lower.slice(7);
  return lower;
}

/**
 * The key per-client tables count by: IPv4 addresses as they are, IPv6 addresses by their /64
 * (`2001:db8:0:1::/64`), since one subscriber usually holds a whole /64 and could otherwise
 * rotate addresses; anything else (`unknown`, an obfuscated `_node`) as written.
 * @param address - a normalized address (see {@link normalizeAddress}), or any other string
 * @returns the key
 */
export function clientKeyOf(address: string): string {
  if (isIP(address) !== 6) return address;
  const bytes = parseIp(address);
  if (!bytes) return address;
  const groups: string[] = [];
  for (let i = 0; i < 8; i += 2)
    groups.push((((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0)).toString(16));
  return `${groups.join(':')}::/64`;
}
