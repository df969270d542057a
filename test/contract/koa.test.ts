/**
 * The contract for the Koa adapter: the spec routes are mounted with @koa/router; `/auth` sits
 * behind an ordinary Koa middleware that throws a Boom 401 (answered as plain HTTP before any
 * 101) and puts the user on `ctx.state`, from which the route takes its data; `/http-only` is
 * a plain GET route, so an upgrade there gets its 200 "ok", never a 101.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import Boom from '@hapi/boom';
import { Router } from '@koa/router';
import type { RouteOptions } from '@wsroute/core';
import { wsroute } from '@wsroute/koa';
import Koa from 'koa';
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

interface AuthState {
  user: string;
}

const factory: ContractFactory = async (options = {}) => {
  const logs: string[] = [];
  const app = new Koa();
  app.on('error', (error: unknown) => {
    logs.push(
      error instanceof Error ? `${error.stack ?? ''} ${JSON.stringify(error)}` : String(error),
    );
  });
  const ws = wsroute(options);
  const router = new Router<AuthState>();
  const routes: Record<string, RouteOptions<undefined>> = contractRoutes;
  for (const [path, options] of Object.entries(routes)) router.get(path, ws.route(options));
  router.get(
    '/auth',
    async (ctx, next) => {
      if (ctx.get('authorization') !== GOOD_TOKEN) throw Boom.unauthorized();
      ctx.state.user = AUTH_USER;
      await next();
    },
    ws.route<AuthData, AuthState>({ ...authRoute, data: (ctx) => ({ user: ctx.state.user }) }),
  );
  router.get(
    '/token',
    async (ctx, next) => {
      // The credential carrier's token, decoded by the adapter before the app ran.
      if (ctx.ws?.token !== GOOD_WS_TOKEN) throw Boom.unauthorized();
      ctx.state.user = TOKEN_USER;
      await next();
    },
    ws.route<AuthData, AuthState>({ ...tokenRoute, data: (ctx) => ({ user: ctx.state.user }) }),
  );
  router.get(HTTP_ONLY_PATH, (ctx) => {
    ctx.body = 'ok';
  });
  app.use(ws.middleware());
  app.use(router.routes());

  const server = ws.attach(createServer(app.callback()), app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `ws://127.0.0.1:${port}`,
    port,
    hub: ws,
    logs,
    async close() {
      await ws.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
};

await runContract(t, 'koa', factory);
