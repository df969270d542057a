/**
 * Topics: publish/subscribe among the connections of one entry point, and through a backplane
 * across processes.
 *
 * A topic's subscribers are grouped by protocol. A published value is encoded once per
 * protocol (by that protocol's codec) and framed once; the same frame bytes then go to every
 * subscriber of the group, gathered with whatever else that subscriber is sent in the same
 * tick into one write. A subscriber whose send buffer is over `highWaterMark` is handled by
 * the slow-subscriber policy (`'close'` with 1013 by default, or `'drop'`), and `publish`
 * reports what happened to every subscriber.
 *
 * ```
 *   publish(topic, value) ─┬─ protocol A: encode once, frame once ─┬─▶ subscriber 1 (gathered write)
 *                          │                                      └─▶ subscriber 2 (over the mark: policy)
 *                          ├─ protocol B: encode once, frame once ───▶ subscriber 3
 *                          └─ backplane: envelope ───────────────────▶ other processes
 * ```
 * @module
 */
import type { Backplane, BackplaneSink, RelayResult } from './backplane.js';
import type { RawOutgoing } from './connection-types.js';
import { Opcode } from './constants.js';
import { headerLength, writeFrameHeader } from './frame-writer.js';
import { createOriginId, openEnvelope, sealEnvelope } from './topic-envelope.js';

declare const kValue: unique symbol;

/**
 * A topic name that carries the type of the values published to it. Subscribing a connection
 * whose protocol cannot send that type is a compile error.
 * @typeParam T - what is published to the topic
 */
export interface Topic<T> {
  /** The topic's name: exact match, any string. */
  readonly name: string;
  /** Never set: carries `T`. */
  readonly [kValue]?: T;
}

/** A topic given by name, typed or not. */
export type TopicLike<T> = Topic<T> | string;

/**
 * Names a typed topic.
 * @example
 * ```ts
 * const lobby = topic<ChatLine>('room:lobby');
 * connection.subscribe(lobby); // only where send() takes a ChatLine
 * wss.publish(lobby, { from: 'server', text: 'hello' });
 * ```
 * @param name - the topic's name
 * @returns a typed handle; topics are matched by name
 */
export function topic<T = unknown>(name: string): Topic<T> {
  if (typeof name !== 'string') throw new TypeError('a topic name is a string');
  return { name };
}

/**
 * The name of a topic given either way. Internal.
 * @param topic - a name or a typed topic
 * @returns its name
 * @throws TypeError for anything else
 */
export function topicName(topic: TopicLike<unknown>): string {
  const name = typeof topic === 'string' ? topic : topic?.name;
  if (typeof name !== 'string') throw new TypeError('a topic is a name or topic(name)');
  return name;
}

/** What to do with a subscriber whose send buffer is over the high-water mark. */
export type SlowSubscriberPolicy =
  /** Skip this message for that subscriber (counted as `dropped`). */
  | 'drop'
  /** Close it with 1013 Try Again Later (counted as `closed`): it learns it missed messages. */
  | 'close';

/** Options of `connection.publish()`. */
export interface PublishOptions {
  /** Whether the publishing connection receives its own message too. @default false */
  readonly includeSelf?: boolean;
}

/** What one `publish` did, subscriber by subscriber. */
export interface PublishReport {
  /** Subscribers in this process that were sent the message. */
  readonly delivered: number;
  /** Subscribers skipped: over the high-water mark with the `'drop'` policy, or closing. */
  readonly dropped: number;
  /** Subscribers closed with 1013 by the `'close'` policy. */
  readonly closed: number;
  /** Subscribers whose protocol could not encode the value (its codec threw). */
  readonly failed: number;
  /** Whether the backplane took the message for the other processes; 'none' without one. */
  readonly relay: RelayResult | 'none';
}

/** Counters of an entry point's topics since it started. */
export interface TopicStats {
  /** Topics with at least one subscriber in this process now. */
  readonly topics: number;
  /** Subscriptions in this process now. */
  readonly subscriptions: number;
  /** Calls to `publish` in this process. */
  readonly published: number;
  /** Messages sent to subscribers (publications from other processes included). */
  readonly delivered: number;
  /** Messages skipped for slow or closing subscribers. */
  readonly dropped: number;
  /** Subscribers closed with 1013 for being slow. */
  readonly closed: number;
  /** Deliveries that failed because a protocol could not encode the value. */
  readonly failed: number;
  /** Publications handed to the backplane. */
  readonly relayed: number;
  /** Publications the backplane could not take (it was down). */
  readonly relayFailed: number;
  /** Publications received from other processes. */
  readonly received: number;
}

/** Options of an entry point's topics. */
export interface TopicOptions {
  /**
   * A subscriber whose send buffer (`bufferedAmount`) holds this many bytes is slow: the next
   * publication is handled by `slowSubscriber`.
   * @default 4 MiB
   */
  readonly highWaterMark?: number;
  /** What happens to a slow subscriber. @default 'close' */
  readonly slowSubscriber?: SlowSubscriberPolicy;
}

/** A frame built once for every subscriber of one protocol. Internal. */
export interface SharedFrame {
  readonly opcode: number;
  /** The encoded message. */
  readonly payload: Uint8Array;
  /** Header and payload, ready for the socket (one unmasked, final frame). */
  readonly frame: Buffer;
}

/** The outcome of one delivery. */
export type Delivery = 'delivered' | 'dropped' | 'closed';

/** What the topics ask of a subscribed connection. Internal. */
export interface Subscriber {
  /** Subscribers with the same key share encoded frames: the protocol. */
  readonly topicGroup: object;
  /** Encodes a value with the subscriber's protocol. @throws what the codec throws */
  encodeForTopic(value: unknown): RawOutgoing;
  /** Sends a shared frame, or applies the slow-subscriber policy. */
  deliver(shared: SharedFrame, highWaterMark: number, policy: SlowSubscriberPolicy): Delivery;
}

/** Default `highWaterMark` of topics. */
export const DEFAULT_TOPIC_HIGH_WATER_MARK = 4 * 1024 * 1024;

interface TopicEntry {
  size: number;
  readonly groups: Map<object, Set<Subscriber>>;
}

/** Size of the memory that small shared frames are cut from. */
const FRAME_SLAB_SIZE = 64 * 1024;
/** Frames up to this size come from the frame slab; larger ones get memory of their own. */
const FRAME_SLAB_MAX = 4 * 1024;
let frameSlab = Buffer.alloc(0);
let frameSlabUsed = 0;

/**
 * Memory for a shared frame. Small frames are cut one after the other from an append-only
 * slab, never written over: publications in a row then lie back to back, and a subscriber's
 * frame writer sends a whole batch of them by reference, with no copy (see `writeFrameBytes`).
 */
function allocateFrame(size: number): Buffer {
  if (size > FRAME_SLAB_MAX) return Buffer.allocUnsafe(size);
  if (frameSlab.length - frameSlabUsed < size) {
    frameSlab = Buffer.allocUnsafeSlow(FRAME_SLAB_SIZE);
    frameSlabUsed = 0;
  }
  const frame = frameSlab.subarray(frameSlabUsed, frameSlabUsed + size);
  frameSlabUsed += size;
  return frame;
}

function buildFrame(raw: RawOutgoing): SharedFrame {
  const opcode = typeof raw === 'string' ? Opcode.Text : Opcode.Binary;
  const payload = typeof raw === 'string' ? Buffer.from(raw, 'utf8') : raw;
  if (!(payload instanceof Uint8Array)) throw new TypeError('a message encodes to text or bytes');
  const length = payload.byteLength;
  const frame = allocateFrame(headerLength(length) + length);
  const at = writeFrameHeader(frame, 0, opcode, true, false, length);
  frame.set(payload, at);
  return { opcode, payload, frame };
}

/**
 * The topics of one entry point. Internal: applications reach it through the hub and the
 * connections.
 */
export class TopicHub implements BackplaneSink {
  readonly #topics = new Map<string, TopicEntry>();
  readonly #highWaterMark: number;
  readonly #policy: SlowSubscriberPolicy;
  readonly #backplane: Backplane | undefined;
  readonly #origin = createOriginId();
  #subscriptions = 0;
  #published = 0;
  #delivered = 0;
  #dropped = 0;
  #closed = 0;
  #failed = 0;
  #relayed = 0;
  #relayFailed = 0;
  #received = 0;

  /**
   * @param options - slow-subscriber handling
   * @param backplane - carries publications to other processes; opened here
   */
  constructor(options: TopicOptions, backplane: Backplane | undefined) {
    this.#highWaterMark = options.highWaterMark ?? DEFAULT_TOPIC_HIGH_WATER_MARK;
    this.#policy = options.slowSubscriber ?? 'close';
    this.#backplane = backplane;
    backplane?.open(this);
  }

  /** The counters. */
  get stats(): TopicStats {
    return {
      topics: this.#topics.size,
      subscriptions: this.#subscriptions,
      published: this.#published,
      delivered: this.#delivered,
      dropped: this.#dropped,
      closed: this.#closed,
      failed: this.#failed,
      relayed: this.#relayed,
      relayFailed: this.#relayFailed,
      received: this.#received,
    };
  }

  /**
   * Subscribers of a topic in this process.
   * @param name - the topic
   * @returns the count, 0 for a topic nobody holds
   */
  count(name: string): number {
    return this.#topics.get(name)?.size ?? 0;
  }

  /**
   * Adds a subscriber; the first one of a topic subscribes the backplane.
   * @param name - the topic
   * @param subscriber - the connection
   */
  add(name: string, subscriber: Subscriber): void {
    let entry = this.#topics.get(name);
    if (!entry) {
      entry = { size: 0, groups: new Map() };
      this.#topics.set(name, entry);
      this.#backplane?.subscribe(name);
    }
    let group = entry.groups.get(subscriber.topicGroup);
    if (!group) {
      group = new Set();
      entry.groups.set(subscriber.topicGroup, group);
    }
    group.add(subscriber);
    entry.size++;
    this.#subscriptions++;
  }

  /**
   * Removes a subscriber; the last one of a topic releases it (and the backplane's channel).
   * @param name - the topic
   * @param subscriber - the connection
   */
  remove(name: string, subscriber: Subscriber): void {
    const entry = this.#topics.get(name);
    const group = entry?.groups.get(subscriber.topicGroup);
    if (!entry || !group?.delete(subscriber)) return;
    if (group.size === 0) entry.groups.delete(subscriber.topicGroup);
    entry.size--;
    this.#subscriptions--;
    if (entry.size > 0) return;
    this.#topics.delete(name);
    this.#backplane?.unsubscribe(name);
  }

  /**
   * Publishes a value to a topic's subscribers here, then relays it to other processes.
   * @param name - the topic
   * @param value - encoded by each subscriber's protocol
   * @param exclude - a subscriber that does not receive it (the publishing connection)
   * @returns what happened to every subscriber
   * @throws TypeError when a backplane is attached and the value cannot be serialised
   */
  publish(name: string, value: unknown, exclude: Subscriber | undefined): PublishReport {
    this.#published++;
    const envelope = this.#backplane ? sealEnvelope(this.#origin, value) : undefined;
    const report = this.#fanOut(name, value, exclude);
    if (!envelope || !this.#backplane) return { ...report, relay: 'none' };
    let relay: RelayResult;
    try {
      relay = this.#backplane.publish(name, envelope);
    } catch {
      relay = 'failed';
    }
    if (relay === 'sent') this.#relayed++;
    else this.#relayFailed++;
    return { ...report, relay };
  }

  /**
   * A publication from another process (the backplane's sink).
   * @param name - the topic
   * @param payload - the envelope
   */
  receive(name: string, payload: Buffer): void {
    const opened = openEnvelope(this.#origin, payload);
    if (!opened || opened.isOwn) return;
    this.#received++;
    this.#fanOut(name, opened.value, undefined);
  }

  /**
   * Releases the backplane.
   * @returns resolves once it is closed
   */
  async close(): Promise<void> {
    await this.#backplane?.close();
  }

  #fanOut(
    name: string,
    value: unknown,
    exclude: Subscriber | undefined,
  ): Omit<PublishReport, 'relay'> {
    let delivered = 0;
    let dropped = 0;
    let closed = 0;
    let failed = 0;
    const entry = this.#topics.get(name);
    if (entry) {
      const highWaterMark = this.#highWaterMark;
      const policy = this.#policy;
      for (const group of entry.groups.values()) {
        let shared: SharedFrame | undefined;
        for (const subscriber of group) {
          if (subscriber === exclude) continue;
          if (!shared) {
            try {
              shared = buildFrame(subscriber.encodeForTopic(value));
            } catch {
              failed += group.size - (group.has(exclude as Subscriber) ? 1 : 0);
              break;
            }
          }
          const outcome = subscriber.deliver(shared, highWaterMark, policy);
          if (outcome === 'delivered') delivered++;
          else if (outcome === 'dropped') dropped++;
          else closed++;
        }
      }
    }
    this.#delivered += delivered;
    this.#dropped += dropped;
    this.#closed += closed;
    this.#failed += failed;
    return { delivered, dropped, closed, failed };
  }
}
