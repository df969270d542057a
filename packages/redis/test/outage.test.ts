import t from 'tap';
import type { RedisBackplaneError, RelayFailure } from '../src/index.js';
import { RedisBackplaneErrorCode } from '../src/index.js';
import {
  adminClient,
  classicChannels,
  createBackplane,
  Inbox,
  openBackplane,
  startRedisServer,
  subscriberCounts,
  synced,
  waitForEvent,
  waitUp,
  withTimeout,
} from './helpers.js';

for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
  t.test(`Redis stopped (${signal}) and restarted: down, refused, resubscribed, up`, async (t) => {
    const server = await startRedisServer(t);
    const a = await openBackplane(t, server);
    const b = await openBackplane(t, server);
    const failures: RelayFailure[] = [];
    a.backplane.on('relayFailure', (failure) => failures.push(failure));
    const errors: RedisBackplaneError[] = [];
    a.backplane.on('error', (error) => errors.push(error));
    b.backplane.subscribe('news');
    b.backplane.subscribe('dropped-while-down');
    await synced(b.backplane);
    t.equal(a.backplane.publish('news', Buffer.from('before')), 'sent');
    await b.inbox.waitFor(1);

    const downs = Promise.all([
      waitForEvent(a.backplane, 'down'),
      waitForEvent(b.backplane, 'down'),
    ]);
    await server.stop(signal);
    await downs;
    t.equal(a.backplane.state, 'down');
    t.equal(b.backplane.state, 'down');

    // Nothing is queued while Redis is away: every publication is refused, counted, reported.
    for (let i = 0; i < 5; i++) {
      t.equal(a.backplane.publish('news', Buffer.from(`lost ${i}`)), 'failed');
    }
    t.equal(a.backplane.stats.failed, 5);
    t.same(
      failures.map((f) => [f.topic, f.reason, f.bytes]),
      [0, 1, 2, 3, 4].map(() => ['news', 'down', 6]),
    );
    t.equal(a.backplane.stats.pendingBytes, 0);

    // Changes made while Redis is away apply when it is back.
    b.backplane.subscribe('joined-while-down');
    b.backplane.unsubscribe('dropped-while-down');
    t.equal(await b.backplane.sync(), false, 'sync() says the changes are not applied yet');

    const ups = Promise.all([
      waitForEvent(a.backplane, 'up', 10_000),
      waitForEvent(b.backplane, 'up', 10_000),
    ]);
    await server.start();
    await ups;
    t.equal(a.backplane.stats.reconnects, 1);
    t.equal(b.backplane.stats.reconnects, 1);
    t.ok(
      errors.every((e) => e.code === RedisBackplaneErrorCode.CONNECTION),
      'only connection errors were reported',
    );

    // 'up' comes after the resubscription, so the first publication after it is delivered.
    const admin = adminClient(t, server);
    t.same(await classicChannels(admin), ['wsroute:joined-while-down', 'wsroute:news']);
    t.equal(a.backplane.publish('news', Buffer.from('after')), 'sent');
    t.equal(a.backplane.publish('joined-while-down', Buffer.from('new')), 'sent');
    await b.inbox.waitFor(3);
    t.same(b.inbox.payloads('news'), ['before', 'after']);
    t.same(b.inbox.payloads('joined-while-down'), ['new']);
    t.equal(a.backplane.stats.failed, 5, 'no failure once back');
  });
}

t.test('subscriptions made before Redis is reachable apply once it is', async (t) => {
  const server = await startRedisServer(t);
  await server.stop();
  const backplane = createBackplane(t, server);
  const inbox = new Inbox();
  backplane.open(inbox);
  backplane.subscribe('early');
  t.equal(backplane.state, 'connecting');
  t.equal(backplane.publish('early', Buffer.from('x')), 'failed');
  // Redis refuses the connection: reported as an 'error' (only because it is listened to).
  const [error] = (await waitForEvent(backplane, 'error')) as [RedisBackplaneError];
  t.equal(error.code, RedisBackplaneErrorCode.CONNECTION);
  t.match(error.cause, { code: 'ECONNREFUSED' });
  const up = waitUp(backplane, 10_000);
  await server.start();
  await up;
  const admin = adminClient(t, server);
  t.same(await subscriberCounts(admin, ['wsroute:early']), { 'wsroute:early': 1 });
  t.equal(backplane.stats.reconnects, 0, 'the first up is not a reconnection');
  const other = await openBackplane(t, server);
  other.backplane.publish('early', Buffer.from('hello'));
  await inbox.waitFor(1);
  t.same(inbox.payloads('early'), ['hello']);
});

t.test('publications unconfirmed when the connection breaks are reported', async (t) => {
  const server = await startRedisServer(t);
  const admin = adminClient(t, server);
  const { backplane } = await openBackplane(t, server);
  const failures: RelayFailure[] = [];
  const allReported = new Promise<void>((resolve) => {
    backplane.on('relayFailure', (failure) => {
      if (failures.push(failure) === 3) resolve();
    });
  });
  // PUBLISH waits while clients are paused for writes: these stay unconfirmed.
  await admin.call('CLIENT', 'PAUSE', '30000', 'WRITE');
  for (let i = 0; i < 3; i++) t.equal(backplane.publish('t', Buffer.from('abcd')), 'sent');
  t.equal(backplane.stats.pendingBytes, 12);
  await server.stop('SIGKILL');
  // 'down' may come from the subscriber connection first: wait for the reports themselves.
  await withTimeout(allReported, 'three relay failures');
  t.equal(backplane.stats.unconfirmed, 3);
  t.equal(backplane.stats.confirmed, 0);
  t.equal(backplane.stats.pendingBytes, 0);
  t.same(
    failures.map((f) => [f.topic, f.reason, f.bytes, f.error instanceof Error]),
    [0, 1, 2].map(() => ['t', 'unconfirmed', 4, true]),
  );
});

t.test('maxPendingBytes refuses publications while Redis is slow to confirm', async (t) => {
  const server = await startRedisServer(t);
  const admin = adminClient(t, server);
  const { backplane } = await openBackplane(t, server, { maxPendingBytes: 1_000 });
  const reasons: string[] = [];
  backplane.on('relayFailure', (failure) => reasons.push(failure.reason));
  await admin.call('CLIENT', 'PAUSE', '30000', 'WRITE');
  const results = Array.from({ length: 8 }, () => backplane.publish('t', Buffer.alloc(200, 0x61)));
  t.same(results, ['sent', 'sent', 'sent', 'sent', 'sent', 'failed', 'failed', 'failed']);
  t.same(reasons, ['overloaded', 'overloaded', 'overloaded']);
  t.equal(backplane.stats.pendingBytes, 1_000);
  await admin.call('CLIENT', 'UNPAUSE');
  t.equal(await backplane.sync(), true);
  // The publisher connection answers in order: once a PING on it is answered, every earlier
  // PUBLISH has been confirmed.
  await withTimeout(backplane.clients.publisher.ping(), 'ping');
  t.equal(backplane.stats.confirmed, 5);
  t.equal(backplane.stats.pendingBytes, 0);
  t.equal(backplane.publish('t', Buffer.alloc(200)), 'sent');
});

for (const role of ['publisher', 'subscriber'] as const) {
  t.test(`losing only the ${role} connection takes the backplane down and back`, async (t) => {
    const server = await startRedisServer(t);
    const admin = adminClient(t, server);
    const a = await openBackplane(t, server);
    const b = await openBackplane(t, server);
    b.backplane.subscribe('x');
    await synced(b.backplane);
    const list = String(await admin.call('CLIENT', 'LIST'));
    // Kill b's connection: the second client of that name (a's connected first).
    const ids = [...list.matchAll(new RegExp(`id=(\\d+) .*name=wsroute-${role} `, 'g'))].map(
      (match) => match[1]!,
    );
    t.equal(ids.length, 2);
    const down = waitForEvent(b.backplane, 'down');
    await admin.call('CLIENT', 'KILL', 'ID', ids[1]!);
    await down;
    t.equal(b.backplane.publish('x', Buffer.from('while down')), 'failed');
    await waitForEvent(b.backplane, 'up');
    t.equal(b.backplane.stats.reconnects, 1);
    t.equal(a.backplane.state, 'up', 'the other backplane was not affected');
    t.same(await subscriberCounts(admin, ['wsroute:x']), { 'wsroute:x': 1 });
    a.backplane.publish('x', Buffer.from('after'));
    await b.inbox.waitFor(1);
    t.same(b.inbox.payloads('x'), ['after']);
  });
}
