/**
 * `injectWS(app, )`: a real `ws` client over a loopback socket pair, with or without `listen()`.
 */
import t from 'tap';
import { defineWebSocketRoute, upgradeRequired } from '../src/index.js';
import { InjectWSError, injectWS } from '../src/testing.js';
import { createApp, listen, track } from './helpers.js';

const echo = {
  onMessage(connection: { send(message: string | Uint8Array): boolean }, message: string | Buffer) {
    connection.send(message);
  },
};

/** The rejection of `promise`; fails the test when it resolves. */
async function failure(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: unknown) => error,
  );
}

t.test('connects without listen(), negotiating the subprotocol', async (t) => {
  const app = await createApp(t);
  app.get('/chat', { websocket: { protocols: { 'chat.v2': echo, chat: echo } } }, upgradeRequired);
  const client = track(t, await injectWS(app, '/chat', { protocols: ['chat.v2', 'chat'] }));
  t.equal(client.ws.protocol, 'chat.v2');
  t.equal(await client.ask('hello'), 'hello');
  t.notOk(app.server.listening, 'the app never listened');
  const single = track(t, await injectWS(app, '/chat', { protocols: 'chat' }));
  t.equal(single.ws.protocol, 'chat');
});

t.test('sends headers through the hooks', async (t) => {
  const app = await createApp(t);
  app.get(
    '/me',
    {
      async onRequest(request, reply) {
        if (!request.headers.authorization) return reply.code(401).send('token required');
      },
      websocket: defineWebSocketRoute({
        data: (request) => ({ token: request.headers.authorization ?? '' }),
        defaultProtocol: {
          onOpen(connection) {
            connection.send(connection.data.token);
          },
        },
      }),
    },
    upgradeRequired,
  );
  const client = track(t, await injectWS(app, '/me', { headers: { authorization: 'Bearer x' } }));
  t.equal(await client.next(), 'Bearer x');
});

t.test('rejects with the status, headers and body of a refusal', async (t) => {
  const app = await createApp(t);
  app.get(
    '/private',
    {
      async onRequest(_request, reply) {
        return reply.code(401).header('www-authenticate', 'Bearer').send('token required');
      },
      websocket: { defaultProtocol: echo },
    },
    upgradeRequired,
  );
  app.get('/strict', { websocket: { protocols: { a: echo } } }, upgradeRequired);
  const refused = await failure(injectWS(app, '/private'));
  t.type(refused, InjectWSError);
  t.match(refused, {
    statusCode: 401,
    body: 'token required',
    headers: { 'www-authenticate': 'Bearer' },
  });
  t.match(await failure(injectWS(app, '/nowhere')), { statusCode: 404 });
  t.match(await failure(injectWS(app, '/strict', { protocols: 'b' })), {
    statusCode: 400,
    body: /supports: a/,
  });
  t.match(await failure(injectWS(app, 'relative')), { name: 'TypeError' });
});

t.test('works on a listening app, and app.close() closes the client with 1001', async (t) => {
  const app = await createApp(t);
  app.get('/echo', { websocket: { defaultProtocol: echo } }, upgradeRequired);
  await listen(app);
  const client = track(t, await injectWS(app, '/echo', { perMessageDeflate: true }));
  t.equal(await client.ask('x'), 'x');
  await app.close();
  t.equal(await client.closed, 1001);
});
