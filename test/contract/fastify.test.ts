/**
 * The contract for the Fastify plugin: the spec routes are mounted as GET routes with the
 * `websocket` option; `/auth` sits behind an `onRequest` hook that replies 401 (plain HTTP,
 * before any 101) or decorates `request.user`, from which the route takes its data;
 * `/http-only` is a plain GET route, so a websocket upgrade there gets 404, never a 101.
 */
import type { AddressInfo } from 'node:net';
import type { RouteOptions } from '@wsroute/core';
import { defineWebSocketRoute, upgradeRequired, wsroute } from '@wsroute/fastify';
import Fastify from 'fastify';
import t from 'tap';
import {
  AUTH_USER,
  type AuthData,
  authRoute,
  type ContractFactory,
  contractRoutes,
  GOOD_TOKEN,
  HTTP_ONLY_PATH,
} from './spec.js';
import { runContract } from './suite.js';

declare module 'fastify' {
  interface FastifyRequest {
    user?: string;
  }
}

const factory: ContractFactory = async () => {
  const app = Fastify();
  await app.register(wsroute);
  app.decorateRequest('user', undefined);
  const routes: Record<string, RouteOptions<undefined>> = contractRoutes;
  for (const [path, options] of Object.entries(routes)) {
    app.get(
      path,
      { websocket: defineWebSocketRoute({ ...options, data: () => undefined }) },
      upgradeRequired,
    );
  }
  app.get(
    '/auth',
    {
      async onRequest(request, reply) {
        if (request.headers.authorization !== GOOD_TOKEN)
          return reply.code(401).send('Unauthorized');
        request.user = AUTH_USER;
      },
      websocket: defineWebSocketRoute<AuthData>({
        ...authRoute,
        data: (request) => ({ user: request.user ?? '' }),
      }),
    },
    upgradeRequired,
  );
  app.get(HTTP_ONLY_PATH, async () => 'ok');
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as AddressInfo;
  return {
    url: `ws://127.0.0.1:${port}`,
    port,
    async close() {
      await app.close();
    },
  };
};

await runContract(t, 'fastify', factory);
