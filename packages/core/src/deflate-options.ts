/**
 * Configuration of permessage-deflate (RFC 7692): the options, their defaults and their
 * validation at registration time.
 * @module
 */

/** Server configuration of permessage-deflate. */
export interface PerMessageDeflateOptions {
  /**
   * Always reset our compressor between messages (answered even when the client did not ask).
   * Costs compression ratio, saves the compressor's memory between messages.
   * @default false
   */
  readonly serverNoContextTakeover?: boolean;
  /**
   * Ask the client to reset its compressor between messages, which lets us release the
   * decompressor between messages.
   * @default false
   */
  readonly clientNoContextTakeover?: boolean;
  /**
   * Largest LZ77 window we compress with, 8–15 (256 B – 32 KiB); lowered to the client's
   * `server_max_window_bits`. zlib cannot produce raw streams with 8, so 8 compresses with 9,
   * whose longest distance (512 − 262 = 250 bytes) still fits a 256-byte window.
   * @default 15
   */
  readonly serverMaxWindowBits?: number;
  /**
   * Largest LZ77 window we ask the client to use, 8–15; only asked when the client offered
   * `client_max_window_bits` (RFC 7692 §7.1.2.2), otherwise we inflate with a 32 KiB window.
   * @default 15
   */
  readonly clientMaxWindowBits?: number;
  /**
   * Messages smaller than this many bytes are sent uncompressed; see
   * {@link PerMessageDeflate.shouldCompress}.
   * @default 1024
   */
  readonly threshold?: number;
  /**
   * zlib compression level, 0–9 or -1 for zlib's default (6). Level 1 compresses 1 KiB JSON
   * nearly as well as 6 at a lower cost.
   * @default 1
   */
  readonly level?: number;
  /**
   * zlib memLevel, 1–9: compressor hash table size (2^(memLevel+9) bytes, 128 KiB at 8).
   * @default 8
   */
  readonly memLevel?: number;
  /**
   * Most zlib operations running at once across all connections sharing this value; further
   * operations queue. Bounds native memory and thread pool usage (ws#1202).
   * @default 10
   */
  readonly concurrency?: number;
}

/** {@link PerMessageDeflateOptions} with every default applied and validated. */
export type ResolvedPerMessageDeflateOptions = Readonly<Required<PerMessageDeflateOptions>>;

/** The defaults of {@link PerMessageDeflateOptions}. */
export const PER_MESSAGE_DEFLATE_DEFAULTS: ResolvedPerMessageDeflateOptions = Object.freeze({
  serverNoContextTakeover: false,
  clientNoContextTakeover: false,
  serverMaxWindowBits: 15,
  clientMaxWindowBits: 15,
  threshold: 1024,
  level: 1,
  memLevel: 8,
  concurrency: 10,
});

function checkInteger(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`permessage-deflate ${name} must be an integer in ${min}–${max}`);
  }
}

/**
 * Applies defaults and validates options. Call it when a route or server is registered so that
 * bad configuration fails there, synchronously.
 * @param options - partial options
 * @returns the complete options
 * @throws TypeError for a non-boolean flag; RangeError for an out-of-range number
 */
export function resolvePerMessageDeflateOptions(
  options: PerMessageDeflateOptions = {},
): ResolvedPerMessageDeflateOptions {
  const resolved = { ...PER_MESSAGE_DEFLATE_DEFAULTS };
  for (const [key, value] of Object.entries(options)) {
    if (value !== undefined && key in resolved) Object.assign(resolved, { [key]: value });
  }
  for (const flag of ['serverNoContextTakeover', 'clientNoContextTakeover'] as const) {
    if (typeof resolved[flag] !== 'boolean') {
      throw new TypeError(`permessage-deflate ${flag} must be a boolean`);
    }
  }
  checkInteger('serverMaxWindowBits', resolved.serverMaxWindowBits, 8, 15);
  checkInteger('clientMaxWindowBits', resolved.clientMaxWindowBits, 8, 15);
  checkInteger('threshold', resolved.threshold, 0, Number.MAX_SAFE_INTEGER);
  checkInteger('level', resolved.level, -1, 9);
  checkInteger('memLevel', resolved.memLevel, 1, 9);
  checkInteger('concurrency', resolved.concurrency, 1, 1024);
  return Object.freeze(resolved);
}
