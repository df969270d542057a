// @ts-check
// The broadcast server, startable from a test or a benchmark:
//   startBroadcastServer({ port, host, adapter, redis }) resolves to { port, close() }.
//
// A client connecting to /topics/NAME subscribes to topic NAME; every message it sends (text
// stays text, binary stays binary, up to 1 MiB) is published to NAME and delivered to every
// other subscriber of NAME, in every process attached to the same Redis. No subprotocol is
// required; the raw protocol passes messages through unchanged.
import http from 'node:http';
import Boom from '@hapi/boom';
import { WebSocketServer } from '@wsroute/core';

const PREFIX = '/topics/';

/**
 * The topic a path names: `/topics/NAME` → NAME (percent-decoded), or undefined.
 * @param {string} path
 * @returns {string | undefined}
 */
export function topicOf(path) {
  if (!path.startsWith(PREFIX) || path.length === PREFIX.length) return undefined;
  try {
    return decodeURIComponent(path.slice(PREFIX.length));
  } catch {
    return undefined;
  }
}

/** @type {import('@wsroute/core').WebSocketHandler<unknown>} */
const relay = {
  onOpen(connection) {
    connection.subscribe(topicOf(connection.path) ?? '');
  },
  onMessage(connection, message) {
    // Never back to the sender: connection.publish excludes it by default.
    connection.publish(topicOf(connection.path) ?? '', message);
  },
};

/**
 * The route every adapter mounts: raw messages, any origin, no subprotocol required.
 * @type {import('@wsroute/core').RouteOptions<unknown>}
 */
export const broadcastRoute = {
  defaultProtocol: relay,
  unsupportedProtocol: 'accept',
  maxPayload: 1024 * 1024,
  heartbeatInterval: 0,
};

/**
 * The entry point's options: the Redis backplane when a URL is given.
 * @param {string | undefined} redis
 * @returns {Promise<import('@wsroute/core').EntryOptions>}
 */
async function entryOptions(redis) {
  if (!redis) return { shutdownTimeout: 1000 };
  const { redisBackplane } = await import('@wsroute/redis');
  return { shutdownTimeout: 1000, backplane: redisBackplane({ url: redis }) };
}

/**
 * @param {http.Server} server
 * @param {number} port
 * @param {string} host
 * @returns {Promise<number>}
 */
async function listen(server, port, host) {
  await new Promise((resolve) => server.listen(port, host, () => resolve(undefined)));
  const address = server.address();
  return typeof address === 'object' && address ? address.port : port;
}

/** @typedef {{ port: number, host: string, options: import('@wsroute/core').EntryOptions }} Start */
/** @typedef {{ port: number, close(): Promise<void> }} Running */

/** @param {Start} start @returns {Promise<Running>} */
async function startNode({ port, host, options }) {
  const wss = new WebSocketServer(options).route('*', {
    ...broadcastRoute,
    upgrade(request) {
      if (topicOf(new URL(request.url ?? '/', 'http://x').pathname) === undefined) {
        throw Boom.notFound();
      }
      return undefined;
    },
  });
  const server = wss.attach(http.createServer());
  return {
    port: await listen(server, port, host),
    async close() {
      await wss.close();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** @param {Start} start @returns {Promise<Running>} */
async function startFastify({ port, host, options }) {
  const { default: Fastify } = await import('fastify');
  const { defineWebSocketRoute, upgradeRequired, wsroute } = await import('@wsroute/fastify');
  const app = Fastify();
  await app.register(wsroute, options);
  // Nothing from the request is kept per connection.
  const websocket = defineWebSocketRoute({ ...broadcastRoute, data: () => undefined });
  app.get('/topics/:name', { websocket }, upgradeRequired);
  await app.listen({ port, host });
  const address = app.server.address();
  return {
    port: typeof address === 'object' && address ? address.port : port,
    close: () => app.close(),
  };
}

/** @param {Start} start @returns {Promise<Running>} */
async function startExpress({ port, host, options }) {
  const { default: express } = await import('express');
  const { wsroute } = await import('@wsroute/express');
  const app = express();
  const ws = wsroute(options);
  app.get('/topics/:name', ws.route(broadcastRoute));
  const server = ws.attach(http.createServer(app), app);
  return {
    port: await listen(server, port, host),
    async close() {
      await ws.close();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** @param {Start} start @returns {Promise<Running>} */
async function startKoa({ port, host, options }) {
  const { default: Koa } = await import('koa');
  const { Router } = await import('@koa/router');
  const { wsroute } = await import('@wsroute/koa');
  const app = new Koa();
  const ws = wsroute(options);
  const router = new Router();
  router.get('/topics/:name', ws.route(broadcastRoute));
  app.use(ws.middleware());
  app.use(router.routes());
  const server = ws.attach(http.createServer(app.callback()), app);
  return {
    port: await listen(server, port, host),
    async close() {
      await ws.close();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

// Adapters load lazily: `--adapter node` needs none of the frameworks.
const adapters = { node: startNode, fastify: startFastify, express: startExpress, koa: startKoa };

/**
 * Starts the broadcast server.
 * @param {{ port: number, host?: string, adapter?: string, redis?: string }} options
 * @returns {Promise<Running>}
 */
export async function startBroadcastServer({ port, host = '127.0.0.1', adapter = 'node', redis }) {
  const start = adapters[/** @type {keyof typeof adapters} */ (adapter)];
  if (!start) {
    throw new TypeError(`unknown adapter ${adapter}; one of ${Object.keys(adapters).join(', ')}`);
  }
  return start({ port, host, options: await entryOptions(redis) });
}
