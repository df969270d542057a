import { once } from 'node:events';
import { get, type IncomingMessage } from 'node:http';
import Boom from '@hapi/boom';
import { type Connection, isHandshakeError } from '@wsroute/core';
import { createRoute } from '@wsroute/core/adapter';
import t from 'tap';
import { WebSocketUpgrade } from '../src/index.js';
import {
  nextMessage,
  rawConnect,
  rawExchange,
  readHead,
  startApp,
  upgradeRequest,
  wsOpen,
} from './helpers.js';

const greeter = createRoute<string>({
  defaultProtocol: {
    onOpen(connection) {
      connection.send(`hello ${connection.data}`);
    },
  },
  heartbeatInterval: 0,
});

const strict = createRoute<string>({
  protocols: {
    only: {
      onOpen(connection: Connection<string>) {
        connection.send('strict');
      },
    },
  },
  heartbeatInterval: 0,
});

t.test('ctx.ws is a WebSocketUpgrade on upgrade requests only', async (t) => {
  const seen: boolean[] = [];
  const { port, url } = await startApp(t, (app) => {
    app.use(async (ctx) => {
      seen.push(ctx.ws instanceof WebSocketUpgrade);
      if (ctx.ws) await ctx.ws.upgrade(greeter, () => 'ctx');
      else ctx.body = 'plain';
    });
  });
  const request = get({ host: '127.0.0.1', port, path: '/' });
  const [response] = (await once(request, 'response')) as [IncomingMessage];
  response.resume();
  t.equal(response.statusCode, 200);
  const socket = await wsOpen(t, url);
  t.equal(await nextMessage(socket), 'hello ctx');
  t.same(seen, [false, true]);
});

t.test(
  'a middleware may pick the route at request time and fall back after a refusal',
  async (t) => {
    const refusals: unknown[] = [];
    const { url } = await startApp(t, (app) => {
      app.use(async (ctx) => {
        if (!ctx.ws) return;
        try {
          await ctx.ws.upgrade(strict, () => 'x');
        } catch (error) {
          refusals.push(error);
          await ctx.ws.upgrade(greeter, () => 'fallback');
        }
      });
    });
    const socket = await wsOpen(t, url);
    t.equal(await nextMessage(socket), 'hello fallback');
    t.equal(refusals.length, 1);
    t.ok(isHandshakeError(refusals[0]));
    t.equal(isHandshakeError(refusals[0]) && refusals[0].output.statusCode, 400);

    const strictSocket = await wsOpen(t, url, ['only']);
    t.equal(await nextMessage(strictSocket), 'strict');
  },
);

t.test('upgrading twice is an error, the first upgrade stands', async (t) => {
  const errors: unknown[] = [];
  const { url } = await startApp(t, (app) => {
    app.use(async (ctx) => {
      await ctx.ws?.upgrade(greeter, () => 'once');
      await ctx.ws?.upgrade(greeter, () => 'twice').catch((error: unknown) => errors.push(error));
    });
  });
  const socket = await wsOpen(t, url);
  t.equal(await nextMessage(socket), 'hello once');
  t.equal(errors.length, 1);
  t.match(errors[0], { message: /already/ });
});

t.test(
  'an upgrade still running when the pipeline ends completes; nothing else is written',
  async (t) => {
    const { port } = await startApp(t, (app) => {
      app.use((ctx) => {
        // Not awaited: the attachment waits for it before deciding on an HTTP answer.
        void ctx.ws?.upgrade(greeter, async () => {
          await new Promise((resolve) => setTimeout(resolve, 20));
          return 'late';
        });
      });
    });
    const socket = await rawConnect(t, port);
    socket.write(upgradeRequest('/'));
    const head = await readHead(socket);
    t.equal(head.status, 101);
    let rest = head.rest;
    while (rest.length < 12) {
      const [chunk] = (await once(socket, 'data')) as [Buffer];
      rest = Buffer.concat([rest, chunk]);
    }
    t.same(rest, Buffer.from([0x81, 10, ...Buffer.from('hello late')]));
  },
);

t.test('an upgrade attempted after the answer was sent is refused', async (t) => {
  let late: Promise<unknown> = Promise.resolve();
  const { port } = await startApp(t, (app) => {
    app.use((ctx) => {
      ctx.status = 403;
      ctx.body = 'answered';
      const upgrade = ctx.ws;
      if (!upgrade) return;
      late = new Promise((resolve) => setTimeout(resolve, 20)).then(() =>
        upgrade
          .upgrade(greeter, () => 'too late')
          .then(
            () => 'accepted',
            (error: Error) => error.message,
          ),
      );
    });
  });
  const answer = await rawExchange(t, port, upgradeRequest('/'));
  t.equal(answer.status, 403);
  t.equal(answer.body, 'answered');
  t.match(await late, /was answered already/);
});

t.test('a Boom thrown by data() through ctx.ws is answered as plain HTTP', async (t) => {
  const { port } = await startApp(t, (app) => {
    app.use(async (ctx) => {
      await ctx.ws?.upgrade(greeter, () => {
        throw Boom.tooManyRequests('slow down');
      });
    });
  });
  const answer = await rawExchange(t, port, upgradeRequest('/'));
  t.equal(answer.status, 429);
  t.equal(answer.body, 'slow down');
});
