/** Listening on 127.0.0.1 with a websocket server attached, released on teardown. */
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { WebSocketServer } from '@wsroute/core';
import type { Test } from 'tap';
import { waitForEvent } from './raw-client.js';

/**
 * Listens on a free port of 127.0.0.1. On teardown every websocket is terminated, the HTTP
 * connections are closed and both servers are shut down.
 * @param t - the test that owns the server
 * @param wss - the websocket server attached to `server`
 * @param server - the HTTP server
 * @returns the port
 */
export async function listenAttached(
  t: Test,
  wss: WebSocketServer,
  server: http.Server,
): Promise<number> {
  server.listen(0, '127.0.0.1');
  await waitForEvent(server, 'listening');
  t.teardown(async () => {
    for (const connection of wss.connections) connection.terminate();
    server.closeAllConnections();
    await Promise.all([wss.close({ timeout: 100 }), waitForEvent(server.close(), 'close')]);
  });
  return (server.address() as AddressInfo).port;
}
