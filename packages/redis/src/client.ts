/**
 * One ioredis connection that the backplane owns: created lazily with the options its
 * guarantees need, reconnected on the backplane's schedule (bounded exponential backoff), and
 * ended for good by `close`.
 *
 * ioredis's own reconnection is off (`retryStrategy: null`): a lost connection ends the client
 * (`'end'`, every command in flight rejected at once), and this wrapper calls `connect()` again
 * after a delay. So nothing is queued or resent behind the backplane's back, and `close` has
 * exactly one timer to clear.
 * @module
 */
import { Redis, type RedisOptions } from 'ioredis';
import type { RedisRole } from './errors.js';
import { computeReconnectDelay, type ResolvedOptions } from './options.js';

/** How long `close()` waits for Redis to confirm the last commands before cutting. */
const QUIT_TIMEOUT_MS = 2_000;
/** How long `close()` waits for a connection to end after cutting it. */
const END_TIMEOUT_MS = 5_000;

/** What a {@link ManagedClient} reports to its owner. */
export interface ManagedClientHandlers {
  /** The connection is ready for commands (after each successful connection). */
  onReady(): void;
  /** The connection ended; every command in flight was rejected; a reconnection is scheduled. */
  onEnd(): void;
  /** ioredis reported an error (failed attempt, reset, authentication, ...). */
  onError(error: unknown): void;
}

function noop(): void {}

/** One reconnecting ioredis connection. */
export class ManagedClient {
  /** The ioredis client. */
  readonly redis: Redis;
  readonly #options: ResolvedOptions;
  readonly #handlers: ManagedClientHandlers;
  #attempts = 0;
  #timer: NodeJS.Timeout | undefined;
  #isClosed = false;

  /**
   * Creates the client without connecting.
   * @param options - the backplane's options
   * @param role - names the connection (`CLIENT SETNAME wsroute-<role>` unless the user names it)
   * @param handlers - what to tell the owner
   */
  constructor(options: ResolvedOptions, role: RedisRole, handlers: ManagedClientHandlers) {
    this.#options = options;
    this.#handlers = handlers;
    const redisOptions: RedisOptions = {
      connectionName: `wsroute-${role}`,
      ...options.redis,
      lazyConnect: true,
      enableOfflineQueue: false,
      retryStrategy: null,
      maxRetriesPerRequest: null,
      autoResubscribe: false,
      autoResendUnfulfilledCommands: false,
      reconnectOnError: null,
      keyPrefix: '',
      enableAutoPipelining: false,
      monitor: false,
    };
    this.redis =
      options.url === undefined ? new Redis(redisOptions) : new Redis(options.url, redisOptions);
    this.redis.on('ready', this.#onReady);
    this.redis.on('end', this.#onEnd);
    this.redis.on('error', this.#onError);
  }

  /**
   * Whether a command written now goes to Redis: ready, and the socket still writable (ioredis
   * sets its status before its `'end'` event reaches the owner).
   */
  get isReady(): boolean {
    return this.redis.status === 'ready' && this.redis.stream?.writable === true;
  }

  /** Starts the first connection attempt; later ones follow each `'end'` on their own. */
  connect(): void {
    this.#timer = undefined;
    if (this.#isClosed) return;
    // A failed attempt ends the client ('end'), which schedules the next one: the rejection
    // says nothing the 'error' event did not.
    this.redis.connect().catch(noop);
  }

  /**
   * Stops reconnecting and ends the connection: `QUIT` first when `isGraceful` (Redis answers
   * every earlier command before it, bounded by 2 s), then a cut. Takes the wrapper's
   * listeners off the client once it has ended.
   * @param isGraceful - whether to wait for the replies to commands in flight
   * @returns resolves once the client has ended
   */
  async close(isGraceful: boolean): Promise<void> {
    this.#isClosed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const { redis } = this;
    if (redis.status !== 'end' && redis.status !== 'wait') {
      const ended = waitForEnd(redis);
      if (isGraceful && redis.status === 'ready') {
        await withBound(redis.quit().catch(noop), QUIT_TIMEOUT_MS);
      }
      if (statusOf(redis) !== 'end') redis.disconnect();
      await ended;
    }
    redis.off('ready', this.#onReady);
    redis.off('end', this.#onEnd);
    redis.off('error', this.#onError);
  }

  // Created once per client and put on it once: nothing is added per command.
  readonly #onReady = (): void => {
    // ioredis emits status events on the next tick: the status may have moved on since.
    if (this.#isClosed || this.redis.status !== 'ready') return;
    this.#attempts = 0;
    this.#handlers.onReady();
  };

  readonly #onEnd = (): void => {
    if (this.#isClosed) return;
    const { minReconnectDelayMs, maxReconnectDelayMs } = this.#options;
    const delay = computeReconnectDelay(this.#attempts++, minReconnectDelayMs, maxReconnectDelayMs);
    this.#timer = setTimeout(() => this.connect(), delay);
    this.#handlers.onEnd();
  };

  readonly #onError = (error: unknown): void => {
    if (this.#isClosed) return;
    this.#handlers.onError(error);
  };
}

/** The status, read afresh (an `await` may have changed it behind the type's narrowing). */
function statusOf(redis: Redis): string {
  return redis.status;
}

async function withBound(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    promise,
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
    }),
  ]);
  clearTimeout(timer);
}

function waitForEnd(redis: Redis): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      redis.off('end', done);
      resolve();
    };
    // Bounded: ioredis destroys a socket that does not close within its disconnectTimeout.
    const timer = setTimeout(done, END_TIMEOUT_MS);
    redis.on('end', done);
  });
}
