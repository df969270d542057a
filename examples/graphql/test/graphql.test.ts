/**
 * The GraphQL example through graphql-ws's own client (and, for what that client never sends,
 * a raw `ws` client) against the server on 127.0.0.1, port 0.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import type { EventEmitter } from 'node:events';
import { once } from 'node:events';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import {
  type Client,
  type ClientOptions,
  createClient,
  type FormattedExecutionResult,
  type WebSocket as GraphqlWebSocket,
} from 'graphql-ws';
import t, { type Test } from 'tap';
import WebSocket from 'ws';

/** What the test uses of app.mjs (JavaScript, checked through its JSDoc by ../tsconfig.json). */
interface PubSubLike extends EventEmitter {
  subscriberCount(topic: string): number;
}
interface GraphqlServer {
  readonly port: number;
  readonly pubsub: PubSubLike;
  close(): Promise<void>;
}
/** The part of a connection `graphqlSocket()` uses. */
interface SocketLike {
  readonly protocol: string | undefined;
  send(data: string): boolean;
  drained(): Promise<void>;
  close(code?: number, reason?: string): void;
}
interface GraphqlModule {
  startGraphqlServer(options: { port: number; countdownInterval?: number }): Promise<GraphqlServer>;
  graphqlSocket(connection: SocketLike): {
    socket: GraphqlWebSocket;
    deliver(data: string): Promise<void>;
  };
}
interface SchemaModule {
  PubSub: new (options?: {
    maxQueued?: number;
  }) => PubSubLike & {
    publish(topic: string, payload: unknown): number;
    subscribe<T>(topic: string): AsyncIterableIterator<T>;
  };
}
// Computed specifiers: tap's TypeScript loader does not read JavaScript types (allowJs is off).
const APP: string = '../app.mjs';
const SCHEMA: string = '../schema.mjs';
const { startGraphqlServer, graphqlSocket } = (await import(APP)) as GraphqlModule;
const { PubSub } = (await import(SCHEMA)) as SchemaModule;

const PROTOCOL = 'graphql-transport-ws';
const MESSAGES = 'messages';
const SERVER = fileURLToPath(new URL('../server.mjs', import.meta.url));

async function startServer(t: Test): Promise<GraphqlServer & { url: string }> {
  const server = await startGraphqlServer({ port: 0, countdownInterval: 1 });
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= server.close();
    return closing;
  };
  t.teardown(close);
  return {
    port: server.port,
    pubsub: server.pubsub,
    close,
    url: `ws://127.0.0.1:${server.port}/graphql`,
  };
}

/** graphql-ws's client over `ws` (Node 20 has no global WebSocket without a flag). */
function graphqlClient(t: Test, url: string, options: Partial<ClientOptions> = {}): Client {
  const client = createClient({ url, webSocketImpl: WebSocket, retryAttempts: 0, ...options });
  t.teardown(() => client.dispose());
  return client;
}

/** Every result of one operation, until it completes. */
async function collect(
  client: Client,
  query: string,
): Promise<FormattedExecutionResult<Record<string, unknown>, unknown>[]> {
  const results: FormattedExecutionResult<Record<string, unknown>, unknown>[] = [];
  for await (const result of client.iterate({ query })) results.push(result);
  return results;
}

/**
 * Subscribes through the client's sink API: `first` is the first result, `ended` what ended
 * the operation (a CloseEvent-like object when the socket closed, or 'completed').
 */
function subscribe(
  client: Client,
  query: string,
): { first: Promise<unknown>; ended: Promise<unknown> } {
  let onFirst: (result: unknown) => void = () => {};
  const first = new Promise<unknown>((resolve) => {
    onFirst = resolve;
  });
  const ended = new Promise<unknown>((resolve) => {
    client.subscribe(
      { query },
      { next: onFirst, error: resolve, complete: () => resolve('completed') },
    );
  });
  return { first, ended };
}

/** A raw `ws` client whose messages (parsed JSON) are queued from the start. */
interface RawClient {
  readonly socket: WebSocket;
  send(message: object): void;
  next(): Promise<Record<string, unknown>>;
  closed: Promise<[number, string]>;
}

async function rawClient(t: Test, url: string): Promise<RawClient> {
  const socket = new WebSocket(url, PROTOCOL);
  t.teardown(() => {
    socket.terminate();
  });
  const queue: Record<string, unknown>[] = [];
  const waiters: ((message: Record<string, unknown>) => void)[] = [];
  socket.on('message', (data: Buffer) => {
    const message = JSON.parse(data.toString()) as Record<string, unknown>;
    const waiter = waiters.shift();
    if (waiter) waiter(message);
    else queue.push(message);
  });
  const closed = once(socket, 'close').then(
    ([code, reason]) => [code, String(reason)] as [number, string],
  );
  await once(socket, 'open');
  return {
    socket,
    send: (message) => socket.send(JSON.stringify(message)),
    next() {
      const queued = queue.shift();
      return queued ? Promise.resolve(queued) : new Promise((resolve) => waiters.push(resolve));
    },
    closed,
  };
}

/** Sends a raw upgrade request and reads the whole answer until the server ends it. */
async function rawUpgrade(t: Test, port: number, extraHeaders: string): Promise<string> {
  const socket = connect(port, '127.0.0.1');
  t.teardown(() => {
    socket.destroy();
  });
  socket.write(
    'GET /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n${extraHeaders}\r\n`,
  );
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  await once(socket, 'end');
  return Buffer.concat(chunks).toString();
}

t.test('answers a query over the negotiated graphql-transport-ws connection', async (t) => {
  const { url } = await startServer(t);
  let protocol: string | undefined;
  const client = graphqlClient(t, url, {
    on: { connected: (socket) => (protocol = (socket as WebSocket).protocol) },
  });
  t.same(await collect(client, '{ hello(name: "wsroute") }'), [
    { data: { hello: 'Hello, wsroute!' } },
  ]);
  t.equal(protocol, PROTOCOL);
  t.same(await collect(client, '{ hello }'), [{ data: { hello: 'Hello, world!' } }]);
});

t.test('a countdown subscription yields every value down to 0, then completes', async (t) => {
  const { url } = await startServer(t);
  const client = graphqlClient(t, url);
  const results = await collect(client, 'subscription { countdown(from: 5) }');
  t.same(
    results.map((result) => result.data?.countdown),
    [5, 4, 3, 2, 1, 0],
  );
  t.notOk(
    results.some((result) => result.errors),
    'no errors',
  );

  const refused = await collect(client, 'subscription { countdown(from: -1) }');
  t.match(refused, [{ errors: [{ message: /from must be between/ }] }]);
});

t.test('a message posted by one client reaches the subscription of another', async (t) => {
  const { url, pubsub } = await startServer(t);
  const alice = graphqlClient(t, url, { connectionParams: { name: 'alice' } });
  const bob = graphqlClient(t, url, { connectionParams: { name: 'bob' } });

  const subscribed = once(pubsub, 'subscribe');
  const feed = alice.iterate({ query: 'subscription { messages { id text author } }' });
  t.teardown(() => feed.return?.());
  const first = feed.next();
  await subscribed;
  t.equal(pubsub.subscriberCount(MESSAGES), 1);

  const posted = await collect(
    bob,
    'mutation { postMessage(text: "hello alice") { id text author } }',
  );
  t.same(posted, [{ data: { postMessage: { id: '1', text: 'hello alice', author: 'bob' } } }]);
  t.same(await first, {
    done: false,
    value: { data: { messages: { id: '1', text: 'hello alice', author: 'bob' } } },
  });

  const tooLong = await collect(
    bob,
    `mutation { postMessage(text: "${'x'.repeat(2001)}") { id } }`,
  );
  t.match(tooLong, [{ errors: [{ message: /text must have/ }] }]);
});

t.test("a client's complete ends that subscription on the server", async (t) => {
  const { url, pubsub } = await startServer(t);
  const client = graphqlClient(t, url);
  const query = 'subscription { messages { id } }';
  const subscribed = new Promise<void>((resolve) => {
    pubsub.on('subscribe', () => {
      if (pubsub.subscriberCount(MESSAGES) === 2) resolve();
    });
  });
  const first = client.iterate({ query });
  const second = client.iterate({ query });
  t.teardown(() => second.return?.());
  void first.next();
  void second.next();
  await subscribed;

  // The socket stays open for `second`: only a `complete` message can end `first`.
  const unsubscribed = once(pubsub, 'unsubscribe');
  await first.return?.();
  await unsubscribed;
  t.equal(pubsub.subscriberCount(MESSAGES), 1);
});

t.test('one socket carries more subscriptions than maxPendingMessages', async (t) => {
  // graphql-ws settles a message's promise only when its operation ends; were the route to
  // return it from onMessage, reading would pause at 64 open subscriptions (the route's
  // maxPendingMessages) and nothing more, not even a complete, would be read.
  const { url, pubsub } = await startServer(t);
  const client = graphqlClient(t, url);
  const count = 70;
  const subscribed = new Promise<void>((resolve) => {
    pubsub.on('subscribe', () => {
      if (pubsub.subscriberCount(MESSAGES) === count) resolve();
    });
  });
  const feeds = Array.from({ length: count }, () =>
    client.iterate({ query: 'subscription { messages { text } }' }),
  );
  t.teardown(() => Promise.all(feeds.map((feed) => feed.return?.())));
  const firsts = feeds.map((feed) => feed.next());
  await subscribed;

  await collect(client, 'mutation { postMessage(text: "to all") { id } }');
  const results = await Promise.all(firsts);
  t.ok(
    results.every((result) => result.value?.data?.messages !== undefined),
    'every subscription received the message',
  );
  const unsubscribed = once(pubsub, 'unsubscribe');
  await feeds[0]?.return?.();
  await unsubscribed;
  t.equal(pubsub.subscriberCount(MESSAGES), count - 1);
});

t.test('a PubSub subscriber that falls behind fails instead of buffering forever', async (t) => {
  const pubsub = new PubSub({ maxQueued: 2 });
  const feed = pubsub.subscribe<number>('n');
  const unsubscribed = once(pubsub, 'unsubscribe');
  t.equal(pubsub.publish('n', 1), 1);
  pubsub.publish('n', 2);
  t.equal(pubsub.publish('n', 3), 0, 'the third payload drops the subscriber');
  await unsubscribed;
  t.same(await feed.next(), { value: 1, done: false }, 'what was queued is still delivered');
  t.same(await feed.next(), { value: 2, done: false });
  await t.rejects(feed.next(), /fell behind/);
  t.same(await feed.next(), { value: undefined, done: true });

  // return() ends a subscriber that waits for its next payload.
  const waiting = pubsub.subscribe<number>('n');
  const next = waiting.next();
  await waiting.return?.();
  t.same(await next, { value: undefined, done: true });
  t.equal(pubsub.subscriberCount('n'), 0);
});

t.test('a client that closes its socket ends its subscriptions on the server', async (t) => {
  const { url, pubsub } = await startServer(t);
  const client = graphqlClient(t, url);
  const subscribed = once(pubsub, 'subscribe');
  const feed = client.iterate({ query: 'subscription { messages { id } }' });
  const ended = feed.next();
  await subscribed;

  const unsubscribed = once(pubsub, 'unsubscribe');
  // dispose() closes the socket with 1000 without completing: the server's onClose must.
  await client.dispose();
  await unsubscribed;
  t.equal(pubsub.subscriberCount(MESSAGES), 0);
  t.same(await ended, { done: true, value: undefined });
});

t.test('clients that do not offer graphql-transport-ws get 400 before any 101', async (t) => {
  const { port, url } = await startServer(t);

  // WS_PROTOCOL_REQUIRED: no Sec-WebSocket-Protocol at all.
  const none = await rawUpgrade(t, port, '');
  t.match(none, /^HTTP\/1\.1 400 Bad Request\r\n/);
  t.match(none, /graphql-transport-ws/, 'the answer names the supported subprotocol');
  t.notMatch(none, /101 Switching Protocols/);

  // WS_PROTOCOL_UNSUPPORTED: only the legacy subscriptions-transport-ws protocol.
  const legacy = await rawUpgrade(t, port, 'Sec-WebSocket-Protocol: graphql-ws\r\n');
  t.match(legacy, /^HTTP\/1\.1 400 Bad Request\r\n/);
  t.match(legacy, /graphql-transport-ws/);
  t.notMatch(legacy, /101 Switching Protocols/);

  // The same through a client: it sees the 400, never an open socket.
  const socket = new WebSocket(url, 'graphql-ws');
  t.teardown(() => {
    socket.terminate();
  });
  socket.on('error', () => {});
  socket.on('open', () => t.fail('the handshake must not succeed'));
  const [, response] = (await once(socket, 'unexpected-response')) as [
    unknown,
    { statusCode: number },
  ];
  t.equal(response.statusCode, 400);

  // A plain GET to the websocket route.
  const plain = await fetch(`http://127.0.0.1:${port}/graphql`);
  t.equal(plain.status, 426);
  t.equal(plain.headers.get('upgrade'), 'websocket');
});

t.test("graphql-ws's own close codes reach the client through our connection", async (t) => {
  const { url } = await startServer(t);

  const early = await rawClient(t, url);
  early.send({ id: '1', type: 'subscribe', payload: { query: '{ hello }' } });
  t.same(await early.closed, [4401, 'Unauthorized'], 'subscribe before connection_init');

  const duplicate = await rawClient(t, url);
  duplicate.send({ type: 'connection_init' });
  t.same(await duplicate.next(), { type: 'connection_ack' });
  // A client-chosen id makes graphql-ws's close reason longer than a close frame can carry.
  const id = 'é'.repeat(100);
  const subscribe = {
    id,
    type: 'subscribe',
    payload: { query: 'subscription { messages { id } }' },
  };
  duplicate.send(subscribe);
  duplicate.send(subscribe);
  const [code, reason] = await duplicate.closed;
  t.equal(code, 4409, 'subscriber already exists, not 4500 from a thrown RangeError');
  t.ok(Buffer.byteLength(reason) <= 123, 'the reason fits a close frame');
  t.match(reason, /^Subscriber for é+$/);

  const binary = await rawClient(t, url);
  binary.socket.send(Buffer.from('{"type":"connection_init"}'));
  t.same((await binary.closed)[0], 1007, 'graphql-transport-ws is text only');
});

t.test('close() ends open subscriptions with 1001', async (t) => {
  const { url, pubsub, close } = await startServer(t);
  const client = graphqlClient(t, url);
  const subscribed = once(pubsub, 'subscribe');
  const unsubscribed = once(pubsub, 'unsubscribe');
  const feed = subscribe(client, 'subscription { messages { id } }');
  await subscribed;

  await close();
  t.match(await feed.ended, { code: 1001 }, 'the client sees Going Away');
  await unsubscribed;
  t.equal(pubsub.subscriberCount(MESSAGES), 0);
});

t.test('graphqlSocket maps send() backpressure onto drained()', async (t) => {
  const sent: string[] = [];
  let isBelowHighWaterMark = true;
  let releaseDrain: () => void = () => {};
  const closes: [number | undefined, string | undefined][] = [];
  const connection: SocketLike = {
    protocol: PROTOCOL,
    send(data) {
      sent.push(data);
      return isBelowHighWaterMark;
    },
    drained: () =>
      new Promise((resolve) => {
        releaseDrain = resolve;
      }),
    close(code, reason) {
      closes.push([code, reason]);
    },
  };
  const { socket, deliver } = graphqlSocket(connection);
  t.equal(socket.protocol, PROTOCOL);

  t.equal(socket.send('a'), undefined, 'no promise to wait for below the high-water mark');
  isBelowHighWaterMark = false;
  const pending = socket.send('b');
  t.type(pending, Promise, 'a promise once send() asks to wait');
  let isSettled = false;
  void Promise.resolve(pending).then(() => {
    isSettled = true;
  });
  await Promise.resolve();
  t.notOk(isSettled, 'not settled before the drain');
  releaseDrain();
  await pending;
  t.same(sent, ['a', 'b']);

  socket.close(4400, 'x'.repeat(200));
  t.same(closes, [[4400, 'x'.repeat(123)]]);

  const received: string[] = [];
  await deliver('before onMessage');
  socket.onMessage(async (data) => {
    received.push(data);
  });
  await deliver('{"type":"ping"}');
  t.same(received, ['{"type":"ping"}']);
});

t.test('server.mjs listens on --port and closes websockets with 1001 on SIGTERM', async (t) => {
  const child: ChildProcess = spawn(process.execPath, [SERVER, '--port', '0'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.teardown(() => {
    child.kill('SIGKILL');
  });
  const exited = once(child, 'exit');
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /listening on (ws:\/\/\S+\/graphql)/.exec(output);
      if (match?.[1]) resolve(match[1]);
    });
    child.once('exit', (code) => reject(new Error(`exited with ${code}: ${output}`)));
  });

  const client = graphqlClient(t, url);
  t.same(await collect(client, '{ hello }'), [{ data: { hello: 'Hello, world!' } }]);
  // countdown(from: 1000) at one value a second outlives the test: the socket stays open.
  const countdown = subscribe(client, 'subscription { countdown(from: 1000) }');
  t.same(await countdown.first, { data: { countdown: 1000 } });

  child.kill('SIGTERM');
  t.match(await countdown.ended, { code: 1001 });
  const [exitCode] = (await exited) as [number | null];
  t.equal(exitCode, 0);
});
