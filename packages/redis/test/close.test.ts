import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import t from 'tap';
import {
  type RedisBackplaneError,
  RedisBackplaneErrorCode,
  type RelayFailure,
} from '../src/index.js';
import {
  adminClient,
  createBackplane,
  Inbox,
  listenerCounts,
  openBackplane,
  startRedisServer,
  withTimeout,
} from './helpers.js';

const FIXTURE = fileURLToPath(new URL('fixtures/use-and-close.ts', import.meta.url));

t.test('close() ends both connections and takes every listener off them', async (t) => {
  const server = await startRedisServer(t);
  const admin = adminClient(t, server);
  const { backplane } = await openBackplane(t, server);
  backplane.subscribe('x');
  await backplane.sync();
  const names = async (): Promise<string> => String(await admin.call('CLIENT', 'LIST'));
  t.match(await names(), /name=wsroute-publisher/);
  t.match(await names(), /name=wsroute-subscriber/);

  await withTimeout(backplane.close(), 'close');
  const { publisher, subscriber } = backplane.clients;
  t.equal(publisher.status, 'end');
  t.equal(subscriber.status, 'end');
  // ioredis puts listeners of its own on every client it builds: only those may remain.
  const bare = new Redis(server.url, { lazyConnect: true });
  const ownListeners = listenerCounts(bare);
  bare.disconnect();
  t.same(listenerCounts(publisher), ownListeners);
  t.same(listenerCounts(subscriber), ownListeners);
  t.ok(
    publisher.listenerCount('end') + subscriber.listenerCount('messageBuffer') === 0,
    'none of the backplane listeners remain',
  );
  t.notMatch(await names(), /name=wsroute-/);
  t.equal(backplane.state, 'closed');
  t.equal(backplane.close(), backplane.close(), 'close() again returns the same promise');
});

t.test('close() waits for Redis to confirm what was published', async (t) => {
  const server = await startRedisServer(t);
  const a = await openBackplane(t, server);
  const b = await openBackplane(t, server);
  b.backplane.subscribe('x');
  await b.backplane.sync();
  for (let i = 0; i < 100; i++) a.backplane.publish('x', Buffer.from(String(i)));
  await a.backplane.close();
  t.equal(a.backplane.stats.confirmed, 100);
  t.equal(a.backplane.stats.unconfirmed, 0);
  await b.inbox.waitFor(100);
});

t.test('close() while Redis is unreachable ends at once', async (t) => {
  const server = await startRedisServer(t);
  await server.stop();
  const backplane = createBackplane(t, server);
  const errors: RedisBackplaneError[] = [];
  backplane.on('error', (error) => errors.push(error));
  backplane.open(new Inbox());
  backplane.subscribe('x');
  await once(backplane, 'error');
  await withTimeout(backplane.close(), 'close', 1_000);
  t.equal(backplane.clients.publisher.status, 'end');
  t.equal(backplane.clients.subscriber.status, 'end');
  t.ok(errors.every((e) => e.code === RedisBackplaneErrorCode.CONNECTION));
  t.ok(errors[0]?.cause instanceof Error, 'the ioredis error is the cause');
});

t.test('a closed or unopened backplane refuses and reports, never throws', async (t) => {
  const server = await startRedisServer(t);
  const backplane = createBackplane(t, server);
  const failures: RelayFailure[] = [];
  backplane.on('relayFailure', (failure) => failures.push(failure));
  const errors: RedisBackplaneError[] = [];
  backplane.on('error', (error) => errors.push(error));
  t.equal(backplane.state, 'idle');
  t.equal(backplane.publish('x', Buffer.from('early')), 'failed');
  t.equal(await backplane.sync(), false);

  backplane.open(new Inbox());
  backplane.open(new Inbox());
  t.same(
    errors.map((e) => e.code),
    [RedisBackplaneErrorCode.OPEN],
    'a second open() is ignored and reported',
  );
  await backplane.close();
  backplane.open(new Inbox());
  backplane.subscribe('x');
  backplane.unsubscribe('x');
  t.equal(backplane.publish('x', Buffer.from('late')), 'failed');
  t.equal(await backplane.sync(), false);
  t.same(
    failures.map((f) => f.reason),
    ['down', 'closed'],
  );
  t.equal(backplane.stats.failed, 2);
  t.equal(errors.length, 2);
  t.equal(backplane.stats.topics, 0);
});

t.test('a process that used and closed backplanes exits on its own', async (t) => {
  const server = await startRedisServer(t);
  const dead = await startRedisServer(t);
  await dead.stop();
  // The child runs TypeScript through the same loader as this test.
  const loader = process.execArgv.filter((arg) => arg.includes('@tapjs/typescript'));
  const child = spawn(process.execPath, [...loader, FIXTURE, server.url, dead.url], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      process.kill(child.pid, 'SIGKILL');
    }
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const [code] = await withTimeout(once(child, 'exit'), 'the child process to exit', 15_000);
  t.equal(code, 0);
  t.equal(output, 'closed 2\n', 'both publications confirmed before the close completed');
});
