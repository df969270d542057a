import { randomBytes } from 'node:crypto';
import t from 'tap';
import { type RedisBackplaneError, RedisBackplaneErrorCode } from '../src/index.js';
import {
  adminClient,
  classicChannels,
  createBackplane,
  Inbox,
  listenerCounts,
  openBackplane,
  shardChannels,
  startRedisServer,
  subscriberCounts,
  synced,
  waitUp,
} from './helpers.js';

t.test('relays payloads byte for byte between two backplanes, empty ones included', async (t) => {
  const server = await startRedisServer(t);
  const a = await openBackplane(t, server);
  const b = await openBackplane(t, server);
  a.backplane.subscribe('room');
  b.backplane.subscribe('room');
  await synced(a.backplane);
  await synced(b.backplane);

  const payloads = [
    Buffer.from('{"text":"héllo ✓ 😀"}'),
    Buffer.from([0xff, 0xfe, 0x00, 0x80, 0xc3, 0x28, 0xed, 0xa0, 0x80]), // not UTF-8
    Buffer.alloc(0),
    Buffer.from('\r\n$-1\r\n*3\r\n'), // RESP framing inside a payload
    randomBytes(1024 * 1024),
  ];
  for (const payload of payloads) t.equal(a.backplane.publish('room', payload), 'sent');
  await b.inbox.waitFor(payloads.length);
  t.same(
    b.inbox.received.map((r) => r.topic),
    payloads.map(() => 'room'),
  );
  b.inbox.received.forEach((r, i) => {
    t.ok(r.payload.equals(payloads[i]!), `payload ${i} arrives unchanged`);
  });
  // Redis delivers a process's own publications too: the topics skip them by their envelope.
  await a.inbox.waitFor(payloads.length);
  t.ok(a.inbox.received.every((r, i) => r.payload.equals(payloads[i]!)));
  t.equal(b.backplane.stats.received, payloads.length);
});

t.test('subscribes to a topic channel only while the topic is held', async (t) => {
  const server = await startRedisServer(t);
  const admin = adminClient(t, server);
  const a = await openBackplane(t, server);
  const b = await openBackplane(t, server);

  a.backplane.subscribe('held');
  await synced(a.backplane);
  t.same(await classicChannels(admin), ['wsroute:held']);
  t.same(await subscriberCounts(admin, ['wsroute:held']), { 'wsroute:held': 1 });

  // b holds nothing, so it receives nothing, not even to drop it.
  t.equal(b.backplane.publish('held', Buffer.from('for a')), 'sent');
  await a.inbox.waitFor(1);
  t.equal(b.backplane.stats.received + b.backplane.stats.dropped, 0);

  a.backplane.unsubscribe('held');
  await synced(a.backplane);
  t.same(await classicChannels(admin), []);
  t.same(await subscriberCounts(admin, ['wsroute:held']), { 'wsroute:held': 0 });
  t.equal(a.backplane.stats.topics, 0);
});

t.test('the channel prefix separates applications sharing one Redis', async (t) => {
  const server = await startRedisServer(t);
  const admin = adminClient(t, server);
  const chat = await openBackplane(t, server, { channelPrefix: 'chat:' });
  const game = await openBackplane(t, server, { channelPrefix: 'game:' });
  chat.backplane.subscribe('lobby');
  game.backplane.subscribe('lobby');
  await synced(chat.backplane);
  await synced(game.backplane);
  t.same(await classicChannels(admin), ['chat:lobby', 'game:lobby']);
  chat.backplane.publish('lobby', Buffer.from('chat only'));
  await chat.inbox.waitFor(1);
  await synced(game.backplane);
  t.same(game.inbox.received, []);
});

t.test('10,000 subscribe/unsubscribe cycles leave no channel and no listener', async (t) => {
  const server = await startRedisServer(t);
  const admin = adminClient(t, server);
  const { backplane } = await openBackplane(t, server);
  const { publisher, subscriber } = backplane.clients;
  const before = { publisher: listenerCounts(publisher), subscriber: listenerCounts(subscriber) };

  for (let i = 0; i < 10_000; i++) {
    const topic = `t${i % 500}`;
    backplane.subscribe(topic);
    // Yield to the microtask queue so that each change really goes to Redis as a command.
    await null;
    backplane.unsubscribe(topic);
    await null;
    if (i % 1_000 === 999) await synced(backplane);
  }
  // The same churn within one synchronous run sends nothing at all.
  for (let i = 0; i < 1_000; i++) {
    backplane.subscribe(`burst${i}`);
    backplane.unsubscribe(`burst${i}`);
  }
  await synced(backplane);

  t.same(await classicChannels(admin), []);
  t.same(await subscriberCounts(admin, ['wsroute:t0', 'wsroute:t499']), {
    'wsroute:t0': 0,
    'wsroute:t499': 0,
  });
  t.equal(backplane.stats.topics, 0);
  t.same(
    { publisher: listenerCounts(publisher), subscriber: listenerCounts(subscriber) },
    before,
    'the same listeners as before the cycles',
  );
});

t.test('10,000 publications of one backplane arrive at another in publish order', async (t) => {
  const server = await startRedisServer(t);
  const a = await openBackplane(t, server);
  const b = await openBackplane(t, server);
  b.backplane.subscribe('seq');
  b.backplane.subscribe('other');
  await synced(b.backplane);

  const count = 10_000;
  let sent = 0;
  for (let i = 0; i < count; i++) {
    const payload = Buffer.alloc(4);
    payload.writeUInt32BE(i);
    if (a.backplane.publish('seq', payload) === 'sent') sent++;
    // Another topic in between must not disturb the order of the first.
    if (i % 100 === 0) a.backplane.publish('other', payload);
  }
  t.equal(sent, count, 'every publish returned sent');
  await b.inbox.waitFor(count + count / 100, 20_000);
  const sequence = b.inbox.received
    .filter((r) => r.topic === 'seq')
    .map((r) => r.payload.readUInt32BE());
  t.equal(sequence.length, count);
  t.ok(
    sequence.every((n, i) => n === i),
    'every publication in order, none missing',
  );
  t.equal(a.backplane.stats.published, count + count / 100);
  t.equal(a.backplane.stats.failed, 0);
});

t.test('sharded mode round-trips over shard channels only', async (t) => {
  const server = await startRedisServer(t);
  const admin = adminClient(t, server);
  const a = await openBackplane(t, server, { sharded: true });
  const b = await openBackplane(t, server, { sharded: true });
  const classic = await openBackplane(t, server);
  for (const backplane of [b.backplane, classic.backplane]) backplane.subscribe('s');
  b.backplane.subscribe('s2');
  await synced(b.backplane);
  await synced(classic.backplane);
  t.same(await shardChannels(admin), ['wsroute:s', 'wsroute:s2']);
  t.same(await classicChannels(admin), ['wsroute:s']);

  const payload = Buffer.from([0, 1, 2, 0xff, 0xc3]);
  t.equal(a.backplane.publish('s', payload), 'sent');
  t.equal(a.backplane.publish('s', Buffer.alloc(0)), 'sent');
  await b.inbox.waitFor(2);
  t.ok(b.inbox.received[0]!.payload.equals(payload));
  t.equal(b.inbox.received[1]!.payload.length, 0);
  await synced(classic.backplane);
  t.same(classic.inbox.received, [], 'a sharded publication never reaches a classic subscriber');

  b.backplane.unsubscribe('s');
  b.backplane.unsubscribe('s2');
  await synced(b.backplane);
  t.same(await shardChannels(admin), []);
  t.same(await subscriberCounts(admin, ['wsroute:s'], true), { 'wsroute:s': 0 });
});

t.test('a sink that throws is reported and later publications still arrive', async (t) => {
  const server = await startRedisServer(t);
  const a = await openBackplane(t, server);
  const backplane = createBackplane(t, server);
  const errors: RedisBackplaneError[] = [];
  backplane.on('error', (error) => errors.push(error));
  const inbox = new Inbox();
  let isFirst = true;
  backplane.open({
    receive(topic, payload) {
      if (isFirst) {
        isFirst = false;
        throw new Error('handler bug');
      }
      inbox.receive(topic, payload);
    },
  });
  await waitUp(backplane);
  backplane.subscribe('x');
  await synced(backplane);
  a.backplane.publish('x', Buffer.from('first'));
  a.backplane.publish('x', Buffer.from('second'));
  await inbox.waitFor(1);
  t.same(inbox.payloads('x'), ['second']);
  t.equal(errors.length, 1);
  t.equal(errors[0]?.code, RedisBackplaneErrorCode.SINK);
  t.match(errors[0]?.cause, { message: 'handler bug' });
});
