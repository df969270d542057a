import type { Duplex } from 'node:stream';
import t, { type Test } from 'tap';
import { openConnection } from '../src/connection.js';
import { type Connection, ConnectionState } from '../src/connection-types.js';
import { Opcode } from '../src/constants.js';
import { WebSocketError } from '../src/errors.js';
import {
  defineProtocol,
  eraseProtocol,
  jsonCodec,
  type ProtocolLike,
  type RawMessage,
  type WebSocketHandler,
} from '../src/protocol.js';
import { type RouteLimits, resolveLimits } from '../src/route.js';
import {
  clientFrame,
  closePayload,
  deferred,
  duplexPair,
  type FrameSpec,
  WireReader,
  waitForEvent,
  withTimeout,
} from './helpers/wire.js';

type Conn = Connection<{ user: string }>;

interface OpenOptions {
  readonly head?: Buffer;
  /** Buffer size of both in-memory sides. */
  readonly highWaterMark?: number;
}

/** An accepted connection on an in-memory duplex pair, with a reader on the client side. */
function open(
  t: Test,
  protocol: ProtocolLike<{ user: string }>,
  limits: RouteLimits = {},
  options: OpenOptions = {},
) {
  const [server, client] = duplexPair(options.highWaterMark);
  const reader = new WireReader(client);
  t.teardown(() => {
    server.destroy();
    client.destroy();
  });
  const send = (spec: FrameSpec): boolean => client.write(clientFrame(spec));
  const connection: Conn = openConnection(
    {
      socket: server,
      data: { user: 'alice' },
      path: '/',
      protocol: undefined,
      extensions: undefined,
      handlers: eraseProtocol(protocol),
      options: resolveLimits({ heartbeatInterval: 0, ...limits }),
    },
    options.head ?? Buffer.alloc(0),
  ) as Conn;
  return { connection, server, client, reader, send };
}

/** Handlers that record errors and the close, merged with `handler`. */
function recording(handler: WebSocketHandler<{ user: string }> = {}) {
  const errors: unknown[] = [];
  const closed = deferred<{ code: number; reason: string }>();
  const protocol: WebSocketHandler<{ user: string }> = {
    ...handler,
    onError(_connection, error) {
      errors.push(error);
    },
    onClose(_connection, code, reason) {
      closed.resolve({ code, reason });
    },
  };
  return { protocol, errors, closed: () => withTimeout(closed.promise, 'onClose') };
}

const echo: WebSocketHandler<{ user: string }> = {
  onMessage(connection, message) {
    connection.send(message);
  },
};

const text = (payload: string | Buffer, fin = true): FrameSpec => ({
  opcode: Opcode.Text,
  payload,
  fin,
});
const close = (code?: number, reason = ''): FrameSpec => ({
  opcode: Opcode.Close,
  payload: code === undefined ? '' : closePayload(code, reason),
});

/** Asserts the next close frame from the server carries `code`. */
async function expectClose(t: Test, reader: WireReader, code: number | undefined): Promise<void> {
  const frame = await reader.closeFrame();
  t.equal(frame.code, code, `server sent close ${code}`);
}

t.test('echoes text as text and binary as binary', async (t) => {
  const { send, reader } = open(t, echo);
  send(text('hello'));
  send({ opcode: Opcode.Binary, payload: Buffer.from([0, 1, 255]) });
  send(text(''));
  const frames = [await reader.frame(), await reader.frame(), await reader.frame()];
  t.same(
    frames.map((f) => [f.opcode, f.fin, f.isMasked, f.payload.toString('hex')]),
    [
      [Opcode.Text, true, false, Buffer.from('hello').toString('hex')],
      [Opcode.Binary, true, false, '0001ff'],
      [Opcode.Text, true, false, ''],
    ],
  );
});

t.test('hands onMessage a string for text and a Buffer for binary, with typed data', async (t) => {
  const received: RawMessage[] = [];
  const users: string[] = [];
  const { send, reader } = open(t, {
    onMessage(connection, message) {
      received.push(message);
      users.push(connection.data.user);
      connection.send('ack');
    },
  });
  send(text('é'));
  send({ opcode: Opcode.Binary, payload: 'b' });
  await reader.frame();
  await reader.frame();
  t.equal(received[0], 'é');
  t.ok(Buffer.isBuffer(received[1]));
  t.same(users, ['alice', 'alice']);
});

t.test('answers a ping with a pong carrying the same payload and calls onPing', async (t) => {
  const pings: string[] = [];
  const { send, reader } = open(t, { onPing: (_c, payload) => pings.push(payload.toString()) });
  send({ opcode: Opcode.Ping, payload: 'are you there' });
  const pong = await reader.frame();
  t.equal(pong.opcode, Opcode.Pong);
  t.equal(pong.payload.toString(), 'are you there');
  t.same(pings, ['are you there']);
});

t.test('ping() sends a ping; the pong reaches onPong; payloads over 125 bytes throw', async (t) => {
  const pongs = deferred<string>();
  const { connection, send, reader } = open(t, {
    onPong: (_c, payload) => pongs.resolve(payload.toString()),
  });
  connection.ping('p1');
  const ping = await reader.frame();
  t.same([ping.opcode, ping.payload.toString()], [Opcode.Ping, 'p1']);
  send({ opcode: Opcode.Pong, payload: 'p1' });
  t.equal(await withTimeout(pongs.promise, 'onPong'), 'p1');
  t.throws(() => connection.ping(Buffer.alloc(126)), RangeError);
});

t.test('a peer close is answered with its code, then the server ends TCP', async (t) => {
  const rec = recording();
  const { connection, send, reader, client } = open(t, rec.protocol);
  send(close(4000, 'bye'));
  const answer = await reader.closeFrame();
  t.equal(answer.code, 4000, 'echoes the peer code');
  t.equal(answer.reason, '', 'without a reason');
  await reader.ended();
  t.equal(connection.state, ConnectionState.Closing, 'closing until the TCP connection closes');
  t.notOk(connection.isOpen);
  client.end();
  t.same(await rec.closed(), { code: 4000, reason: 'bye' });
  t.equal(connection.state, ConnectionState.Closed);
});

t.test('an empty peer close is answered with an empty close and reported as 1005', async (t) => {
  const rec = recording();
  const { send, reader, client } = open(t, rec.protocol);
  send(close());
  const frame = await reader.frame();
  t.equal(frame.opcode, Opcode.Close);
  t.equal(frame.payload.length, 0, 'no code is sent back: 1005 is never on the wire');
  client.end();
  t.same(await rec.closed(), { code: 1005, reason: '' });
});

t.test('close() sends the code and reason and completes on the peer answer', async (t) => {
  const rec = recording();
  const { connection, send, reader, client } = open(t, rec.protocol);
  connection.close(4001, 'done');
  t.equal(connection.state, ConnectionState.Closing);
  t.notOk(connection.send('dropped'), 'send() after close() is refused');
  const frame = await reader.closeFrame();
  t.same([frame.code, frame.reason, frame.before.length], [4001, 'done', 0]);
  connection.close(1000);
  send(close(4001));
  await reader.ended();
  client.end();
  t.same(await rec.closed(), { code: 4001, reason: '' });
  t.same(rec.errors, []);
});

t.test('destroys the socket when the peer never answers within closeTimeout', async (t) => {
  const rec = recording();
  const { connection, server, reader } = open(t, rec.protocol, { closeTimeout: 50 });
  const started = Date.now();
  connection.close(1000);
  await expectClose(t, reader, 1000);
  await waitForEvent(server, 'close');
  t.ok(Date.now() - started >= 45, 'not before the timeout');
  t.ok(server.destroyed);
  await rec.closed();
});

t.test('destroys the socket when the peer keeps TCP open after the handshake', async (t) => {
  const { send, server, reader } = open(t, echo, { closeTimeout: 50 });
  send(close(1000));
  await expectClose(t, reader, 1000);
  await reader.ended();
  await waitForEvent(server, 'close');
  t.ok(server.destroyed, 'the close timer destroyed the half-open socket');
});

t.test('close() refuses invalid codes and reasons over 123 UTF-8 bytes', async (t) => {
  const { connection, reader } = open(t, echo);
  for (const code of [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 1000.5]) {
    t.throws(() => connection.close(code), RangeError, `code ${code}`);
  }
  t.throws(() => connection.close(1000, '€'.repeat(42)), RangeError, '42 × € is 126 bytes');
  t.equal(connection.state, ConnectionState.Open, 'a refused close() changes nothing');
  connection.close(3000, '€'.repeat(41));
  const frame = await reader.closeFrame();
  t.equal(frame.code, 3000);
  t.equal(frame.reason, '€'.repeat(41), '123 bytes are sent intact');
});

t.test('a throwing handler reaches onError and closes with 1011', async (t) => {
  const failure = new Error('boom');
  const rec = recording({
    onMessage() {
      throw failure;
    },
  });
  const { send, reader } = open(t, rec.protocol);
  send(text('x'));
  await expectClose(t, reader, 1011);
  t.same(rec.errors, [failure]);
});

t.test('a rejected async handler reaches onError and closes with 1011', async (t) => {
  const failure = new Error('async boom');
  const rec = recording({
    async onMessage() {
      await Promise.resolve();
      throw failure;
    },
  });
  const { send, reader } = open(t, rec.protocol);
  send(text('x'));
  await expectClose(t, reader, 1011);
  t.same(rec.errors, [failure]);
});

t.test('an onError hook that throws does not break the connection teardown', async (t) => {
  const closed = deferred<number>();
  const { send, reader, client } = open(t, {
    onMessage() {
      throw new Error('first');
    },
    onError() {
      throw new Error('second');
    },
    onClose: (_c, code) => closed.resolve(code),
  });
  send(text('x'));
  await expectClose(t, reader, 1011);
  client.end();
  t.equal(await withTimeout(closed.promise, 'onClose'), 1011);
});

interface Ping {
  readonly text: string;
}
const isPing = (message: unknown): message is Ping =>
  typeof message === 'object' &&
  message !== null &&
  typeof (message as { text?: unknown }).text === 'string';

t.test('a typed JSON protocol decodes, validates and encodes', async (t) => {
  const protocol = defineProtocol<{ user: string }, Ping, { echo: string; user: string }>({
    codec: jsonCodec(),
    validate: isPing,
    handler: {
      onMessage(connection, message) {
        connection.send({ echo: message.text, user: connection.data.user });
      },
    },
  });
  const { send, reader } = open(t, protocol);
  send(text('{"text":"hi"}'));
  const frame = await reader.frame();
  t.equal(frame.opcode, Opcode.Text);
  t.same(JSON.parse(frame.payload.toString()), { echo: 'hi', user: 'alice' });
});

t.test('a message the codec cannot decode closes with 1007', async (t) => {
  const errors: unknown[] = [];
  const protocol = defineProtocol<{ user: string }, Ping, Ping>({
    codec: jsonCodec(),
    handler: { onError: (_c, error) => errors.push(error) },
  });
  for (const spec of [text('not json'), { opcode: Opcode.Binary, payload: '{}' }]) {
    const { send, reader } = open(t, protocol);
    send(spec);
    await expectClose(t, reader, 1007);
  }
  t.equal(errors.length, 2);
  t.ok(errors[0] instanceof WebSocketError);
  t.match(errors[0], { code: 'WS_DECODE_FAILED', closeCode: 1007 });
  t.ok((errors[0] as Error).cause instanceof SyntaxError, 'the codec error is the cause');
});

t.test(
  'a message failing validation closes with 1008; a throwing validator with 1011',
  async (t) => {
    const errors: unknown[] = [];
    const strict = defineProtocol<{ user: string }, Ping, Ping>({
      codec: jsonCodec(),
      validate: isPing,
      handler: {
        onMessage() {
          t.fail('never delivered');
        },
        onError: (_c, e) => errors.push(e),
      },
    });
    const first = open(t, strict);
    first.send(text('{"nope":1}'));
    await expectClose(t, first.reader, 1008);
    t.match(errors[0], { code: 'WS_VALIDATION_FAILED', closeCode: 1008 });

    const throwing = defineProtocol<{ user: string }, Ping, Ping>({
      codec: jsonCodec(),
      validate: () => {
        throw new Error('validator bug');
      },
      handler: {},
    });
    const second = open(t, throwing);
    second.send(text('{}'));
    await expectClose(t, second.reader, 1011);
  },
);

t.test(
  'a protocol violation closes with the parser code and reports a WebSocketError',
  async (t) => {
    const rec = recording(echo);
    const { send, reader } = open(t, rec.protocol);
    send({ opcode: Opcode.Text, payload: 'unmasked', maskKey: null });
    await expectClose(t, reader, 1002);
    t.match(rec.errors, [{ name: 'WebSocketError', code: 'WS_UNMASKED_FRAME', closeCode: 1002 }]);
  },
);

t.test('an async onOpen holds messages until it resolves, losing none', async (t) => {
  const opened = deferred();
  const received: RawMessage[] = [];
  const head = Buffer.concat([clientFrame(text('one')), clientFrame(text('two'))]);
  const { send, server, reader } = open(
    t,
    {
      onOpen: () => opened.promise,
      onMessage(connection, message) {
        received.push(message);
        connection.send(message);
      },
    },
    {},
    { head },
  );
  send(text('three'));
  t.ok(server.isPaused(), 'reading is paused while onOpen runs');
  t.same(received, [], 'nothing delivered before onOpen resolves');
  opened.resolve();
  const echoed = [await reader.frame(), await reader.frame(), await reader.frame()];
  t.same(
    echoed.map((f) => f.payload.toString()),
    ['one', 'two', 'three'],
  );
  t.same(received, ['one', 'two', 'three']);
});

t.test(
  'reading resumes after an async onOpen even if its held messages filled the inbox',
  async (t) => {
    const opened = deferred();
    const big = 'x'.repeat(600);
    const head = Buffer.concat([1, 2, 3].map(() => clientFrame(text(big))));
    const { send, reader } = open(
      t,
      { onOpen: () => opened.promise, ...echo },
      { inboxHighWaterMark: 1024 },
      { head },
    );
    opened.resolve();
    for (let i = 0; i < 3; i++) await reader.frame();
    send(text('after'));
    t.equal((await reader.frame()).payload.toString(), 'after');
  },
);

t.test('a rejected async onOpen closes with 1011 and still completes the handshake', async (t) => {
  const failure = new Error('open failed');
  const rec = recording({ onOpen: () => Promise.reject(failure) });
  const { send, reader, client } = open(t, rec.protocol, { closeTimeout: 60_000 });
  await expectClose(t, reader, 1011);
  send(close(1011));
  await reader.ended(2000);
  client.end();
  t.same(await rec.closed(), { code: 1011, reason: '' });
  t.same(rec.errors, [failure]);
});

t.test('messages() yields decoded messages in order and ends on close', async (t) => {
  const received: RawMessage[] = [];
  const done = deferred();
  const { send, client } = open(t, {
    onOpen(connection) {
      void (async () => {
        for await (const message of connection.messages()) received.push(message);
        done.resolve();
      })();
    },
  });
  send(text('a'));
  send({ opcode: Opcode.Binary, payload: 'b' });
  send(close(1000));
  client.end();
  await withTimeout(done.promise, 'iteration end');
  t.equal(received[0], 'a');
  t.same(received[1], Buffer.from('b'));
  t.equal(received.length, 2);
});

t.test('messages() pauses the socket while the consumer lags and resumes after', async (t) => {
  let iterator: AsyncIterableIterator<RawMessage> | undefined;
  const { send, server } = open(
    t,
    {
      onOpen: (connection) => {
        iterator = connection.messages();
      },
    },
    { inboxHighWaterMark: 1024 },
  );
  const payloads = ['a', 'b', 'c', 'd', 'e'].map((c) => c.repeat(600));
  const paused = waitForEvent(server, 'pause');
  for (const payload of payloads) send(text(payload));
  await paused;
  t.ok(server.isPaused(), 'paused once the inbox holds 1 KiB');
  const resumed = waitForEvent(server, 'resume');
  const received: string[] = [];
  for (let i = 0; i < payloads.length; i++) {
    const next = await withTimeout(iterator!.next(), 'next message');
    received.push(String(next.value));
  }
  t.same(received, payloads, 'every message, in order');
  await resumed;
  t.notOk(server.isPaused(), 'resumed once the consumer caught up');
});

t.test('async onMessage calls beyond maxPendingMessages pause reading', async (t) => {
  const gates: Array<() => void> = [];
  const arrivals = [deferred(), deferred(), deferred()];
  const { send, server, reader } = open(
    t,
    {
      onMessage(connection, message) {
        return new Promise<void>((resolve) => {
          gates.push(() => {
            connection.send(message);
            resolve();
          });
          arrivals[gates.length - 1]?.resolve();
        });
      },
    },
    { maxPendingMessages: 2 },
  );
  const paused = waitForEvent(server, 'pause');
  send(text('1'));
  send(text('2'));
  await withTimeout(arrivals[1]!.promise, 'two handlers');
  await paused;
  t.ok(server.isPaused(), 'paused with two handlers pending');
  send(text('3'));
  const resumed = waitForEvent(server, 'resume');
  gates[0]!();
  gates[1]!();
  await resumed;
  t.notOk(server.isPaused(), 'resumed once they settle');
  t.same(
    [await reader.frame(), await reader.frame()].map((f) => f.payload.toString()),
    ['1', '2'],
  );
  await withTimeout(arrivals[2]!.promise, 'third handler');
  gates[2]!();
  t.equal((await reader.frame()).payload.toString(), '3');
});

t.test('close() completes promptly even while a lagging consumer paused reading', async (t) => {
  let iterator: AsyncIterableIterator<RawMessage> | undefined;
  const rec = recording({
    onOpen: (connection) => {
      iterator = connection.messages();
    },
  });
  const { connection, send, server, reader, client } = open(t, rec.protocol, {
    inboxHighWaterMark: 100,
    closeTimeout: 60_000,
  });
  const paused = waitForEvent(server, 'pause');
  send(text('x'.repeat(200)));
  send(text('y'.repeat(200)));
  await paused;
  connection.close(1000);
  await expectClose(t, reader, 1000);
  send(close(1000));
  await reader.ended(2000);
  client.end();
  t.equal((await rec.closed()).code, 1000);
  t.equal((await iterator!.next()).value, 'x'.repeat(200), 'held messages stay readable');
});

/** Sends 2000-byte messages until send() returns false; returns how many were sent. */
function fill(connection: Conn, limit = 1000): string[] {
  const sent: string[] = [];
  for (let i = 0; i < limit; i++) {
    const message = `${i}:`.padEnd(2000, String.fromCharCode(97 + (i % 26)));
    sent.push(message);
    if (!connection.send(message)) return sent;
  }
  throw new Error('send() never reported backpressure');
}

async function readTexts(reader: WireReader, count: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < count; i++) out.push((await reader.frame()).payload.toString());
  return out;
}

t.test('send() returns false above sendHighWaterMark; onDrain and drained() follow', async (t) => {
  const drains = deferred();
  const { connection, client, reader } = open(
    t,
    { onDrain: () => drains.resolve() },
    { sendHighWaterMark: 4096 },
    { highWaterMark: 1024 },
  );
  client.pause();
  const sent = fill(connection);
  t.ok(connection.bufferedAmount >= 4096, `bufferedAmount ${connection.bufferedAmount}`);
  let isDrained = false;
  const drained = connection.drained().then(() => {
    isDrained = true;
  });
  await new Promise((resolve) => setImmediate(resolve));
  t.notOk(isDrained, 'drained() waits while above the mark');
  client.resume();
  await withTimeout(drains.promise, 'onDrain');
  await withTimeout(drained, 'drained()');
  t.ok(connection.bufferedAmount < 4096);
  t.same(await readTexts(reader, sent.length), sent, 'nothing lost or reordered');
  t.equal(connection.bufferedAmount, 0);
});

t.test('onDrain fires even when sendHighWaterMark is below the socket buffer size', async (t) => {
  const drains = deferred();
  const { connection, client, reader } = open(
    t,
    { onDrain: () => drains.resolve() },
    { sendHighWaterMark: 1024 },
    { highWaterMark: 64 * 1024 },
  );
  client.pause();
  const sent = fill(connection);
  const drained = connection.drained();
  client.resume();
  await withTimeout(drains.promise, 'onDrain');
  await withTimeout(drained, 'drained()');
  t.same(await readTexts(reader, sent.length), sent);
});

t.test('bufferedAmount counts frames gathered in the current batch', async (t) => {
  const amounts: number[] = [];
  const { send, reader } = open(t, {
    onMessage(connection) {
      const before = connection.bufferedAmount;
      connection.send('x'.repeat(100));
      amounts.push(connection.bufferedAmount - before);
    },
  });
  send(text('go'));
  await reader.frame();
  t.same(amounts, [102], 'a 2-byte header and 100 bytes of payload');
});

t.test('drained() resolves at once below the mark and when the connection closes', async (t) => {
  const { connection, client, server } = open(
    t,
    {},
    { sendHighWaterMark: 1024 },
    { highWaterMark: 1024 },
  );
  await withTimeout(connection.drained(), 'drained below the mark');
  client.pause();
  fill(connection);
  const drained = connection.drained();
  connection.terminate();
  await waitForEvent(server, 'close');
  await withTimeout(drained, 'drained() on close');
  t.pass();
});

t.test('the heartbeat pings and terminates a peer that stays silent', async (t) => {
  const rec = recording();
  const { reader, server } = open(t, rec.protocol, { heartbeatInterval: 30 });
  const ping = await reader.frame();
  t.equal(ping.opcode, Opcode.Ping);
  await waitForEvent(server, 'close');
  t.same(await rec.closed(), { code: 1006, reason: '' });
  t.match(rec.errors, [{ code: 'WS_HEARTBEAT_TIMEOUT' }]);
});

t.test('the heartbeat keeps a peer that answers its pings', async (t) => {
  const { connection, reader, send } = open(t, {}, { heartbeatInterval: 20 });
  for (let i = 0; i < 4; i++) {
    const ping = await reader.frame();
    t.equal(ping.opcode, Opcode.Ping);
    send({ opcode: Opcode.Pong, payload: ping.payload });
  }
  t.ok(connection.isOpen, 'still open after four intervals');
});

t.test('the heartbeat spares a peer whose pongs sit unread while reading is paused', async (t) => {
  let iterator: AsyncIterableIterator<RawMessage> | undefined;
  const { connection, reader, send, server } = open(
    t,
    {
      onOpen: (c) => {
        iterator = c.messages();
      },
    },
    { heartbeatInterval: 20, inboxHighWaterMark: 100 },
  );
  const paused = waitForEvent(server, 'pause');
  send(text('x'.repeat(200)));
  await paused;
  for (let i = 0; i < 4; i++) {
    const ping = await reader.frame();
    t.equal(ping.opcode, Opcode.Ping);
    send({ opcode: Opcode.Pong, payload: ping.payload });
  }
  t.ok(server.isPaused(), 'reading stayed paused by the lagging consumer');
  t.ok(connection.isOpen, 'still open after four intervals');
  t.equal((await iterator!.next()).value, 'x'.repeat(200));
});

t.test(
  'reading pauses past outputHighWaterMark and resumes once half of it is written',
  async (t) => {
    const { connection, client, server, reader } = open(
      t,
      {},
      { sendHighWaterMark: 1024, outputHighWaterMark: 8192 },
      { highWaterMark: 1024 },
    );
    client.pause();
    const paused = waitForEvent(server, 'pause');
    // A handler that ignores send()'s result: 16 KiB queued while the peer reads nothing.
    for (let i = 0; i < 8; i++) connection.send('x'.repeat(2000));
    await paused;
    t.ok(server.isPaused(), 'the connection stopped reading from the peer');
    const resumed = waitForEvent(server, 'resume');
    client.resume();
    await resumed;
    t.ok(connection.bufferedAmount < 4096, 'reading resumed below half the limit');
    t.same(
      (await readTexts(reader, 8)).map((message) => message.length),
      Array.from({ length: 8 }, () => 2000),
      'every message arrived',
    );
  },
);

t.test(
  'pings that arrive while the socket is backed up get one pong, for the latest (RFC 6455 §5.5.3), before the close frame',
  async (t) => {
    const { connection, client, send, reader } = open(
      t,
      {},
      { sendHighWaterMark: 1024 },
      { highWaterMark: 1024 },
    );
    client.pause();
    const big = 'x'.repeat(8000);
    connection.send(big);
    for (const payload of ['a', 'b', 'c']) send({ opcode: Opcode.Ping, payload });
    send(close(1000));
    // The client reads again only once the server has read the pings and the close frame.
    await withTimeout(
      (async () => {
        while (connection.state === 'open') await new Promise((r) => setImmediate(r));
      })(),
      'the close frame read',
    );
    client.resume();
    const frames = [await reader.frame(), await reader.frame(), await reader.frame()];
    t.same(
      frames.map((f) => [
        f.opcode,
        f.opcode === Opcode.Text ? f.payload.length : f.payload.toString(),
      ]),
      [
        [Opcode.Text, 8000],
        [Opcode.Pong, 'c'],
        [Opcode.Close, closePayload(1000).toString()],
      ],
    );
  },
);

t.test('the heartbeat terminates a peer that reads nothing while output waits', async (t) => {
  const rec = recording();
  const { connection, client, server } = open(
    t,
    rec.protocol,
    { heartbeatInterval: 30, sendHighWaterMark: 1024, outputHighWaterMark: 4096 },
    { highWaterMark: 1024 },
  );
  client.pause();
  for (let i = 0; i < 8; i++) connection.send('x'.repeat(2000));
  t.ok(server.isPaused(), 'reading paused for output');
  await waitForEvent(server, 'close');
  t.same(await rec.closed(), { code: 1006, reason: '' });
  t.match(rec.errors, [{ code: 'WS_HEARTBEAT_TIMEOUT' }]);
});

t.test('idleTimeout closes with 1001 when no message arrives', async (t) => {
  const rec = recording();
  const { reader } = open(t, rec.protocol, { idleTimeout: 40 });
  const frame = await reader.closeFrame();
  t.same([frame.code, frame.reason], [1001, 'idle timeout']);
  t.match(rec.errors, [{ code: 'WS_IDLE_TIMEOUT', closeCode: 1001 }]);
});

t.test('terminate() and a TCP end without a close frame report 1006', async (t) => {
  const first = recording();
  const { connection } = open(t, first.protocol);
  connection.terminate();
  t.same(await first.closed(), { code: 1006, reason: '' });

  const second = recording();
  const { client, reader } = open(t, second.protocol);
  client.end();
  await reader.ended();
  t.same(await second.closed(), { code: 1006, reason: '' });
});

t.test('start() parses the bytes that came with the handshake', async (t) => {
  const head = Buffer.concat([clientFrame(text('early')), clientFrame(text('bird'))]);
  const { reader } = open(t, echo, {}, { head });
  t.same(
    [await reader.frame(), await reader.frame()].map((f) => f.payload.toString()),
    ['early', 'bird'],
  );
});

t.test('exposes protocol, extensions and remoteAddress', async (t) => {
  const [server, client] = duplexPair();
  t.teardown(() => {
    server.destroy();
    client.destroy();
  });
  const connection = openConnection(
    {
      socket: server as Duplex,
      data: undefined,
      path: '/rooms/1',
      protocol: 'chat',
      extensions: undefined,
      handlers: eraseProtocol({}),
      options: resolveLimits({ heartbeatInterval: 0 }),
    },
    Buffer.alloc(0),
  );
  t.equal(connection.path, '/rooms/1');
  t.equal(connection.protocol, 'chat');
  t.equal(connection.extensions, '');
  t.equal(connection.remoteAddress, undefined, 'not a TCP socket');
});

t.test('closes with 1009 when held incoming bytes exceed maxBufferedBytes', async (t) => {
  let iterator: AsyncIterableIterator<RawMessage> | undefined;
  const rec = recording({
    onOpen: (connection) => {
      // A consumer that never reads: messages stay held in the inbox.
      iterator = connection.messages();
    },
  });
  const { send, reader } = open(t, rec.protocol, {
    inboxHighWaterMark: 64 * 1024,
    maxBufferedBytes: 4096,
  });
  for (let i = 0; i < 3; i++) send(text('z'.repeat(2000)));
  await expectClose(t, reader, 1009);
  const error = rec.errors.find((e) => e instanceof WebSocketError);
  t.ok(error instanceof WebSocketError && error.code === 'WS_BUFFER_OVERFLOW');
  t.equal(rec.errors.length, 1, 'reported once');
  t.ok(iterator);
});

t.test(
  'a rejected promise from onPing, onDrain or onClose reaches onError, never the process',
  async (t) => {
    const failure = new Error('async handler failure');
    const rec = recording({
      onPing: async () => {
        throw failure;
      },
    });
    const { send, reader } = open(t, rec.protocol);
    send({ opcode: Opcode.Ping, payload: Buffer.from('p') });
    await expectClose(t, reader, 1011);
    t.equal(rec.errors[0], failure);

    const errors: unknown[] = [];
    const closed = deferred<void>();
    const late = open(t, {
      onError(_connection, error) {
        errors.push(error);
        closed.resolve();
      },
      onClose: async () => {
        throw failure;
      },
    });
    late.connection.terminate();
    await withTimeout(closed.promise, 'onError after onClose');
    t.same(errors, [failure]);
  },
);
