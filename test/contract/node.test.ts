/**
 * The contract for the core's own `node:http` attachment: `WebSocketServer.route` mounts the
 * spec routes; `/auth` checks the token in an `upgrade` hook; `/http-only` is answered by the
 * request listener (an upgrade there finds no websocket route: 404).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import Boom from '@hapi/boom';
import { WebSocketServer } from '@wsroute/core';
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

const factory: ContractFactory = async (options = {}) => {
  const wss = new WebSocketServer(options);
  for (const [path, options] of Object.entries(contractRoutes)) wss.route<undefined>(path, options);
  wss.route<AuthData>('/auth', {
    ...authRoute,
    upgrade(request) {
      if (request.headers.authorization !== GOOD_TOKEN) throw Boom.unauthorized();
      return { user: AUTH_USER };
    },
  });
  wss.route<AuthData>('/token', {
    ...tokenRoute,
    // The credential carrier's token, decoded by core before the hook runs.
    upgrade(_request, { token }) {
      if (token !== GOOD_WS_TOKEN) throw Boom.unauthorized();
      return { user: TOKEN_USER };
    },
  });
  const server = createServer((request, response) => {
    if (request.url === HTTP_ONLY_PATH) {
      response.end('ok');
      return;
    }
    if (!wss.handleRequest(request, response)) response.writeHead(404).end('Not Found');
  });
  wss.attach(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `ws://127.0.0.1:${port}`,
    port,
    hub: wss,
    // The node attachment has no logger: its only output is process warnings.
    logs: [],
    async close() {
      await wss.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
};

await runContract(t, 'node', factory);
