/**
 * The Fastify plugin: listens to the server's `'upgrade'` event and runs every upgrade request
 * through Fastify's router, so the route's hooks (auth, rate limits) answer before any 101;
 * compiles each route's `websocket` option at registration; closes every connection with 1001
 * when the app closes.
 * @module
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import {
  ConnectionRegistry,
  checkHeaderLimits,
  DEFAULT_LIMITS,
  guardUpgradeSocket,
  internalError,
  reject,
  shuttingDownError,
} from '@wsroute/core';
import type { FastifyInstance, FastifyPluginCallback, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { injectWS } from './inject.js';
import {
  compileWebSocketOption,
  createErrorHandler,
  createPlainHandler,
  createWebSocketHandler,
  type FastifyErrorHandler,
  type FastifyHandler,
} from './route.js';
import type { InjectWSOptions, WsrouteOptions } from './types.js';
import { UpgradeSocket } from './upgrade-socket.js';

/** Default deadline of the closing handshakes on `app.close()`, in ms. */
const SHUTDOWN_TIMEOUT_MS = 5_000;

/** Servers that already have the plugin's `'upgrade'` listener: two would both answer. */
const attachedServers = new WeakSet<object>();

function readLimit(options: WsrouteOptions, name: keyof WsrouteOptions, fallback: number): number {
  const value = options[name];
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !(value > 0)) {
    throw new TypeError(`@wsroute/fastify: ${name} must be a positive number`);
  }
  return value;
}

/** Which HTTP methods a route declares. */
function methodsOf(method: string | readonly string[]): readonly string[] {
  return typeof method === 'string' ? [method] : method;
}

const plugin: FastifyPluginCallback<WsrouteOptions> = (fastify, options, done) => {
  let limits: { handshakeTimeout: number; shutdownTimeout: number };
  let headerLimits: { maxHeaderCount: number; maxHeaderBytes: number };
  try {
    limits = {
      handshakeTimeout: readLimit(options, 'handshakeTimeout', DEFAULT_LIMITS.handshakeTimeout),
      shutdownTimeout: readLimit(options, 'shutdownTimeout', SHUTDOWN_TIMEOUT_MS),
    };
    headerLimits = {
      maxHeaderCount: readLimit(options, 'maxHeaderCount', DEFAULT_LIMITS.maxHeaderCount),
      maxHeaderBytes: readLimit(options, 'maxHeaderBytes', DEFAULT_LIMITS.maxHeaderBytes),
    };
  } catch (error) {
    done(error as Error);
    return;
  }
  const server = fastify.server;
  if (attachedServers.has(server)) {
    done(new Error('@wsroute/fastify is already registered for this server; register it once'));
    return;
  }
  attachedServers.add(server);
  const registry = new ConnectionRegistry();

  fastify.decorate('websocketConnections', {
    getter: () => registry.connections,
  });
  fastify.decorate(
    'injectWS',
    function injectWebSocket(path: string, injectOptions?: InjectWSOptions) {
      return injectWS(fastify, path, injectOptions);
    },
  );
  fastify.decorateRequest('isWebSocket', {
    getter(this: FastifyRequest) {
      return UpgradeSocket.of(this.raw)?.isWebSocket === true;
    },
  });

  fastify.addHook('onRoute', (routeOptions) => {
    const http = routeOptions.handler as FastifyHandler;
    const option: unknown = routeOptions.websocket;
    if (option === undefined) {
      routeOptions.handler = createPlainHandler(http) as typeof routeOptions.handler;
      return;
    }
    const methods = methodsOf(routeOptions.method);
    if (methods.some((method) => method !== 'GET' && method !== 'HEAD')) {
      throw new TypeError(
        `a websocket route answers GET only: ${methods.join(', ')} ${routeOptions.url}`,
      );
    }
    // Fastify's HEAD twin of a GET route keeps the option: its upgrades get core's 405.
    const compiled = compileWebSocketOption(option);
    routeOptions.handler = createWebSocketHandler(
      compiled,
      http,
      registry,
    ) as typeof routeOptions.handler;
    routeOptions.errorHandler = createErrorHandler(
      routeOptions.errorHandler as FastifyErrorHandler | undefined,
    ) as typeof routeOptions.errorHandler;
  });

  const onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const release = guardUpgradeSocket(socket, limits.handshakeTimeout);
    const refusal =
      checkHeaderLimits(request.rawHeaders, headerLimits) ??
      (registry.isShuttingDown ? shuttingDownError() : undefined);
    if (refusal) {
      release();
      reject(socket, refusal);
      return;
    }
    const state = UpgradeSocket.begin(request, socket, head, release);
    try {
      fastify.routing(request, state.response);
    } catch (error) {
      fastify.log.error({ err: error }, 'websocket upgrade failed in the router');
      release();
      reject(socket, internalError());
    }
  };
  server.on('upgrade', onUpgrade);

  fastify.addHook('preClose', async () => {
    await registry.shutdown({ timeout: limits.shutdownTimeout });
  });
  fastify.addHook('onClose', (_instance: FastifyInstance, next: () => void) => {
    server.off('upgrade', onUpgrade);
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
