/**
 * The subscriber side: which topics are held, which channels the current subscriber connection
 * has been asked to subscribe, and the commands that bring the second in line with the first.
 *
 * Changes made in one synchronous run are sent together on the next microtask, as the
 * difference between "held" and "requested": subscribing and unsubscribing a topic in the same
 * run sends nothing, and a burst of joins becomes a few commands. Redis answers commands in
 * order, so the last command sent settles after every earlier one.
 * @module
 */
import type { Redis } from 'ioredis';

/** Channels per `SUBSCRIBE`/`UNSUBSCRIBE` command when many topics change at once. */
const CHANNELS_PER_COMMAND = 1_000;

/** A subscription command that Redis refused while the connection stayed up. */
export interface RefusedSubscription {
  readonly error: unknown;
  readonly channels: readonly string[];
  readonly isSubscribe: boolean;
}

function noop(): void {}

/** Keeps the subscriber connection's channels in line with the held topics. */
export class Subscriptions {
  readonly #redis: Redis;
  readonly #isReady: () => boolean;
  readonly #prefix: string;
  readonly #isSharded: boolean;
  readonly #onRefused: (refused: RefusedSubscription) => void;
  /** Topics with at least one local subscriber, as the topics told us. */
  readonly #held = new Set<string>();
  /** Topics subscribed (or being subscribed) on the current connection. */
  readonly #requested = new Set<string>();
  /** Topics whose held state changed since the last flush. */
  readonly #dirty = new Set<string>();
  #isFlushScheduled = false;
  /** The last command sent; it never rejects. */
  #last: Promise<void> = Promise.resolve();
  /** Bumped when a connection starts or ends, so replies of an old one are ignored. */
  #epoch = 0;
  #isSynced = false;

  /**
   * @param redis - the subscriber connection
   * @param isReady - whether a command written now goes to Redis (status and socket)
   * @param prefix - the channel prefix
   * @param isSharded - whether to use `SSUBSCRIBE`/`SUNSUBSCRIBE`
   * @param onRefused - told when Redis refuses a command on a live connection
   */
  constructor(
    redis: Redis,
    isReady: () => boolean,
    prefix: string,
    isSharded: boolean,
    onRefused: (refused: RefusedSubscription) => void,
  ) {
    this.#redis = redis;
    this.#isReady = isReady;
    this.#prefix = prefix;
    this.#isSharded = isSharded;
    this.#onRefused = onRefused;
  }

  /** How many topics are held. */
  get size(): number {
    return this.#held.size;
  }

  /** Whether the current connection has acknowledged every held topic it was first asked for. */
  get isSynced(): boolean {
    return this.#isSynced;
  }

  /**
   * Whether a topic is held.
   * @param topic - the topic name
   * @returns whether it is held
   */
  has(topic: string): boolean {
    return this.#held.has(topic);
  }

  /**
   * Holds a topic; its channel is subscribed on the next flush.
   * @param topic - the topic name
   */
  hold(topic: string): void {
    if (this.#held.has(topic)) return;
    this.#held.add(topic);
    this.#markDirty(topic);
  }

  /**
   * Releases a topic; its channel is unsubscribed on the next flush.
   * @param topic - the topic name
   */
  release(topic: string): void {
    if (!this.#held.delete(topic)) return;
    this.#markDirty(topic);
  }

  /** Forgets every topic (the backplane is closing); sends nothing. */
  clear(): void {
    this.#held.clear();
    this.#dirty.clear();
  }

  /**
   * A new connection is ready and holds no subscription: subscribe every held topic.
   * @returns resolves true once Redis has acknowledged them, false if the connection ended first
   */
  async resubscribe(): Promise<boolean> {
    const epoch = ++this.#epoch;
    this.#isSynced = false;
    this.#requested.clear();
    for (const topic of this.#held) this.#dirty.add(topic);
    this.flush();
    await this.#last;
    if (epoch !== this.#epoch || !this.#isReady()) return false;
    this.#isSynced = true;
    return true;
  }

  /** The connection ended: Redis forgot its subscriptions. */
  lose(): void {
    this.#epoch++;
    this.#isSynced = false;
    this.#requested.clear();
  }

  /**
   * Sends the pending changes now and waits for Redis to acknowledge them.
   * @returns true when they are acknowledged on a live, synced connection
   */
  async sync(): Promise<boolean> {
    this.flush();
    const epoch = this.#epoch;
    await this.#last;
    return epoch === this.#epoch && this.#isSynced && this.#isReady() && this.#dirty.size === 0;
  }

  /** Sends what differs between the held topics and the requested ones, if connected. */
  flush(): void {
    if (this.#dirty.size === 0 || !this.#isReady()) return;
    const toSubscribe: string[] = [];
    const toUnsubscribe: string[] = [];
    for (const topic of this.#dirty) {
      const isHeld = this.#held.has(topic);
      if (isHeld === this.#requested.has(topic)) continue;
      if (isHeld) {
        this.#requested.add(topic);
        toSubscribe.push(this.#prefix + topic);
      } else {
        this.#requested.delete(topic);
        toUnsubscribe.push(this.#prefix + topic);
      }
    }
    this.#dirty.clear();
    this.#send(toSubscribe, true);
    this.#send(toUnsubscribe, false);
  }

  #markDirty(topic: string): void {
    this.#dirty.add(topic);
    if (this.#isFlushScheduled) return;
    this.#isFlushScheduled = true;
    queueMicrotask(() => {
      this.#isFlushScheduled = false;
      this.flush();
    });
  }

  #send(channels: string[], isSubscribe: boolean): void {
    // A sharded command takes the channels of one hash slot only (CROSSSLOT otherwise, on a
    // cluster node): one channel per command. Classic commands take any number.
    const size = this.#isSharded ? 1 : CHANNELS_PER_COMMAND;
    const epoch = this.#epoch;
    for (let start = 0; start < channels.length; start += size) {
      const chunk = channels.slice(start, start + size);
      this.#last = this.#command(chunk, isSubscribe).then(noop, (error: unknown) =>
        this.#onCommandError(error, chunk, isSubscribe, epoch),
      );
    }
  }

  #command(channels: string[], isSubscribe: boolean): Promise<unknown> {
    const redis = this.#redis;
    if (this.#isSharded) {
      return isSubscribe ? redis.ssubscribe(...channels) : redis.sunsubscribe(...channels);
    }
    return isSubscribe ? redis.subscribe(...channels) : redis.unsubscribe(...channels);
  }

  #onCommandError(error: unknown, channels: string[], isSubscribe: boolean, epoch: number): void {
    // A lost connection rejects every command in flight: the next connection resubscribes.
    if (epoch !== this.#epoch || !this.#isReady()) return;
    // Redis refused: forget the request so that the next change or connection tries again.
    for (const channel of channels) {
      const topic = channel.slice(this.#prefix.length);
      if (isSubscribe) this.#requested.delete(topic);
      else this.#requested.add(topic);
    }
    try {
      this.#onRefused({ error, channels, isSubscribe });
    } catch {
      // The owner reports through its own events and never throws; keep #last resolved.
    }
  }
}
