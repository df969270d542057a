/**
 * The counters behind admission limits, one gate per scope (an entry point, a route): open
 * connections in total and per client, and each client's handshake budget.
 *
 * Memory is bounded. A client's connection count exists only while it has connections open,
 * so that table never outgrows the open connections. The handshake budgets live in a table of
 * at most {@link MAX_TRACKED_CLIENTS} entries: an entry whose budget is full again is the same
 * as no entry and is dropped, and when the table is full the client seen least recently is
 * forgotten (it gets a fresh budget: the lesser evil, next to refusing clients never seen).
 * @module
 */
import { type HandshakeError, HandshakeErrorCode, handshakeError } from './errors.js';

/** A handshake budget: `limit` handshakes per `windowMs` per client. */
export interface HandshakeRate {
  /** Handshakes a client may make at once, and per window on average. */
  readonly limit: number;
  /** The window, in ms. */
  readonly windowMs: number;
}

/** The admission limits of a scope; every one is off unless set. */
export interface AdmissionLimits {
  /**
   * Most connections open at once; the next handshake is answered 503
   * (`WS_TOO_MANY_CONNECTIONS`) before the 101.
   * @default Infinity (off)
   */
  readonly maxConnections?: number;
  /**
   * Most connections open at once from one client (its address, see `trustProxy`; IPv6 by
   * /64); the next handshake is answered 429 (`WS_CLIENT_CONNECTION_LIMIT`) before the 101.
   * @default Infinity (off)
   */
  readonly maxConnectionsPerClient?: number;
  /**
   * Each client's handshake budget: a burst of `limit`, refilled at `limit` per `windowMs`.
   * Beyond it, handshakes are answered 429 (`WS_RATE_LIMITED`) with `Retry-After`, the
   * seconds until the next one is allowed.
   * @default undefined (off)
   */
  readonly handshakesPerClient?: HandshakeRate;
}

/** {@link AdmissionLimits} checked, `Infinity` for off. Internal. */
export interface ResolvedAdmissionLimits {
  readonly maxConnections: number;
  readonly maxConnectionsPerClient: number;
  readonly handshakesPerClient: HandshakeRate | undefined;
}

/** Full budgets are swept every this many handshakes (and whenever the table is full). */
const SWEEP_EVERY = 16;

/** Most clients whose handshake budget one gate remembers (about 160 bytes each: 16 MB). */
export const MAX_TRACKED_CLIENTS = 100_000;

function readCap(name: string, value: unknown): number {
  if (value === undefined) return Number.POSITIVE_INFINITY;
  const isCount =
    typeof value === 'number' &&
    (Number.isSafeInteger(value) || value === Number.POSITIVE_INFINITY) &&
    value > 0;
  if (!isCount) throw new TypeError(`${name} must be a positive integer (or Infinity)`);
  return value;
}

function readRate(value: unknown): HandshakeRate | undefined {
  if (value === undefined) return undefined;
  const { limit, windowMs } = (value ?? {}) as Partial<Record<keyof HandshakeRate, unknown>>;
  const isValid =
    typeof limit === 'number' &&
    Number.isSafeInteger(limit) &&
    limit > 0 &&
    typeof windowMs === 'number' &&
    windowMs > 0 &&
    windowMs <= 0x7fffffff;
  if (!isValid) {
    throw new TypeError(
      'handshakesPerClient must be { limit: a positive integer, windowMs: ms > 0 and < 2^31 }',
    );
  }
  return { limit: limit as number, windowMs: windowMs as number };
}

/**
 * Checks admission limits at registration.
 * @param options - the limits as given
 * @returns the limits, `Infinity` for those not set
 * @throws TypeError for a limit that is not a positive integer, or a malformed budget
 */
export function resolveAdmissionLimits(options: AdmissionLimits): ResolvedAdmissionLimits {
  return {
    maxConnections: readCap('maxConnections', options.maxConnections),
    maxConnectionsPerClient: readCap('maxConnectionsPerClient', options.maxConnectionsPerClient),
    handshakesPerClient: readRate(options.handshakesPerClient),
  };
}

/**
 * Each client's handshake budget, as a generic cell rate algorithm: one number per client, the
 * time its budget is spent until ("theoretical arrival time"). A handshake is allowed while
 * that time is at most `windowMs - interval` ahead of now, and moves it one `interval` later.
 */
class HandshakeBudgets {
  readonly #interval: number;
  readonly #tolerance: number;
  /** Client key → time its budget is spent until; least recently used first. */
  readonly #spentUntil = new Map<string, number>();
  /** Handshakes until the next sweep of full budgets. */
  #untilSweep = SWEEP_EVERY;

  constructor(rate: HandshakeRate) {
    this.#interval = rate.windowMs / rate.limit;
    this.#tolerance = rate.windowMs - this.#interval;
  }

  /** Clients tracked now. */
  get size(): number {
    return this.#spentUntil.size;
  }

  /**
   * Counts one handshake of a client.
   * @returns 0 when allowed, otherwise the ms until the next one would be
   */
  take(key: string, now: number): number {
    const table = this.#spentUntil;
    const spentUntil = Math.max(table.get(key) ?? now, now);
    const wait = spentUntil - this.#tolerance - now;
    if (wait > 0) return wait;
    // Delete first, so that the entry moves to the end: the table stays in recency order.
    table.delete(key);
    if (table.size >= MAX_TRACKED_CLIENTS || --this.#untilSweep === 0) this.#forgetIdle(now);
    table.set(key, spentUntil + this.#interval);
    return 0;
  }

  /**
   * Drops the full budgets at the front of the table (the least recently used, so each sweep
   * costs what it removes, plus one) and, at the cap, the oldest entry whatever its state.
   */
  #forgetIdle(now: number): void {
    this.#untilSweep = SWEEP_EVERY;
    const table = this.#spentUntil;
    for (const [key, spentUntil] of table) {
      if (spentUntil > now && table.size < MAX_TRACKED_CLIENTS) break;
      table.delete(key);
      if (spentUntil > now) break;
    }
  }
}

/** The admission counters of one scope. */
export class AdmissionGate {
  /** The limits this gate applies. */
  readonly limits: ResolvedAdmissionLimits;
  readonly #budgets: HandshakeBudgets | undefined;
  /** Open connections per client key; a key leaves when its count falls to 0. */
  readonly #openPerClient = new Map<string, number>();
  readonly #now: () => number;
  readonly #isLimited: boolean;
  readonly #isPerClient: boolean;
  #open = 0;

  /**
   * @param limits - the scope's limits
   * @param now - a monotonic clock in ms (tests pass their own)
   */
  constructor(limits: ResolvedAdmissionLimits, now: () => number = () => performance.now()) {
    this.limits = limits;
    this.#budgets = limits.handshakesPerClient && new HandshakeBudgets(limits.handshakesPerClient);
    this.#now = now;
    this.#isPerClient =
      this.#budgets !== undefined || limits.maxConnectionsPerClient !== Number.POSITIVE_INFINITY;
    this.#isLimited = this.#isPerClient || limits.maxConnections !== Number.POSITIVE_INFINITY;
  }

  /** Whether any limit is set: a gate without one is never consulted. */
  get isLimited(): boolean {
    return this.#isLimited;
  }

  /** Whether a limit counts per client, so that the client's address must be resolved. */
  get isPerClient(): boolean {
    return this.#isPerClient;
  }

  /** Connections open in this scope. */
  get openCount(): number {
    return this.#open;
  }

  /** Clients tracked: with connections open, and with a handshake budget in use. */
  get trackedClients(): { readonly open: number; readonly budgets: number } {
    return { open: this.#openPerClient.size, budgets: this.#budgets?.size ?? 0 };
  }

  /**
   * Counts a handshake against the client's budget.
   * @param key - the client's key
   * @returns undefined when allowed; a 429 `WS_RATE_LIMITED` with `Retry-After` otherwise
   */
  takeHandshake(key: string): HandshakeError | undefined {
    const wait = this.#budgets?.take(key, this.#now()) ?? 0;
    if (wait <= 0) return undefined;
    const retryAfter = String(Math.max(1, Math.ceil(wait / 1000)));
    return handshakeError(429, HandshakeErrorCode.RateLimited, 'Too many handshakes', {
      'Retry-After': retryAfter,
    });
  }

  /**
   * Whether one more connection of the client fits.
   * @param key - the client's key
   * @returns undefined when it fits; a 503 `WS_TOO_MANY_CONNECTIONS` or a 429
   *   `WS_CLIENT_CONNECTION_LIMIT` otherwise
   */
  checkRoom(key: string): HandshakeError | undefined {
    if (this.#open >= this.limits.maxConnections) {
      return handshakeError(503, HandshakeErrorCode.TooManyConnections, 'Too many connections');
    }
    if ((this.#openPerClient.get(key) ?? 0) >= this.limits.maxConnectionsPerClient) {
      return handshakeError(
        429,
        HandshakeErrorCode.ClientConnectionLimit,
        'Too many connections from this client',
      );
    }
    return undefined;
  }

  /** @param key - the client of a connection just admitted */
  add(key: string): void {
    this.#open++;
    if (this.limits.maxConnectionsPerClient === Number.POSITIVE_INFINITY) return;
    this.#openPerClient.set(key, (this.#openPerClient.get(key) ?? 0) + 1);
  }

  /** @param key - the client of a connection that closed */
  remove(key: string): void {
    this.#open--;
    const count = this.#openPerClient.get(key);
    if (count === undefined) return;
    if (count <= 1) this.#openPerClient.delete(key);
    else this.#openPerClient.set(key, count - 1);
  }
}
