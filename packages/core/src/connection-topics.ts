/**
 * The topics one connection is subscribed to, and the connection's place in its entry point's
 * {@link TopicHub} (see `topics.ts`): the hub holds this object as the connection's
 * {@link Subscriber}, and a shared frame reaches the connection's writer through it. Made on
 * the connection's first `subscribe()`; closing the connection releases every subscription.
 * @module
 */
import type { RawOutgoing } from './connection-types.js';
import type { FrameWriter } from './frame-writer.js';
import type { MessageSender } from './message-sender.js';
import type { ErasedProtocol } from './protocol.js';
import type {
  Delivery,
  SharedFrame,
  SlowSubscriberPolicy,
  Subscriber,
  TopicHub,
} from './topics.js';

/** What the topics ask of the subscribed connection. Internal. */
export interface TopicMember {
  /** Whether the connection is open: a closing one is skipped. */
  readonly isOpen: boolean;
  /** Its send buffer, compared with the topics' high-water mark. */
  readonly bufferedAmount: number;
  /**
   * Closes it (the slow-subscriber policy `'close'`).
   * @param code - the close code
   * @param reason - the close reason
   */
  close(code: number, reason: string): void;
}

/** A connection's subscriptions. Internal, one per subscribing connection. */
export class ConnectionTopics implements Subscriber {
  readonly #names = new Set<string>();
  readonly #hub: TopicHub;
  readonly #member: TopicMember;
  readonly #protocol: Pick<ErasedProtocol<unknown>, 'encode'>;
  readonly #writer: FrameWriter;
  readonly #sender: MessageSender;
  readonly #maxFrameSize: number;

  /**
   * @param hub - the topics of the connection's entry point
   * @param member - the connection
   * @param protocol - its protocol: subscribers speaking the same one share encoded frames
   * @param writer - its frame writer
   * @param sender - its message sender, which keeps shared frames in order with the rest
   * @param maxFrameSize - its largest outgoing frame; a larger message is fragmented
   */
  constructor(
    hub: TopicHub,
    member: TopicMember,
    protocol: Pick<ErasedProtocol<unknown>, 'encode'>,
    writer: FrameWriter,
    sender: MessageSender,
    maxFrameSize: number,
  ) {
    this.#hub = hub;
    this.#member = member;
    this.#protocol = protocol;
    this.#writer = writer;
    this.#sender = sender;
    this.#maxFrameSize = maxFrameSize;
  }

  /** The names of the topics subscribed to (`connection.topics`). */
  get names(): ReadonlySet<string> {
    return this.#names;
  }

  /** The protocol: subscribers speaking the same one share encoded frames. */
  get topicGroup(): object {
    return this.#protocol;
  }

  /**
   * @param name - a topic
   * @returns whether the connection is subscribed to it
   */
  has(name: string): boolean {
    return this.#names.has(name);
  }

  /**
   * Subscribes to a topic.
   * @param name - the topic
   * @returns true when newly subscribed, false when it already was
   */
  subscribe(name: string): boolean {
    if (this.#names.has(name)) return false;
    this.#hub.add(name, this);
    this.#names.add(name);
    return true;
  }

  /**
   * Leaves a topic.
   * @param name - the topic
   * @returns true when it was subscribed
   */
  unsubscribe(name: string): boolean {
    if (!this.#names.delete(name)) return false;
    this.#hub.remove(name, this);
    return true;
  }

  /** Leaves every topic in the hub: the connection closed. `names` is left as it was. */
  leaveAll(): void {
    for (const name of this.#names) this.#hub.remove(name, this);
  }

  /**
   * Encodes a value with the connection's protocol (a string or bytes without a codec).
   * @param value - the published value
   * @returns the message to frame
   * @throws what the codec throws
   */
  encodeForTopic(value: unknown): RawOutgoing {
    const encode = this.#protocol.encode;
    return (encode ? encode(value) : value) as RawOutgoing;
  }

  /**
   * Sends a shared frame, or applies the slow-subscriber policy.
   * @param shared - the frame built once for every subscriber of the protocol
   * @param highWaterMark - a send buffer this full makes the connection slow
   * @param policy - what happens to a slow connection
   * @returns what happened: sent, skipped (slow or closing) or closed with 1013
   */
  deliver(shared: SharedFrame, highWaterMark: number, policy: SlowSubscriberPolicy): Delivery {
    const member = this.#member;
    if (!member.isOpen) return 'dropped';
    if (member.bufferedAmount >= highWaterMark) {
      if (policy === 'drop') return 'dropped';
      member.close(1013, 'subscriber too slow');
      return 'closed';
    }
    // Gathered with what else this subscriber is sent in this tick: one write per burst.
    this.#writer.deferFlush();
    const { opcode, payload } = shared;
    if (payload.byteLength > this.#maxFrameSize || this.#sender.compresses(payload.byteLength)) {
      this.#sender.sendMessage(opcode, payload);
    } else {
      this.#sender.sendFrame(opcode, payload, shared.frame);
    }
    return 'delivered';
  }
}
