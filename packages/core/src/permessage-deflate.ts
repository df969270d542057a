/**
 * permessage-deflate (RFC 7692): server-side negotiation and the per-connection
 * compressor/decompressor. Options live in `deflate-options.ts`.
 *
 * Safe by default: inflated size is capped while inflating (a decompression bomb is stopped
 * after at most the limit plus one 16 KiB zlib chunk), zlib work is serialized per connection
 * and capped process-wide, and no_context_takeover streams are released between messages.
 * @module
 */
import { DEFAULT_LIMITS } from './constants.js';
import {
  type PerMessageDeflateOptions,
  resolvePerMessageDeflateOptions,
} from './deflate-options.js';
import { ProtocolErrorCode, WebSocketError } from './errors.js';
import { type ExtensionOffer, formatExtensionHeader } from './extension-header.js';
import { ZlibChannel, type ZlibChannelOptions } from './zlib-channel.js';
import { getSharedZlibLimiter, type ZlibLimiter } from './zlib-limiter.js';

/** The registered extension name (RFC 7692 §6). */
export const PERMESSAGE_DEFLATE = 'permessage-deflate';

/** What both ends agreed on during the handshake. */
export interface NegotiatedDeflateParams {
  /** The server resets its compressor after every message. */
  readonly serverNoContextTakeover: boolean;
  /** The client resets its compressor after every message. */
  readonly clientNoContextTakeover: boolean;
  /** The server's LZ77 window is at most 2^n bytes, 8–15. */
  readonly serverMaxWindowBits: number;
  /** The client's LZ77 window is at most 2^n bytes, 8–15. */
  readonly clientMaxWindowBits: number;
}

/** An accepted offer: the `Sec-WebSocket-Extensions` answer and the agreed parameters. */
export interface DeflateNegotiation {
  /** The `Sec-WebSocket-Extensions` response value. */
  readonly response: string;
  /** The agreed parameters, for {@link PerMessageDeflate}. */
  readonly params: NegotiatedDeflateParams;
}

const WINDOW_BITS_VALUES = new Map<string, number>();
for (let bits = 8; bits <= 15; bits++) WINDOW_BITS_VALUES.set(String(bits), bits);

interface ParsedOffer {
  serverNoContextTakeover: boolean;
  clientNoContextTakeover: boolean;
  serverMaxWindowBits: number | undefined;
  /** `true`: offered without a value ("you may pick one"). */
  clientMaxWindowBits: number | true | undefined;
}

/**
 * Reads the parameters of one offer (RFC 7692 §7.1), or returns undefined when the offer must
 * be declined: unknown or repeated parameter, a value on a flag, or window bits that are not
 * 8–15 written without leading zeros.
 */
function readOffer(offer: ExtensionOffer): ParsedOffer | undefined {
  const parsed: ParsedOffer = {
    serverNoContextTakeover: false,
    clientNoContextTakeover: false,
    serverMaxWindowBits: undefined,
    clientMaxWindowBits: undefined,
  };
  const seen = new Set<string>();
  for (const [key, value] of offer.params) {
    if (seen.has(key)) return undefined;
    seen.add(key);
    if (key === 'server_no_context_takeover' || key === 'client_no_context_takeover') {
      if (value !== true) return undefined;
      if (key === 'server_no_context_takeover') parsed.serverNoContextTakeover = true;
      else parsed.clientNoContextTakeover = true;
    } else if (key === 'server_max_window_bits') {
      // A value is mandatory here (§7.1.2.1).
      parsed.serverMaxWindowBits = value === true ? undefined : WINDOW_BITS_VALUES.get(value);
      if (parsed.serverMaxWindowBits === undefined) return undefined;
    } else if (key === 'client_max_window_bits') {
      const bits = value === true ? true : WINDOW_BITS_VALUES.get(value);
      if (bits === undefined) return undefined;
      parsed.clientMaxWindowBits = bits;
    } else {
      return undefined;
    }
  }
  return parsed;
}

/**
 * Server-side negotiation (RFC 7692 §5, §7.1): accepts the first acceptable
 * `permessage-deflate` offer and builds the answer. The answer never contains a parameter the
 * client did not allow: `server_max_window_bits` never exceeds the client's cap and
 * `client_max_window_bits` only appears when the client offered it.
 * @param offers - the parsed `Sec-WebSocket-Extensions` header, from `parseExtensionHeader`
 * @param options - the server configuration (resolve it once at registration)
 * @returns the answer and the agreed parameters, or undefined when no offer is acceptable
 *   (the connection then proceeds without compression)
 * @throws RangeError or TypeError when `options` are invalid
 */
export function negotiatePerMessageDeflate(
  offers: readonly ExtensionOffer[],
  options: PerMessageDeflateOptions = {},
): DeflateNegotiation | undefined {
  const opts = resolvePerMessageDeflateOptions(options);
  for (const offer of offers) {
    if (offer.name !== PERMESSAGE_DEFLATE) continue;
    const parsed = readOffer(offer);
    if (!parsed) continue;
    const answer: Array<[string, string | true]> = [];
    // §7.1.1.1: accepting server_no_context_takeover means answering it; we may add it anyway.
    const serverNoContextTakeover = parsed.serverNoContextTakeover || opts.serverNoContextTakeover;
    if (serverNoContextTakeover) answer.push(['server_no_context_takeover', true]);
    // §7.1.1.2: may always be answered. Echoing the client's own hint lets us release the
    // decompressor between messages.
    const clientNoContextTakeover = parsed.clientNoContextTakeover || opts.clientNoContextTakeover;
    if (clientNoContextTakeover) answer.push(['client_no_context_takeover', true]);
    // §7.1.2.1: same or smaller than the client's value; may be answered unasked.
    const serverMaxWindowBits = Math.min(
      opts.serverMaxWindowBits,
      parsed.serverMaxWindowBits ?? 15,
    );
    if (parsed.serverMaxWindowBits !== undefined || serverMaxWindowBits < 15) {
      answer.push(['server_max_window_bits', String(serverMaxWindowBits)]);
    }
    // §7.1.2.2: only when offered; a value offered is the client's own upper bound.
    let clientMaxWindowBits = 15;
    if (parsed.clientMaxWindowBits !== undefined) {
      const offered = parsed.clientMaxWindowBits;
      clientMaxWindowBits = Math.min(opts.clientMaxWindowBits, offered === true ? 15 : offered);
      if (offered !== true || clientMaxWindowBits < 15) {
        answer.push(['client_max_window_bits', String(clientMaxWindowBits)]);
      }
    }
    return {
      response: formatExtensionHeader([{ name: PERMESSAGE_DEFLATE, params: answer }]),
      params: {
        serverNoContextTakeover,
        clientNoContextTakeover,
        serverMaxWindowBits,
        clientMaxWindowBits,
      },
    };
  }
  return undefined;
}

/** Everything a {@link PerMessageDeflate} is created from. */
export interface PerMessageDeflateInit {
  /** The agreed parameters, from {@link negotiatePerMessageDeflate}. */
  readonly params: NegotiatedDeflateParams;
  /** The server configuration used for the negotiation. */
  readonly options?: PerMessageDeflateOptions;
  /**
   * Largest inflated message in bytes, enforced on top of each call's `maxBytes`.
   * @default DEFAULT_LIMITS.maxPayload
   */
  readonly maxPayload?: number;
  /**
   * Which end this instance is: a server deflates with the `server_*` parameters and
   * inflates with the `client_*` ones, a client the other way round.
   * @default 'server'
   */
  readonly role?: 'server' | 'client';
  /**
   * Admission of zlib work; inject one to observe or isolate it.
   * @default the process-wide limiter for `options.concurrency`
   */
  readonly limiter?: ZlibLimiter;
}

/** Receives one frame's inflated bytes, or a 1007/1009 failure. */
export type InflateCallback = (err: WebSocketError | null, inflated?: Buffer) => void;

/** Receives one message's compressed bytes, or an error (code `WS_DEFLATE_CLOSED` after close). */
export type DeflateCallback = (err: Error | null, compressed?: Buffer) => void;

/**
 * The permessage-deflate state of one connection: one decompressor for incoming messages, one
 * compressor for outgoing ones. Each direction is a FIFO, so results come back in call order;
 * zlib work across connections goes through a shared {@link ZlibLimiter}.
 */
export class PerMessageDeflate {
  /** The agreed parameters. */
  readonly params: NegotiatedDeflateParams;
  readonly #threshold: number;
  readonly #inflaterOptions: ZlibChannelOptions;
  readonly #deflaterOptions: ZlibChannelOptions;
  // Made on first use: a connection that never sends or receives a compressed message pays
  // for neither (the idle-connection memory the benchmark measures).
  #inflaterChannel: ZlibChannel | undefined;
  #deflaterChannel: ZlibChannel | undefined;
  #isClosed = false;

  /**
   * @param init - agreed parameters, options, size limit, role and limiter
   * @throws RangeError or TypeError for invalid options, parameters or `maxPayload`
   */
  constructor(init: PerMessageDeflateInit) {
    const opts = resolvePerMessageDeflateOptions(init.options);
    const { params } = init;
    checkWindowBits(params.serverMaxWindowBits);
    checkWindowBits(params.clientMaxWindowBits);
    const maxPayload = init.maxPayload ?? DEFAULT_LIMITS.maxPayload;
    if (!(maxPayload > 0)) throw new RangeError('maxPayload must be a positive number');
    const isServer = (init.role ?? 'server') === 'server';
    const limiter = init.limiter ?? getSharedZlibLimiter(opts.concurrency);
    this.params = params;
    this.#threshold = opts.threshold;
    const shared = { level: opts.level, memLevel: opts.memLevel, limiter };
    // zlib refuses raw streams with an 8-bit window. Inflating with 9 accepts everything a
    // 256-byte window produces; deflating with 9 never reaches back more than 250 bytes.
    this.#deflaterOptions = channelOptions({
      ...shared,
      mode: 'deflate',
      windowBits: Math.max(9, isServer ? params.serverMaxWindowBits : params.clientMaxWindowBits),
      noContextTakeover: isServer ? params.serverNoContextTakeover : params.clientNoContextTakeover,
      maxMessageBytes: Number.POSITIVE_INFINITY,
    });
    this.#inflaterOptions = channelOptions({
      ...shared,
      mode: 'inflate',
      windowBits: Math.max(9, isServer ? params.clientMaxWindowBits : params.serverMaxWindowBits),
      noContextTakeover: isServer ? params.clientNoContextTakeover : params.serverNoContextTakeover,
      maxMessageBytes: maxPayload,
    });
  }

  get #inflater(): ZlibChannel {
    this.#inflaterChannel ??= new ZlibChannel(this.#inflaterOptions);
    return this.#inflaterChannel;
  }

  get #deflater(): ZlibChannel {
    this.#deflaterChannel ??= new ZlibChannel(this.#deflaterOptions);
    return this.#deflaterChannel;
  }

  /** Whether {@link PerMessageDeflate.close} was called. */
  get isClosed(): boolean {
    return this.#isClosed;
  }

  /** How many zlib streams (0–2) currently hold native memory for this connection. */
  get zlibStreams(): number {
    return (
      Number(this.#inflaterChannel?.hasStream ?? false) +
      Number(this.#deflaterChannel?.hasStream ?? false)
    );
  }

  /**
   * Whether a message of this size should be compressed: small messages gain little and cost
   * a zlib round trip.
   * @param byteLength - the message size in bytes
   * @returns true from `threshold` bytes on
   */
  shouldCompress(byteLength: number): boolean {
    return byteLength >= this.#threshold;
  }

  /**
   * Inflates one frame's payload of a compressed message (RFC 7692 §7.2.2); the tail
   * `00 00 ff ff` is appended after the final frame. Stops as soon as the output crosses the
   * limit and destroys that zlib stream.
   * @param data - the frame payload, already unmasked
   * @param fin - whether this frame ends the message
   * @param maxBytes - inflated bytes this message may still produce
   * @param callback - called exactly once, asynchronously, with the inflated bytes, or a
   *   WebSocketError 1009 `WS_MESSAGE_TOO_BIG` / 1007 `WS_INFLATE_FAILED`; never called after
   *   {@link PerMessageDeflate.close}
   */
  inflate(data: Buffer, fin: boolean, maxBytes: number, callback: InflateCallback): void {
    this.#inflater.push(data, fin, maxBytes, (err, inflated) => {
      if (err === null) callback(null, inflated);
      else if (err instanceof WebSocketError) callback(err);
      else callback(new WebSocketError(1007, ProtocolErrorCode.InflateFailed, err.message));
    });
  }

  /**
   * Compresses a whole message, or one fragment of it when `fin` is false (RFC 7692 §7.2.1).
   * The final output has its trailing `00 00 ff ff` removed; with no_context_takeover for our
   * side, the compressor starts afresh after it.
   * @param data - the message (or fragment) bytes
   * @param fin - whether this ends the message
   * @param callback - called exactly once, asynchronously, with the bytes to send
   */
  deflate(data: Buffer, fin: boolean, callback: DeflateCallback): void {
    this.#deflater.push(data, fin, Number.POSITIVE_INFINITY, callback);
  }

  /**
   * Releases both zlib streams now. Pending inflate callbacks are dropped (the parser is being
   * torn down); pending and later deflate callbacks get an error with code `WS_DEFLATE_CLOSED`.
   * Never throws; idempotent.
   */
  close(): void {
    this.#isClosed = true;
    // Channels made now are closed at once, so calls after close() fail as documented.
    this.#inflater.close();
    this.#deflater.close();
  }
}

/**
 * Connections with the same settings share one frozen options object: the options of a
 * connection then cost it no memory of its own (there are few distinct combinations).
 */
const channelOptionsCache = new Map<string, ZlibChannelOptions>();
const limiterIds = new WeakMap<ZlibLimiter, number>();
let nextLimiterId = 0;

function channelOptions(options: ZlibChannelOptions): ZlibChannelOptions {
  let limiterId = limiterIds.get(options.limiter);
  if (limiterId === undefined) {
    limiterId = nextLimiterId++;
    limiterIds.set(options.limiter, limiterId);
  }
  const { mode, windowBits, noContextTakeover, maxMessageBytes, level, memLevel } = options;
  const key = `${mode} ${windowBits} ${noContextTakeover} ${maxMessageBytes} ${level} ${memLevel} ${limiterId}`;
  let shared = channelOptionsCache.get(key);
  if (!shared) {
    shared = Object.freeze({ ...options });
    // Injected limiters (tests) could grow the cache without bound: keep it small.
    if (channelOptionsCache.size >= 256) channelOptionsCache.clear();
    channelOptionsCache.set(key, shared);
  }
  return shared;
}

function checkWindowBits(bits: number): void {
  if (!Number.isInteger(bits) || bits < 8 || bits > 15) {
    throw new RangeError(`window bits must be an integer in 8–15, got ${bits}`);
  }
}
