import { launchChromium, exchange as rawExchange } from '@wsroute/test-utils';
import type { Test } from 'tap';
import {
  headerValues,
  type RequestHeaders,
  upgradeRequest,
  WAIT_MS,
} from '../helpers/raw-client.js';
import {
  ask,
  closeOf,
  expectAccepted,
  expectRefused,
  offer,
  openWs,
  rawUpgrade,
  start,
} from './helpers.js';
import {
  type ContractApp,
  type ContractFactory,
  GOOD_WS_TOKEN,
  HTTP_ONLY_PATH,
  TOKEN_USER,
} from './spec.js';

/** The credential carrier for a token, as `@wsroute/client` sends it. */
function carrier(token: string): string {
  return `base64url.bearer.${Buffer.from(token).toString('base64url')}`;
}

/** `Host` as a browser sends it to the app, and the app's own origin. */
function own(app: ContractApp): { readonly host: string; readonly origin: string } {
  return { host: `127.0.0.1:${app.port}`, origin: `http://127.0.0.1:${app.port}` };
}

/** The status of a raw upgrade to `path` with these headers (`Host` with the port by default). */
async function statusOf(
  t: Test,
  app: ContractApp,
  path: string,
  headers: RequestHeaders = {},
): Promise<number> {
  const { head } = await rawUpgrade(t, app, path, { Host: own(app).host, ...headers });
  return head.status;
}

/** Waits, bounded, until the entry point counts `count` open connections. */
async function untilConnections(app: ContractApp, count: number): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (app.hub.connections.size !== count) {
    if (Date.now() > deadline) {
      throw new Error(`still ${app.hub.connections.size} connections, expected ${count}`);
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/**
 * Runs the admission cases inside a contract test.
 * @param t - the adapter's contract test
 * @param factory - starts a fresh app serving the spec routes, with entry point options
 */
export async function runAdmissionContract(t: Test, factory: ContractFactory): Promise<void> {
  t.test('refuses a cross-origin handshake with 403 before the 101, by default', async (t) => {
    const app = await start(t, factory);
    const { host, origin } = own(app);
    for (const foreign of [
      'http://evil.example',
      `http://127.0.0.1:${app.port + 1}`,
      `http://localhost:${app.port}`,
      'null',
    ]) {
      const answer = await rawUpgrade(t, app, '/echo', { Host: host, Origin: foreign });
      expectRefused(t, answer, 403);
    }
    const same = await rawUpgrade(t, app, '/echo', { Host: host, Origin: origin });
    expectAccepted(t, same.head, undefined);
    expectAccepted(t, (await rawUpgrade(t, app, '/echo', { Host: host })).head, undefined);
  });

  t.test("an allow-list, a predicate or '*' decides instead of same-origin", async (t) => {
    const app = await start(t, factory);
    const { origin } = own(app);
    t.equal(await statusOf(t, app, '/origin-list', { Origin: 'https://app.example' }), 101);
    t.equal(await statusOf(t, app, '/origin-list', { Origin: 'HTTPS://APP.example:443' }), 101);
    t.equal(await statusOf(t, app, '/origin-list', { Origin: origin }), 403, 'a list pins hosts');
    t.equal(await statusOf(t, app, '/origin-list', { Origin: 'https://evil.example' }), 403);
    t.equal(await statusOf(t, app, '/origin-list'), 101, 'no Origin: not a browser');
    t.equal(await statusOf(t, app, '/origin-predicate', { Origin: origin }), 101);
    t.equal(
      await statusOf(t, app, '/origin-predicate', { Origin: 'https://a.partner.example' }),
      101,
    );
    t.equal(await statusOf(t, app, '/origin-predicate', { Origin: 'https://evil.example' }), 403);
    t.equal(await statusOf(t, app, '/origin-any', { Origin: 'https://evil.example' }), 101);
  });

  t.test("the entry point's origins apply to every route; a route's own win", async (t) => {
    const app = await start(t, factory, { origins: ['https://app.example'], requireOrigin: true });
    t.equal(await statusOf(t, app, '/echo', { Origin: 'https://app.example' }), 101);
    t.equal(await statusOf(t, app, '/echo', { Origin: own(app).origin }), 403);
    t.equal(await statusOf(t, app, '/echo'), 403, 'requireOrigin refuses a missing Origin');
    t.equal(await statusOf(t, app, '/origin-any', { Origin: 'https://evil.example' }), 101);
  });

  t.test('answers 429 with Retry-After once the handshake budget is spent', async (t) => {
    const app = await start(t, factory);
    t.equal(await statusOf(t, app, '/rate'), 101);
    t.equal(await statusOf(t, app, '/rate'), 101);
    const refused = await rawUpgrade(t, app, '/rate', { Host: own(app).host });
    expectRefused(t, refused, 429);
    t.same(headerValues(refused.head, 'retry-after'), ['30'], '2 per minute: one more in 30 s');
    t.equal(await statusOf(t, app, '/echo'), 101, 'other routes keep their own budget');

    const entry = await start(t, factory, { handshakesPerClient: { limit: 1, windowMs: 10_000 } });
    t.equal(await statusOf(t, entry, '/echo'), 101);
    const again = await rawUpgrade(t, entry, '/auth', { Host: own(entry).host });
    expectRefused(t, again, 429);
    t.same(headerValues(again.head, 'retry-after'), ['10'], 'counted across routes');
  });

  t.test('answers 503 at the connection cap, until a connection closes', async (t) => {
    const app = await start(t, factory);
    const first = await openWs(t, `${app.url}/capped`);
    expectRefused(t, await rawUpgrade(t, app, '/capped', { Host: own(app).host }), 503);
    t.equal(await statusOf(t, app, '/echo'), 101, 'the cap is the route’s');
    first.close();
    await untilConnections(app, 1);
    t.equal(await statusOf(t, app, '/capped'), 101, 'room again once it closed');

    const entry = await start(t, factory, { maxConnections: 2 });
    await openWs(t, `${entry.url}/echo`);
    await openWs(t, `${entry.url}/lenient`);
    expectRefused(t, await rawUpgrade(t, entry, '/strict', offer('a')), 503);
  });

  t.test(
    'answers 429 at the per-client cap; X-Forwarded-For counts only when trusted',
    async (t) => {
      const app = await start(t, factory);
      await openWs(t, `${app.url}/per-client`, [], { 'X-Forwarded-For': '203.0.113.1' });
      const spoofed = { 'X-Forwarded-For': '203.0.113.2' };
      t.equal(await statusOf(t, app, '/per-client', spoofed), 429, 'untrusted header ignored');

      const proxied = await start(t, factory, {
        trustProxy: ['loopback'],
        maxConnectionsPerClient: 1,
      });
      const from = (chain: string): Record<string, string> => ({ 'X-Forwarded-For': chain });
      await openWs(t, `${proxied.url}/echo`, [], from('203.0.113.1'));
      await openWs(t, `${proxied.url}/echo`, [], from('203.0.113.2'));
      t.equal(await statusOf(t, proxied, '/echo', from('203.0.113.1')), 429);
      t.equal(
        await statusOf(t, proxied, '/echo', from('198.51.100.9, 203.0.113.1')),
        429,
        'what the client wrote left of its address is ignored',
      );
      t.equal(await statusOf(t, proxied, '/echo', from('203.0.113.3, 127.0.0.5')), 101);
    },
  );

  t.test('believes Forwarded (and not X-Forwarded-For) when told so', async (t) => {
    const app = await start(t, factory, {
      trustProxy: { proxies: 1, header: 'forwarded' },
      maxConnectionsPerClient: 1,
    });
    await openWs(t, `${app.url}/echo`, [], { Forwarded: 'for=198.51.100.1;proto=https' });
    const sameClient = { Forwarded: 'for="198.51.100.1:4711"', 'X-Forwarded-For': '192.0.2.77' };
    t.equal(await statusOf(t, app, '/echo', sameClient), 429);
    t.equal(await statusOf(t, app, '/echo', { Forwarded: 'for="[2001:db8::1]"' }), 101);
    t.equal(
      await statusOf(t, app, '/echo', { Forwarded: 'for="[2001:db8::2]"' }),
      429,
      'IPv6 clients count by /64',
    );
  });

  t.test("same-origin reads a trusted proxy's forwarded host and scheme", async (t) => {
    const headers = {
      Host: 'backend:8080',
      'X-Forwarded-Host': 'app.example',
      'X-Forwarded-Proto': 'https',
      Origin: 'https://app.example',
    };
    const direct = await start(t, factory);
    expectRefused(t, await rawUpgrade(t, direct, '/echo', headers), 403);
    const proxied = await start(t, factory, { trustProxy: ['127.0.0.1'] });
    expectAccepted(t, (await rawUpgrade(t, proxied, '/echo', headers)).head, undefined);
    const downgraded = { ...headers, Origin: 'http://app.example:443' };
    expectRefused(t, await rawUpgrade(t, proxied, '/echo', downgraded), 403);
  });

  t.test('shed() closes the newest connections with 1013', async (t) => {
    const app = await start(t, factory);
    const oldest = await openWs(t, `${app.url}/echo`);
    const middle = await openWs(t, `${app.url}/echo`);
    const newest = await openWs(t, `${app.url}/echo`);
    const closes = [closeOf(middle), closeOf(newest)];
    t.equal(app.hub.shed(2), 2);
    for (const closed of await Promise.all(closes)) t.equal(closed.code, 1013);
    t.equal(await ask(oldest, 'still here'), 'still here', 'the oldest stays open');
    t.throws(() => app.hub.shed(-1), RangeError);
  });

  t.test('takes a credential from Sec-WebSocket-Protocol and never echoes it', async (t) => {
    const app = await start(t, factory);
    const good = carrier(GOOD_WS_TOKEN);
    const accepted = await rawUpgrade(t, app, '/token', offer(`${good}, chat`));
    expectAccepted(t, accepted.head, 'chat');
    accepted.client.send({ opcode: 0x1, payload: 'who' });
    t.equal((await accepted.client.frame()).payload.toString(), `user:${TOKEN_USER}`);
    const ws = await openWs(t, `${app.url}/token`, ['chat', good]);
    t.equal(ws.protocol, 'chat', 'the ws client sees only the real protocol');

    const cases: [string, string, string, number][] = [
      ['a bad token: the framework answers 401', '/token', `chat, ${carrier('nope')}`, 401],
      ['two credentials', '/token', `chat, ${good}, ${carrier('x')}`, 400],
      ['the same credential twice', '/token', `${good}, chat, ${good}`, 400],
      ['a credential alone', '/token', good, 400],
      ['padding', '/token', `chat, ${good}=`, 400],
      ['not base64url', '/token', 'chat, base64url.bearer.a!b', 400],
      ['a route without tokenCarrier', '/echo', `chat, ${good}`, 400],
    ];
    for (const [name, path, protocols, status] of cases) {
      const answer = await rawUpgrade(t, app, path, offer(protocols));
      expectRefused(t, answer, status);
      t.notOk(answer.body.includes(GOOD_WS_TOKEN) || answer.body.includes(good), name);
    }
  });

  t.test('no answer carries a header value; no log line carries a credential', async (t) => {
    const app = await start(t, factory, { handshakesPerClient: { limit: 30, windowMs: 60_000 } });
    const marker = 'zq7-reflected-marker';
    const secret = 'zq7-credential-secret';
    const warnings: string[] = [];
    const onWarning = (warning: Error): void => {
      warnings.push(`${warning.stack ?? ''} ${JSON.stringify(warning)}`);
    };
    process.on('warning', onWarning);
    t.teardown(() => {
      process.off('warning', onWarning);
    });
    const everywhere: RequestHeaders = {
      Host: `127.0.0.1:${app.port}`,
      Origin: `http://${marker}.example`,
      Cookie: `session=${secret}`,
      Authorization: `Bearer ${secret}`,
      'User-Agent': marker,
      'X-Forwarded-For': marker,
      'X-Custom': marker,
      'Sec-WebSocket-Protocol': `chat, ${carrier(secret)}`,
      'Sec-WebSocket-Extensions': `permessage-deflate; ${marker}`,
    };
    const variants: [string, RequestHeaders][] = [
      ['/token', everywhere],
      ['/token', { ...everywhere, Origin: null }],
      ['/echo', { ...everywhere, Origin: null }],
      ['/auth', { ...everywhere, Origin: null }],
      ['/no-such-route', everywhere],
      [HTTP_ONLY_PATH, everywhere],
      ['/token', { ...everywhere, Origin: marker }],
      [
        '/token',
        { ...everywhere, 'Sec-WebSocket-Protocol': `${carrier(secret)}, ${carrier(marker)}, chat` },
      ],
      ['/token', { ...everywhere, 'Sec-WebSocket-Protocol': carrier(secret) }],
      ['/token', { ...everywhere, 'Sec-WebSocket-Protocol': `chat, base64url.bearer.${marker}!` }],
      [
        '/strict',
        { ...everywhere, Origin: null, 'Sec-WebSocket-Protocol': `${marker}, ${marker}` },
      ],
      ['/strict', { ...everywhere, Origin: null, 'Sec-WebSocket-Protocol': marker }],
      ['/echo', { ...everywhere, Origin: null, 'Sec-WebSocket-Protocol': `a ${marker}` }],
      ['/echo', { ...everywhere, Origin: null, 'Sec-WebSocket-Key': marker }],
      ['/echo', { ...everywhere, Origin: null, 'Sec-WebSocket-Version': marker }],
      ['/echo', { ...everywhere, Origin: null, Upgrade: marker }],
      ['/echo', { ...everywhere, Origin: null, Host: [marker, marker] }],
    ];
    const encoded = [marker, secret, carrier(secret).slice(17), carrier(marker).slice(17)];
    for (const [path, headers] of variants) {
      const answer = await rawExchange(t, app.port, upgradeRequest(path, headers));
      const leaked = encoded.filter((value) => answer.raw.includes(value));
      t.same(leaked, [], `${path} ${answer.statusLine}: nothing reflected`);
    }
    const logged = [...app.logs, ...warnings].join('\n');
    t.notOk(logged.includes(secret) || logged.includes(carrier(secret)), 'no credential logged');
  });

  t.test(
    'Chromium offers the token next to chat and sees only chat; cross-origin fails',
    async (t) => {
      const app = await start(t, factory);
      const context = await launchChromium(t, 'wsroute-admission');
      const page = context.pages()[0] ?? (await context.newPage());
      const connect = (url: string, protocols: string[]): Promise<Record<string, unknown>> =>
        page.evaluate(
          ([target, offered]) =>
            new Promise<Record<string, unknown>>((resolve) => {
              const ws = new WebSocket(target, offered);
              ws.onopen = () => ws.send('who');
              ws.onmessage = (event) => {
                resolve({ protocol: ws.protocol, message: String(event.data) });
                ws.close();
              };
              ws.onclose = (event) => resolve({ closed: event.code });
            }),
          [url, protocols] as const,
        );
      // The page's origin is the app's own: http://127.0.0.1:<port>.
      await page.goto(`http://127.0.0.1:${app.port}${HTTP_ONLY_PATH}`);
      t.same(await connect(`${app.url}/token`, ['chat', carrier(GOOD_WS_TOKEN)]), {
        protocol: 'chat',
        message: `user:${TOKEN_USER}`,
      });
      t.same(await connect(`${app.url}/token`, ['chat', carrier('bad')]), { closed: 1006 });
      // Another origin (localhost) talking to 127.0.0.1: refused, while '*' lets it in.
      await page.goto(`http://localhost:${app.port}${HTTP_ONLY_PATH}`);
      t.same(await connect(`${app.url}/echo`, []), { closed: 1006 }, 'cross-origin refused');
      t.same(await connect(`${app.url}/origin-any`, []), { protocol: '', message: 'who' });
    },
  );
}
