import { once } from 'node:events';
import { ServerResponse } from 'node:http';
import Boom from '@hapi/boom';
import { exchange as rawExchange } from '@wsroute/test-utils';
import t from 'tap';
import WebSocket from 'ws';
import { createRoute } from '../src/route.js';
import type { UpgradeOutcome } from '../src/upgrade-exchange.js';
import type { UpgradeLifecycle } from '../src/upgrade-lifecycle.js';
import { serveExchanges } from './helpers/exchanges.js';
import { upgradeRequest, withTimeout } from './helpers/wire.js';

const echoRoute = createRoute({
  protocols: { a: { onMessage: (c, m) => c.send(m) } },
  heartbeatInterval: 0,
});

t.test('an early-bound response answers on the socket, then the socket ends', async (t) => {
  const { port } = await serveExchanges(t, 'early', (exchange) => {
    const { response } = exchange;
    response.statusCode = 401;
    response.setHeader('Content-Type', 'text/plain');
    response.end('who are you');
  });
  const answer = await rawExchange(t, port, upgradeRequest('/'));
  t.equal(answer.status, 401);
  t.match(answer.raw, /\r\nConnection: close\r\n/i);
  t.equal(answer.body, 'who are you');
  t.ok(answer.isEnded);
});

for (const binding of ['early', 'late'] as const) {
  t.test(`a 2xx from a plain route becomes 404 WS_NOT_FOUND (${binding})`, async (t) => {
    const { port } = await serveExchanges(t, binding, (exchange) => {
      exchange.response.end('plain page');
      void exchange.settle();
    });
    const answer = await rawExchange(t, port, upgradeRequest('/'));
    t.equal(answer.status, 404);
    t.equal(answer.body, 'Not Found');
  });
}

t.test('a late-bound response writes nothing until settle()', async (t) => {
  let isSettled = false;
  const { port } = await serveExchanges(t, 'late', (exchange) => {
    exchange.response.statusCode = 403;
    exchange.response.end('late answer');
    setTimeout(() => {
      isSettled = true;
      void exchange.settle();
    }, 50);
  });
  const answer = await rawExchange(t, port, upgradeRequest('/'));
  t.ok(isSettled, 'nothing arrived before settle()');
  t.equal(answer.status, 403);
  t.equal(answer.body, 'late answer');
});

t.test(
  'complete() accepts, refuses, and lets the framework answer a throwing data function',
  async (t) => {
    const outcomes: Array<UpgradeOutcome | Error> = [];
    const { port } = await serveExchanges(t, 'early', (exchange, request) => {
      const path = request.url;
      const data = () => {
        if (path === '/throws') throw Boom.forbidden('not you');
        return undefined;
      };
      exchange.complete(echoRoute, data).then(
        (outcome) => {
          outcomes.push(outcome);
          if (outcome.status === 'refused') exchange.reject(outcome.error);
        },
        (error: Error) => {
          outcomes.push(error);
          t.ok(exchange.isUpgradable, 'still upgradable after the data function threw');
          exchange.reject(error);
        },
      );
    });
    const accepted = await rawExchange(
      t,
      port,
      upgradeRequest('/', { 'Sec-WebSocket-Protocol': 'a' }),
    );
    t.equal(accepted.status, 101);
    const refused = await rawExchange(
      t,
      port,
      upgradeRequest('/', { 'Sec-WebSocket-Protocol': 'z' }),
    );
    t.equal(refused.status, 400);
    const thrown = await rawExchange(
      t,
      port,
      upgradeRequest('/throws', { 'Sec-WebSocket-Protocol': 'a' }),
    );
    t.equal(thrown.status, 403);
    t.match(outcomes, [
      { status: 'accepted' },
      { status: 'refused', error: { data: { code: 'WS_PROTOCOL_UNSUPPORTED' } } },
      { isBoom: true },
    ]);
  },
);

t.test('complete() after a refusal may try another route; twice at once is an error', async (t) => {
  const results: string[] = [];
  const strict = createRoute({ protocols: { b: {} }, heartbeatInterval: 0 });
  const { port } = await serveExchanges(t, 'early', async (exchange) => {
    const first = await exchange.complete(strict, () => undefined);
    results.push(first.status);
    const running = exchange.complete(echoRoute, () => new Promise((r) => setTimeout(r, 20)));
    await exchange
      .complete(echoRoute, () => undefined)
      .catch((e: Error) => results.push(e.message));
    results.push((await running).status);
    await exchange
      .complete(echoRoute, () => undefined)
      .catch((e: Error) => results.push(e.message));
  });
  const answer = await rawExchange(t, port, upgradeRequest('/', { 'Sec-WebSocket-Protocol': 'a' }));
  t.equal(answer.status, 101);
  await withTimeout(new Promise<void>((r) => setImmediate(r)), 'results');
  t.same(results, [
    'refused',
    'wsroute: this request is being upgraded already',
    'accepted',
    'wsroute: this request was answered already',
  ]);
});

t.test('an undecided upgrade is answered 408 at the handshake deadline', async (t) => {
  const { port } = await serveExchanges(t, 'early', () => {}, { handshakeTimeout: 100 });
  const started = Date.now();
  const answer = await rawExchange(t, port, upgradeRequest('/'));
  t.equal(answer.status, 408);
  t.ok(Date.now() - started < 1000, 'within the deadline');
});

t.test('an upgrade completed once shutdown began is refused with 503', async (t) => {
  let lifecycle: UpgradeLifecycle | undefined;
  const served = await serveExchanges(t, 'early', (exchange) => {
    exchange
      .complete(echoRoute, async () => {
        await lifecycle?.shutdown({ timeout: 100 });
        return undefined;
      })
      .then((outcome) => {
        if (outcome.status === 'refused') exchange.reject(outcome.error);
      });
  });
  lifecycle = served.lifecycle;
  const answer = await rawExchange(
    t,
    served.port,
    upgradeRequest('/', { 'Sec-WebSocket-Protocol': 'a' }),
  );
  t.equal(answer.status, 503);
  t.match(answer.body, /shutting down/);
});

t.test('isUpgradable turns false once the response sent its headers', async (t) => {
  const seen: boolean[] = [];
  const { port } = await serveExchanges(t, 'early', (exchange) => {
    seen.push(exchange.isUpgradable);
    exchange.response.writeHead(403);
    seen.push(exchange.isUpgradable);
    exchange.response.end();
  });
  await rawExchange(t, port, upgradeRequest('/'));
  t.same(seen, [true, false]);
});

t.test("exchanges' responses share one writeHead and have no once-listeners", async (t) => {
  // A closure per response (writeHead) or a `once` listener on it kept every response, and the
  // whole handshake it reaches, alive through the next scavenge: each short connection was
  // promoted to the old generation (measured on handshake cycles: 4.6 KB survived per cycle
  // instead of 0.8 KB, a quarter more server CPU per handshake). WeakRefs cannot show it (the
  // scavenger keeps their targets), so the shapes are checked.
  const responses: ServerResponse[] = [];
  const { port } = await serveExchanges(t, 'early', (exchange) => {
    responses.push(exchange.response);
    void exchange.complete(echoRoute, () => undefined);
  });
  for (let i = 0; i < 2; i++) {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`, 'a');
    await once(ws, 'open');
    ws.close(1000);
    await once(ws, 'close');
  }
  const [first, second] = responses;
  t.ok(first && second);
  t.not(first?.writeHead, ServerResponse.prototype.writeHead, 'writeHead is intercepted');
  t.equal(first?.writeHead, second?.writeHead, 'by one function for every response');
  for (const event of ['finish', 'close']) {
    const wrapped = first?.rawListeners(event).filter((listener) => 'listener' in listener);
    t.same(wrapped, [], `no once-wrapper on '${event}'`);
  }
});
