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
  GOOD_WS_TOKEN,
  HTTP_ONLY_PATH,
  TOKEN_USER,
  tokenRoute,
} from './spec.js';
import { runContract } from './suite.js';

declare module 'fastify' {
  interface FastifyRequest {
    user?: string;
  }
}

const factory: ContractFactory = async (options = {}) => {
  const logs: string[] = [];
  // Everything Fastify and the plugin log, down to trace, to check that no credential is in it.
  const stream = { write: (line: string) => void logs.push(line) };
  const app = Fastify({ logger: { level: 'trace', stream } });
  await app.register(wsroute, options);
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
  app.get(
    '/token',
    {
      // The credential carrier's token, decoded by the plugin before any hook runs.
      async onRequest(request, reply) {
        if (request.websocketToken !== GOOD_WS_TOKEN) return reply.code(401).send('Unauthorized');
        request.user = TOKEN_USER;
      },
      websocket: defineWebSocketRoute<AuthData>({
        ...tokenRoute,
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
    hub: app.websocket,
    logs,
    async close() {
      await app.close();
    },
  };
};

await runContract(t, 'fastify', factory);
