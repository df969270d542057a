import Boom from '@hapi/boom';
import { defineProtocol, jsonCodec } from '@wsroute/core';
import express, { type NextFunction, type Request, type Response } from 'express';
import t from 'tap';
import { wsroute } from '../src/index.js';
import {
  clientFrame,
  nextMessage,
  open,
  readServerFrame,
  send,
  start,
  upgradeRequest,
} from './helpers.js';

interface AuthedRequest extends Request {
  user: string;
}

/** Accepts `Authorization: Bearer good` as alice; anything else gets 401 before the 101. */
function requireUser(req: Request, res: Response, next: NextFunction): void {
  if (req.headers.authorization !== 'Bearer good') {
    res.status(401).set('WWW-Authenticate', 'Bearer').end();
    return;
  }
  (req as AuthedRequest).user = 'alice';
  next();
}

const echo = {
  onMessage(connection: { send(message: string | Uint8Array): boolean }, message: string | Buffer) {
    connection.send(message);
  },
};

t.test('an auth middleware answers 401 before any 101', async (t) => {
  const app = express();
  const ws = wsroute();
  let opened = 0;
  app.get(
    '/chat',
    requireUser,
    ws.route({
      data: (req: AuthedRequest) => ({ user: req.user }),
      defaultProtocol: {
        onOpen(connection) {
          opened++;
          connection.send(`hello ${connection.data.user}`);
        },
      },
      heartbeatInterval: 0,
    }),
  );
  const { port, url } = await start(t, app, ws);

  const refused = await send(t, port, upgradeRequest('/chat'));
  t.equal(refused.status, 401);
  t.equal(refused.headers['www-authenticate'], 'Bearer');
  t.equal(refused.headers.connection, 'close');
  t.notMatch(refused.raw, /101 Switching Protocols/);
  t.equal(opened, 0, 'no connection was opened');

  const client = await open(t, `${url}/chat`, [], { authorization: 'Bearer good' });
  t.equal(await nextMessage(client), 'hello alice');
  t.equal(opened, 1);
});

t.test('next(Boom.forbidden()) answers 403 with the Boom message', async (t) => {
  const app = express();
  const ws = wsroute();
  const seen: number[] = [];
  app.get(
    '/admin',
    (_req, _res, next) => next(Boom.forbidden('admins only')),
    ws.route({ defaultProtocol: echo }),
  );
  // The app's own error handlers see the Boom first.
  app.use((error: Boom.Boom, _req: Request, _res: Response, next: NextFunction) => {
    seen.push(error.output.statusCode);
    next(error);
  });
  const { port } = await start(t, app, ws);
  const response = await send(t, port, upgradeRequest('/admin'));
  t.equal(response.status, 403);
  t.equal(response.body, 'admins only');
  t.equal(response.headers['content-type'], 'text/plain; charset=utf-8');
  t.same(seen, [403]);
});

t.test('a Boom thrown by data() is answered with its status and headers', async (t) => {
  const app = express();
  const ws = wsroute();
  app.get(
    '/chat',
    ws.route({
      data: async (req) => {
        if (req.query.token !== 'ok') throw Boom.unauthorized('bad token', 'Bearer');
        return { token: req.query.token };
      },
      defaultProtocol: {
        onOpen(connection) {
          connection.send(`token ${connection.data.token}`);
        },
      },
      heartbeatInterval: 0,
    }),
  );
  const { port, url } = await start(t, app, ws);
  const response = await send(t, port, upgradeRequest('/chat?token=no'));
  t.equal(response.status, 401);
  t.match(response.headers['www-authenticate'], /^Bearer/);
  t.equal(response.body, 'bad token');
  const client = await open(t, `${url}/chat?token=ok`);
  t.equal(await nextMessage(client), 'token ok');
});

t.test('data() may answer with res itself: no 101 follows', async (t) => {
  const app = express();
  const ws = wsroute();
  app.get(
    '/busy',
    ws.route({
      data: (req, res) => {
        if (req.query.ok === undefined) res.status(409).send('room full');
        else res.send('fine');
      },
      defaultProtocol: echo,
    }),
  );
  const { port } = await start(t, app, ws);
  const response = await send(t, port, upgradeRequest('/busy'));
  t.equal(response.status, 409);
  t.equal(response.body, 'room full');
  const success = await send(t, port, upgradeRequest('/busy?ok'));
  t.equal(success.status, 404, 'a 2xx answer instead of the 101 is a 404');
  t.equal(ws.connections.size, 0);
});

t.test('errors without a Boom: http-errors statuses are kept, others are a bare 500', async (t) => {
  const app = express();
  const ws = wsroute();
  app.get('/limited', () => {
    throw Object.assign(new Error('slow down'), { status: 429, headers: { 'Retry-After': '5' } });
  });
  app.get('/broken', async () => {
    throw new Error('secret database password');
  });
  app.use('/limited', ws.route({ defaultProtocol: echo }));
  const { port } = await start(t, app, ws);
  const limited = await send(t, port, upgradeRequest('/limited'));
  t.equal(limited.status, 429);
  t.equal(limited.headers['retry-after'], '5');
  t.equal(limited.body, 'slow down');
  const broken = await send(t, port, upgradeRequest('/broken'));
  t.equal(broken.status, 500);
  t.equal(broken.body, 'An internal server error occurred', "Boom's generic 500 message");
  t.notMatch(broken.raw, /secret/);
});

t.test('nested routers: params of every level reach data()', async (t) => {
  const app = express();
  const ws = wsroute();
  const rooms = express.Router({ mergeParams: true });
  rooms.get(
    '/:room',
    ws.route({
      data: (req) => ({ org: req.params.org ?? '', room: req.params.room ?? '' }),
      defaultProtocol: {
        onOpen(connection) {
          connection.send(`${connection.data.org}/${connection.data.room}`);
        },
      },
      heartbeatInterval: 0,
    }),
  );
  const orgs = express.Router();
  orgs.use('/:org/rooms', rooms);
  app.use('/api/orgs', orgs);
  const { port, url } = await start(t, app, ws);

  const client = await open(t, `${url}/api/orgs/acme/rooms/lobby`);
  t.equal(await nextMessage(client), 'acme/lobby');
  const missing = await send(t, port, upgradeRequest('/api/orgs/acme/halls/lobby'));
  t.equal(missing.status, 404);
});

t.test('router-level middleware runs before the route, and only for its router', async (t) => {
  const app = express();
  const ws = wsroute();
  const calls: string[] = [];
  const privateRouter = express.Router();
  privateRouter.use((req, res, next) => {
    calls.push(`private ${req.path}`);
    requireUser(req, res, next);
  });
  privateRouter.get('/feed', ws.route({ defaultProtocol: echo, heartbeatInterval: 0 }));
  const publicRouter = express.Router();
  publicRouter.get('/feed', ws.route({ defaultProtocol: echo, heartbeatInterval: 0 }));
  app.use('/private', privateRouter);
  app.use('/public', publicRouter);
  const { port, url } = await start(t, app, ws);

  t.equal((await send(t, port, upgradeRequest('/private/feed'))).status, 401);
  const authed = await open(t, `${url}/private/feed`, [], { authorization: 'Bearer good' });
  authed.send('a');
  t.equal(await nextMessage(authed), 'a');
  const anonymous = await open(t, `${url}/public/feed`);
  anonymous.send('b');
  t.equal(await nextMessage(anonymous), 'b');
  t.same(calls, ['private /feed', 'private /feed']);
});

t.test('a plain GET to a websocket-only route gets 426 with Upgrade: websocket', async (t) => {
  const app = express();
  const ws = wsroute();
  app.get('/chat', ws.route({ defaultProtocol: echo }));
  const { port } = await start(t, app, ws);
  const response = await fetch(`http://127.0.0.1:${port}/chat`);
  t.equal(response.status, 426);
  t.equal(response.headers.get('upgrade'), 'websocket');
  t.equal(response.headers.get('connection'), 'Upgrade', 'RFC 9110 §7.8');
  t.equal(await response.text(), 'Upgrade Required');
});

t.test('httpFallback hands plain requests to the next handler', async (t) => {
  const app = express();
  const ws = wsroute();
  app.get('/chat', ws.route({ defaultProtocol: echo, httpFallback: true }), (_req, res) => {
    res.send('the chat page');
  });
  const { port, url } = await start(t, app, ws);
  const response = await fetch(`http://127.0.0.1:${port}/chat`);
  t.equal(response.status, 200);
  t.equal(await response.text(), 'the chat page');
  const client = await open(t, `${url}/chat`);
  client.send('still a websocket');
  t.equal(await nextMessage(client), 'still a websocket');
});

t.test('an upgrade to an unknown path gets the 404 as plain HTTP', async (t) => {
  const app = express();
  const ws = wsroute();
  app.get('/chat', ws.route({ defaultProtocol: echo }));
  const { port } = await start(t, app, ws);
  const response = await send(t, port, upgradeRequest('/nowhere'));
  t.equal(response.status, 404);
  t.equal(response.body, 'Not Found');
  t.equal(response.headers.connection, 'close');
});

t.test("the app's own 404 handler answers upgrades too", async (t) => {
  const app = express();
  const ws = wsroute();
  app.get('/chat', ws.route({ defaultProtocol: echo }));
  app.use((_req, res) => {
    res.status(404).json({ error: 'no such route' });
  });
  const { port } = await start(t, app, ws);
  const response = await send(t, port, upgradeRequest('/nowhere'));
  t.equal(response.status, 404);
  t.same(JSON.parse(response.body), { error: 'no such route' });
});

t.test('an upgrade to a plain HTTP route gets 404, and plain HTTP still works', async (t) => {
  const app = express();
  const ws = wsroute();
  app.get('/health', (_req, res) => {
    res.set('X-Health', 'yes').send('ok');
  });
  const { port } = await start(t, app, ws);
  const response = await send(t, port, upgradeRequest('/health'));
  t.equal(response.status, 404, 'a 2xx without 101 would tell a websocket client nothing');
  t.equal(response.body, 'Not Found');
  t.equal(response.headers['x-health'], undefined, "none of the plain route's answer leaks");
  t.equal(response.headers.connection, 'close');
  const plain = await fetch(`http://127.0.0.1:${port}/health`);
  t.equal(plain.status, 200);
  t.equal(await plain.text(), 'ok');
});

t.test('redirects and errors of plain routes reach upgrade requests unchanged', async (t) => {
  const app = express();
  const ws = wsroute();
  app.get('/old', (_req, res) => {
    res.redirect(301, '/new');
  });
  app.get('/gone', (_req, res) => {
    res.status(410).send('gone');
  });
  const { port } = await start(t, app, ws);
  const moved = await send(t, port, upgradeRequest('/old'));
  t.equal(moved.status, 301);
  t.equal(moved.headers.location, '/new');
  const gone = await send(t, port, upgradeRequest('/gone'));
  t.equal(gone.status, 410);
  t.equal(gone.body, 'gone');
});

t.test('subprotocols are negotiated per route', async (t) => {
  interface Move {
    readonly x: number;
  }
  const app = express();
  const ws = wsroute();
  app.get(
    '/game',
    ws.route({
      protocols: {
        'game.v1': defineProtocol({
          codec: jsonCodec<Move, { readonly ack: number }>(),
          handler: {
            onMessage(connection, move) {
              connection.send({ ack: move.x });
            },
          },
        }),
      },
      heartbeatInterval: 0,
    }),
  );
  app.get('/chat', ws.route({ protocols: { chat: echo, 'chat.v2': echo }, heartbeatInterval: 0 }));
  const { port, url } = await start(t, app, ws);

  const game = await open(t, `${url}/game`, ['chat', 'game.v1']);
  t.equal(game.protocol, 'game.v1');
  game.send(JSON.stringify({ x: 3 }));
  t.same(JSON.parse(await nextMessage(game)), { ack: 3 });

  const chat = await open(t, `${url}/chat`, ['chat.v2', 'chat']);
  t.equal(chat.protocol, 'chat.v2', "the client's first supported choice");

  const unsupported = await send(
    t,
    port,
    upgradeRequest('/game', { 'Sec-WebSocket-Protocol': 'chat' }),
  );
  t.equal(unsupported.status, 400);
  t.match(unsupported.body, /game\.v1/);
  const none = await send(t, port, upgradeRequest('/game'));
  t.equal(none.status, 400, 'a route without a default protocol requires one');
});

t.test('a malformed handshake reaching the route gets core’s status', async (t) => {
  const app = express();
  const ws = wsroute();
  app.get('/chat', ws.route({ defaultProtocol: echo }));
  const { port } = await start(t, app, ws);
  const badVersion = upgradeRequest('/chat').replace('Version: 13', 'Version: 8');
  const response = await send(t, port, badVersion);
  t.equal(response.status, 426);
  t.equal(response.headers['sec-websocket-version'], '13');
});

t.test('the first frame sent in the same write as the handshake is not lost', async (t) => {
  const app = express();
  const ws = wsroute();
  app.get(
    '/echo',
    async (_req, _res, next) => {
      // An async middleware: the frame waits in the socket while it runs.
      await new Promise<void>((resolve) => setImmediate(resolve));
      next();
    },
    ws.route({ defaultProtocol: echo, heartbeatInterval: 0 }),
  );
  const { port } = await start(t, app, ws);
  const data = Buffer.concat([
    Buffer.from(upgradeRequest('/echo'), 'latin1'),
    clientFrame(0x1, 'early bird'),
  ]);
  const response = await send(t, port, data);
  t.equal(response.status, 101);
  const frame = await readServerFrame(response);
  t.ok(frame.fin);
  t.equal(frame.opcode, 0x1, 'a text frame');
  t.equal(frame.payload.toString(), 'early bird');
});
