/**
 * The client in Node with undici's WebSocket against core's `WebSocketServer` over real
 * sockets: negotiation by contract, typed messages both ways, the token carrier, validation
 * failures, close codes, the async iterator.
 */
import type { AnyContract } from '@wsroute/contract';
import t, { type Test } from 'tap';
import { WebSocket } from 'undici';
import { connect } from '../src/client.js';
import type { Client, ConnectOptions } from '../src/client-types.js';
import { ClientCloseCode } from '../src/close-info.js';
import type { ClientError } from '../src/errors.js';
import { chatText, chatV2, raw, slow } from './fixtures/contracts.js';
import { nextEvent, take, withTimeout } from './helpers/events.js';
import { startCoreServer } from './helpers/servers.js';

/** Connects with undici's WebSocket; the client is closed on teardown. */
async function open<const Cs extends readonly [AnyContract, ...AnyContract[]]>(
  t: Test,
  url: string,
  contracts: Cs,
  options: ConnectOptions = {},
): Promise<Client<Cs>> {
  const client = await withTimeout(connect(url, contracts, { WebSocket, ...options }), 'connect');
  t.teardown(() => void client.close().catch(() => {}));
  return client;
}

t.test('negotiates the first offered contract the server supports', async (t) => {
  const { url, wss } = await startCoreServer(t);
  const client = await open(t, url, [chatV2, chatText]);
  t.equal(client.protocol, 'chat.v2');
  t.equal(client.state, 'open');
  t.same(client.offered, ['chat.v2', 'chat']);
  t.equal(wss.connections.size, 1);

  const other = await open(t, url, [chatText, chatV2]);
  t.equal(other.protocol, 'chat', 'client order decides');
});

t.test('sends and receives typed messages, narrowed by the protocol', async (t) => {
  const { url } = await startCoreServer(t);
  const client = await open(t, url, [chatV2, chatText]);
  if (client.protocol !== 'chat.v2') throw new Error(`negotiated ${client.protocol}`);
  const messages = client.messages();
  t.ok(client.send({ type: 'say', text: 'hello' }));
  t.same(await take(messages, 1), [{ type: 'said', from: 'anonymous', text: 'hello' }]);

  const plain = await open(t, url, [chatText]);
  const received = new Promise<string>((resolve) => plain.onMessage(resolve));
  plain.send('hi');
  t.equal(await withTimeout(received, 'text answer'), 'anonymous: hi');
});

t.test('offers the token after the contracts; the server reads the user from it', async (t) => {
  const { url } = await startCoreServer(t);
  const client = await open(t, url, [chatV2], { token: 'alice:s3cret' });
  if (client.protocol !== 'chat.v2') throw new Error(`negotiated ${client.protocol}`);
  const messages = client.messages();
  client.send({ type: 'say', text: 'hi' });
  t.same(await take(messages, 1), [{ type: 'said', from: 'alice:s3cret', text: 'hi' }]);

  let calls = 0;
  const refreshed = await open(t, url, [chatText], { token: async () => `bob${++calls}` });
  const answer = new Promise<string>((resolve) => refreshed.onMessage(resolve));
  refreshed.send('x');
  t.equal(await withTimeout(answer, 'answer'), 'bob1: x', 'a token function is awaited');
});

t.test('raw contracts send strings as text and bytes as binary', async (t) => {
  const { url } = await startCoreServer(t);
  const client = await open(t, url, [raw]);
  const messages = client.messages();
  client.send('text');
  client.send(new Uint8Array([1, 2, 3]));
  const [echoText, kindText, echoBytes, kindBytes] = await take(messages, 4);
  t.equal(echoText, 'text');
  t.equal(kindText, 'text');
  t.same(echoBytes, new Uint8Array([1, 2, 3]));
  t.ok(echoBytes instanceof Uint8Array, 'binary arrives as a Uint8Array');
  t.equal(kindBytes, 'binary');
  t.throws(() => client.send(42 as unknown as string), TypeError, 'neither text nor bytes');
});

t.test('delivers in arrival order while async validations settle out of order', async (t) => {
  const { url } = await startCoreServer(t);
  const client = await open(t, url, [slow]);
  const delays = [40, 0, 25, 5, 0, 15];
  const seen: number[] = [];
  client.onMessage((message) => seen.push(message.n));
  const messages = client.messages();
  client.send({ send: delays.map((delay, n) => ({ n, delay })) });
  const received = await take(messages, delays.length);
  t.same(
    received.map((message) => message.n),
    [0, 1, 2, 3, 4, 5],
  );
  t.same(seen, [0, 1, 2, 3, 4, 5], 'listeners see the same order');
});

t.test('an invalid message: error event, close 4008, nothing after it', async (t) => {
  const { url } = await startCoreServer(t);
  const client = await open(t, url, [slow]);
  const seen: number[] = [];
  client.onMessage((message) => seen.push(message.n));
  const error = nextEvent(client, 'error');
  client.send({
    send: [
      { n: 0, delay: 20 },
      { n: -1, delay: 0 },
      { n: 2, delay: 0 },
    ],
  });
  const failure: ClientError = await error;
  t.equal(failure.code, 'INVALID_MESSAGE');
  t.match(failure.issues, [{ message: 'n must be a non-negative number', path: ['n'] }]);
  t.same(failure.data, { n: -1, delay: 0 });
  const closed = await withTimeout(client.closed, 'close');
  // The close event reports the server's answer: core echoes the code, not the reason.
  t.equal(closed.code, ClientCloseCode.INVALID_MESSAGE);
  t.equal(closed.willReconnect, false);
  t.same(seen, [0], 'the message before it was delivered, none after it');
  t.equal(client.state, 'closed');
});

t.test("invalidMessage: 'skip' reports and drops the message", async (t) => {
  const { url } = await startCoreServer(t);
  const client = await open(t, url, [slow], { invalidMessage: 'skip' });
  const errors: string[] = [];
  client.on('error', (error) => errors.push(error.code));
  const messages = client.messages();
  client.send({
    send: [
      { n: 0, delay: 0 },
      { n: -1, delay: 0 },
      { n: 2, delay: 0 },
    ],
  });
  t.same(
    (await take(messages, 2)).map((message) => message.n),
    [0, 2],
  );
  t.same(errors, ['INVALID_MESSAGE']);
  t.equal(client.state, 'open');
});

t.test('an undecodable message closes with 4007', async (t) => {
  const { url } = await startCoreServer(t, 0, {
    '/bad': { protocols: { 'chat.v2': { onOpen: (connection) => void connection.send('{') } } },
  });
  const client = await open(t, url.replace('/chat', '/bad'), [chatV2]);
  const error = await nextEvent(client, 'error');
  t.equal(error.code, 'DECODE_FAILED');
  t.type(error.cause, SyntaxError);
  t.equal((await withTimeout(client.closed, 'close')).code, ClientCloseCode.DECODE_FAILED);
});

t.test('close codes and reasons arrive as CloseInfo with their names', async (t) => {
  const { url, wss } = await startCoreServer(t);
  const client = await open(t, url, [chatText]);
  const [connection] = wss.connections;
  connection?.close(1008, 'go away');
  const closed = await withTimeout(client.closed, 'close');
  t.match(closed, { code: 1008, reason: 'go away', wasClean: true, name: 'POLICY_VIOLATION' });

  const mine = await open(t, url, [chatText]);
  const ended = await withTimeout(mine.close(4000, 'bye'), 'own close');
  t.match(ended, { code: 4000, wasClean: true, name: undefined }, "the server's echo");
  t.throws(() => mine.close(1008), RangeError, 'a browser may not send 1008');
  t.throws(() => mine.close(1000, 'é'.repeat(62)), RangeError, 'reason over 123 bytes');
});

t.test('the iterator ends when the client ends; send() is false after it', async (t) => {
  const { url } = await startCoreServer(t);
  const client = await open(t, url, [chatText]);
  const messages = client.messages();
  await client.close();
  t.same(await withTimeout(messages.next(), 'end'), { value: undefined, done: true });
  t.same(await withTimeout(client.messages().next(), 'late iterator'), {
    value: undefined,
    done: true,
  });
  t.equal(client.send('late'), false);
});

t.test('messages that arrive before any consumer are held for the first one', async (t) => {
  const { url } = await startCoreServer(t, 0, {
    '/greet': {
      protocols: {
        chat: {
          onOpen(connection) {
            connection.send('one');
            connection.send('two');
          },
        },
      },
    },
  });
  const client = await open(t, url.replace('/chat', '/greet'), [chatText]);
  await new Promise((resolve) => setTimeout(resolve, 50));
  t.same(await take(client.messages(), 2), ['one', 'two']);
});

t.test('a refused handshake rejects with HANDSHAKE_FAILED and its close', async (t) => {
  const { url } = await startCoreServer(t);
  const error = await connect(url.replace('/chat', '/nowhere'), [chatText], { WebSocket }).then(
    () => undefined,
    (reason: ClientError) => reason,
  );
  t.equal(error?.code, 'HANDSHAKE_FAILED');
  t.equal(error?.close?.code, 1006);
});

t.test('bad configuration throws synchronously', async (t) => {
  const url = 'ws://127.0.0.1:9/chat';
  t.throws(() => connect(url, [] as unknown as [typeof chatText]), TypeError);
  t.throws(() => connect(url, [chatText, chatText], { WebSocket }), TypeError);
  t.throws(() => connect(url, [chatText], { WebSocket, token: '' }), TypeError);
  t.throws(
    () => connect(url, [chatText], { WebSocket, token: 'x', tokenPrefix: 'a b' }),
    TypeError,
  );
  t.throws(() => connect(url, [chatText], { WebSocket, reconnect: { jitter: 2 } }), RangeError);
  t.throws(() => connect(url, [chatText]), TypeError, 'no global WebSocket on Node 20');
});
