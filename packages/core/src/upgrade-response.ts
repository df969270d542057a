/**
 * An ordinary `ServerResponse` for an upgrade request, so that a framework's middleware, hooks
 * and error handlers can still answer it as plain HTTP (401, 404, a Boom) before any 101, on
 * the raw socket Node handed to the `'upgrade'` listener.
 *
 * ```
 *   'upgrade' --createUpgradeResponse()--> bindUpgradeResponse(): framework runs against it
 *      |-- the framework answers -------> 'finish' --> detached, socket ended gracefully
 *      '-- a websocket route negotiates -> isUpgradable()? detach, release --> accept()
 * ```
 * @module
 */
import { type IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { endSocketGracefully } from './http-reject.js';

/**
 * Creates the response of an upgrade request, not bound to any socket yet: until it is bound
 * it buffers whatever is written. The exchange ends with the answer: Node writes
 * `Connection: close` (even when a framework cleared every header), since the socket never
 * returns to the HTTP server.
 * @param request - the upgrade request
 * @returns a response with `shouldKeepAlive` off
 */
export function createUpgradeResponse(request: IncomingMessage): ServerResponse {
  const response = new ServerResponse(request);
  response.shouldKeepAlive = false;
  return response;
}

/**
 * Binds a response made by {@link createUpgradeResponse} to the upgrade socket now, so the
 * framework answers on it directly. Once the response has finished, `release` runs, the
 * response is detached (it writes nothing more and sees no later socket event) and the socket
 * is ended with {@link endSocketGracefully}. When the response closes first (the socket was
 * reset or destroyed), `release` runs too.
 * @param response - the response of the upgrade request
 * @param socket - its raw socket; `ServerResponse` needs only the stream methods of a Duplex
 * @param release - releases the caller's socket guard (handshake timer, error listener); may
 *   run twice, so it must be idempotent
 * @throws Error when the socket already carries another response (Node's
 *   `ERR_HTTP_SOCKET_ASSIGNED`)
 */
export function bindUpgradeResponse(
  response: ServerResponse,
  socket: Duplex,
  release: () => void,
): void {
  // The 'upgrade' event types the socket as a Duplex; it is the connection's net.Socket.
  response.assignSocket(socket as Socket);
  response.once('finish', () => {
    release();
    response.detachSocket(socket as Socket);
    endSocketGracefully(socket);
  });
  response.once('close', release);
}

/**
 * Whether an upgrade socket may still get a 101: its bound response has sent no header and is
 * not ended, and the socket is neither destroyed nor ended (a guard's 408 ends it). Adapters
 * check it before taking the socket back from the framework.
 * @param response - the response bound with {@link bindUpgradeResponse}
 * @param socket - the raw socket of the upgrade request
 * @returns true when nothing was answered and the socket is still open
 */
export function isUpgradable(response: ServerResponse, socket: Duplex): boolean {
  return (
    !response.headersSent && !response.writableEnded && !socket.destroyed && !socket.writableEnded
  );
}
