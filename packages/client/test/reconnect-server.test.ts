/**
 * Reconnect against a real server that goes away and comes back on the same port: backoff
 * events, the sticky protocol, giving up after the attempts, and the default policy's choices.
 */
import t from 'tap';
import { WebSocket } from 'undici';
import { connect } from '../src/client.js';
import type { ClosedInfo, ReconnectInfo } from '../src/client-types.js';
import { chatText, chatV2 } from './fixtures/contracts.js';
import { nextEvent, take, withTimeout } from './helpers/events.js';
import { startCoreServer } from './helpers/servers.js';

const policy = { initialDelay: 20, maxDelay: 80, factor: 2, jitter: 0.5, attempts: 50 };

t.test('reconnects to a server restarted on the same port', async (t) => {
  const first = await startCoreServer(t);
  const client = await connect(first.url, [chatV2, chatText], {
    WebSocket,
    reconnect: policy,
    token: 'carol',
  });
  t.teardown(() => void client.close());
  if (client.protocol !== 'chat.v2') throw new Error(`negotiated ${client.protocol}`);
  const closes: ClosedInfo[] = [];
  const scheduled: ReconnectInfo[] = [];
  client.on('close', (close) => closes.push(close));
  client.on('reconnecting', (info) => {
    scheduled.push(info);
    t.equal(client.state, 'reconnecting');
    t.equal(client.reconnecting, info, 'the pending attempt is visible as state');
  });
  const messages = client.messages();

  const secondAttempt = withTimeout(
    new Promise<void>((resolve) => {
      client.on('reconnecting', (info) => info.attempt === 3 && resolve());
    }),
    'two failed attempts',
  );
  await first.close(); // sends 1001 to the client
  await secondAttempt;
  t.equal(client.send({ type: 'say', text: 'lost' }), false, 'nothing is sent while down');

  const reopened = nextEvent(client, 'open');
  const second = await startCoreServer(t, first.port);
  t.same(await reopened, { protocol: 'chat.v2', reconnected: true });
  t.equal(client.state, 'open');
  t.equal(client.reconnecting, undefined);

  t.match(closes, [{ code: 1001, name: 'GOING_AWAY', willReconnect: true }]);
  t.same(
    scheduled.map((info) => info.attempt),
    scheduled.map((_, index) => index + 1),
    'attempts count up from 1',
  );
  for (const info of scheduled) {
    const capped = Math.min(policy.maxDelay, policy.initialDelay * 2 ** (info.attempt - 1));
    t.ok(
      info.delay <= capped && info.delay >= capped * 0.5,
      `attempt ${info.attempt}: ${info.delay} ms`,
    );
    t.equal(info.attempts, policy.attempts);
  }
  t.equal(scheduled[0]?.close.code, 1001);
  t.equal(scheduled[1]?.close.code, 1006, 'a refused attempt closes abnormally');

  const [connection] = second.wss.connections;
  t.same(
    connection?.data,
    { user: 'carol', offered: ['chat.v2'] },
    'a reconnect offers only the negotiated protocol, and the token again (taken out by the server)',
  );
  client.send({ type: 'say', text: 'back' });
  t.same(await take(messages, 1), [{ type: 'said', from: 'carol', text: 'back' }]);
  t.match(await client.close(), { code: 1000, willReconnect: false });
});

t.test('gives up after the attempts: a final close, the iterator ends', async (t) => {
  const server = await startCoreServer(t);
  const client = await connect(server.url, [chatText], {
    WebSocket,
    reconnect: { ...policy, attempts: 3 },
  });
  const messages = client.messages();
  const scheduled: number[] = [];
  client.on('reconnecting', (info) => scheduled.push(info.attempt));
  await server.close();
  const end = await withTimeout(client.closed, 'the end');
  t.same(scheduled, [1, 2, 3]);
  t.match(end, { code: 1006, willReconnect: false });
  t.equal(client.state, 'closed');
  t.same(await withTimeout(messages.next(), 'iterator end'), { value: undefined, done: true });
});

t.test('the default policy does not reconnect after a normal closure', async (t) => {
  const server = await startCoreServer(t);
  const client = await connect(server.url, [chatText], { WebSocket, reconnect: true });
  let scheduled = 0;
  client.on('reconnecting', () => scheduled++);
  for (const connection of server.wss.connections) connection.close(1000, 'done');
  t.match(await withTimeout(client.closed, 'close'), { code: 1000, willReconnect: false });
  t.equal(scheduled, 0);
});

t.test('shouldReconnect decides; close() while reconnecting ends the client at once', async (t) => {
  const server = await startCoreServer(t);
  const client = await connect(server.url, [chatText], {
    WebSocket,
    reconnect: {
      initialDelay: 60_000,
      maxDelay: 60_000,
      shouldReconnect: (close) => close.code === 4100,
    },
  });
  const scheduled = nextEvent(client, 'reconnecting');
  for (const connection of server.wss.connections) connection.close(4100, 'again');
  const info = await scheduled;
  t.match(info, { attempt: 1, close: { code: 4100, reason: 'again' } });
  t.ok(info.delay >= 30_000 && info.delay <= 60_000, 'jitter takes at most half of 60 s');
  t.equal(client.state, 'reconnecting');
  const end = await withTimeout(client.close(), 'close while waiting');
  t.match(end, { code: 1000, willReconnect: false });
  t.equal(client.state, 'closed');
});

t.test('without reconnect a drop ends the client', async (t) => {
  const server = await startCoreServer(t);
  const client = await connect(server.url, [chatText], { WebSocket });
  await server.close();
  t.match(await withTimeout(client.closed, 'close'), { code: 1001, willReconnect: false });
});
