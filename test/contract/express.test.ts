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
  GOOD_WS_TOKEN,
  HTTP_ONLY_PATH,
  TOKEN_USER,
  tokenRoute,
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

/** Checks the credential carrier's token, which the adapter put on `req` before the app ran. */
function requireWsToken(req: Request, res: Response, next: NextFunction): void {
  if (req.websocketToken !== GOOD_WS_TOKEN) {
    res.status(401).end();
    return;
  }
  (req as AuthedRequest).user = TOKEN_USER;
  next();
}

const factory: ContractFactory = async (options = {}) => {
  const app = express();
  const ws = wsroute(options);
  const routes: Record<string, RouteOptions<undefined>> = contractRoutes;
  for (const [path, options] of Object.entries(routes)) app.get(path, ws.route(options));
  app.get(
    '/auth',
    requireToken,
    ws.route<AuthData, AuthedRequest>({ ...authRoute, data: (req) => ({ user: req.user }) }),
  );
  app.get(
    '/token',
    requireWsToken,
    ws.route<AuthData, AuthedRequest>({ ...tokenRoute, data: (req) => ({ user: req.user }) }),
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
    hub: ws,
    // Express has no logger: the adapter's only output is process warnings (see admission.ts).
    logs: [],
    close() {
      // attach() made close() send 1001 to every connection first.
      return new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
      });
    },
  };
};

await runContract(t, 'express', factory);
