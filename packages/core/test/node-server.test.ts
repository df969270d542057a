import Boom from '@hapi/boom';
import t, { type Test } from 'tap';
import { Opcode } from '../src/constants.js';
import type { WebSocketHandler } from '../src/protocol.js';
import { exchange, serve } from './helpers/serve.js';
import {
  clientFrame,
  deferred,
  type HttpHead,
  headerValues,
  SAMPLE_ACCEPT,
  upgradeRequest,
  withTimeout,
} from './helpers/wire.js';

const echo: WebSocketHandler<unknown> = {
  onMessage(connection, message) {
    connection.send(message);
  },
};

/** Asserts a plain HTTP refusal: status, the headers `reject` always writes, and no 101. */
function expectRefusal(
  t: Test,
  answer: { head: HttpHead; body: string },
  status: number,
  headers: Record<string, string> = {},
): void {
  const { head, body } = answer;
  t.equal(head.status, status, `status ${status}`);
  t.notMatch(head.statusLine, /101/, 'never a 101');
  t.same(headerValues(head, 'connection'), ['close']);
  t.same(headerValues(head, 'content-type'), ['text/plain; charset=utf-8']);
  t.same(headerValues(head, 'content-length'), [String(Buffer.byteLength(body))]);
  t.same(headerValues(head, 'sec-websocket-accept'), [], 'no accept key');
  for (const [name, value] of Object.entries(headers)) {
    t.same(headerValues(head, name), [value], `${name}: ${value}`);
  }
}

const routes = (wss: import('../src/node-server.js').WebSocketServer): void => {
  wss.route('/echo', { defaultProtocol: echo, heartbeatInterval: 0 });
  wss.route('/origin', {
    defaultProtocol: echo,
    origins: ['https://good.example'],
    requireOrigin: true,
    heartbeatInterval: 0,
  });
};

t.test('accepts a valid handshake with the exact 101 of RFC 6455 §4.2.2', async (t) => {
  const { port } = await serve(t, routes);
  const { head, reader } = await exchange(t, port, upgradeRequest('/echo'));
  t.equal(head.statusLine, 'HTTP/1.1 101 Switching Protocols');
  t.same(headerValues(head, 'upgrade'), ['websocket']);
  t.same(headerValues(head, 'connection'), ['Upgrade']);
  t.same(headerValues(head, 'sec-websocket-accept'), [SAMPLE_ACCEPT]);
  t.same(headerValues(head, 'sec-websocket-protocol'), [], 'no protocol was offered');
  t.equal(reader.pending.length, 0, 'nothing after the head');
});

t.test('answers 404 for an unknown path, before any 101', async (t) => {
  const { port } = await serve(t, routes);
  const answer = await exchange(t, port, upgradeRequest('/nowhere'));
  expectRefusal(t, answer, 404);
  t.equal(answer.body, 'Not Found');
});

t.test('routes by path without the query; "*" catches the remaining paths', async (t) => {
  const { port } = await serve(t, (wss) => {
    wss.route('/exact', { defaultProtocol: { onOpen: (c) => void c.send('exact') } });
    wss.route('*', { defaultProtocol: { onOpen: (c) => void c.send('wildcard') } });
  });
  const exact = await exchange(t, port, upgradeRequest('/exact?token=1'));
  t.equal((await exact.reader.frame()).payload.toString(), 'exact');
  const other = await exchange(t, port, upgradeRequest('/anything/else'));
  t.equal((await other.reader.frame()).payload.toString(), 'wildcard');
});

t.test('refuses every malformed handshake with its exact status and headers', async (t) => {
  const { port } = await serve(t, routes);
  const cases: Array<[string, string, number, Record<string, string>]> = [
    ['POST', upgradeRequest('/echo', {}, 'POST /echo HTTP/1.1'), 405, { allow: 'GET' }],
    [
      'version 8',
      upgradeRequest('/echo', { 'Sec-WebSocket-Version': '8' }),
      426,
      { upgrade: 'websocket', 'sec-websocket-version': '13' },
    ],
    [
      'no version',
      upgradeRequest('/echo', { 'Sec-WebSocket-Version': null }),
      426,
      { upgrade: 'websocket', 'sec-websocket-version': '13' },
    ],
    [
      'two version lines',
      upgradeRequest('/echo', { 'Sec-WebSocket-Version': ['13', '13'] }),
      426,
      { 'sec-websocket-version': '13' },
    ],
    ['HTTP/1.0', upgradeRequest('/echo', {}, 'GET /echo HTTP/1.0'), 400, {}],
    ['Upgrade: h2c', upgradeRequest('/echo', { Upgrade: 'h2c' }), 400, {}],
    ['no Host', upgradeRequest('/echo', { Host: null }), 400, {}],
    ['no key', upgradeRequest('/echo', { 'Sec-WebSocket-Key': null }), 400, {}],
    ['short key', upgradeRequest('/echo', { 'Sec-WebSocket-Key': 'c2hvcnQ=' }), 400, {}],
    [
      'two key lines',
      upgradeRequest('/echo', {
        'Sec-WebSocket-Key': ['dGhlIHNhbXBsZSBub25jZQ==', 'AQIDBAUGBwgJCgsMDQ4PEA=='],
      }),
      400,
      {},
    ],
    ['Origin not allowed', upgradeRequest('/origin', { Origin: 'https://evil.example' }), 403, {}],
    ['Origin missing with requireOrigin', upgradeRequest('/origin'), 403, {}],
    [
      'two Origin lines',
      upgradeRequest('/echo', { Origin: ['https://a.example', 'https://b.example'] }),
      403,
      {},
    ],
  ];
  for (const [name, request, status, headers] of cases) {
    await t.test(name, async (t) =>
      expectRefusal(t, await exchange(t, port, request), status, headers),
    );
  }
});

t.test('an allowed Origin is accepted', async (t) => {
  const { port } = await serve(t, routes);
  const { head } = await exchange(
    t,
    port,
    upgradeRequest('/origin', { Origin: 'https://GOOD.example' }),
  );
  t.equal(head.status, 101);
});

t.test('answers 431 for too many header lines or too many header bytes', async (t) => {
  const { port } = await serve(t, routes, { maxHeaderCount: 10, maxHeaderBytes: 600 });
  const many: Record<string, string> = {};
  for (let i = 0; i < 6; i++) many[`X-Extra-${i}`] = 'v';
  expectRefusal(t, await exchange(t, port, upgradeRequest('/echo', many)), 431);
  const big = upgradeRequest('/echo', { 'X-Big': 'b'.repeat(600) });
  expectRefusal(t, await exchange(t, port, big), 431);
  const fits = await exchange(t, port, upgradeRequest('/echo', { 'X-Small': 'v' }));
  t.equal(fits.head.status, 101, 'within both limits');
});

t.test('answers 408 when the upgrade hook outlasts handshakeTimeout', async (t) => {
  const { port } = await serve(
    t,
    (wss) =>
      wss.route('/slow', {
        defaultProtocol: echo,
        upgrade: () => new Promise<never>(() => {}),
      }),
    { handshakeTimeout: 50 },
  );
  expectRefusal(t, await exchange(t, port, upgradeRequest('/slow')), 408);
});

t.test('a Boom thrown by the upgrade hook becomes its HTTP answer', async (t) => {
  const { port } = await serve(t, (wss) => {
    wss.route('/sync', {
      defaultProtocol: echo,
      upgrade: () => {
        throw Boom.unauthorized('bad token', 'Bearer');
      },
    });
    wss.route('/async', {
      defaultProtocol: echo,
      upgrade: async () => {
        throw Boom.tooManyRequests('slow down');
      },
    });
    wss.route('/bug', {
      defaultProtocol: echo,
      upgrade: () => {
        throw new Error('secret detail');
      },
    });
  });
  const sync = await exchange(t, port, upgradeRequest('/sync'));
  expectRefusal(t, sync, 401, { 'www-authenticate': 'Bearer error="bad token"' });
  t.equal(sync.body, 'bad token');
  expectRefusal(t, await exchange(t, port, upgradeRequest('/async')), 429);
  const bug = await exchange(t, port, upgradeRequest('/bug'));
  expectRefusal(t, bug, 500);
  t.notMatch(bug.body, /secret/, 'a non-Boom error is not revealed');
});

t.test('the upgrade hook result becomes the typed connection data', async (t) => {
  const { port } = await serve(t, (wss) =>
    wss.route<{ user: string }>('/me', {
      upgrade: (request) => ({ user: String(request.headers['x-user']) }),
      defaultProtocol: { onMessage: (c) => void c.send(`user:${c.data.user}`) },
    }),
  );
  const client = await exchange(t, port, upgradeRequest('/me', { 'X-User': 'bob' }));
  client.send({ opcode: Opcode.Text, payload: 'who' });
  t.equal((await client.reader.frame()).payload.toString(), 'user:bob');
});

t.test('a first frame in the same TCP write as the handshake is echoed', async (t) => {
  const { port } = await serve(t, routes);
  const first = Buffer.concat([
    clientFrame({ opcode: Opcode.Text, payload: 'first' }),
    clientFrame({ opcode: Opcode.Binary, payload: 'second' }),
  ]);
  const { head, reader } = await exchange(t, port, upgradeRequest('/echo'), first);
  t.equal(head.status, 101);
  const frames = [await reader.frame(), await reader.frame()];
  t.same(
    frames.map((f) => [f.opcode, f.payload.toString()]),
    [
      [Opcode.Text, 'first'],
      [Opcode.Binary, 'second'],
    ],
  );
});

t.test('the first frame is not lost while an async upgrade hook runs', async (t) => {
  const { port } = await serve(t, (wss) =>
    wss.route('/hook', {
      defaultProtocol: echo,
      upgrade: async () => {
        await new Promise((resolve) => setImmediate(resolve));
        return undefined;
      },
    }),
  );
  const early = clientFrame({ opcode: Opcode.Text, payload: 'early' });
  const client = await exchange(t, port, upgradeRequest('/hook'), early);
  client.send({ opcode: Opcode.Text, payload: 'later' });
  t.equal((await client.reader.frame()).payload.toString(), 'early');
  t.equal((await client.reader.frame()).payload.toString(), 'later');
});

t.test('a plain GET to a websocket route gets 426; elsewhere 404', async (t) => {
  const { port } = await serve(t, routes);
  const plain = 'GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n';
  const ws = await exchange(t, port, plain);
  t.equal(ws.head.status, 426);
  t.same(headerValues(ws.head, 'upgrade'), ['websocket']);
  t.same(headerValues(ws.head, 'sec-websocket-version'), ['13']);
  const other = await exchange(t, port, plain.replace('/echo', '/other'));
  t.equal(other.head.status, 404);
});

t.test(
  'an existing request listener keeps plain HTTP; handleRequest answers ws routes',
  async (t) => {
    const { wss, port } = await serve(t, routes, {}, (request, response) => {
      if (wss.handleRequest(request, response)) return;
      response.end('app');
    });
    const plain = 'GET /page HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n';
    const page = await exchange(t, port, plain);
    t.equal(page.head.status, 200);
    t.equal(page.body, 'app');
    t.equal((await exchange(t, port, plain.replace('/page', '/echo'))).head.status, 426);
  },
);

t.test('route() refuses a bad declaration at registration', async (t) => {
  const { WebSocketServer } = await import('../src/node-server.js');
  const wss = new WebSocketServer();
  wss.route('/a', { defaultProtocol: echo });
  t.throws(() => wss.route('/a', { defaultProtocol: echo }), TypeError, 'a path declared twice');
  t.throws(() => wss.route('no-slash', { defaultProtocol: echo }), TypeError, 'a relative path');
  t.throws(() => wss.route('/b', {}), TypeError, 'no handlers');
  t.throws(() => wss.route('/c', { defaultProtocol: echo, maxPayload: -1 }), TypeError);
});

t.test('connections lists the open connections', async (t) => {
  const opened = deferred();
  const closed = deferred();
  const { wss, port } = await serve(t, (wss) =>
    wss.route('/echo', {
      defaultProtocol: { onOpen: () => opened.resolve(), onClose: () => closed.resolve() },
    }),
  );
  t.equal(wss.connections.size, 0);
  const client = await exchange(t, port, upgradeRequest('/echo'));
  await withTimeout(opened.promise, 'onOpen');
  t.equal(wss.connections.size, 1);
  client.socket.destroy();
  await withTimeout(closed.promise, 'onClose');
  t.equal(wss.connections.size, 0, 'removed before onClose runs');
});

t.test("the attached server's close() closes every websocket with 1001", async (t) => {
  const { server, port } = await serve(t, (wss) => {
    wss.route('/', { defaultProtocol: {}, heartbeatInterval: 0 });
  });
  const { default: WebSocket } = await import('ws');
  const client = new WebSocket(`ws://127.0.0.1:${port}/`);
  t.teardown(() => client.terminate());
  await new Promise((resolve, reject) => {
    client.once('open', resolve);
    client.once('error', reject);
  });
  const closed = new Promise<number>((resolve) => client.once('close', resolve));
  // Without the shutdown, 'close' waits for every socket and the client hears nothing.
  server.close();
  t.equal(await closed, 1001);
});
