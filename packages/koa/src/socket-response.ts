/**
 * A `ServerResponse` for an upgrade request, so that Koa can answer it as plain HTTP (401,
 * 404, 426, a Boom) when the upgrade is refused.
 *
 * The response is bound to the socket only once the pipeline has finished without accepting.
 * Until then it buffers whatever Koa writes. Binding it earlier would let Koa (through
 * `on-finished`) listen to the socket, so a reset on an accepted websocket would surface as a
 * request error in `app.on('error')`, and Koa could write to a socket that carries frames.
 * @module
 */
import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { endSocketGracefully } from '@wsroute/core';

/**
 * Core's response of an upgrade request (not bound to any socket, `Connection: close`) and its
 * graceful end of a socket after a plain HTTP answer; the Koa attachment binds the response late
 * (see {@link sendOnSocket}).
 */
export { createUpgradeResponse, endSocketGracefully } from '@wsroute/core';

/** Ignores late socket errors (EPIPE, ECONNRESET): the socket is being released anyway. */
function ignoreError(): void {}

/**
 * Binds the response to the upgrade socket, which writes what Koa buffered, and ends the
 * socket once the response has finished (bodies that are streams keep flowing until then).
 * @param response - the response made by `createUpgradeResponse`
 * @param socket - the raw socket of the upgrade request
 */
export function sendOnSocket(response: ServerResponse, socket: Duplex): void {
  socket.on('error', ignoreError);
  // Gone, or already answered 408 by the handshake timer (which then releases the socket).
  if (socket.destroyed || !socket.writable) return;
  response.once('finish', () => endSocketGracefully(socket));
  // The 'upgrade' event types the socket as a Duplex; it is the connection's net.Socket.
  response.assignSocket(socket as Socket);
}
