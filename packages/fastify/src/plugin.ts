/**
 * The Fastify plugin: runs every upgrade request through Fastify's router against a response
 * bound to the socket, so the route's hooks (auth, rate limits) answer before any 101;
 * compiles each route's `websocket` option at registration; closes every connection with 1001
 * when the app closes. The lifecycle itself is core's.
 * @module
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { type AnyConnection, type WebSocketError, WebSocketHub } from '@wsroute/core';
import { exchangeOf, internalError, UpgradeLifecycle } from '@wsroute/core/adapter';
import type { FastifyPluginCallback, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import {
  compileWebSocketOption,
  createErrorHandler,
  createPlainHandler,
  createWebSocketHandler,
  type FastifyErrorHandler,
  type FastifyHandler,
} from './route.js';
import type { WsrouteOptions } from './types.js';

/** Servers that already have the plugin: two registrations would both decorate the app. */
const attachedServers = new WeakSet<object>();

const plugin: FastifyPluginCallback<WsrouteOptions> = (fastify, options, done) => {
  const server = fastify.server;
  if (attachedServers.has(server)) {
    done(new Error('@wsroute/fastify is already registered for this server; register it once'));
    return;
  }
  const logError = (error: WebSocketError, connection: AnyConnection): void => {
    fastify.log.error(
      { err: error, path: connection.path, protocol: connection.protocol },
      error.message,
    );
  };
  let lifecycle: UpgradeLifecycle;
  try {
    lifecycle = new UpgradeLifecycle(options, { name: '@wsroute/fastify', logError });
  } catch (error) {
    done(error as Error);
    return;
  }
  attachedServers.add(server);
  const hub = new WebSocketHub(lifecycle);
  fastify.decorate('websocket', hub);
  fastify.decorate('websocketConnections', { getter: () => hub.connections });
  fastify.decorateRequest('isWebSocket', {
    getter(this: FastifyRequest) {
      return exchangeOf(this.raw)?.isWebSocket === true;
    },
  });
  fastify.decorateRequest('websocketToken', {
    getter(this: FastifyRequest) {
      return exchangeOf(this.raw)?.token;
    },
  });

  fastify.addHook('onRoute', (routeOptions) => {
    const http = routeOptions.handler as FastifyHandler;
    const option: unknown = routeOptions.websocket;
    if (option === undefined) {
      routeOptions.handler = createPlainHandler(http) as typeof routeOptions.handler;
      return;
    }
    const methods: readonly string[] = [routeOptions.method].flat();
    if (methods.some((method) => method !== 'GET' && method !== 'HEAD')) {
      throw new TypeError(
        `a websocket route answers GET only: ${methods.join(', ')} ${routeOptions.url}`,
      );
    }
    // Fastify's HEAD twin of a GET route keeps the option: its upgrades get core's 405.
    const compiled = compileWebSocketOption(option);
    routeOptions.handler = createWebSocketHandler(compiled, http) as typeof routeOptions.handler;
    routeOptions.errorHandler = createErrorHandler(
      routeOptions.errorHandler as FastifyErrorHandler | undefined,
    ) as NonNullable<typeof routeOptions.errorHandler>;
  });

  const onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const exchange = lifecycle.begin(request, socket, head, 'early');
    if (!exchange) return;
    try {
      fastify.routing(request, exchange.response);
    } catch (error) {
      fastify.log.error({ err: error }, 'websocket upgrade failed in the router');
      exchange.reject(internalError());
    }
  };
  const detach = lifecycle.attach(server, onUpgrade, { closeWithServer: false });

  fastify.addHook('preClose', () => lifecycle.shutdown());
  fastify.addHook('onClose', (_instance, next) => {
    detach();
    attachedServers.delete(server);
    next();
  });
  done();
};

/**
 * The plugin. Register it before the routes that use the `websocket` option (await it, or
 * declare those routes in a plugin registered after it).
 * @example
 * ```ts
 * await app.register(wsroute);
 * app.get('/echo', { websocket: { defaultProtocol: { onMessage: (c, m) => c.send(m) } } }, upgradeRequired);
 * ```
 */
export const wsroute = fp(plugin, { fastify: '5.x', name: '@wsroute/fastify' });
