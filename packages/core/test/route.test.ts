import t, { type Test } from 'tap';
import { Opcode } from '../src/constants.js';
import { isHandshakeError } from '../src/errors.js';
import type { WebSocketServer } from '../src/node-server.js';
import { defineProtocol, jsonCodec, type WebSocketHandler } from '../src/protocol.js';
import {
  createRoute,
  negotiate,
  type ProtocolSelector,
  type RouteOptions,
  resolveLimits,
} from '../src/route.js';
import { type Exchange, exchange, serve } from './helpers/serve.js';
import { headerValues, SAMPLE_KEY, upgradeRequest } from './helpers/wire.js';

/** A handler that greets with its name, so the test sees which protocol's handler runs. */
function named(name: string): WebSocketHandler<unknown> {
  return {
    onOpen(connection) {
      connection.send(`${name}:${connection.protocol ?? '(none)'}`);
    },
  };
}

const selectUnoffered: ProtocolSelector = () => 'b';
const selectUnofferedAsync: ProtocolSelector = async () => 'sneaky';

function routes(wss: WebSocketServer): void {
  wss.route('/ab', { protocols: { a: named('a'), b: named('b') } });
  wss.route('/default', { protocols: { a: named('a') }, defaultProtocol: named('default') });
  wss.route('/lenient', {
    protocols: { a: named('a') },
    defaultProtocol: named('default'),
    unsupportedProtocol: 'accept',
  });
  wss.route('/custom-sync', {
    protocols: { a: named('a'), b: named('b') },
    selectProtocol: selectUnoffered,
  });
  wss.route('/custom-async', {
    protocols: { a: named('a') },
    selectProtocol: selectUnofferedAsync,
  });
  wss.route('/custom-last', {
    protocols: { a: named('a'), b: named('b') },
    selectProtocol: async (offered, supported) =>
      [...offered].reverse().find((p) => supported.includes(p)),
  });
  wss.route('/custom-throws', {
    protocols: { a: named('a') },
    selectProtocol: () => {
      throw new Error('selector bug');
    },
  });
}

/** Opens `path` offering `protocols` (one header line per element of the outer array). */
async function offer(
  t: Test,
  port: number,
  path: string,
  lines: readonly string[] | null,
): Promise<Exchange> {
  return exchange(t, port, upgradeRequest(path, { 'Sec-WebSocket-Protocol': lines }));
}

/** Asserts a 101 with exactly the expected protocol header (or none) and the handler greeting. */
async function expectAccepted(
  t: Test,
  answer: Exchange,
  protocol: string | undefined,
  greeting: string,
): Promise<void> {
  t.equal(answer.head.status, 101);
  t.same(
    headerValues(answer.head, 'sec-websocket-protocol'),
    protocol === undefined ? [] : [protocol],
    protocol === undefined ? 'no Sec-WebSocket-Protocol' : `exactly one header: ${protocol}`,
  );
  const frame = await answer.reader.frame();
  t.equal(frame.payload.toString(), greeting, 'the selected protocol handler runs');
}

/** Asserts a refusal and that no protocol header was answered. */
function expectRefused(t: Test, answer: Exchange, status: number): void {
  t.equal(answer.head.status, status);
  t.same(headerValues(answer.head, 'sec-websocket-protocol'), [], 'no protocol answered');
}

t.test('subprotocol negotiation through the server', async (t) => {
  const { port } = await serve(t, routes);

  t.test('the client order wins over the route order', async (t) => {
    await expectAccepted(t, await offer(t, port, '/ab', ['b, a']), 'b', 'b:b');
    await expectAccepted(t, await offer(t, port, '/ab', ['a,b']), 'a', 'a:a');
    await expectAccepted(t, await offer(t, port, '/ab', ['x, b']), 'b', 'b:b');
  });

  t.test('several header lines form one list', async (t) => {
    await expectAccepted(t, await offer(t, port, '/ab', ['x', 'y, b', 'a']), 'b', 'b:b');
  });

  t.test('a duplicate protocol is refused with 400', async (t) => {
    expectRefused(t, await offer(t, port, '/ab', ['a, a']), 400);
    const split = await offer(t, port, '/ab', ['a', 'a']);
    expectRefused(t, split, 400);
    t.match(split.body, /duplicate/);
  });

  t.test('an invalid token or an empty element is refused with 400', async (t) => {
    expectRefused(t, await offer(t, port, '/ab', ['a b']), 400);
    expectRefused(t, await offer(t, port, '/ab', ['a;b']), 400);
    expectRefused(t, await offer(t, port, '/ab', ['a,,b']), 400);
    expectRefused(t, await offer(t, port, '/ab', ['"a"']), 400);
  });

  t.test('none offered: the default protocol, else 400 naming the supported ones', async (t) => {
    await expectAccepted(t, await offer(t, port, '/default', null), undefined, 'default:(none)');
    const strict = await offer(t, port, '/ab', null);
    expectRefused(t, strict, 400);
    t.match(strict.body, /a, b/);
  });

  t.test('none supported: 400 naming the supported protocols', async (t) => {
    const answer = await offer(t, port, '/ab', ['x, y']);
    expectRefused(t, answer, 400);
    t.equal(answer.body, 'Unsupported subprotocol; this route supports: a, b');
    expectRefused(t, await offer(t, port, '/default', ['x']), 400);
  });

  t.test("unsupportedProtocol: 'accept' answers 101 without the header", async (t) => {
    await expectAccepted(
      t,
      await offer(t, port, '/lenient', ['x, y']),
      undefined,
      'default:(none)',
    );
    await expectAccepted(t, await offer(t, port, '/lenient', ['x, a']), 'a', 'a:a');
  });

  t.test('a selector returning an unoffered protocol gets 500, never echoed', async (t) => {
    for (const path of ['/custom-sync', '/custom-async']) {
      const answer = await offer(t, port, path, ['a']);
      expectRefused(t, answer, 500);
      t.notMatch(answer.body, /sneaky|\bb\b/, 'the value is not echoed in the body');
    }
  });

  t.test('a custom selector may pick any offered, supported protocol', async (t) => {
    await expectAccepted(t, await offer(t, port, '/custom-last', ['a, b']), 'b', 'b:b');
    expectRefused(t, await offer(t, port, '/custom-last', ['x']), 400);
  });

  t.test('a throwing selector gets 500', async (t) => {
    expectRefused(t, await offer(t, port, '/custom-throws', ['a']), 500);
  });
});

t.test('protocols of one route keep separate handlers and codecs', async (t) => {
  const { port } = await serve(t, (wss) =>
    wss.route('/chat', {
      protocols: {
        json: defineProtocol({
          codec: jsonCodec<{ n: number }, { doubled: number }>(),
          handler: { onMessage: (c, m) => void c.send({ doubled: m.n * 2 }) },
        }),
        raw: { onMessage: (c, m) => void c.send(m) },
      },
    }),
  );
  const json = await offer(t, port, '/chat', ['json']);
  json.send({ opcode: Opcode.Text, payload: '{"n":21}' });
  t.equal((await json.reader.frame()).payload.toString(), '{"doubled":42}');
  const raw = await offer(t, port, '/chat', ['raw']);
  raw.send({ opcode: Opcode.Text, payload: '{"n":21}' });
  t.equal((await raw.reader.frame()).payload.toString(), '{"n":21}');
});

const handler: WebSocketHandler<unknown> = {};

t.test('createRoute refuses bad configuration synchronously', async (t) => {
  const bad: Array<[string, RouteOptions<unknown>]> = [
    ['no protocols and no default', {}],
    ['an empty protocols map', { protocols: {} }],
    ['a name that is not a token', { protocols: { 'a b': handler } }],
    ['an empty name', { protocols: { '': handler } }],
    ["'accept' without a default", { protocols: { a: handler }, unsupportedProtocol: 'accept' }],
    [
      'an unknown policy',
      { defaultProtocol: handler, unsupportedProtocol: 'ignore' as unknown as 'accept' },
    ],
    [
      'a selector that is not a function',
      { defaultProtocol: handler, selectProtocol: 'a' as unknown as ProtocolSelector },
    ],
    ['a negative limit', { defaultProtocol: handler, maxPayload: -1 }],
    ['a zero limit', { defaultProtocol: handler, closeTimeout: 0 }],
    ['NaN', { defaultProtocol: handler, sendHighWaterMark: Number.NaN }],
    ['a string', { defaultProtocol: handler, maxFragments: '5' as unknown as number }],
  ];
  for (const [name, options] of bad) t.throws(() => createRoute(options), TypeError, name);
  t.doesNotThrow(
    () => createRoute({ defaultProtocol: handler, heartbeatInterval: 0, idleTimeout: 0 }),
    '0 turns timers off',
  );
  t.doesNotThrow(() => createRoute({ defaultProtocol: handler, maxFragments: Infinity }));
});

t.test('resolveLimits applies the documented defaults', async (t) => {
  t.same(resolveLimits({}), {
    maxPayload: 16 * 1024 * 1024,
    maxFragments: 1024,
    maxFrameSize: 4 * 1024 * 1024,
    closeTimeout: 5000,
    heartbeatInterval: 30_000,
    idleTimeout: 0,
    sendHighWaterMark: 64 * 1024,
    outputHighWaterMark: 1024 * 1024,
    maxPendingMessages: 64,
    inboxHighWaterMark: 1024 * 1024,
    maxBufferedBytes: 32 * 1024 * 1024,
  });
  t.equal(resolveLimits({ maxPayload: 64 * 1024 * 1024 }).maxBufferedBytes, 128 * 1024 * 1024);
  t.equal(
    resolveLimits({ sendHighWaterMark: 4 * 1024 * 1024 }).outputHighWaterMark,
    4 * 1024 * 1024,
    'the output limit is never below sendHighWaterMark by default',
  );
  t.equal(resolveLimits({ outputHighWaterMark: Infinity }).outputHighWaterMark, Infinity);
});

t.test('negotiate() is pure: it returns a Boom or an accepted handshake', async (t) => {
  const route = createRoute({ protocols: { a: handler }, maxPayload: 10 });
  const request = (protocol?: string) => ({
    method: 'GET',
    httpVersionMajor: 1,
    httpVersionMinor: 1,
    headers: {},
    headersDistinct: {
      host: ['example.com'],
      upgrade: ['websocket'],
      connection: ['Upgrade'],
      'sec-websocket-key': [SAMPLE_KEY],
      'sec-websocket-version': ['13'],
      ...(protocol ? { 'sec-websocket-protocol': [protocol] } : {}),
    },
  });
  const accepted = await negotiate(request('x, a'), route);
  if (isHandshakeError(accepted)) throw accepted;
  t.equal(accepted.protocol, 'a');
  t.equal(accepted.acceptKey, 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
  t.equal(accepted.connection.maxPayload, 10);
  const refused = await negotiate(request(), route);
  t.ok(isHandshakeError(refused));
  t.match(refused, { output: { statusCode: 400 }, data: { code: 'WS_PROTOCOL_REQUIRED' } });
});
