// @ts-check
// The GraphQL side of the example, independent of any transport:
//
//   type Query        { hello(name: String): String! }
//   type Mutation     { postMessage(text: String!): Message! }
//   type Subscription { countdown(from: Int!): Int!   messages: Message! }
//   type Message      { id: ID!  text: String!  author: String! }
//
// `countdown` yields from..0 and completes; `messages` streams every message posted by any
// client through `postMessage`, via a small in-process PubSub.
import { EventEmitter } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  GraphQLError,
  GraphQLID,
  GraphQLInt,
  GraphQLNonNull,
  GraphQLObjectType,
  GraphQLSchema,
  GraphQLString,
} from 'graphql';

/** Longest message text and author name, in characters. */
export const MAX_TEXT = 2000;
const MAX_AUTHOR = 32;
/** Largest `countdown(from:)`. */
export const MAX_COUNTDOWN = 1000;

/** @typedef {{ readonly id: string, readonly text: string, readonly author: string }} Message */
/** @typedef {{ readonly author: string }} GraphqlContext */

/** The PubSub topic of posted messages. */
export const MESSAGES = 'messages';

/**
 * An in-process publish/subscribe hub. Each `subscribe()` is an async iterator of its own;
 * ending it (`return()`, as graphql-ws does when a client completes or disconnects) removes it
 * at once, even while it waits for the next payload. Emits `'subscribe'` and `'unsubscribe'`
 * with the topic, so that tests and metrics can follow subscribers.
 */
export class PubSub extends EventEmitter {
  /** @type {Map<string, Set<(payload: unknown) => void>>} */
  #topics = new Map();
  /** @type {number} */
  #maxQueued;

  /**
   * @param {{ maxQueued?: number }} [options]
   *   `maxQueued`: payloads one subscriber may have waiting before its stream fails as too
   *   slow (default 1000)
   */
  constructor({ maxQueued = 1000 } = {}) {
    super();
    this.#maxQueued = maxQueued;
  }

  /**
   * @param {string} topic
   * @returns {number} how many subscribers listen to `topic`
   */
  subscriberCount(topic) {
    return this.#topics.get(topic)?.size ?? 0;
  }

  /**
   * Delivers a payload to every current subscriber of `topic`.
   * @param {string} topic
   * @param {unknown} payload
   * @returns {number} how many subscribers it was delivered to
   */
  publish(topic, payload) {
    const subscribers = this.#topics.get(topic);
    if (!subscribers) return 0;
    // A copy: a subscriber dropped for lagging leaves the set while we iterate.
    for (const deliver of [...subscribers]) deliver(payload);
    return subscribers.size;
  }

  /**
   * Subscribes to `topic` from now on.
   * @template T
   * @param {string} topic
   * @returns {AsyncIterableIterator<T>}
   */
  subscribe(topic) {
    /** @type {T[]} */
    const queue = [];
    /** @type {((result: IteratorResult<T>) => void) | undefined} */
    let waiting;
    /** @type {Error | undefined} */
    let failure;
    let isDone = false;

    const subscribers = this.#topics.get(topic) ?? new Set();
    this.#topics.set(topic, subscribers);
    const leave = () => {
      if (isDone) return;
      isDone = true;
      subscribers.delete(deliver);
      if (subscribers.size === 0) this.#topics.delete(topic);
      this.emit('unsubscribe', topic);
    };
    /** @param {unknown} payload */
    const deliver = (payload) => {
      if (waiting) {
        const resolve = waiting;
        waiting = undefined;
        resolve({ value: /** @type {T} */ (payload), done: false });
        return;
      }
      if (queue.length >= this.#maxQueued) {
        // Unbounded buffering would let one slow client exhaust memory: end its stream instead.
        failure = new Error(`subscriber of ${topic} fell behind`);
        leave();
        return;
      }
      queue.push(/** @type {T} */ (payload));
    };
    subscribers.add(deliver);
    this.emit('subscribe', topic);

    /** @type {AsyncIterableIterator<T>} */
    const iterator = {
      next() {
        const value = queue.shift();
        if (value !== undefined) return Promise.resolve({ value, done: false });
        if (failure) {
          const error = failure;
          failure = undefined;
          return Promise.reject(error);
        }
        if (isDone) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => {
          waiting = resolve;
        });
      },
      return() {
        leave();
        queue.length = 0;
        const resolve = waiting;
        waiting = undefined;
        resolve?.({ value: undefined, done: true });
        return Promise.resolve({ value: undefined, done: true });
      },
      [Symbol.asyncIterator]() {
        return iterator;
      },
    };
    return iterator;
  }
}

/**
 * The author name a client gave in its `connection_init` payload (`{ name }`), or `anonymous`.
 * @param {Readonly<Record<string, unknown>> | undefined} connectionParams
 * @returns {string}
 */
export function authorOf(connectionParams) {
  const name = connectionParams?.name;
  if (typeof name !== 'string') return 'anonymous';
  const trimmed = name.trim().slice(0, MAX_AUTHOR);
  return trimmed === '' ? 'anonymous' : trimmed;
}

/**
 * Yields from..0, one value per `interval` ms.
 * @param {number} from
 * @param {number} interval
 * @returns {AsyncGenerator<number>}
 */
async function* countdown(from, interval) {
  for (let n = from; n >= 0; n--) {
    yield n;
    if (n > 0 && interval > 0) await sleep(interval);
  }
}

/**
 * Builds the schema.
 * @param {{ pubsub: PubSub, countdownInterval?: number }} options
 *   `countdownInterval`: ms between two countdown values (default 1000; tests use less)
 * @returns {GraphQLSchema}
 */
export function createSchema({ pubsub, countdownInterval = 1000 }) {
  let lastId = 0;

  const Message = new GraphQLObjectType({
    name: 'Message',
    fields: {
      id: { type: new GraphQLNonNull(GraphQLID) },
      text: { type: new GraphQLNonNull(GraphQLString) },
      author: { type: new GraphQLNonNull(GraphQLString) },
    },
  });

  /** @type {GraphQLObjectType<unknown, GraphqlContext>} */
  const Query = new GraphQLObjectType({
    name: 'Query',
    fields: {
      hello: {
        type: new GraphQLNonNull(GraphQLString),
        args: { name: { type: GraphQLString } },
        /** @param {unknown} _ @param {{ name?: string | null }} args */
        resolve: (_, { name }) => `Hello, ${name ?? 'world'}!`,
      },
    },
  });

  /** @type {GraphQLObjectType<unknown, GraphqlContext>} */
  const Mutation = new GraphQLObjectType({
    name: 'Mutation',
    fields: {
      postMessage: {
        type: new GraphQLNonNull(Message),
        args: { text: { type: new GraphQLNonNull(GraphQLString) } },
        /**
         * @param {unknown} _
         * @param {{ text: string }} args
         * @param {GraphqlContext} context
         * @returns {Message}
         */
        resolve: (_, { text }, context) => {
          if (text.length === 0 || text.length > MAX_TEXT) {
            throw new GraphQLError(`text must have 1 to ${MAX_TEXT} characters`);
          }
          lastId += 1;
          const message = { id: String(lastId), text, author: context.author };
          pubsub.publish(MESSAGES, message);
          return message;
        },
      },
    },
  });

  /** @type {GraphQLObjectType<unknown, GraphqlContext>} */
  const Subscription = new GraphQLObjectType({
    name: 'Subscription',
    fields: {
      countdown: {
        type: new GraphQLNonNull(GraphQLInt),
        args: { from: { type: new GraphQLNonNull(GraphQLInt) } },
        /** @param {unknown} _ @param {{ from: number }} args */
        subscribe: (_, { from }) => {
          if (from < 0 || from > MAX_COUNTDOWN) {
            throw new GraphQLError(`from must be between 0 and ${MAX_COUNTDOWN}`);
          }
          return countdown(from, countdownInterval);
        },
        // A subscription field resolves each event; here the event is the value itself.
        /** @param {unknown} event */
        resolve: (event) => event,
      },
      messages: {
        type: new GraphQLNonNull(Message),
        subscribe: () => pubsub.subscribe(MESSAGES),
        /** @param {unknown} message */
        resolve: (message) => message,
      },
    },
  });

  return new GraphQLSchema({ query: Query, mutation: Mutation, subscription: Subscription });
}
