/**
 * An ordinary `ServerResponse` for an upgrade request, so that a framework's middleware, hooks
 * and error handlers can still answer it as plain HTTP before any 101. The upgrade exchange
 * binds it to the raw socket Node handed to the `'upgrade'` listener.
 * @module
 */
import { type IncomingMessage, ServerResponse } from 'node:http';

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
