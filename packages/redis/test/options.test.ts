import t from 'tap';
import {
  computeReconnectDelay,
  DEFAULT_MAX_RECONNECT_DELAY_MS,
  DEFAULT_MIN_RECONNECT_DELAY_MS,
  type RedisBackplaneOptions,
  redisBackplane,
} from '../src/index.js';

t.test('bad options fail synchronously with a TypeError', async (t) => {
  const cases: [string, unknown][] = [
    ['a URL of another scheme', { url: 'http://127.0.0.1:6379' }],
    ['a malformed URL', { url: 'not a url' }],
    ['a URL with a query string', { url: 'redis://127.0.0.1:6379?enableOfflineQueue=true' }],
    ['an option the backplane owns', { redis: { enableOfflineQueue: true } }],
    ['ioredis reconnection', { redis: { retryStrategy: () => 1 } }],
    ['a key prefix', { redis: { keyPrefix: 'x' } }],
    ['a channel prefix that is not a string', { channelPrefix: 1 }],
    ['sharded that is not a boolean', { sharded: 'yes' }],
    ['a zero reconnection delay', { minReconnectDelayMs: 0 }],
    ['a bound below the first delay', { minReconnectDelayMs: 500, maxReconnectDelayMs: 100 }],
    ['a fractional maxPendingBytes', { maxPendingBytes: 1.5 }],
  ];
  for (const [what, options] of cases) {
    t.throws(() => redisBackplane(options as RedisBackplaneOptions), TypeError, what);
  }
});

t.test('good options build an idle backplane that has not connected', async (t) => {
  const backplane = redisBackplane({
    url: 'rediss://user:secret@127.0.0.1:6390',
    redis: { connectTimeout: 500 },
    channelPrefix: '',
    sharded: true,
    minReconnectDelayMs: 6_000,
  });
  t.equal(backplane.state, 'idle');
  t.equal(backplane.clients.publisher.status, 'wait');
  t.equal(backplane.clients.subscriber.options.port, 6390);
  t.equal(backplane.clients.subscriber.options.enableOfflineQueue, false);
  t.equal(backplane.clients.subscriber.options.connectionName, 'wsroute-subscriber');
  await backplane.close();
  t.equal(backplane.state, 'closed');
});

t.test(
  'the reconnection delay doubles, is bounded and jittered down by half at most',
  async (t) => {
    const min = DEFAULT_MIN_RECONNECT_DELAY_MS;
    const max = DEFAULT_MAX_RECONNECT_DELAY_MS;
    t.same(
      [0, 1, 2, 3].map((attempt) => computeReconnectDelay(attempt, min, max, 0)),
      [min, min * 2, min * 4, min * 8],
    );
    t.equal(computeReconnectDelay(1_000, min, max, 0), max);
    t.equal(computeReconnectDelay(1_000, min, max, 0.999_999), max / 2);
    t.equal(computeReconnectDelay(0, 1, 1, 0.999_999), 1);
  },
);
