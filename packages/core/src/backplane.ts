/**
 * The interface between the topics of one process and a backplane that carries publications
 * to every other process of the same application (e.g. `@wsroute/redis`).
 *
 * The topics own the envelope (who published, in which order, text or binary or a value):
 * a backplane moves opaque bytes per topic and never decodes them. Subscriptions are
 * reference-counted by the topics, so a backplane sees `subscribe(topic)` once when the first
 * local subscriber of `topic` appears and `unsubscribe(topic)` once when the last one leaves.
 * @module
 */

/** Where a backplane hands what other processes published. */
export interface BackplaneSink {
  /**
   * A publication arrived for a topic this process is subscribed to. It may be this process's
   * own publication coming back (Redis delivers to every subscriber): the topics recognise and
   * skip those by the envelope.
   * @param topic - the topic name, exactly as given to `subscribe`
   * @param payload - the bytes given to `publish` by some process, unchanged
   */
  receive(topic: string, payload: Buffer): void;
}

/** What `Backplane.publish` tells about one publication. */
export type RelayResult =
  /** Handed to the transport (e.g. written to the Redis connection). */
  | 'sent'
  /** Could not be relayed now (the transport is down); counted by the backplane. */
  | 'failed';

/**
 * Carries publications between processes. Implementations never throw from these methods and
 * report transport trouble through their own events and counters.
 */
export interface Backplane {
  /**
   * Connects the backplane to the topics of one entry point. Called once, before any other
   * method.
   * @param sink - receives what other processes publish
   */
  open(sink: BackplaneSink): void;
  /**
   * Starts receiving the publications of a topic (its first local subscriber appeared).
   * Must survive a reconnect of the transport (resubscribe).
   * @param topic - the topic name
   */
  subscribe(topic: string): void;
  /**
   * Stops receiving the publications of a topic (its last local subscriber left).
   * @param topic - the topic name
   */
  unsubscribe(topic: string): void;
  /**
   * Relays one publication to every process subscribed to `topic`, in call order: two
   * publications of one process on one topic arrive everywhere in the order they were made.
   * @param topic - the topic name
   * @param payload - opaque bytes (the topics' envelope)
   * @returns whether the publication was handed to the transport
   */
  publish(topic: string, payload: Buffer): RelayResult;
  /**
   * Releases the transport. Called when the entry point shuts down.
   * @returns resolves once every connection of the backplane is closed
   */
  close(): Promise<void>;
}
