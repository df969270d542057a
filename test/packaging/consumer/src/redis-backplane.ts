// @wsroute/redis: its options and events, and a RedisBackplane is core's Backplane.
// Nothing connects before open().
import type { Backplane } from '@wsroute/core';
import {
  type RedisBackplane,
  type RedisBackplaneOptions,
  type RedisBackplaneState,
  redisBackplane,
} from '@wsroute/redis';

const options: RedisBackplaneOptions = {
  url: 'redis://127.0.0.1:6379',
  channelPrefix: 'consumer:',
  maxReconnectDelayMs: 1_000,
};

/** A backplane for the topics of every process, observed. */
export function createBackplane(): { backplane: Backplane; state: () => RedisBackplaneState } {
  const backplane: RedisBackplane = redisBackplane(options);
  backplane.on('down', (error) => process.stderr.write(`backplane down: ${error?.message}\n`));
  return { backplane, state: () => backplane.state };
}
