/**
 * Test helpers: backplanes on a real redis-server (from `@wsroute/test-utils`) with a recording
 * sink, a plain ioredis client to inspect the server, bounded waits. Everything is released
 * with `t.teardown`.
 */
import type { BackplaneSink } from '@wsroute/core';
import { type RedisServer, WAIT_MS, waitForEvent, withTimeout } from '@wsroute/test-utils';
import { Redis } from 'ioredis';
import type { Test } from 'tap';
import { RedisBackplane, type RedisBackplaneOptions } from '../src/index.js';

export {
  type RedisServer,
  startRedisServer,
  WAIT_MS,
  waitForEvent,
  withTimeout,
} from '@wsroute/test-utils';

/** One publication as a sink received it (the payload copied). */
export interface Received {
  readonly topic: string;
  readonly payload: Buffer;
}

/** A sink that records what it receives and lets a test wait for a count. */
export class Inbox implements BackplaneSink {
  readonly received: Received[] = [];
  #waiter: { count: number; resolve: () => void } | undefined;

  receive(topic: string, payload: Buffer): void {
    this.received.push({ topic, payload: Buffer.from(payload) });
    if (this.#waiter !== undefined && this.received.length >= this.#waiter.count) {
      this.#waiter.resolve();
      this.#waiter = undefined;
    }
  }

  /** Resolves once `count` publications in all were received, or rejects after `ms`. */
  waitFor(count: number, ms = WAIT_MS): Promise<void> {
    if (this.received.length >= count) return Promise.resolve();
    return withTimeout(
      new Promise<void>((resolve) => {
        this.#waiter = { count, resolve };
      }),
      `${count} publications (got ${this.received.length})`,
      ms,
    );
  }

  /** The payloads of one topic, as latin1 strings (exact for any bytes). */
  payloads(topic: string): string[] {
    return this.received.filter((r) => r.topic === topic).map((r) => r.payload.toString('latin1'));
  }
}

/** Fast reconnection, so that outage tests take milliseconds, not seconds. */
export const FAST_RECONNECT = { minReconnectDelayMs: 10, maxReconnectDelayMs: 100 } as const;

/** A backplane on `server`, not opened; closed on teardown. */
export function createBackplane(
  t: Test,
  server: RedisServer,
  options: RedisBackplaneOptions = {},
): RedisBackplane {
  const backplane = new RedisBackplane({ url: server.url, ...FAST_RECONNECT, ...options });
  t.teardown(() => backplane.close());
  return backplane;
}

/** A backplane on `server`, opened with a recording sink and up; closed on teardown. */
export async function openBackplane(
  t: Test,
  server: RedisServer,
  options: RedisBackplaneOptions = {},
): Promise<{ backplane: RedisBackplane; inbox: Inbox }> {
  const backplane = createBackplane(t, server, options);
  const inbox = new Inbox();
  backplane.open(inbox);
  await waitUp(backplane);
  return { backplane, inbox };
}

/** Resolves once the backplane is up (at once if it is), or rejects after `ms`. */
export async function waitUp(backplane: RedisBackplane, ms = WAIT_MS): Promise<void> {
  if (backplane.state === 'up') return;
  await waitForEvent(backplane, 'up', ms);
}

/** Resolves once `backplane.sync()` is true, or rejects after `ms`. */
export async function synced(backplane: RedisBackplane, ms = WAIT_MS): Promise<void> {
  const isSynced = await withTimeout(backplane.sync(), 'sync', ms);
  if (!isSynced) throw new Error(`sync() returned false (state ${backplane.state})`);
}

/** A plain ioredis client to inspect the server (`PUBSUB ...`); disconnected on teardown. */
export function adminClient(t: Test, server: RedisServer): Redis {
  const admin = new Redis(server.url, { lazyConnect: false, retryStrategy: () => 20 });
  admin.on('error', () => {});
  t.teardown(() => admin.disconnect());
  return admin;
}

/** The channels with at least one classic subscriber, sorted. */
export async function classicChannels(admin: Redis, pattern = '*'): Promise<string[]> {
  const channels = (await admin.call('PUBSUB', 'CHANNELS', pattern)) as string[];
  return channels.map(String).sort();
}

/** The channels with at least one sharded subscriber, sorted. */
export async function shardChannels(admin: Redis, pattern = '*'): Promise<string[]> {
  const channels = (await admin.call('PUBSUB', 'SHARDCHANNELS', pattern)) as string[];
  return channels.map(String).sort();
}

/** Subscriber counts of classic (`NUMSUB`) or sharded (`SHARDNUMSUB`) channels. */
export async function subscriberCounts(
  admin: Redis,
  channels: readonly string[],
  isSharded = false,
): Promise<Record<string, number>> {
  const reply = (await admin.call(
    'PUBSUB',
    isSharded ? 'SHARDNUMSUB' : 'NUMSUB',
    ...channels,
  )) as unknown[];
  const counts: Record<string, number> = {};
  for (let i = 0; i < reply.length; i += 2) counts[String(reply[i])] = Number(reply[i + 1]);
  return counts;
}

/** Every event name of an emitter with its listener count. */
export function listenerCounts(emitter: Redis): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const name of emitter.eventNames()) counts[String(name)] = emitter.listenerCount(name);
  return counts;
}
