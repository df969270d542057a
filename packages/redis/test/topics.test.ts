/**
 * Core's topics over the Redis backplane, with a real Redis: two entry points in this process
 * (each with its own backplane, as two processes would have), publications crossing between
 * them exactly once and in order, channels held only while subscribed, and an outage reported
 * by `publish` and the counters, then recovered.
 */
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from '@wsroute/core';
import { startRedisServer, withTimeout } from '@wsroute/test-utils';
import { Redis } from 'ioredis';
import t, { type Test } from 'tap';
import WebSocket from 'ws';
import { type RedisBackplane, redisBackplane } from '../src/index.js';

// 10,000 handshakes and 10,000 publications through Redis: more than tap's default minute on a
// loaded machine.
t.setTimeout(180_000);

interface Node {
  readonly wss: WebSocketServer;
  readonly backplane: RedisBackplane;
  readonly url: string;
}

/** A `node:http` entry point with a Redis backplane: `/t/NAME` joins topic NAME. */
async function startNode(t: Test, redisUrl: string): Promise<Node> {
  const backplane = redisBackplane({ url: redisUrl, minReconnectDelayMs: 20 });
  // Errors are expected while Redis is stopped; 'down' and 'up' are what the tests watch.
  backplane.on('error', () => {});
  const wss = new WebSocketServer({ backplane, shutdownTimeout: 200 });
  wss.route('*', {
    defaultProtocol: {
      onOpen(connection) {
        connection.subscribe(connection.path.slice(3));
      },
      onMessage(connection, message) {
        connection.publish(connection.path.slice(3), message);
      },
    },
    heartbeatInterval: 0,
  });
  const server = wss.attach(createServer());
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(async () => {
    await wss.close({ timeout: 200 });
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  await withTimeout(event(backplane, 'up'), 'backplane up');
  return { wss, backplane, url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

/** A `ws` client recording every message; terminated on teardown. */
async function client(t: Test, url: string) {
  const ws = new WebSocket(url);
  const messages: Array<{ data: Buffer; isBinary: boolean }> = [];
  const waiters: Array<() => void> = [];
  ws.on('message', (data: Buffer, isBinary) => {
    messages.push({ data, isBinary });
    for (const wake of waiters.splice(0)) wake();
  });
  ws.on('error', () => {});
  t.teardown(() => ws.terminate());
  await withTimeout(once(ws, 'open'), 'open');
  const count = async (n: number, ms = 20_000): Promise<void> => {
    const deadline = Date.now() + ms;
    while (messages.length < n) {
      if (Date.now() > deadline) throw new Error(`${messages.length} of ${n} messages`);
      await withTimeout(new Promise<void>((resolve) => waiters.push(resolve)), 'a message', ms);
    }
  };
  return { ws, messages, count };
}

/** The next `name` event (not `events.once`, which rejects on any 'error' meanwhile). */
function event(backplane: RedisBackplane, name: 'up' | 'down'): Promise<void> {
  return new Promise((resolve) => backplane.once(name, () => resolve()));
}

async function until(predicate: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

t.test('publications cross entry points exactly once, text, bytes and values', async (t) => {
  const redis = await startRedisServer(t);
  const a = await startNode(t, redis.url);
  const b = await startNode(t, redis.url);
  const onA = await client(t, `${a.url}/t/room`);
  const onB = await client(t, `${b.url}/t/room`);
  await until(
    () => a.wss.subscriberCount('room') === 1 && b.wss.subscriberCount('room') === 1,
    'subscribers',
  );
  await a.backplane.sync();
  await b.backplane.sync();

  const bytes = Buffer.from([0, 0xff, 0xfe, 0x80, 10]);
  t.match(a.wss.publish('room', 'héllo'), { delivered: 1, relay: 'sent' });
  a.wss.publish('room', bytes);
  a.wss.publish('room', '');
  await onB.count(3);
  t.same(
    onB.messages.map((m) => [m.isBinary, m.data.toString('hex')]),
    [
      [false, Buffer.from('héllo').toString('hex')],
      [true, bytes.toString('hex')],
      [false, ''],
    ],
    'text stays text, bytes stay bytes, exactly',
  );
  await onA.count(3);
  // Redis hands A its own publications back: they must not be delivered a second time.
  await new Promise((resolve) => setTimeout(resolve, 100));
  t.equal(onA.messages.length, 3, 'no second delivery from the echo');
  t.match(a.wss.topicStats, { published: 3, relayed: 3, received: 0 });
  t.match(b.wss.topicStats, { received: 3, delivered: 3 });

  // A client's message on B reaches A's subscriber, not the sender.
  onB.ws.send('from b');
  await onA.count(4);
  t.equal(onA.messages[3]?.data.toString(), 'from b');
  t.equal(onB.messages.length, 3);
});

t.test('10,000 publications of one entry point arrive in order at the other', async (t) => {
  const redis = await startRedisServer(t);
  const a = await startNode(t, redis.url);
  const b = await startNode(t, redis.url);
  const subscriber = await client(t, `${b.url}/t/seq`);
  const publisher = await client(t, `${a.url}/t/seq`);
  await until(() => b.wss.subscriberCount('seq') === 1, 'subscriber');
  await b.backplane.sync();
  const count = 10_000;
  for (let i = 0; i < count; i++) publisher.ws.send(String(i));
  await subscriber.count(count, 30_000);
  const received = subscriber.messages.map((m) => Number(m.data.toString()));
  t.same(
    received,
    Array.from({ length: count }, (_, i) => i),
    'in publish order',
  );
});

t.test('10,000 connect-subscribe-close cycles leave no topic, channel or listener', async (t) => {
  const redis = await startRedisServer(t);
  const a = await startNode(t, redis.url);
  const probe = new Redis(redis.url);
  t.teardown(() => probe.disconnect());
  const { publisher, subscriber } = a.backplane.clients;
  const listeners = (): number[] =>
    [publisher, subscriber].flatMap((client) =>
      client.eventNames().map((name) => client.listenerCount(name)),
    );
  const before = listeners();
  for (let round = 0; round < 200; round++) {
    const clients = await Promise.all(
      Array.from({ length: 50 }, (_, i) => client(t, `${a.url}/t/cycle-${i % 7}`)),
    );
    await until(() => a.wss.topicStats.subscriptions === 50, 'fifty subscriptions');
    for (const c of clients) c.ws.terminate();
    await until(() => a.wss.connections.size === 0, 'all closed');
  }
  t.match(a.wss.topicStats, { topics: 0, subscriptions: 0 });
  await a.backplane.sync();
  await until(async () => (await probe.pubsub('CHANNELS', '*')).length === 0, 'no channel left');
  t.same(await probe.pubsub('CHANNELS', '*'), []);
  t.equal(a.backplane.stats.topics, 0);
  t.same(listeners(), before, 'no listener left on the Redis clients');
});

t.test(
  'Redis stopped and restarted mid-stream: failures reported, then flow resumes',
  async (t) => {
    const redis = await startRedisServer(t);
    const a = await startNode(t, redis.url);
    const b = await startNode(t, redis.url);
    const subscriber = await client(t, `${b.url}/t/live`);
    await until(() => b.wss.subscriberCount('live') === 1, 'subscriber');
    await b.backplane.sync();
    t.match(a.wss.publish('live', 'before'), { relay: 'sent' });
    await subscriber.count(1);

    const down = event(a.backplane, 'down');
    await redis.stop('SIGKILL');
    await withTimeout(down, 'down');
    const during = a.wss.publish('live', 'during');
    t.equal(during.relay, 'failed', 'publish says it could not relay');
    t.equal(a.wss.topicStats.relayFailed, 1, 'and the counter agrees');

    const upA = event(a.backplane, 'up');
    const upB = event(b.backplane, 'up');
    await redis.start();
    await withTimeout(Promise.all([upA, upB]), 'both up again', 15_000);
    await b.backplane.sync();
    t.match(a.wss.publish('live', 'after'), { relay: 'sent' });
    await subscriber.count(2);
    t.same(
      subscriber.messages.map((m) => m.data.toString()),
      ['before', 'after'],
      'nothing silently claimed delivered; the subscription came back',
    );
  },
);
