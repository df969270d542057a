import { once } from 'node:events';
import { get } from 'node:http';
import Boom from '@hapi/boom';
import { Router } from '@koa/router';
import { type Connection, defineProtocol, jsonCodec } from '@wsroute/core';
import type Koa from 'koa';
import t from 'tap';
import { wsroute } from '../src/index.js';
import {
  ACCEPT,
  clientFrame,
  closed,
  nextMessage,
  rawConnect,
  rawExchange,
  readHead,
  startApp,
  upgradeRequest,
  wsConnect,
  wsOpen,
} from './helpers.js';

interface User {
  readonly name: string;
}

const echo = {
  onMessage(connection: Connection<unknown>, message: string | Buffer) {
    connection.send(message);
  },
};

/** Accepts `Authorization: Bearer good`, refuses anything else the way `refuse` says. */
function auth(refuse: (ctx: Koa.Context) => never): Koa.Middleware {
  return async (ctx, next) => {
    if (ctx.get('authorization') !== 'Bearer good') refuse(ctx);
    ctx.state.user = { name: 'alice' } satisfies User;
    await next();
  };
}

function userRoute(ws: ReturnType<typeof wsroute>) {
  return ws.route<{ user: User }>({
    defaultProtocol: {
      onMessage(connection) {
        connection.send(`user:${connection.data.user.name}`);
      },
    },
    data: (ctx) => ({ user: ctx.state.user as User }),
    heartbeatInterval: 0,
  });
}

t.test('auth middleware refusing before the 101', async (t) => {
  const { port, url, ws } = await startApp(t, (app, ws) => {
    const router = new Router();
    router.get(
      '/boom',
      auth(() => {
        throw Boom.unauthorized();
      }),
      userRoute(ws),
    );
    router.get(
      '/bearer',
      auth(() => {
        throw Boom.unauthorized('bad token', 'Bearer', { realm: 'chat' });
      }),
      userRoute(ws),
    );
    router.get(
      '/throw',
      auth((ctx) => ctx.throw(401)),
      userRoute(ws),
    );
    router.get(
      '/status',
      async (ctx, next) => {
        if (ctx.get('authorization') !== 'Bearer good') {
          ctx.status = 401;
          ctx.body = 'who are you';
          return;
        }
        ctx.state.user = { name: 'alice' };
        await next();
      },
      userRoute(ws),
    );
    router.get(
      '/crash',
      auth(() => {
        throw Boom.badImplementation('database password is hunter2');
      }),
      userRoute(ws),
    );
    app.use(router.routes());
  });

  t.test('a thrown Boom.unauthorized() is answered 401 as plain HTTP, then FIN', async (t) => {
    const answer = await rawExchange(t, port, upgradeRequest('/boom'));
    t.equal(answer.statusLine, 'HTTP/1.1 401 Unauthorized');
    t.equal(answer.body, 'Unauthorized');
    t.equal(answer.headers.connection, 'close');
    t.notOk(answer.headers.upgrade, 'no Upgrade header');
    t.notOk(answer.headers['sec-websocket-accept'], 'no accept key');
    t.notMatch(answer.raw, /101 Switching/);
  });

  t.test("keeps the Boom's headers (WWW-Authenticate) and message", async (t) => {
    const answer = await rawExchange(t, port, upgradeRequest('/bearer'));
    t.equal(answer.status, 401);
    t.equal(answer.headers['www-authenticate'], 'Bearer realm="chat", error="bad token"');
    t.equal(answer.body, 'bad token');
  });

  t.test('ctx.throw(401) is answered 401', async (t) => {
    const answer = await rawExchange(t, port, upgradeRequest('/throw'));
    t.equal(answer.statusLine, 'HTTP/1.1 401 Unauthorized');
    t.equal(answer.body, 'Unauthorized');
  });

  t.test('a middleware answering without next() is answered as it says', async (t) => {
    const answer = await rawExchange(t, port, upgradeRequest('/status'));
    t.equal(answer.status, 401);
    t.equal(answer.body, 'who are you');
    t.equal(answer.headers.connection, 'close');
  });

  t.test('a 5xx Boom leaks nothing of its message', async (t) => {
    const answer = await rawExchange(t, port, upgradeRequest('/crash'));
    t.equal(answer.status, 500);
    t.equal(answer.body, 'Internal Server Error');
  });

  t.test('a ws client sees the 401, never an open connection', async (t) => {
    const outcome = await wsConnect(t, `${url}/boom`);
    t.same(outcome, { kind: 'refused', status: 401, body: 'Unauthorized' });
    t.equal(ws.connections.size, 0);
  });

  t.test('with the right token the route opens and sees the user from ctx.state', async (t) => {
    for (const path of ['/boom', '/throw', '/status']) {
      const socket = await wsOpen(t, `${url}${path}`, [], { authorization: 'Bearer good' });
      socket.send('who');
      t.equal(await nextMessage(socket), 'user:alice', path);
      socket.close();
    }
  });
});

t.test('@koa/router params, nested routers and prefixes', async (t) => {
  const { url } = await startApp(t, (app, ws) => {
    const room = (prefix: string) =>
      ws.route<{ room: string }>({
        defaultProtocol: {
          onOpen(connection) {
            connection.send(`${prefix}:${connection.data.room}`);
          },
        },
        data: (ctx) => ({ room: String(ctx.params.room) }),
        heartbeatInterval: 0,
      });
    const router = new Router();
    router.get('/rooms/:room', room('top'));

    const v1 = new Router();
    v1.use(async (ctx, next) => {
      ctx.state.version = 'v1';
      await next();
    });
    v1.get('/rooms/:room', room('v1'));
    const api = new Router({ prefix: '/api' });
    api.use('/v1', v1.routes(), v1.allowedMethods());

    app.use(router.routes()).use(api.routes());
  });

  t.test('passes route params to data()', async (t) => {
    const socket = await wsOpen(t, `${url}/rooms/lobby`);
    t.equal(await nextMessage(socket), 'top:lobby');
  });

  t.test('reaches a route inside a nested, prefixed router', async (t) => {
    const socket = await wsOpen(t, `${url}/api/v1/rooms/kitchen?x=1`);
    t.equal(await nextMessage(socket), 'v1:kitchen');
  });

  t.test('a path no router matches is answered with Koa’s 404', async (t) => {
    const outcome = await wsConnect(t, `${url}/api/v2/rooms/kitchen`);
    t.same(outcome, { kind: 'refused', status: 404, body: 'Not Found' });
  });
});

t.test('the upgrade is lazy: only a route middleware that is reached upgrades', async (t) => {
  let reached = 0;
  const { port, ws } = await startApp(t, (app, ws) => {
    const router = new Router();
    const route = ws.route({ defaultProtocol: echo, heartbeatInterval: 0 });
    router.get(
      '/maybe',
      async (ctx, next) => {
        if (ctx.query.go !== '1') {
          ctx.body = 'not upgraded';
          return;
        }
        reached++;
        await next();
      },
      route,
    );
    app.use(router.routes());
  });

  const answer = await rawExchange(t, port, upgradeRequest('/maybe'));
  t.equal(answer.statusLine, 'HTTP/1.1 404 Not Found', 'a 2xx without upgrade becomes 404');
  t.equal(answer.headers.connection, 'close');
  t.equal(reached, 0);
  t.equal(ws.connections.size, 0);

  const socket = await rawConnect(t, port);
  socket.write(upgradeRequest('/maybe?go=1'));
  const head = await readHead(socket);
  t.equal(head.status, 101);
  t.equal(head.headers['sec-websocket-accept'], ACCEPT);
  t.equal(reached, 1);
  t.equal(ws.connections.size, 1);
});

t.test('plain HTTP on a websocket route', async (t) => {
  const { port } = await startApp(t, (app, ws) => {
    const router = new Router();
    router.get('/chat', ws.route({ defaultProtocol: echo }));
    router.get('/page', (ctx) => {
      ctx.body = 'ok';
    });
    router.get('/moved', (ctx) => {
      ctx.redirect('/chat');
    });
    app.use(router.routes());
  });

  t.test('a GET without upgrade is answered 426 with Upgrade: websocket', async (t) => {
    const response = get({ host: '127.0.0.1', port, path: '/chat' });
    const [res] = (await once(response, 'response')) as [import('node:http').IncomingMessage];
    res.resume();
    t.equal(res.statusCode, 426);
    t.equal(res.headers.upgrade, 'websocket');
    t.equal(res.headers['sec-websocket-version'], '13');
  });

  t.test('an upgrade request to a plain route is answered 404, never 101', async (t) => {
    const answer = await rawExchange(t, port, upgradeRequest('/page'));
    t.equal(answer.statusLine, 'HTTP/1.1 404 Not Found');
    t.equal(answer.body, 'Not Found');
    t.equal(answer.headers.connection, 'close');
  });

  t.test(
    'an upgrade request to a plain route keeps a non-2xx answer (redirects, errors)',
    async (t) => {
      const answer = await rawExchange(t, port, upgradeRequest('/moved'));
      t.equal(answer.status, 302);
      t.equal(answer.headers.location, '/chat');
    },
  );

  t.test('an unknown path is answered with Koa’s 404 as plain HTTP', async (t) => {
    const answer = await rawExchange(t, port, upgradeRequest('/nowhere'));
    t.equal(answer.statusLine, 'HTTP/1.1 404 Not Found');
    t.equal(answer.body, 'Not Found');
  });
});

t.test('subprotocols are per route', async (t) => {
  interface Ping {
    readonly ping: number;
  }
  const { url, port } = await startApp(t, (app, ws) => {
    const router = new Router();
    router.get(
      '/json',
      ws.route({
        protocols: {
          'json.v1': defineProtocol({
            codec: jsonCodec<Ping, { pong: number }>(),
            validate: (message): message is Ping =>
              typeof (message as Partial<Ping> | null)?.ping === 'number',
            handler: {
              onMessage(connection, message) {
                connection.send({ pong: message.ping });
              },
            },
          }),
        },
        heartbeatInterval: 0,
      }),
    );
    router.get(
      '/text',
      ws.route({ protocols: { 'text.v1': echo, 'text.v2': echo }, heartbeatInterval: 0 }),
    );
    app.use(router.routes());
  });

  t.test('selects the protocol each route supports', async (t) => {
    const json = await wsOpen(t, `${url}/json`, ['json.v1']);
    t.equal(json.protocol, 'json.v1');
    json.send(JSON.stringify({ ping: 7 }));
    t.same(JSON.parse(await nextMessage(json)), { pong: 7 });

    const text = await wsOpen(t, `${url}/text`, ['text.v9', 'text.v2', 'text.v1']);
    t.equal(text.protocol, 'text.v2', "the client's first supported choice");
  });

  t.test('refuses with 400 a protocol only the other route speaks', async (t) => {
    const answer = await rawExchange(
      t,
      port,
      upgradeRequest('/text', { 'Sec-WebSocket-Protocol': 'json.v1' }),
    );
    t.equal(answer.status, 400);
    t.match(answer.body, /text\.v1, text\.v2/);
    t.notOk(answer.headers['sec-websocket-protocol']);
  });

  t.test('refuses with 400 a client offering none on a route without default', async (t) => {
    const outcome = await wsConnect(t, `${url}/json`);
    t.equal(outcome.kind === 'refused' && outcome.status, 400);
  });
});

t.test('a malformed handshake reaching the route is answered with core’s status', async (t) => {
  const { port } = await startApp(t, (app, ws) => {
    app.use(ws.route({ defaultProtocol: echo }));
  });
  const request = upgradeRequest('/any').replace(
    'Sec-WebSocket-Version: 13',
    'Sec-WebSocket-Version: 8',
  );
  const answer = await rawExchange(t, port, request);
  t.equal(answer.status, 426);
  t.equal(answer.headers['sec-websocket-version'], '13');
});

t.test('data() runs after negotiation and may refuse with a Boom', async (t) => {
  let calls = 0;
  const { port, url } = await startApp(t, (app, ws) => {
    app.use(
      ws.route({
        protocols: { a: echo },
        data: () => {
          calls++;
          throw Boom.forbidden('banned');
        },
      }),
    );
  });
  const unsupported = await rawExchange(
    t,
    port,
    upgradeRequest('/', { 'Sec-WebSocket-Protocol': 'z' }),
  );
  t.equal(unsupported.status, 400);
  t.equal(calls, 0, 'not called for a refused negotiation');
  const outcome = await wsConnect(t, url, ['a']);
  t.same(outcome, { kind: 'refused', status: 403, body: 'banned' });
  t.equal(calls, 1);
});

t.test('no message is lost when the first frame arrives with the handshake', async (t) => {
  const { port } = await startApp(t, (app, ws) => {
    const router = new Router();
    // An async middleware before the route: the frame waits in the socket meanwhile.
    router.get(
      '/echo',
      async (_ctx, next) => {
        await new Promise((resolve) => setImmediate(resolve));
        await next();
      },
      ws.route({ defaultProtocol: echo, heartbeatInterval: 0 }),
    );
    app.use(router.routes());
  });
  const socket = await rawConnect(t, port);
  socket.write(
    Buffer.concat([
      Buffer.from(upgradeRequest('/echo'), 'latin1'),
      clientFrame(0x1, Buffer.from('first')),
      clientFrame(0x1, Buffer.from('second')),
    ]),
  );
  const head = await readHead(socket);
  t.equal(head.status, 101);
  let received = head.rest;
  while (received.length < 2 + 5 + 2 + 6) {
    const [chunk] = (await once(socket, 'data')) as [Buffer];
    received = Buffer.concat([received, chunk]);
  }
  t.same(received.subarray(0, 7), Buffer.from([0x81, 5, ...Buffer.from('first')]));
  t.same(received.subarray(7, 15), Buffer.from([0x81, 6, ...Buffer.from('second')]));
});

t.test('shutdown closes every connection with 1001 and refuses new ones with 503', async (t) => {
  const { url, port, ws } = await startApp(t, (app, ws) => {
    const router = new Router();
    router.get('/a', ws.route({ defaultProtocol: echo, heartbeatInterval: 0 }));
    router.get('/b', ws.route({ protocols: { x: echo }, heartbeatInterval: 0 }));
    app.use(router.routes());
  });
  const a = await wsOpen(t, `${url}/a`);
  const b = await wsOpen(t, `${url}/b`, ['x']);
  t.equal(ws.connections.size, 2);
  const [closedA, closedB] = await Promise.all([closed(a), closed(b), ws.close({ timeout: 1000 })]);
  t.same(closedA, { code: 1001, reason: 'server shutting down' });
  t.same(closedB, { code: 1001, reason: 'server shutting down' });
  t.equal(ws.connections.size, 0);

  const answer = await rawExchange(t, port, upgradeRequest('/a'));
  t.equal(answer.status, 503);
});

t.test('handshake limits of the attachment', async (t) => {
  t.test('too many header lines are answered 431 before Koa runs', async (t) => {
    let ran = false;
    const { port } = await startApp(
      t,
      (app) => {
        app.use(() => {
          ran = true;
        });
      },
      { maxHeaderCount: 10 },
    );
    const headers: Record<string, string> = {};
    for (let i = 0; i < 10; i++) headers[`X-Filler-${i}`] = 'x';
    const answer = await rawExchange(t, port, upgradeRequest('/', headers));
    t.equal(answer.status, 431);
    t.equal(ran, false);
  });

  t.test('a pipeline slower than handshakeTimeout is answered 408', async (t) => {
    let finish = (): void => {};
    const { port } = await startApp(
      t,
      (app, ws) => {
        app.use(async (_ctx, next) => {
          await new Promise<void>((resolve) => {
            finish = resolve;
          });
          await next();
        });
        app.use(ws.route({ defaultProtocol: echo }));
      },
      { handshakeTimeout: 50 },
    );
    t.teardown(() => finish());
    const answer = await rawExchange(t, port, upgradeRequest('/'));
    t.equal(answer.status, 408);
  });
});

t.test('the Koa pipeline sees an accepted upgrade as 101 with respond = false', async (t) => {
  const seen: Array<[number, boolean | undefined, boolean]> = [];
  const { url } = await startApp(t, (app, ws) => {
    app.middleware.unshift(async (ctx, next) => {
      await next();
      seen.push([ctx.status, ctx.respond, ctx.ws?.isAccepted ?? false]);
    });
    app.use(ws.route({ defaultProtocol: echo, heartbeatInterval: 0 }));
  });
  await wsOpen(t, url);
  t.same(seen, [[101, false, true]]);
});

t.test('a reset after the 101 is not reported as a Koa request error', async (t) => {
  const { port, ws, errors } = await startApp(t, (app, ws) => {
    app.use(ws.route({ defaultProtocol: echo, heartbeatInterval: 0 }));
  });
  const socket = await rawConnect(t, port);
  socket.write(upgradeRequest('/'));
  t.equal((await readHead(socket)).status, 101);
  t.equal(ws.connections.size, 1);
  const [connection] = ws.connections;
  const closing = new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      if (ws.connections.size === 0) {
        clearInterval(timer);
        resolve();
      }
    }, 5);
  });
  socket.resetAndDestroy();
  await closing;
  t.ok(connection);
  t.same(errors, []);
});

t.test('registration errors are thrown synchronously', async (t) => {
  const ws = wsroute();
  t.throws(() => ws.route({}), TypeError, 'a route without protocols');
  t.throws(
    () => ws.route({ protocols: { 'not a token': echo } }),
    TypeError,
    'an invalid protocol name',
  );
  t.throws(() => ws.route({ defaultProtocol: echo, maxPayload: -1 }), TypeError, 'a bad limit');
  t.throws(
    () => ws.route({ protocols: { a: echo }, unsupportedProtocol: 'accept' }),
    TypeError,
    "unsupportedProtocol 'accept' without default",
  );
  t.throws(
    // @ts-expect-error data must be a function
    () => ws.route({ defaultProtocol: echo, data: { user: 'x' } }),
    TypeError,
    'data that is not a function',
  );
  t.throws(() => wsroute({ handshakeTimeout: 0 }), TypeError);
  t.throws(() => wsroute({ maxHeaderBytes: 1.5 }), TypeError);
  const { createServer } = await import('node:http');
  const { default: KoaApp } = await import('koa');
  const server = createServer();
  const app = new KoaApp();
  ws.attach(server, app);
  t.throws(() => ws.attach(server, app), TypeError, 'attaching a server twice');
});

t.test('core route options pass through: origins and permessage-deflate', async (t) => {
  const { url, port } = await startApp(t, (app, ws) => {
    app.use(
      ws.route({
        defaultProtocol: echo,
        origins: ['https://app.example'],
        perMessageDeflate: true,
        heartbeatInterval: 0,
      }),
    );
  });
  const forbidden = await rawExchange(
    t,
    port,
    upgradeRequest('/', { Origin: 'https://evil.example' }),
  );
  t.equal(forbidden.status, 403);

  const socket = await wsOpen(t, url, [], { origin: 'https://app.example' });
  t.match(socket.extensions, /permessage-deflate/);
  const text = 'compressible '.repeat(200);
  socket.send(text);
  t.equal(await nextMessage(socket), text);
});

t.test('the upgrade travels on the request, not in a weak collection', async (t) => {
  // A WeakMap or WeakSet keyed by a young exchange keeps its entry (and the whole handshake)
  // alive through the next scavenge: every short connection was promoted to the old generation.
  const symbols: string[] = [];
  const { url } = await startApp(t, (app, ws) => {
    app.use(async (ctx, next) => {
      await next();
      symbols.push(
        ...Object.getOwnPropertySymbols(ctx.req).map((symbol) => String(symbol.description)),
      );
    });
    app.use(ws.route({ defaultProtocol: echo, heartbeatInterval: 0 }));
  });
  const socket = await wsOpen(t, url);
  socket.close(1000);
  await closed(socket);
  t.ok(symbols.includes('wsroute.koa.upgrade'), 'the request carries its upgrade');
  t.ok(symbols.includes('wsroute.koa.seen'), 'and the mark of ws.middleware()');
});
