/**
 * Topics over real sockets: subscription bookkeeping, one encode per protocol for mixed
 * subscribers, the slow-subscriber policy against a peer that never reads, ordering, and what
 * `publish` reports.
 */
import { once } from 'node:events';
import { connect } from 'node:net';
import t, { type Test } from 'tap';
import WebSocket from 'ws';
import type { AnyConnection } from '../src/connection-types.js';
import type { EntryOptions } from '../src/entry-options.js';
import type { WebSocketServer } from '../src/node-server.js';
import { defineProtocol, type WebSocketHandler } from '../src/protocol.js';
import { topic } from '../src/topics.js';
import { serve } from './helpers/serve.js';
import { deferred, upgradeRequest, withTimeout } from './helpers/wire.js';

interface Line {
  readonly from: string;
  readonly text: string;
}

const encodes = { json: 0, text: 0 };

/** Joins the topic named by `?topic=` (default `room`) on open; publishes what it receives. */
function relay(name = 'room'): WebSocketHandler<unknown, unknown, unknown> {
  return {
    onOpen(connection) {
      connection.subscribe(name);
    },
    onMessage(connection, message) {
      connection.publish(name, message);
    },
  };
}

const lines = topic<Line>('lines');

const jsonLines = defineProtocol<unknown, unknown, Line>({
  codec: {
    decode: (data) => JSON.parse(String(data)) as unknown,
    encode(line) {
      encodes.json++;
      return JSON.stringify(line);
    },
  },
  validate: (message): message is unknown => true,
  handler: {
    onOpen(connection) {
      connection.subscribe(lines);
    },
  },
});

const textLines = defineProtocol<unknown, string, Line | string>({
  codec: {
    decode: (data) => String(data),
    encode(line) {
      encodes.text++;
      return typeof line === 'string' ? line : `${line.from}: ${line.text}`;
    },
  },
  handler: {
    onOpen(connection) {
      connection.subscribe(lines);
    },
  },
});

async function start(
  t: Test,
  options: EntryOptions = {},
): Promise<{ wss: WebSocketServer; url: string; port: number }> {
  const { wss, port } = await serve(
    t,
    (wss) => {
      wss.route('/relay', { defaultProtocol: relay(), heartbeatInterval: 0 });
      wss.route('/lines', {
        protocols: { 'lines.json': jsonLines, 'lines.text': textLines },
        defaultProtocol: relay('lines'),
        heartbeatInterval: 0,
      });
    },
    options,
  );
  return { wss, url: `ws://127.0.0.1:${port}`, port };
}

/** An open `ws` client whose messages are recorded from the start; terminated on teardown. */
async function client(
  t: Test,
  url: string,
  protocols: string[] = [],
): Promise<{ ws: WebSocket; messages: string[]; next(count: number): Promise<string[]> }> {
  const ws = new WebSocket(url, protocols);
  const messages: string[] = [];
  let waiter: { count: number; resolve: () => void } | undefined;
  ws.on('message', (data: Buffer, isBinary) => {
    messages.push(`${isBinary ? 'b' : 't'}:${data.toString()}`);
    if (waiter && messages.length >= waiter.count) waiter.resolve();
  });
  ws.on('error', () => {});
  t.teardown(() => ws.terminate());
  await withTimeout(once(ws, 'open'), 'open');
  return {
    ws,
    messages,
    next(count) {
      if (messages.length >= count) return Promise.resolve(messages.slice(0, count));
      const arrived = deferred();
      waiter = { count, resolve: () => arrived.resolve() };
      return withTimeout(arrived.promise, `${count} messages`, 20_000).then(() =>
        messages.slice(0, count),
      );
    },
  };
}

/** Waits until `predicate` holds, checking on each turn of the event loop (bounded). */
async function until(predicate: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

t.test('a message goes to every other subscriber, text as text and bytes as bytes', async (t) => {
  const { wss, url } = await start(t);
  const [a, b, c] = await Promise.all([1, 2, 3].map(() => client(t, `${url}/relay`)));
  await until(() => wss.subscriberCount('room') === 3, 'three subscribers');
  a!.ws.send('hello');
  a!.ws.send(Buffer.from([0, 255, 1]), { binary: true });
  t.same(await b!.next(2), ['t:hello', `b:${Buffer.from([0, 255, 1]).toString()}`]);
  t.same(await c!.next(2), ['t:hello', `b:${Buffer.from([0, 255, 1]).toString()}`]);
  t.same(a!.messages, [], 'never back to the sender');
});

t.test('subscribe, unsubscribe, isSubscribed and close keep the books', async (t) => {
  let server: AnyConnection | undefined;
  const opened = deferred();
  const { wss, url } = await serve(t, (wss) =>
    wss.route('/', {
      defaultProtocol: {
        onOpen(connection) {
          server = connection;
          opened.resolve();
        },
      },
      heartbeatInterval: 0,
    }),
  ).then((s) => ({ ...s, url: `ws://127.0.0.1:${s.port}` }));
  const { ws } = await client(t, `${url}/`);
  await withTimeout(opened.promise, 'open');
  const connection = server!;
  t.equal(connection.subscribe('a'), true);
  t.equal(connection.subscribe(topic('a')), false, 'already subscribed, typed or not');
  t.equal(connection.subscribe('b'), true);
  t.same([...connection.topics].sort(), ['a', 'b']);
  t.ok(connection.isSubscribed(topic('b')));
  t.equal(wss.subscriberCount('a'), 1);
  t.equal(connection.unsubscribe('a'), true);
  t.equal(connection.unsubscribe('a'), false);
  t.equal(wss.subscriberCount('a'), 0);
  t.match(wss.topicStats, { topics: 1, subscriptions: 1 });
  ws.close();
  await until(() => wss.subscriberCount('b') === 0, 'released on close');
  t.match(wss.topicStats, { topics: 0, subscriptions: 0 });
  t.equal(connection.subscribe('c'), false, 'a closed connection cannot subscribe');
  t.throws(() => connection.subscribe(42 as unknown as string), TypeError);
});

t.test('10,000 connect-subscribe-close cycles leave no topic behind', async (t) => {
  const { wss, port } = await start(t);
  const batch = 250;
  for (let done = 0; done < 10_000; done += batch) {
    await Promise.all(
      Array.from({ length: batch }, async () => {
        // Raw sockets: the handshake and the first frame in one write, then gone.
        const socket = connect(port, '127.0.0.1');
        socket.on('error', () => {});
        await once(socket, 'connect');
        socket.write(upgradeRequest('/relay'));
        await once(socket, 'data');
        socket.destroy();
        await once(socket, 'close');
      }),
    );
  }
  await until(() => wss.connections.size === 0, 'every connection closed');
  t.match(wss.topicStats, { topics: 0, subscriptions: 0 });
  t.equal(wss.subscriberCount('room'), 0);
});

t.test('a value is encoded once per protocol, whatever the number of subscribers', async (t) => {
  const { wss, url } = await start(t);
  const json = await Promise.all(
    [1, 2, 3, 4, 5].map(() => client(t, `${url}/lines`, ['lines.json'])),
  );
  const text = await Promise.all([1, 2, 3].map(() => client(t, `${url}/lines`, ['lines.text'])));
  await until(() => wss.subscriberCount(lines) === 8, 'eight subscribers');
  encodes.json = 0;
  encodes.text = 0;
  const report = wss.publish(lines, { from: 'server', text: 'hi' });
  t.same(report, { delivered: 8, dropped: 0, closed: 0, failed: 0, relay: 'none' });
  t.same(encodes, { json: 1, text: 1 }, 'one encode per protocol');
  for (const c of json) t.same(await c.next(1), ['t:{"from":"server","text":"hi"}']);
  for (const c of text) t.same(await c.next(1), ['t:server: hi']);
});

t.test('a value a protocol cannot encode is reported as failed for its subscribers', async (t) => {
  const { wss, url } = await start(t);
  const raw = await client(t, `${url}/relay`);
  const other = await client(t, `${url}/relay`);
  await until(() => wss.subscriberCount('room') === 2, 'two subscribers');
  // The raw protocol sends strings and bytes only.
  const report = wss.publish('room', { not: 'raw' });
  t.match(report, { delivered: 0, failed: 2 });
  t.match(wss.topicStats, { failed: 2 });
  t.equal(raw.ws.readyState, WebSocket.OPEN, 'nobody is closed for it');
  t.equal(other.ws.readyState, WebSocket.OPEN);
});

t.test('includeSelf also delivers to the publishing connection', async (t) => {
  let publisher: AnyConnection | undefined;
  const opened = deferred();
  const { port } = await serve(t, (wss) =>
    wss.route('/', {
      defaultProtocol: {
        onOpen(connection) {
          connection.subscribe('t');
          publisher = connection;
          opened.resolve();
        },
      },
      heartbeatInterval: 0,
    }),
  );
  const c = await client(t, `ws://127.0.0.1:${port}/`);
  await withTimeout(opened.promise, 'open');
  t.match(publisher!.publish('t', 'not me'), { delivered: 0 });
  t.match(publisher!.publish('t', 'me too', { includeSelf: true }), { delivered: 1 });
  t.same(await c.next(1), ['t:me too']);
});

t.test('10,000 messages from one publisher arrive in order at every subscriber', async (t) => {
  const { wss, url } = await start(t);
  const publisher = await client(t, `${url}/relay`);
  const subscribers = await Promise.all([1, 2, 3].map(() => client(t, `${url}/relay`)));
  await until(() => wss.subscriberCount('room') === 4, 'four subscribers');
  const count = 10_000;
  for (let i = 0; i < count; i++) publisher.ws.send(String(i));
  const expected = Array.from({ length: count }, (_, i) => `t:${i}`);
  for (const subscriber of subscribers) t.same(await subscriber.next(count), expected);
  t.match(wss.topicStats, { delivered: 3 * count, dropped: 0 });
});

/** A subscriber that completes the handshake and never reads again. */
async function stalledSubscriber(t: Test, port: number): Promise<void> {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => {});
  t.teardown(() => {
    socket.destroy();
  });
  await once(socket, 'connect');
  socket.write(upgradeRequest('/relay'));
  await once(socket, 'data');
  socket.pause();
}

for (const policy of ['close', 'drop'] as const) {
  t.test(`a subscriber that never reads is handled by the '${policy}' policy`, async (t) => {
    const highWaterMark = 256 * 1024;
    const { wss, url, port } = await start(t, {
      topics: { highWaterMark, slowSubscriber: policy },
    });
    const reader = await client(t, `${url}/relay`);
    await stalledSubscriber(t, port);
    await until(() => wss.subscriberCount('room') === 2, 'two subscribers');
    const chunk = Buffer.alloc(64 * 1024, 7);
    let total = { delivered: 0, dropped: 0, closed: 0 };
    for (let i = 0; i < 200 && total.closed + total.dropped === 0; i++) {
      const report = wss.publish('room', chunk);
      total = {
        delivered: total.delivered + report.delivered,
        dropped: total.dropped + report.dropped,
        closed: total.closed + report.closed,
      };
      await reader.next(i + 1);
      // The stalled peer's kernel buffers fill; then its send buffer grows.
      await new Promise((resolve) => setImmediate(resolve));
    }
    if (policy === 'close') {
      t.equal(total.closed, 1, 'the stalled subscriber was closed');
      t.equal(total.dropped, 0);
      await until(() => wss.subscriberCount('room') === 1, 'the closed one released');
    } else {
      t.ok(total.dropped >= 1, 'messages were dropped for it');
      t.equal(total.closed, 0);
      t.equal(wss.subscriberCount('room'), 2, 'still subscribed');
    }
    t.match(wss.topicStats, policy === 'close' ? { closed: 1 } : { closed: 0 });
    t.equal(reader.ws.readyState, WebSocket.OPEN, 'the reading subscriber is untouched');
  });
}

t.test('topic options are checked at construction', async (t) => {
  const { WebSocketServer } = await import('../src/node-server.js');
  t.throws(() => new WebSocketServer({ topics: { highWaterMark: 0 } }), TypeError);
  t.throws(() => new WebSocketServer({ topics: { slowSubscriber: 'block' as 'drop' } }), TypeError);
  t.throws(() => new WebSocketServer({ backplane: {} as never }), TypeError);
});
