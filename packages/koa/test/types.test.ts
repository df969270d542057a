/**
 * Compile-time checks of the public types (`tsc -b` and TAP_TYPECHECK fail on a regression);
 * the runtime part only makes sure the declarations register.
 */
import { Router } from '@koa/router';
import { type Connection, defineProtocol, jsonCodec } from '@wsroute/core';
import Koa from 'koa';
import t from 'tap';
import { type KoaRouteOptions, WebSocketUpgrade, wsroute } from '../src/index.js';

interface User {
  readonly id: number;
}
interface AppState {
  user: User;
}

const ws = wsroute();
const app = new Koa<AppState>();

// ctx.ws is typed on every context.
app.use(async (ctx, next) => {
  const upgrade: WebSocketUpgrade | undefined = ctx.ws;
  const token: string | undefined = upgrade?.token;
  void token;
  if (upgrade?.isAccepted) return;
  await next();
});

// The connection data type flows from `data` into every handler.
const inferred = ws.route({
  data: () => ({ room: 'lobby' }),
  defaultProtocol: {
    onOpen(connection) {
      const room: string = connection.data.room;
      connection.send(room);
    },
  },
});

// With a typed state, `data` sees it.
const router = new Router<AppState>();
router.get(
  '/chat',
  ws.route<{ user: User }, AppState>({
    data: (ctx) => ({ user: ctx.state.user }),
    protocols: {
      'chat.v1': defineProtocol<{ user: User }, { text: string }, { from: number }>({
        codec: jsonCodec(),
        handler: {
          onMessage(connection, message) {
            connection.send({ from: connection.data.user.id });
            // @ts-expect-error outgoing messages are typed by the codec
            connection.send({ from: message.text });
          },
        },
      }),
    },
  }),
);

// Without data the connection data is undefined.
ws.route({
  defaultProtocol: {
    onMessage(connection: Connection<undefined>) {
      connection.close();
    },
  },
});

// @ts-expect-error data is required when the connection data cannot be undefined
ws.route<{ user: User }>({ defaultProtocol: {} });

ws.route<{ user: User }>({
  defaultProtocol: {},
  // @ts-expect-error data must return the declared type
  data: () => ({ user: 'alice' }),
});

// Optional data may be omitted.
const optional: KoaRouteOptions<{ user: User } | undefined> = { defaultProtocol: {} };
ws.route(optional);

app.use(router.routes());
app.use(inferred);

t.test('the public types compile', async (t) => {
  t.type(ws.middleware(), 'function');
  t.type(WebSocketUpgrade, 'function');
});
