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
import { type IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';

/**
 * How long the socket stays open after the answer is flushed, waiting for the peer to close.
 * Destroying right away can turn into a TCP RST that discards the answer before the client
 * reads it; a peer that never closes must not hold the socket forever.
 */
const CLOSE_GRACE_MS = 1_000;

/**
 * Creates the response of an upgrade request. The exchange ends with the answer:
 * `Connection: close`, since the socket never returns to the HTTP server.
 * @param request - the upgrade request
 * @returns a response not yet bound to any socket
 */
export function createUpgradeResponse(request: IncomingMessage): ServerResponse {
  const response = new ServerResponse(request);
  // Node writes `Connection: close` itself, even after Koa's onerror cleared every header.
  response.shouldKeepAlive = false;
  return response;
}

/** Ignores late socket errors (EPIPE, ECONNRESET): the socket is being released anyway. */
function ignoreError(): void {}

/**
 * Ends a socket once its answer is written: drains what the peer still sends so its FIN
 * surfaces, and destroys the socket after a grace period if the peer does not close.
 * @param socket - the socket to release
 */
export function endSocketGracefully(socket: Duplex): void {
  if (socket.destroyed) return;
  const timer = setTimeout(() => socket.destroy(), CLOSE_GRACE_MS);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
  socket.resume();
  socket.end();
}

/**
 * Binds the response to the upgrade socket, which writes what Koa buffered, and ends the
 * socket once the response has finished (bodies that are streams keep flowing until then).
 * @param response - the response made by {@link createUpgradeResponse}
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
