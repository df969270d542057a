/**
 * `@wsroute/fastify/testing`: `injectWS(app, path)`, a real `ws` client to a route of the app
 * without `listen()` (core's `injectWebSocket` on the app's server). Kept out of the main entry
 * so production code does not load a client library; needs `ws` (and `@types/ws`).
 * @module
 */
import { type InjectWSOptions, injectWebSocket } from '@wsroute/core/testing';
import type { FastifyInstance } from 'fastify';
import type WebSocket from 'ws';

export { InjectWSError, type InjectWSOptions } from '@wsroute/core/testing';

/**
 * Opens a real `ws` client to `path` over a loopback socket handed to the app's server (the
 * app needs not listen); the route's hooks run as for a remote client.
 * @example
 * ```ts
 * import { injectWS } from '@wsroute/fastify/testing';
 * const ws = await injectWS(app, '/chat', { protocols: ['chat.v2'] });
 * ```
 * @param app - the Fastify instance; made ready first
 * @param path - request target, e.g. `/chat?room=1`
 * @param options - protocols, headers, compression, timeout
 * @returns the open client; close or terminate it when done
 * @throws InjectWSError when the upgrade is refused (`statusCode`, `headers`, `body`)
 */
export async function injectWS(
  app: FastifyInstance,
  path: string,
  options?: InjectWSOptions,
): Promise<WebSocket> {
  await app.ready();
  return injectWebSocket(app.server, path, options);
}
