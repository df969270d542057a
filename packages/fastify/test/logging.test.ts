/**
 * Fastify's logger: handler errors nobody handled are logged with the app's logger, and a
 * websocket route on an app without the plugin is explained once in the log.
 */
import { once } from 'node:events';
import { Writable } from 'node:stream';
import Fastify from 'fastify';
import t from 'tap';
import WebSocket from 'ws';
import { upgradeRequired, wsroute } from '../src/index.js';
import { exchange, listen, upgradeRequest } from './helpers.js';

/** A Fastify logger writing JSON lines into `lines`. */
function capture(lines: Array<Record<string, unknown>>) {
  return {
    level: 'error',
    stream: new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString().split('\n')) {
          if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
        }
        done();
      },
    }),
  };
}

t.test('a handler error without onError is logged by the app', async (t) => {
  const lines: Array<Record<string, unknown>> = [];
  const app = Fastify({ logger: capture(lines) });
  t.teardown(() => app.close());
  await app.register(wsroute);
  app.get(
    '/ws',
    {
      websocket: {
        defaultProtocol: {
          onMessage() {
            throw new Error('handler failure');
          },
        },
        heartbeatInterval: 0,
      },
    },
    upgradeRequired,
  );
  const { url } = await listen(app);
  const ws = new WebSocket(`${url}/ws`);
  ws.on('error', () => {});
  t.teardown(() => ws.terminate());
  await once(ws, 'open');
  ws.send('boom');
  const [code] = (await once(ws, 'close')) as [number];
  t.equal(code, 1011);
  t.match(lines, [{ level: 50, path: '/ws', err: { code: 'WS_HANDLER_ERROR' } }]);
});

t.test('a websocket route on an app without the plugin is explained once', async (t) => {
  const lines: Array<Record<string, unknown>> = [];
  const app = Fastify({ logger: capture(lines) });
  t.teardown(() => app.close());
  app.get('/ws', { websocket: { defaultProtocol: {} } }, upgradeRequired);
  const { port } = await listen(app);
  const first = await exchange(t, port, upgradeRequest('/ws'));
  await exchange(t, port, upgradeRequest('/ws'));
  t.equal(first.status, 500, 'not a bare 426');
  const hints = lines.filter((l) => /register @wsroute\/fastify/.test(String(l.msg)));
  t.equal(hints.length, 1, 'logged once');
});
