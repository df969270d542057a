import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import t from 'tap';
import { wsroute } from '../src/index.js';
import { closeCode, nextMessage, open, send, start, upgradeRequest } from './helpers.js';

const echo = {
  onMessage(connection: { send(message: string | Uint8Array): boolean }, message: string | Buffer) {
    connection.send(message);
  },
};

t.test(
  'ws.close() closes every connection with 1001, then refuses upgrades with 503',
  async (t) => {
    const app = express();
    const ws = wsroute();
    app.get('/echo', ws.route({ defaultProtocol: echo, heartbeatInterval: 0 }));
    const { port, url } = await start(t, app, ws);
    const first = await open(t, `${url}/echo`);
    const second = await open(t, `${url}/echo`);
    t.equal(ws.connections.size, 2);
    const codes = Promise.all([closeCode(first), closeCode(second)]);
    await ws.close({ timeout: 1000 });
    t.same(await codes, [1001, 1001]);
    t.equal(ws.connections.size, 0);
    const refused = await send(t, port, upgradeRequest('/echo'));
    t.equal(refused.status, 503);
  },
);

t.test("the server's close() closes the connections with 1001 and completes", async (t) => {
  const app = express();
  const ws = wsroute({ shutdownTimeout: 1000 });
  app.get('/echo', ws.route({ defaultProtocol: echo, heartbeatInterval: 0 }));
  const { server, url } = await start(t, app, ws);
  const client = await open(t, `${url}/echo`);
  const code = closeCode(client);
  const closed = new Promise<Error | undefined>((resolve) => server.close(resolve));
  t.equal(await code, 1001);
  t.equal(await closed, undefined, 'the close callback runs once the websockets are gone');
});

t.test('a handshake still in its middleware when shutdown starts gets 503', async (t) => {
  const app = express();
  const ws = wsroute();
  let release: () => void = () => {};
  const entered = new Promise<void>((resolve) => {
    app.get(
      '/slow',
      (_req, _res, next) => {
        release = next;
        resolve();
      },
      ws.route({ defaultProtocol: echo }),
    );
  });
  const { port } = await start(t, app, ws);
  const response = send(t, port, upgradeRequest('/slow'));
  await entered;
  await ws.close();
  release();
  t.equal((await response).status, 503);
});

t.test('a handshake whose data() is pending when shutdown starts gets 503', async (t) => {
  const app = express();
  const ws = wsroute();
  let release: (data: string) => void = () => {};
  const entered = new Promise<void>((resolve) => {
    app.get(
      '/slow',
      ws.route({
        data: () =>
          new Promise<string>((done) => {
            release = done;
            resolve();
          }),
        defaultProtocol: echo,
      }),
    );
  });
  const { port } = await start(t, app, ws);
  const response = send(t, port, upgradeRequest('/slow'));
  await entered;
  await ws.close();
  release('late');
  t.equal((await response).status, 503);
  t.equal(ws.connections.size, 0);
});

t.test('an error after the response started ends the socket without a second answer', async (t) => {
  const app = express();
  const ws = wsroute();
  app.get('/partial', (_req, res, next) => {
    res.status(500).write('partial');
    next(new Error('broke halfway'));
  });
  const { port } = await start(t, app, ws);
  const response = await send(t, port, upgradeRequest('/partial'));
  t.equal(response.status, 500);
  t.match(response.body, /partial/);
  t.equal(response.raw.split('HTTP/1.1').length, 2, 'a single status line');
  t.notMatch(response.raw, /broke halfway/);
});

t.test('a handshake whose middleware never answers gets 408', async (t) => {
  const app = express();
  const ws = wsroute({ handshakeTimeout: 50 });
  app.get('/stuck', () => {}, ws.route({ defaultProtocol: echo }));
  const { port } = await start(t, app, ws);
  const response = await send(t, port, upgradeRequest('/stuck'));
  t.equal(response.status, 408);
});

t.test('a middleware answering after the 408 is ignored without an error', async (t) => {
  const app = express();
  const ws = wsroute({ handshakeTimeout: 50 });
  let lateAnswer: Promise<void> = Promise.resolve();
  app.get('/late', (req, res) => {
    lateAnswer = new Promise((resolve) => {
      // The upgrade socket closes after the guard's 408; answer only then.
      req.socket.once('close', () => {
        res.status(401).end();
        resolve();
      });
    });
  });
  const { port } = await start(t, app, ws);
  const response = await send(t, port, upgradeRequest('/late'));
  t.equal(response.status, 408);
  response.socket.destroy();
  await lateAnswer;
  t.pass('the late answer went nowhere');
});

t.test('too many header lines get 431 before the app runs', async (t) => {
  const app = express();
  const ws = wsroute({ maxHeaderCount: 8 });
  let ran = false;
  app.use((_req, _res, next) => {
    ran = true;
    next();
  });
  app.get('/echo', ws.route({ defaultProtocol: echo }));
  const { port } = await start(t, app, ws);
  const extra: Record<string, string> = {};
  for (let i = 0; i < 5; i++) extra[`X-Filler-${i}`] = 'x';
  const response = await send(t, port, upgradeRequest('/echo', extra));
  t.equal(response.status, 431);
  t.equal(ran, false);
});

t.test('attach takes the app explicitly, or finds it as the only request listener', async (t) => {
  const app = express();
  const ws = wsroute();
  app.get('/echo', ws.route({ defaultProtocol: echo, heartbeatInterval: 0 }));

  const bare = createServer();
  t.throws(() => ws.attach(bare), TypeError, 'no request listener to run');
  const server = ws.attach(createServer(), app);
  t.throws(() => ws.attach(server, app), TypeError, 'attached twice');
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(async () => {
    await ws.close({ timeout: 200 });
    server.close();
  });
  const { port } = server.address() as AddressInfo;
  const client = await open(t, `ws://127.0.0.1:${port}/echo`);
  client.send('explicit');
  t.equal(await nextMessage(client), 'explicit');
});

t.test('two instances on one server: the first attached handles each upgrade', async (t) => {
  const app = express();
  const first = wsroute();
  const second = wsroute();
  app.get('/one', first.route({ defaultProtocol: echo, heartbeatInterval: 0 }));
  app.get('/two', second.route({ defaultProtocol: echo, heartbeatInterval: 0 }));
  const { server, url } = await start(t, app, first);
  second.attach(server, app);
  t.teardown(() => second.close({ timeout: 200 }));
  const one = await open(t, `${url}/one`);
  const two = await open(t, `${url}/two`);
  one.send('1');
  two.send('2');
  t.equal(await nextMessage(one), '1');
  t.equal(await nextMessage(two), '2');
  t.equal(first.connections.size, 1, 'each route joins the registry of its own instance');
  t.equal(second.connections.size, 1);
});

t.test('registration errors throw synchronously', async (t) => {
  const ws = wsroute();
  t.throws(() => ws.route({}), TypeError, 'no protocols and no default');
  t.throws(() => ws.route({ protocols: { 'not a token': echo } }), TypeError);
  t.throws(() => ws.route({ defaultProtocol: echo, maxPayload: -1 }), TypeError);
  t.throws(() => ws.route({ protocols: { a: echo }, unsupportedProtocol: 'accept' }), TypeError);
  t.throws(() => ws.route({ defaultProtocol: echo, data: 'user' as never }), TypeError);
  t.throws(() => ws.route({ defaultProtocol: echo, httpFallback: 'yes' as never }), TypeError);
  t.throws(() => wsroute({ handshakeTimeout: 0 }), TypeError);
  t.throws(() => wsroute({ maxHeaderBytes: Number.NaN }), TypeError);
  t.throws(() => wsroute({ shutdownTimeout: -5 }), TypeError);
});
