/**
 * The contract for the Express adapter: each spec route is an ordinary `app.get(path,
 * ws.route(options))`; `/auth` sits behind an ordinary Express middleware that answers a plain
 * 401 (before any 101) unless the token is good and sets `req.user`, from which the route takes
 * its data; `/http-only` is a plain `app.get` answering "ok". `ws.attach(app.listen())` runs the
 * app for upgrades, and the server's `close()` closes the websockets with 1001.
 */
import type { AddressInfo } from 'node:net';
import type { RouteOptions } from '@wsroute/core';
import { wsroute } from '@wsroute/express';
import express, { type NextFunction, type Request, type Response } from 'express';
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

interface AuthedRequest extends Request {
  user: string;
}

function requireToken(req: Request, res: Response, next: NextFunction): void {
  if (req.headers.authorization !== GOOD_TOKEN) {
    res.status(401).end();
    return;
  }
  (req as AuthedRequest).user = AUTH_USER;
  next();
}

const factory: ContractFactory = async () => {
  const app = express();
  const ws = wsroute();
  const routes: Record<string, RouteOptions<undefined>> = contractRoutes;
  for (const [path, options] of Object.entries(routes)) app.get(path, ws.route(options));
  app.get(
    '/auth',
    requireToken,
    ws.route<AuthData, AuthedRequest>({ ...authRoute, data: (req) => ({ user: req.user }) }),
  );
  app.get(HTTP_ONLY_PATH, (_req, res) => {
    res.send('ok');
  });

  const server = ws.attach(app.listen(0, '127.0.0.1'));
  await new Promise<void>((resolve) => server.once('listening', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `ws://127.0.0.1:${port}`,
    port,
    close() {
      // attach() made close() send 1001 to every connection first.
      return new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
      });
    },
  };
};

await runContract(t, 'express', factory);
