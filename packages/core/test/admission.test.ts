/**
 * Admission as the lifecycle runs it, over real sockets: what `begin()` refuses before any
 * framework code runs, what `complete()` refuses (with which code), the count taken at the 101
 * (no overshoot by concurrent handshakes), its release on close, and shedding.
 */
import { once } from 'node:events';
import { createServer } from 'node:http';
import Boom from '@hapi/boom';
import { exchange as rawExchange } from '@wsroute/test-utils';
import t, { type Test } from 'tap';
import type { AnyConnection } from '../src/connection-types.js';
import { resolveEntryOptions } from '../src/entry-options.js';
import { createRoute } from '../src/route.js';
import type { UpgradeExchange, UpgradeOutcome } from '../src/upgrade-exchange.js';
import { UpgradeLifecycle } from '../src/upgrade-lifecycle.js';
import { serveExchanges } from './helpers/exchanges.js';
import { serve } from './helpers/serve.js';
import { deferred, portOf, upgradeRequest, withTimeout } from './helpers/wire.js';

const echo = { onMessage: (c: AnyConnection, m: string | Buffer) => c.send(m) };
const carrier = (token: string): string =>
  `base64url.bearer.${Buffer.from(token).toString('base64url')}`;

/** A lifecycle on a server; each exchange completes against `route`, outcomes collected. */
async function serveRoute(
  t: Test,
  options: ConstructorParameters<typeof UpgradeLifecycle>[0],
  route: ReturnType<typeof createRoute>,
  onExchange?: (exchange: UpgradeExchange) => void,
): Promise<{ port: number; lifecycle: UpgradeLifecycle; outcomes: UpgradeOutcome[] }> {
  const outcomes: UpgradeOutcome[] = [];
  const served = await serveExchanges(
    t,
    'early',
    (exchange) => {
      onExchange?.(exchange);
      void exchange
        .complete(route, () => undefined)
        .then((outcome) => {
          outcomes.push(outcome);
          if (outcome.status === 'refused') exchange.reject(outcome.error);
        });
    },
    options,
  );
  return { ...served, outcomes };
}

t.test('entry point limits refuse in begin(), before any framework code runs', async (t) => {
  let hookCalls = 0;
  const { port } = await serve(
    t,
    (wss) =>
      wss.route('/', {
        defaultProtocol: echo,
        heartbeatInterval: 0,
        upgrade: () => {
          hookCalls++;
        },
      }),
    { handshakesPerClient: { limit: 1, windowMs: 60_000 } },
  );
  t.equal((await rawExchange(t, port, upgradeRequest('/'))).status, 101);
  const refused = await rawExchange(t, port, upgradeRequest('/'));
  t.equal(refused.status, 429);
  t.equal(refused.headers['retry-after'], '60');
  t.equal(hookCalls, 1, 'the refused handshake never reached the hook');
});

t.test('complete() refuses with stable codes', async (t) => {
  const route = createRoute({
    protocols: { chat: echo },
    defaultProtocol: echo,
    heartbeatInterval: 0,
    origins: ['https://app.example'],
    requireOrigin: true,
    handshakesPerClient: { limit: 2, windowMs: 60_000 },
  });
  const { port, outcomes } = await serveRoute(t, {}, route);
  const origin = { Origin: 'https://app.example' };
  await rawExchange(
    t,
    port,
    upgradeRequest('/', { ...origin, 'Sec-WebSocket-Protocol': `chat, ${carrier('x')}` }),
  );
  await rawExchange(t, port, upgradeRequest('/', { Origin: 'https://evil.example' }));
  await rawExchange(t, port, upgradeRequest('/'));
  await rawExchange(t, port, upgradeRequest('/', origin));
  await rawExchange(t, port, upgradeRequest('/', origin));
  const third = await rawExchange(t, port, upgradeRequest('/', origin));
  t.equal(third.headers['retry-after'], '30');
  t.match(outcomes, [
    { status: 'refused', error: { data: { code: 'WS_CREDENTIAL_UNEXPECTED' } } },
    { status: 'refused', error: { data: { code: 'WS_ORIGIN_FORBIDDEN' } } },
    { status: 'refused', error: { data: { code: 'WS_ORIGIN_REQUIRED' } } },
    { status: 'accepted' },
    { status: 'accepted' },
    { status: 'refused', error: { data: { code: 'WS_RATE_LIMITED' } } },
  ]);
});

t.test('begin() takes the credential out before the framework sees the request', async (t) => {
  const seen: { token: string | undefined; header: string | undefined }[] = [];
  const route = createRoute({
    protocols: { chat: echo },
    tokenCarrier: true,
    heartbeatInterval: 0,
  });
  const { port, outcomes } = await serveRoute(t, {}, route, (exchange) => {
    seen.push({
      token: exchange.token,
      header: exchange.request.headers['sec-websocket-protocol'],
    });
  });
  const offered = `chat, ${carrier('s3cret')}`;
  const answer = await rawExchange(
    t,
    port,
    upgradeRequest('/', { 'Sec-WebSocket-Protocol': offered }),
  );
  t.equal(answer.status, 101);
  t.equal(answer.headers['sec-websocket-protocol'], 'chat');
  t.same(seen, [{ token: 's3cret', header: 'chat' }]);
  t.match(outcomes, [{ status: 'accepted' }]);
  for (const [offer, code] of [
    [carrier('s3cret'), 'WS_CREDENTIAL_WITHOUT_PROTOCOL'],
    [`chat, ${carrier('a')}, ${carrier('b')}`, 'WS_CREDENTIAL_DUPLICATE'],
    ['chat, base64url.bearer.=', 'WS_CREDENTIAL_MALFORMED'],
  ] as const) {
    const refused = await rawExchange(
      t,
      port,
      upgradeRequest('/', { 'Sec-WebSocket-Protocol': offer }),
    );
    t.equal(refused.status, 400, code);
    t.notMatch(refused.raw, /s3cret|czNj/);
  }
  t.equal(seen.length, 1, 'malformed credentials never reach the framework');
});

t.test('a non-websocket upgrade (h2c) is left alone', async (t) => {
  const seen: (string | undefined)[] = [];
  const lifecycle = new UpgradeLifecycle({ maxConnections: 1 }, { name: 'test' });
  const server = createServer();
  lifecycle.attach(server, (request, socket, head) => {
    const exchange = lifecycle.begin(request, socket, head, 'early');
    seen.push(exchange?.request.headers['sec-websocket-protocol']);
    exchange?.response.writeHead(400).end();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => new Promise((resolve) => server.close(resolve)));
  const offered = `chat, ${carrier('x')}`;
  await rawExchange(
    t,
    portOf(server),
    upgradeRequest('/', { Upgrade: 'h2c', 'Sec-WebSocket-Protocol': [offered, offered] }),
  );
  t.same(seen, [`${offered}, ${offered}`], 'not parsed, not counted');
});

t.test('concurrent handshakes cannot overshoot a cap together', async (t) => {
  const gate = deferred();
  let waiting = 0;
  const { port, wss } = await serve(
    t,
    (wss) =>
      wss.route('/', {
        defaultProtocol: echo,
        heartbeatInterval: 0,
        async upgrade() {
          waiting++;
          await gate.promise;
        },
      }),
    { maxConnections: 1 },
  );
  const first = rawExchange(t, port, upgradeRequest('/'));
  const second = rawExchange(t, port, upgradeRequest('/'));
  await withTimeout(
    (async () => {
      while (waiting < 2) await new Promise((resolve) => setImmediate(resolve));
    })(),
    'both hooks running',
  );
  gate.resolve();
  const statuses = [(await first).status, (await second).status].sort();
  t.same(statuses, [101, 503], 'one 101, one 503 at the 101');
  t.equal(wss.connections.size, 1);
});

t.test('a closed connection releases its counts', async (t) => {
  const { port, wss } = await serve(
    t,
    (wss) => wss.route('/', { defaultProtocol: echo, heartbeatInterval: 0 }),
    { maxConnections: 1, maxConnectionsPerClient: 1 },
  );
  const first = await rawExchange(t, port, upgradeRequest('/'));
  t.equal(first.status, 101);
  t.equal((await rawExchange(t, port, upgradeRequest('/'))).status, 503);
  const closed = once(first.socket, 'close');
  first.socket.destroy();
  await closed;
  await withTimeout(
    (async () => {
      while (wss.connections.size > 0) await new Promise((resolve) => setImmediate(resolve));
    })(),
    'the server sees the close',
  );
  t.equal((await rawExchange(t, port, upgradeRequest('/'))).status, 101);
});

t.test('shed() closes the newest, or those a predicate picks, with 1013', async (t) => {
  const { port, wss } = await serve(t, (wss) => {
    wss.route('/a', { defaultProtocol: echo, heartbeatInterval: 0 });
    wss.route('/b', { defaultProtocol: echo, heartbeatInterval: 0 });
  });
  const codes: number[] = [];
  for (const path of ['/a', '/b', '/a']) {
    const answer = await rawExchange(t, port, upgradeRequest(path));
    t.equal(answer.status, 101);
  }
  const [a1, b, a2] = [...wss.connections];
  for (const connection of [a1, b, a2]) {
    const original = connection?.close.bind(connection);
    if (!connection || !original) continue;
    connection.close = (code?: number, reason?: string) => {
      codes.push(code ?? 0);
      original(code, reason);
    };
  }
  t.equal(
    wss.shed((connection) => connection.path === '/b', 'rebalancing'),
    1,
  );
  t.equal(wss.shed(1), 1);
  t.same(codes, [1013, 1013]);
  t.equal(b?.state, 'closing');
  t.equal(a2?.state, 'closing', 'the newest');
  t.equal(a1?.isOpen, true);
  t.equal(wss.shed(5), 1, 'only open connections count');
  t.equal(wss.shed(0), 0);
  t.throws(() => wss.shed(1.5), RangeError);
});

t.test('entry options are checked with the rest, naming the entry point', async (t) => {
  for (const bad of [
    { origins: 'everyone' },
    { origins: ['https://a.example/'] },
    { requireOrigin: 'yes' },
    { trustProxy: true },
    { trustProxy: ['10.0.0.0/40'] },
    { maxConnections: 0 },
    { maxConnectionsPerClient: -1 },
    { handshakesPerClient: { limit: 1 } },
    { tokenPrefix: 'has space' },
  ]) {
    t.throws(() => resolveEntryOptions('@wsroute/x', bad), {
      name: 'TypeError',
      message: /^@wsroute\/x: /,
    });
  }
  const defaults = resolveEntryOptions('@wsroute/x', {}).admission;
  t.same(defaults.origins, { kind: 'same-origin' });
  t.equal(defaults.requireOrigin, false);
  t.equal(defaults.trustProxy, undefined);
  t.equal(defaults.tokenPrefix, 'base64url.bearer.');
  t.same(defaults.limits, {
    maxConnections: Number.POSITIVE_INFINITY,
    maxConnectionsPerClient: Number.POSITIVE_INFINITY,
    handshakesPerClient: undefined,
  });
  t.throws(
    () => createRoute({ defaultProtocol: echo, tokenCarrier: 1 as unknown as boolean }),
    TypeError,
  );
  t.throws(() => createRoute({ defaultProtocol: echo, maxConnections: 0 }), TypeError);
});

t.test('the node upgrade hook gets the token; a bad one is a real 401', async (t) => {
  const { port } = await serve(t, (wss) =>
    wss.route<{ user: string }>('/', {
      protocols: { chat: echo },
      tokenCarrier: true,
      heartbeatInterval: 0,
      upgrade(_request, { token }) {
        if (token !== 'good') throw Boom.unauthorized();
        return { user: 'alice' };
      },
    }),
  );
  const offer = (token: string) =>
    upgradeRequest('/', { 'Sec-WebSocket-Protocol': `chat, ${carrier(token)}` });
  t.equal((await rawExchange(t, port, offer('good'))).status, 101);
  const bad = await rawExchange(t, port, offer('bad'));
  t.equal(bad.status, 401);
  t.notMatch(bad.raw, /YmFk|bad/);
});
