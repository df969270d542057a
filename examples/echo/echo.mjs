// The echo server, startable from a test or a benchmark: startEchoServer(options) resolves to
// { port, close() } once listening.
import http from 'node:http';
import { WebSocketServer } from '@wsroute/core';

/** Echo limits: big messages, any number of fragments (Autobahn case 9.x), no heartbeat. */
export const ECHO_LIMITS = {
  maxPayload: 64 * 1024 * 1024,
  maxFragments: Number.POSITIVE_INFINITY,
  heartbeatInterval: 0,
};

/** Handlers that send every message back with the same type. */
export const echoHandler = {
  onMessage(connection, message) {
    connection.send(message);
  },
};

/**
 * The route options shared by every adapter's echo server. It accepts every origin and sets no
 * admission limit: it is a target for conformance suites and load tools, which connect from
 * anywhere (or from no page at all), many times a second, from one address.
 * @param {boolean} [deflate] permessage-deflate on
 * @param {number} [heartbeat] heartbeatInterval in ms, 0 (the default here) for none
 */
export function echoRoute(deflate, heartbeat = 0) {
  return {
    ...ECHO_LIMITS,
    heartbeatInterval: heartbeat,
    origins: '*',
    protocols: { 'chat.v2': echoHandler, chat: echoHandler },
    defaultProtocol: echoHandler,
    ...(deflate ? { perMessageDeflate: true } : {}),
  };
}

async function startNode({ port, host, deflate, heartbeat }) {
  const wss = new WebSocketServer().route('*', echoRoute(deflate, heartbeat));
  const server = wss.attach(http.createServer());
  return {
    port: await listen(server, port, host),
    async close() {
      await wss.close({ timeout: 1000 });
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

async function listen(server, port, host) {
  await new Promise((resolve) => server.listen(port, host, resolve));
  return server.address().port;
}

async function startKoa({ port, host, deflate, heartbeat }) {
  const { default: Koa } = await import('koa');
  const { wsroute } = await import('@wsroute/koa');
  const app = new Koa();
  const ws = wsroute();
  app.use(ws.middleware());
  // No router: the route answers every path (a plain GET gets 426).
  app.use(ws.route(echoRoute(deflate, heartbeat)));
  const server = ws.attach(http.createServer(app.callback()), app);
  return {
    port: await listen(server, port, host),
    async close() {
      await ws.close({ timeout: 1000 });
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

async function startExpress({ port, host, deflate, heartbeat }) {
  const { default: express } = await import('express');
  const { wsroute } = await import('@wsroute/express');
  const app = express();
  const ws = wsroute();
  // No path: the route answers every path (a plain GET gets 426).
  app.use(ws.route(echoRoute(deflate, heartbeat)));
  const server = ws.attach(http.createServer(app), app);
  return {
    port: await listen(server, port, host),
    async close() {
      await ws.close({ timeout: 1000 });
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

async function startFastify({ port, host, deflate, heartbeat }) {
  const { default: Fastify } = await import('fastify');
  const { defineWebSocketRoute, wsroute, upgradeRequired } = await import('@wsroute/fastify');
  const app = Fastify();
  await app.register(wsroute, { shutdownTimeout: 1000 });
  // '*' matches every path, '/' included; a plain GET gets 426.
  // The echo needs nothing from the request: by default each connection would keep its
  // FastifyRequest (`connection.data.request`) for as long as it is open.
  const websocket = defineWebSocketRoute({
    ...echoRoute(deflate, heartbeat),
    data: () => undefined,
  });
  app.get('*', { websocket }, upgradeRequired);
  await app.listen({ port, host });
  return { port: app.server.address().port, close: () => app.close() };
}

// Adapters load lazily: `--adapter node` needs none of the frameworks.
const adapters = { node: startNode, fastify: startFastify, express: startExpress, koa: startKoa };

/**
 * Starts the echo server with the given adapter.
 * @param {{ port: number, host: string, deflate?: boolean, adapter?: string, heartbeat?: number }} options
 *   `heartbeat`: heartbeatInterval in ms, 0 (the default) for none
 */
export async function startEchoServer({
  port,
  host = '127.0.0.1',
  deflate = false,
  adapter = 'node',
  heartbeat = 0,
}) {
  const start = adapters[adapter];
  if (!start)
    throw new TypeError(`unknown adapter ${adapter}; one of ${Object.keys(adapters).join(', ')}`);
  return start({ port, host, deflate, heartbeat });
}
