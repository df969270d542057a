/**
 * Configuration errors surface at registration: bad `websocket` options, non-GET websocket
 * routes, bad plugin options, the plugin registered twice.
 */
import Fastify from 'fastify';
import t from 'tap';
import {
  defineWebSocketRoute,
  upgradeRequired,
  type WsrouteOptions,
  wsroute,
} from '../src/index.js';
import { createApp, exchange, listen, upgradeRequest } from './helpers.js';

const echo = { onMessage() {} };

t.test('an invalid websocket option throws when the route is declared', async (t) => {
  const app = await createApp(t);
  t.throws(
    () => app.get('/none', { websocket: {} }, upgradeRequired),
    { name: 'TypeError', message: /protocols/ },
    'neither protocols nor a default',
  );
  t.throws(
    () => app.get('/name', { websocket: { protocols: { 'bad name': echo } } }, upgradeRequired),
    { name: 'TypeError', message: /token/ },
  );
  t.throws(
    () =>
      app.get('/limit', { websocket: { defaultProtocol: echo, maxPayload: -1 } }, upgradeRequired),
    { name: 'TypeError', message: /maxPayload/ },
  );
  t.throws(
    () =>
      app.get(
        '/accept',
        { websocket: { protocols: { a: echo }, unsupportedProtocol: 'accept' } },
        upgradeRequired,
      ),
    { name: 'TypeError', message: /defaultProtocol/ },
  );
});

t.test('a websocket route answers GET only', async (t) => {
  const app = await createApp(t);
  t.throws(() => app.post('/post', { websocket: { defaultProtocol: echo } }, upgradeRequired), {
    name: 'TypeError',
    message: /GET only: POST \/post/,
  });
  t.throws(
    () =>
      app.route({
        method: ['GET', 'PUT'],
        url: '/both',
        websocket: { defaultProtocol: echo },
        handler: upgradeRequired,
      }),
    { message: /GET only/ },
  );
  t.doesNotThrow(() =>
    app.route({
      method: ['GET', 'HEAD'],
      url: '/get-head',
      websocket: { defaultProtocol: echo },
      handler: upgradeRequired,
    }),
  );
});

t.test('defineWebSocketRoute validates at once', async (t) => {
  t.throws(() => defineWebSocketRoute({ data: () => 1, protocols: {} }), { name: 'TypeError' });
  t.throws(
    // @ts-expect-error data is required
    () => defineWebSocketRoute({ defaultProtocol: echo }),
    { message: /data/ },
  );
  const route = defineWebSocketRoute({ data: () => 1, defaultProtocol: echo });
  t.ok(Object.isFrozen(route));
});

t.test('an error inside a plugin fails ready()', async (t) => {
  const app = Fastify();
  await app.register(wsroute);
  app.register(async (child) => {
    child.get('/bad', { websocket: { protocols: {} } }, upgradeRequired);
  });
  await t.rejects(async () => app.ready(), { name: 'TypeError' });
  await app.close();
});

t.test('invalid plugin options are refused', async (t) => {
  const bad: WsrouteOptions[] = [
    { handshakeTimeout: 0 },
    { maxHeaderCount: -1 },
    { maxHeaderBytes: Number.NaN },
    { shutdownTimeout: '1' as unknown as number },
  ];
  for (const options of bad) {
    const app = Fastify();
    await t.rejects(
      async () => app.register(wsroute, options),
      { name: 'TypeError' },
      JSON.stringify(options),
    );
    await app.close();
  }
});

t.test('registering the plugin twice on one server is refused', async (t) => {
  const app = Fastify();
  t.teardown(() => app.close());
  await app.register(wsroute);
  app.register(async (child) => {
    await child.register(wsroute);
  });
  await t.rejects(async () => app.ready(), { message: /already registered/ });
});

t.test('a websocket route declared before the plugin loaded is refused with 500', async (t) => {
  const app = Fastify();
  t.teardown(() => app.close());
  app.register(wsroute);
  // Not awaited: the route is declared before the plugin's onRoute hook exists.
  app.get('/early', { websocket: { defaultProtocol: echo } }, upgradeRequired);
  const { port } = await listen(app);
  const answer = await exchange(t, port, upgradeRequest('/early'));
  t.equal(answer.status, 500);
  t.notMatch(answer.raw, /101/);
});
