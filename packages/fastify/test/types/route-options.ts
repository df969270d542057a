/**
 * Type tests, checked by `tsc -b` (never run): the `websocket` route option, the data its
 * handlers see, `defineWebSocketRoute`, the decorators and the plugin's options.
 */
import type {
  AnyConnection,
  Connection,
  RawMessage,
  RawOutgoing,
  WebSocketHub,
} from '@wsroute/core';
import { defineProtocol, jsonCodec } from '@wsroute/core';
import Fastify, { type FastifyRequest } from 'fastify';
import type WebSocket from 'ws';
import {
  defineWebSocketRoute,
  type FastifyWebSocketRoute,
  type RequestData,
  upgradeRequired,
  type WsrouteOptions,
  wsroute,
} from '../../src/index.js';
import { injectWS } from '../../src/testing.js';

/** true when A and B are the same type (not merely assignable). */
type Equal<A, B> =
  (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function expectEqual<A, B>(isEqual: Equal<A, B>): void {
  void isEqual;
}

declare module 'fastify' {
  interface FastifyRequest {
    account?: { readonly name: string };
  }
}

const app = Fastify();
await app.register(wsroute, { handshakeTimeout: 5000, shutdownTimeout: 100 });

// The plugin's options are checked.
// @ts-expect-error handshakeTimeout is a number
app.register(wsroute, { handshakeTimeout: '5s' });
// @ts-expect-error no such option
const unknownOption: WsrouteOptions = { maxPayload: 1 };
void unknownOption;
// Admission options are the plugin's too.
const admission: WsrouteOptions = {
  origins: (origin, { isSameOrigin }) => isSameOrigin || origin.endsWith('.example'),
  trustProxy: { proxies: ['loopback'], header: 'forwarded' },
  handshakesPerClient: { limit: 10, windowMs: 1000 },
  tokenPrefix: 'base64url.bearer.',
};
void admission;
// @ts-expect-error not a policy
app.register(wsroute, { origins: 'everyone' });
expectEqual<ReturnType<typeof app.websocket.shed>, number>(true);

// Inline: the data is the route's request, params and decorations typed.
app.get<{ Params: { room: string }; Querystring: { nick: string } }>(
  '/rooms/:room',
  {
    websocket: {
      protocols: {
        chat: {
          onMessage(connection, message) {
            expectEqual<typeof message, RawMessage>(true);
            expectEqual<typeof connection.data.request.params, { room: string }>(true);
            expectEqual<typeof connection.data.request.query, { nick: string }>(true);
            expectEqual<
              typeof connection.data.request.account,
              { readonly name: string } | undefined
            >(true);
            expectEqual<typeof connection.data.request.isWebSocket, boolean>(true);
            expectEqual<typeof connection.data.request.websocketToken, string | undefined>(true);
            // @ts-expect-error not a param of this route
            connection.data.request.params.other;
            connection.send('text');
            // @ts-expect-error raw handlers send strings or bytes
            connection.send({ json: true });
          },
        },
      },
    },
  },
  upgradeRequired,
);

// `data` inline is refused: its type would not reach the handlers.
app.get(
  '/inline-data',
  {
    // @ts-expect-error use defineWebSocketRoute for data
    websocket: { data: () => ({ user: 'x' }), defaultProtocol: { onMessage() {} } },
  },
  upgradeRequired,
);

// defineWebSocketRoute: the request is the route's; the handlers see what data returns.
app.get<{ Params: { id: string } }>(
  '/threads/:id',
  {
    websocket: defineWebSocketRoute({
      data: async (request) => ({ id: Number(request.params.id), who: request.account?.name }),
      defaultProtocol: {
        onOpen(connection) {
          expectEqual<typeof connection.data, { id: number; who: string | undefined }>(true);
          // @ts-expect-error not in the data
          connection.data.request;
        },
      },
    }),
  },
  upgradeRequired,
);

app.get(
  '/no-params',
  {
    websocket: defineWebSocketRoute({
      // @ts-expect-error this route declares no such param
      data: (request) => ({ id: request.params.id }),
      defaultProtocol: { onOpen() {} },
    }),
  },
  upgradeRequired,
);

// Typed protocols: each keeps its message types; data must match the route's.
interface In {
  readonly text: string;
}
interface Out {
  readonly echo: string;
}
const chatV2 = defineProtocol<RequestData, In, Out>({
  codec: jsonCodec<In, Out>(),
  handler: {
    onMessage(connection, message) {
      expectEqual<typeof connection, Connection<RequestData, In, Out>>(true);
      connection.send({ echo: message.text });
      // @ts-expect-error chat.v2 sends Out
      connection.send('raw');
    },
  },
});
app.get('/chat', { websocket: { protocols: { 'chat.v2': chatV2 } } }, upgradeRequired);

const userProtocol = defineProtocol<{ readonly user: string }>({
  handler: {
    onMessage(connection) {
      connection.send(connection.data.user);
    },
  },
});
app.get(
  '/users',
  {
    // @ts-expect-error these handlers need { user }, the inline route gives { request }
    websocket: { protocols: { u: userProtocol } },
  },
  upgradeRequired,
);
app.get(
  '/users2',
  {
    websocket: defineWebSocketRoute({
      data: (request) => ({ user: request.account?.name ?? 'anonymous' }),
      protocols: { u: userProtocol },
    }),
  },
  upgradeRequired,
);
defineWebSocketRoute({
  // @ts-expect-error data must give what the protocols need
  data: () => ({ nobody: true }),
  protocols: { u: userProtocol },
});

// A declaration made for a request with params fits only routes that have them.
const needsRoom: FastifyWebSocketRoute<FastifyRequest<{ Params: { room: string } }>> =
  defineWebSocketRoute({
    data: (request: FastifyRequest<{ Params: { room: string } }>) => ({
      room: request.params.room,
    }),
    defaultProtocol: { onOpen() {} },
  });
app.get<{ Params: { room: string } }>('/r/:room', { websocket: needsRoom }, upgradeRequired);

// app.route() takes the option too.
app.route({
  method: 'GET',
  url: '/route',
  websocket: {
    defaultProtocol: {
      onOpen(connection) {
        expectEqual<typeof connection.data.request, FastifyRequest>(true);
      },
    },
  },
  handler: upgradeRequired,
});

// Decorators.
expectEqual<typeof app.websocketConnections, ReadonlySet<AnyConnection>>(true);
expectEqual<typeof app.websocket, WebSocketHub>(true);
expectEqual<typeof app.websocket.connections, ReadonlySet<AnyConnection>>(true);
// @ts-expect-error read-only
app.websocketConnections = new Set();

// The test helper lives in its own entry point.
expectEqual<ReturnType<typeof injectWS>, Promise<WebSocket>>(true);
injectWS(app, '/chat', { protocols: ['chat.v2'], headers: { authorization: 'x' }, timeout: 100 });
// @ts-expect-error protocols are strings
injectWS(app, '/chat', { protocols: [1] });

// Core's raw types stay the defaults.
expectEqual<RawOutgoing, string | Uint8Array>(true);
