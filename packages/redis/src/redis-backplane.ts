/**
 * A `Backplane` over Redis pub/sub: one Redis channel per topic (`<prefix><topic>`), one
 * connection that only subscribes and one that only publishes, Buffers end to end.
 *
 * ```
 *   idle --open()--> connecting --both connections ready, every held topic subscribed--> up
 *                                                                                     |  ^
 *                        a connection is lost: 'down', reconnect with bounded backoff v  |
 *                                                                                    down
 *   any state --close()--> closed                    back and resubscribed: 'up' ------'
 * ```
 *
 * While not up, `publish` refuses (`'failed'`) instead of queueing, so an outage costs no
 * memory and every refusal is counted. The backplane reconnects on its own schedule rather than
 * ioredis's, because ioredis would otherwise queue commands or resend them after a reconnect
 * (duplicates, reordering) and resubscribe without telling when it is done.
 * @module
 */
import { EventEmitter } from 'node:events';
import type { Backplane, BackplaneSink, RelayResult } from '@wsroute/core';
import { ManagedClient } from './client.js';
import { RedisBackplaneError, RedisBackplaneErrorCode, type RedisRole } from './errors.js';
import { type RedisBackplaneOptions, type ResolvedOptions, resolveOptions } from './options.js';
import { type RefusedSubscription, Subscriptions } from './subscriptions.js';
import type {
  RedisBackplaneClients,
  RedisBackplaneEvents,
  RedisBackplaneState,
  RedisBackplaneStats,
  RelayFailure,
  RelayFailureReason,
} from './types.js';

const EMPTY = Buffer.alloc(0);

/**
 * A `Backplane` over Redis pub/sub. Build it with {@link redisBackplane} and hand it to an
 * entry point (`backplane` option), which calls `open` once and `close` on shutdown.
 *
 * Its methods never throw; trouble is reported by `publish`'s result, the events of
 * {@link RedisBackplaneEvents} and {@link RedisBackplane.stats}.
 */
export class RedisBackplane extends EventEmitter<RedisBackplaneEvents> implements Backplane {
  readonly #options: ResolvedOptions;
  readonly #publisher: ManagedClient;
  readonly #subscriber: ManagedClient;
  readonly #subscriptions: Subscriptions;
  readonly #prefixBytes: number;
  #sink: BackplaneSink | undefined;
  #state: RedisBackplaneState = 'idle';
  #lastError: Error | undefined;
  #closing: Promise<void> | undefined;
  #published = 0;
  #confirmed = 0;
  #failed = 0;
  #unconfirmed = 0;
  #received = 0;
  #dropped = 0;
  #reconnects = 0;
  #pendingBytes = 0;

  /**
   * Builds the backplane and its two connections, without connecting (that is `open`'s job).
   * @param options - see {@link RedisBackplaneOptions}
   * @throws TypeError when an option is invalid
   */
  constructor(options: RedisBackplaneOptions = {}) {
    super();
    this.#options = resolveOptions(options);
    this.#prefixBytes = Buffer.byteLength(this.#options.channelPrefix);
    this.#publisher = new ManagedClient(this.#options, 'publisher', {
      onReady: () => this.#updateState(),
      onEnd: () => this.#updateState(),
      onError: (error) => this.#onClientError('publisher', error),
    });
    this.#subscriber = new ManagedClient(this.#options, 'subscriber', {
      onReady: () => this.#onSubscriberReady(),
      onEnd: () => this.#onSubscriberEnd(),
      onError: (error) => this.#onClientError('subscriber', error),
    });
    this.#subscriptions = new Subscriptions(
      this.#subscriber.redis,
      () => this.#subscriber.isReady,
      this.#options.channelPrefix,
      this.#options.sharded,
      (refused) => this.#onRefused(refused),
    );
    this.#subscriber.redis.on(this.#messageEvent(), this.#onMessage);
  }

  /** Where the backplane stands; see {@link RedisBackplaneState}. */
  get state(): RedisBackplaneState {
    return this.#state;
  }

  /** A snapshot of the counters; see {@link RedisBackplaneStats}. */
  get stats(): RedisBackplaneStats {
    return {
      published: this.#published,
      confirmed: this.#confirmed,
      failed: this.#failed,
      unconfirmed: this.#unconfirmed,
      received: this.#received,
      dropped: this.#dropped,
      reconnects: this.#reconnects,
      topics: this.#subscriptions.size,
      pendingBytes: this.#pendingBytes,
    };
  }

  /**
   * The two ioredis connections, for diagnostics (status, listener counts). Do not send
   * commands on them or remove the backplane's listeners.
   */
  get clients(): RedisBackplaneClients {
    return { publisher: this.#publisher.redis, subscriber: this.#subscriber.redis };
  }

  /**
   * Starts connecting both connections; the backplane emits `'up'` once it can relay. Topics
   * subscribed before that are subscribed as soon as the subscriber connection is ready. A
   * second call, or one after `close`, is ignored (and reported as an `'error'`).
   * @param sink - receives what other processes (and this one) publish on held topics
   */
  open(sink: BackplaneSink): void {
    if (this.#state !== 'idle') {
      const message = `open() ignored: the backplane is ${this.#state}`;
      this.#emitError(new RedisBackplaneError(RedisBackplaneErrorCode.OPEN, message));
      return;
    }
    this.#sink = sink;
    this.#state = 'connecting';
    this.#publisher.connect();
    this.#subscriber.connect();
  }

  /**
   * Holds a topic: its channel is subscribed on the next microtask if Redis is ready, else as
   * soon as it is. Calls for a held topic do nothing.
   * @param topic - the topic name (a well-formed string: it names a UTF-8 channel)
   */
  subscribe(topic: string): void {
    if (this.#state !== 'closed') this.#subscriptions.hold(topic);
  }

  /**
   * Releases a topic: its channel is unsubscribed. Publications still in flight for it are
   * dropped (counted in `stats.dropped`), never handed to the sink.
   * @param topic - the topic name
   */
  unsubscribe(topic: string): void {
    this.#subscriptions.release(topic);
  }

  /**
   * Hands one publication to Redis, or refuses it now. The publications of one backplane reach
   * every other subscribed process in call order (one connection, and Redis handles commands
   * in order); a refused or unconfirmed one leaves a gap, never a reordering or a duplicate.
   * @param topic - the topic name
   * @param payload - the bytes to relay; not copied, so do not modify them afterwards
   * @returns `'sent'` when written to the publisher connection (a later loss is reported by a
   *   `'relayFailure'` of reason `unconfirmed`), `'failed'` when the backplane is not up or
   *   `maxPendingBytes` bytes await confirmation (reported by a `'relayFailure'` too)
   */
  publish(topic: string, payload: Buffer): RelayResult {
    const bytes = payload.length;
    if (this.#state !== 'up' || !this.#publisher.isReady) {
      return this.#refuse(topic, bytes, this.#state === 'closed' ? 'closed' : 'down');
    }
    if (this.#pendingBytes + bytes > this.#options.maxPendingBytes) {
      return this.#refuse(topic, bytes, 'overloaded');
    }
    const channel = this.#options.channelPrefix + topic;
    const redis = this.#publisher.redis;
    let reply: Promise<unknown>;
    try {
      reply = this.#options.sharded
        ? redis.spublish(channel, payload)
        : redis.publish(channel, payload);
    } catch (error) {
      // ioredis checks its arguments synchronously: a payload that is not a Buffer lands here.
      return this.#refuse(topic, bytes, 'down', toError(error));
    }
    this.#published++;
    this.#pendingBytes += bytes;
    reply.then(
      () => {
        this.#pendingBytes -= bytes;
        this.#confirmed++;
      },
      (error: unknown) => {
        this.#pendingBytes -= bytes;
        this.#unconfirmed++;
        this.#emitRelayFailure({ topic, bytes, reason: 'unconfirmed', error: toError(error) });
      },
    );
    return 'sent';
  }

  /**
   * Sends the subscription changes made so far and waits until Redis has acknowledged them:
   * after it resolves true, publications on the held topics reach this process.
   * @returns true once Redis has acknowledged them, false when the subscriber connection is not
   *   ready (they are applied when it is) or the backplane is idle or closed
   */
  async sync(): Promise<boolean> {
    if (this.#state === 'closed' || this.#state === 'idle') return false;
    return this.#subscriptions.sync();
  }

  /**
   * Releases both connections and every listener the backplane put on them. The publisher
   * first waits (up to 2 s) for Redis to confirm what was published; the subscriber is cut.
   * Calling it again returns the same promise.
   * @returns resolves once both connections have ended
   */
  close(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing;
    this.#state = 'closed';
    this.#sink = undefined;
    this.#subscriptions.clear();
    this.#closing = Promise.all([this.#publisher.close(true), this.#subscriber.close(false)]).then(
      () => {
        this.#subscriber.redis.off(this.#messageEvent(), this.#onMessage);
      },
    );
    return this.#closing;
  }

  // Created once and put on the subscriber once: nothing is added per topic or message.
  readonly #onMessage = (channel: unknown, payload: unknown): void => {
    const sink = this.#sink;
    if (sink === undefined || !Buffer.isBuffer(channel)) return;
    const topic = channel.toString('utf8', this.#prefixBytes);
    if (!this.#subscriptions.has(topic)) {
      this.#dropped++;
      return;
    }
    this.#received++;
    try {
      sink.receive(topic, Buffer.isBuffer(payload) ? payload : EMPTY);
    } catch (error) {
      // Thrown inside ioredis's socket data handler it would break its reply parsing.
      const message = `the sink threw while receiving a publication on ${JSON.stringify(topic)}`;
      this.#emitError(
        new RedisBackplaneError(RedisBackplaneErrorCode.SINK, message, 'subscriber', error),
      );
    }
  };

  #messageEvent(): string {
    return this.#options.sharded ? 'smessageBuffer' : 'messageBuffer';
  }

  #onSubscriberReady(): void {
    // A new connection holds no subscription: subscribe every held topic, then be up.
    this.#subscriptions.resubscribe().then((isSynced) => {
      if (isSynced) this.#updateState();
    });
  }

  #onSubscriberEnd(): void {
    this.#subscriptions.lose();
    this.#updateState();
  }

  #onClientError(role: RedisRole, error: unknown): void {
    const cause = toError(error);
    this.#lastError = cause;
    const message = `redis ${role} connection: ${cause.message}`;
    this.#emitError(
      new RedisBackplaneError(RedisBackplaneErrorCode.CONNECTION, message, role, cause),
    );
  }

  #onRefused({ error, channels, isSubscribe }: RefusedSubscription): void {
    const command = isSubscribe ? 'subscribe' : 'unsubscribe';
    const message = `redis refused to ${command} ${channels.length} channel(s): ${toError(error).message}`;
    this.#emitError(
      new RedisBackplaneError(RedisBackplaneErrorCode.SUBSCRIPTION, message, 'subscriber', error),
    );
  }

  #updateState(): void {
    if (this.#state === 'closed' || this.#state === 'idle') return;
    const isUp =
      this.#publisher.isReady && this.#subscriber.isReady && this.#subscriptions.isSynced;
    if (isUp && this.#state !== 'up') {
      if (this.#state === 'down') this.#reconnects++;
      this.#state = 'up';
      this.#lastError = undefined;
      this.emit('up');
    } else if (!isUp && this.#state === 'up') {
      this.#state = 'down';
      this.emit('down', this.#lastError);
    }
  }

  #refuse(topic: string, bytes: number, reason: RelayFailureReason, error?: Error): 'failed' {
    this.#failed++;
    const failure: RelayFailure =
      error === undefined ? { topic, bytes, reason } : { topic, bytes, reason, error };
    this.#emitRelayFailure(failure);
    return 'failed';
  }

  #emitRelayFailure(failure: RelayFailure): void {
    if (this.listenerCount('relayFailure') === 0) return;
    try {
      this.emit('relayFailure', failure);
    } catch (error) {
      rethrowLater(error);
    }
  }

  #emitError(error: RedisBackplaneError): void {
    if (this.listenerCount('error') === 0) return;
    try {
      this.emit('error', error);
    } catch (thrown) {
      rethrowLater(thrown);
    }
  }
}

/**
 * Builds a Redis backplane for the `backplane` option of an entry point.
 * @param options - see {@link RedisBackplaneOptions}
 * @returns the backplane, not yet connected
 * @throws TypeError when an option is invalid
 */
export function redisBackplane(options: RedisBackplaneOptions = {}): RedisBackplane {
  return new RedisBackplane(options);
}

/**
 * A listener of ours that throws is the application's bug and must surface as one, but neither
 * out of `publish` (backplane methods never throw) nor as a rejection of an internal promise.
 */
function rethrowLater(error: unknown): void {
  queueMicrotask(() => {
    throw error;
  });
}

function toError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}
