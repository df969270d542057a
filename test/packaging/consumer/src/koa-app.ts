// @wsroute/koa with @koa/router: a lazy upgrade on ctx, auth middleware before the 101.
import http from 'node:http';
import Boom from '@hapi/boom';
import { Router } from '@koa/router';
import { defineProtocol, jsonCodec } from '@wsroute/core';
import { wsroute } from '@wsroute/koa';
import Koa from 'koa';

interface User {
  readonly name: string;
}
interface ChatIn {
  readonly text: string;
}
interface ChatOut {
  readonly from: string;
  readonly text: string;
}
type RoomData = { user: User; room: string };

/** The server, not listening yet. */
export function createKoaServer(): http.Server {
  const app = new Koa();
  const ws = wsroute();
  app.use(ws.middleware());
  const auth: Koa.Middleware = async (ctx, next) => {
    if (ctx.get('authorization') !== 'Bearer s3cret') throw Boom.unauthorized(null, 'Bearer');
    ctx.state.user = { name: 'alice' } satisfies User;
    await next();
  };
  const router = new Router();
  router.get(
    '/rooms/:room',
    auth,
    ws.route<RoomData>({
      protocols: {
        'chat.v1': defineProtocol<RoomData, ChatIn, ChatOut>({
          codec: jsonCodec(),
          validate: (message): message is ChatIn =>
            typeof (message as Partial<ChatIn> | null)?.text === 'string',
          handler: {
            onMessage(connection, message) {
              connection.send({ from: connection.data.user.name, text: message.text });
            },
          },
        }),
      },
      data: (ctx) => ({ user: ctx.state.user as User, room: String(ctx.params.room) }),
    }),
  );
  app.use(router.routes());
  return ws.attach(http.createServer(app.callback()), app);
}
