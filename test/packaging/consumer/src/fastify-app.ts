// @wsroute/fastify: the plugin, an inline route and a typed defineWebSocketRoute.
import Boom from '@hapi/boom';
import { defineProtocol, jsonCodec } from '@wsroute/core';
import { defineWebSocketRoute, upgradeRequired, wsroute } from '@wsroute/fastify';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';

declare module 'fastify' {
  interface FastifyRequest {
    user: { readonly name: string } | null;
  }
}

interface RoomData {
  readonly user: string;
  readonly room: string;
}
interface SayMessage {
  readonly text: string;
}
interface SaidMessage {
  readonly from: string;
  readonly room: string;
  readonly text: string;
}

const chatV2 = defineProtocol<RoomData, SayMessage, SaidMessage>({
  codec: jsonCodec<SayMessage, SaidMessage>(),
  validate: (message): message is SayMessage =>
    typeof (message as Partial<SayMessage> | null)?.text === 'string',
  handler: {
    onMessage(connection, message) {
      const { user, room } = connection.data;
      connection.send({ from: user, room, text: message.text });
    },
  },
});

async function authenticate(request: FastifyRequest): Promise<void> {
  if (request.headers.authorization !== 'Bearer s3cret') {
    throw Boom.unauthorized('token required', 'Bearer');
  }
  request.user = { name: 'alice' };
}

/** The app with its routes, not listening yet. */
export async function buildApp(): Promise<FastifyInstance> {
  const app = Fastify();
  app.decorateRequest('user', null);
  await app.register(wsroute, { handshakeTimeout: 5_000 });

  app.get(
    '/echo',
    {
      websocket: {
        defaultProtocol: {
          onMessage: (connection, message) => {
            // Inline options: the data is { request }.
            const url: string = connection.data.request.url;
            connection.send(typeof message === 'string' ? `${url}: ${message}` : message);
          },
        },
      },
    },
    upgradeRequired,
  );

  app.get<{ Params: { room: string } }>(
    '/rooms/:room',
    {
      onRequest: authenticate,
      websocket: defineWebSocketRoute({
        data: (request: FastifyRequest<{ Params: { room: string } }>): RoomData => ({
          user: request.user?.name ?? 'nobody',
          room: request.params.room,
        }),
        protocols: { 'chat.v2': chatV2 },
        maxPayload: 64 * 1024,
      }),
    },
    async (request) => ({ room: request.params.room }),
  );
  return app;
}
