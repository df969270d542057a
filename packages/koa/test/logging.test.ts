/**
 * Koa's own error channel: handler errors nobody handled reach `app.on('error')`, and an app
 * that forgot `ws.middleware()` is told once, by name, how to fix it.
 */
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import Boom from '@hapi/boom';
import Koa from 'koa';
import t from 'tap';
import { wsroute } from '../src/index.js';
import { rawExchange, startApp, upgradeRequest, wsOpen } from './helpers.js';

t.test("a handler error without onError reaches app.on('error')", async (t) => {
  const { url, errors } = await startApp(t, (app, ws) => {
    app.use(
      ws.route({
        defaultProtocol: {
          onMessage() {
            throw new Error('handler failure');
          },
        },
        heartbeatInterval: 0,
      }),
    );
  });
  const socket = await wsOpen(t, url);
  socket.send('boom');
  const [code] = (await once(socket, 'close')) as [number];
  t.equal(code, 1011);
  t.match(errors, [{ code: 'WS_HANDLER_ERROR', cause: { message: 'handler failure' } }]);
});

t.test('an app without ws.middleware() is told once how to fix it', async (t) => {
  const app = new Koa();
  const errors: unknown[] = [];
  app.on('error', (error: unknown) => errors.push(error));
  const ws = wsroute();
  app.use(() => {
    throw Boom.unauthorized();
  });
  const server = ws.attach(createServer(app.callback()), app);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  const { port } = server.address() as AddressInfo;
  await rawExchange(t, port, upgradeRequest('/'));
  await rawExchange(t, port, upgradeRequest('/'));
  const hints = errors.filter((e) => e instanceof TypeError);
  t.equal(hints.length, 1, 'once');
  t.match(hints[0], { message: /app\.use\(ws\.middleware\(\)\)/ });
});
