/**
 * The plugin over real sockets: the route's hooks answer before any 101, Booms keep their
 * status, prefixes/encapsulation/params, HTTP handlers on websocket paths, graceful shutdown.
 */
import Boom from '@hapi/boom';
import { defineProtocol, jsonCodec } from '@wsroute/core';
import type { FastifyError } from 'fastify';
import t from 'tap';
import { defineWebSocketRoute, upgradeRequired } from '../src/index.js';
import {
  ACCEPT,
  clientFrame,
  createApp,
  exchange,
  listen,
  open,
  upgradeRequest,
} from './helpers.js';

const echo = {
  onMessage(connection: { send(message: string | Uint8Array): boolean }, message: string | Buffer) {
    connection.send(message);
  },
};

t.test('a hook that replies 401 answers a plain 401, never a 101', async (t) => {
  const app = await createApp(t);
  let handled = 0;
  app.get(
    '/private',
    {
      async onRequest(request, reply) {
        if (request.headers.authorization !== 'Bearer ok') {
          return reply.code(401).header('www-authenticate', 'Bearer').send('who are you?');
        }
      },
      websocket: {
        defaultProtocol: {
          onOpen() {
            handled++;
          },
        },
      },
    },
    upgradeRequired,
  );
  const { port, url } = await listen(app);
  const answer = await exchange(t, port, upgradeRequest('/private'));
  t.equal(answer.status, 401);
  t.equal(answer.headers['www-authenticate'], 'Bearer');
  t.equal(answer.headers.connection, 'close');
  t.equal(answer.body, 'who are you?');
  t.notMatch(answer.raw, /101 Switching Protocols/, 'no 101 anywhere');
  t.notOk(answer.headers['sec-websocket-accept']);
  t.ok(answer.isEnded, 'the server ends the socket');
  const client = await open(t, `${url}/private`, [], { authorization: 'Bearer ok' });
  t.equal(client.ws.readyState, client.ws.OPEN, 'the right token is upgraded');
  t.equal(handled, 1, 'only the accepted connection reached the handlers');
});

t.test('hooks run in order before the 101 and see request.isWebSocket', async (t) => {
  const app = await createApp(t);
  const seen: string[] = [];
  app.addHook('onRequest', async (request) => {
    seen.push(`onRequest:${request.isWebSocket}`);
  });
  app.get(
    '/hooks',
    {
      async preValidation() {
        seen.push('preValidation');
      },
      async preHandler(request) {
        seen.push(`preHandler:${request.isWebSocket}`);
      },
      websocket: {
        defaultProtocol: {
          onOpen() {
            seen.push('onOpen');
          },
        },
      },
    },
    upgradeRequired,
  );
  const { url } = await listen(app);
  await open(t, `${url}/hooks`);
  t.same(seen, ['onRequest:true', 'preValidation', 'preHandler:true', 'onOpen']);
  const response = await fetch(`${url.replace('ws:', 'http:')}/hooks`);
  t.equal(response.status, 426);
  t.same(seen.slice(4), ['onRequest:false', 'preValidation', 'preHandler:false']);
});

t.test('a Boom thrown by a hook answers with its status and headers', async (t) => {
  const app = await createApp(t);
  app.get(
    '/forbidden',
    {
      async preHandler() {
        throw Boom.forbidden('not your room');
      },
      websocket: { defaultProtocol: echo },
    },
    upgradeRequired,
  );
  app.get(
    '/challenge',
    {
      onRequest(_request, _reply, done) {
        done(Boom.unauthorized('token expired', 'Bearer', { realm: 'chat' }));
      },
      websocket: { defaultProtocol: echo },
    },
    upgradeRequired,
  );
  app.get(
    '/slow-down',
    {
      websocket: defineWebSocketRoute({
        data: () => {
          throw Boom.tooManyRequests('later', { retryAfter: 3 });
        },
        defaultProtocol: echo,
      }),
    },
    upgradeRequired,
  );
  const { port } = await listen(app);
  const forbidden = await exchange(t, port, upgradeRequest('/forbidden'));
  t.equal(forbidden.status, 403);
  t.match(JSON.parse(forbidden.body), { statusCode: 403, message: 'not your room' });
  t.notMatch(forbidden.raw, /101/);
  const challenge = await exchange(t, port, upgradeRequest('/challenge'));
  t.equal(challenge.status, 401);
  t.match(challenge.headers['www-authenticate'], /^Bearer realm="chat", error="token expired"$/);
  const slow = await exchange(t, port, upgradeRequest('/slow-down'));
  t.equal(slow.status, 429, 'a Boom thrown by data() too');
});

t.test("a Boom reaches the app's error handler with its status", async (t) => {
  const app = await createApp(t);
  const seen: unknown[] = [];
  app.setErrorHandler((error: FastifyError, _request, reply) => {
    seen.push(error.statusCode);
    return reply.code(error.statusCode ?? 500).send({ custom: error.message });
  });
  app.get(
    '/teapot',
    {
      async onRequest() {
        throw Boom.badRequest('nope');
      },
      websocket: { defaultProtocol: echo },
    },
    upgradeRequired,
  );
  app.get(
    '/plain-error',
    {
      async onRequest() {
        throw new Error('boom');
      },
      websocket: { defaultProtocol: echo },
    },
    upgradeRequired,
  );
  const { port } = await listen(app);
  const answer = await exchange(t, port, upgradeRequest('/teapot'));
  t.equal(answer.status, 400);
  t.same(JSON.parse(answer.body), { custom: 'nope' });
  const plain = await exchange(t, port, upgradeRequest('/plain-error'));
  t.equal(plain.status, 500);
  t.same(JSON.parse(plain.body), { custom: 'boom' });
  t.same(seen, [400, undefined]);
});

t.test("a route's own errorHandler sees the Boom with its status", async (t) => {
  const app = await createApp(t);
  app.get(
    '/own',
    {
      async onRequest() {
        throw Boom.paymentRequired('pay first');
      },
      errorHandler(error, _request, reply) {
        reply.code(error.statusCode ?? 500).send(`own:${error.message}`);
      },
      websocket: { defaultProtocol: echo },
    },
    upgradeRequired,
  );
  const { port } = await listen(app);
  const answer = await exchange(t, port, upgradeRequest('/own'));
  t.equal(answer.status, 402);
  t.equal(answer.body, 'own:pay first');
});

t.test('prefixes, encapsulated plugins and route params', async (t) => {
  const app = await createApp(t);
  await app.register(
    async (rooms) => {
      rooms.decorateRequest('member', '');
      rooms.addHook('onRequest', async (request) => {
        (request as typeof request & { member: string }).member = 'bob';
      });
      rooms.get<{ Params: { room: string } }>(
        '/rooms/:room',
        {
          websocket: {
            defaultProtocol: {
              onOpen(connection) {
                const { request } = connection.data;
                const member = (request as typeof request & { member: string }).member;
                connection.send(`${member}@${request.params.room}${request.url}`);
              },
            },
          },
        },
        upgradeRequired,
      );
      await rooms.register(
        async (nested) => {
          nested.get<{ Params: { id: string } }>(
            '/:id',
            {
              websocket: defineWebSocketRoute({
                data: (request) => ({ id: request.params.id }),
                defaultProtocol: {
                  onOpen(connection) {
                    connection.send(`thread ${connection.data.id}`);
                  },
                },
              }),
            },
            upgradeRequired,
          );
        },
        { prefix: '/threads' },
      );
    },
    { prefix: '/v1' },
  );
  const { url } = await listen(app);
  const room = await open(t, `${url}/v1/rooms/lobby?x=1`);
  t.equal(await room.next(), 'bob@lobby/v1/rooms/lobby?x=1');
  const thread = await open(t, `${url}/v1/threads/42`);
  t.equal(await thread.next(), 'thread 42');
});

t.test('an HTTP handler serves plain GETs on the same path', async (t) => {
  const app = await createApp(t);
  app.get('/chat', { websocket: { defaultProtocol: echo } }, async (_request, reply) => {
    return reply.type('text/html').send('<h1>chat</h1>');
  });
  const { url } = await listen(app);
  const page = await fetch(`${url.replace('ws:', 'http:')}/chat`);
  t.equal(page.status, 200);
  t.equal(await page.text(), '<h1>chat</h1>');
  const client = await open(t, `${url}/chat`);
  t.equal(await client.ask('hello'), 'hello');
});

t.test('a plain GET to a websocket-only route answers 426 with Upgrade: websocket', async (t) => {
  const app = await createApp(t);
  app.route({
    method: 'GET',
    url: '/only',
    websocket: { defaultProtocol: echo },
    handler: upgradeRequired,
  });
  const { url, port } = await listen(app);
  const response = await fetch(`${url.replace('ws:', 'http:')}/only`);
  t.equal(response.status, 426);
  t.equal(response.headers.get('upgrade'), 'websocket');
  t.equal(response.headers.get('sec-websocket-version'), '13');
  t.equal(await response.text(), 'Upgrade Required');
  // `Upgrade` without `Connection: upgrade` never reaches the 'upgrade' event: 426 as well.
  const half = await exchange(
    t,
    port,
    'GET /only HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: close\r\n\r\n',
  );
  t.equal(half.status, 426);
});

t.test('each route negotiates its own subprotocols', async (t) => {
  const app = await createApp(t);
  type In = { readonly text: string };
  type Out = { readonly echo: string };
  const chatV2 = defineProtocol<unknown, In, Out>({
    codec: jsonCodec<In, Out>(),
    handler: {
      onMessage(connection, message) {
        connection.send({ echo: message.text });
      },
    },
  });
  app.get('/a', { websocket: { protocols: { 'chat.v2': chatV2, chat: echo } } }, upgradeRequired);
  app.get('/b', { websocket: { protocols: { mqtt: echo } } }, upgradeRequired);
  const { url, port } = await listen(app);
  const a = await open(t, `${url}/a`, ['chat', 'chat.v2']);
  t.equal(a.ws.protocol, 'chat', 'client order wins');
  const v2 = await open(t, `${url}/a`, ['chat.v2']);
  t.equal(v2.ws.protocol, 'chat.v2');
  t.same(JSON.parse(await v2.ask(JSON.stringify({ text: 'hi' }))), { echo: 'hi' });
  const b = await exchange(t, port, upgradeRequest('/b', { 'Sec-WebSocket-Protocol': 'chat' }));
  t.equal(b.status, 400, 'chat is not spoken on /b');
  t.match(b.body, /mqtt/);
  const none = await exchange(t, port, upgradeRequest('/b'));
  t.equal(none.status, 400, 'a protocol is required on /b');
});

t.test('refusals before the 101 stay plain HTTP', async (t) => {
  const app = await createApp(t, { maxHeaderCount: 20 });
  app.get(
    '/ws',
    { websocket: { defaultProtocol: echo, origins: ['https://ok.test'] } },
    upgradeRequired,
  );
  app.get('/page', async () => 'a page');
  const { port } = await listen(app);

  const unknown = await exchange(t, port, upgradeRequest('/nowhere'));
  t.equal(unknown.status, 404, "unknown path: Fastify's 404");
  t.match(JSON.parse(unknown.body), { statusCode: 404 });

  const page = await exchange(t, port, upgradeRequest('/page'));
  t.equal(page.status, 404, 'a websocket upgrade to a plain route');
  t.equal(page.body, 'Not Found');

  const h2c = await exchange(
    t,
    port,
    'GET /page HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade, HTTP2-Settings\r\n' +
      'Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n',
  );
  t.equal(h2c.status, 200, 'other upgrades are served as HTTP/1.1');
  t.equal(h2c.body, 'a page');

  const origin = await exchange(t, port, upgradeRequest('/ws', { Origin: 'https://evil.test' }));
  t.equal(origin.status, 403);

  const version = await exchange(
    t,
    port,
    upgradeRequest('/ws').replace('Sec-WebSocket-Version: 13', 'Sec-WebSocket-Version: 8'),
  );
  t.equal(version.status, 426);
  t.equal(version.headers['sec-websocket-version'], '13');

  const post = await exchange(t, port, upgradeRequest('/ws').replace('GET', 'POST'));
  t.equal(post.status, 404, 'no POST route');

  const many: Record<string, string> = {};
  for (let i = 0; i < 30; i++) many[`x-${i}`] = 'y';
  const tooMany = await exchange(t, port, upgradeRequest('/ws', many));
  t.equal(tooMany.status, 431);

  for (const answer of [unknown, page, origin, version, post, tooMany]) {
    t.notMatch(answer.raw, /101 Switching/);
    t.ok(answer.isEnded);
  }
});

t.test('a hook slower than handshakeTimeout gets 408', async (t) => {
  const app = await createApp(t, { handshakeTimeout: 100 });
  let release: () => void = () => {};
  app.get(
    '/slow',
    {
      onRequest(_request, _reply, done) {
        release = done;
      },
      websocket: { defaultProtocol: echo },
    },
    upgradeRequired,
  );
  const { port } = await listen(app);
  const answer = await exchange(t, port, upgradeRequest('/slow'));
  t.equal(answer.status, 408);
  release();
});

t.test('the first frame sent with the handshake reaches the handler', async (t) => {
  const app = await createApp(t);
  app.get('/echo', { websocket: { defaultProtocol: echo } }, upgradeRequired);
  const { port } = await listen(app);
  const request = Buffer.concat([Buffer.from(upgradeRequest('/echo')), clientFrame(0x1, 'early')]);
  const answer = await exchange(t, port, request);
  t.equal(answer.status, 101);
  t.equal(answer.headers['sec-websocket-accept'], ACCEPT);
  const rest = answer.raw.slice(answer.raw.indexOf('\r\n\r\n') + 4);
  let frame = Buffer.from(rest, 'latin1');
  while (frame.length < 7) {
    frame = Buffer.concat([frame, await new Promise<Buffer>((r) => answer.socket.once('data', r))]);
  }
  t.equal(frame.subarray(2, 7).toString(), 'early');
});

t.test('app.close() closes every connection with 1001', async (t) => {
  const app = await createApp(t, { shutdownTimeout: 1000 });
  app.get('/echo', { websocket: { defaultProtocol: echo } }, upgradeRequired);
  const { url } = await listen(app);
  const first = await open(t, `${url}/echo`);
  const second = await open(t, `${url}/echo`);
  t.equal(app.websocketConnections.size, 2);
  await app.close();
  t.equal(await first.closed, 1001);
  t.equal(await second.closed, 1001);
  t.equal(app.websocketConnections.size, 0);
});

t.test('the default data is the Fastify request, decorations included', async (t) => {
  const app = await createApp(t);
  app.decorateRequest('nickname', '');
  app.get(
    '/me',
    {
      async preHandler(request) {
        (request as typeof request & { nickname: string }).nickname = 'carol';
      },
      websocket: {
        defaultProtocol: {
          onMessage(connection) {
            const request = connection.data.request as typeof connection.data.request & {
              nickname: string;
            };
            connection.send(`${request.nickname} ${String(request.isWebSocket)}`);
          },
        },
      },
    },
    upgradeRequired,
  );
  const { url } = await listen(app);
  const client = await open(t, `${url}/me`);
  t.equal(await client.ask('?'), 'carol true');
});
