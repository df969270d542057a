/**
 * A `WebSocketServer` on a real `node:http` server at 127.0.0.1:0, and raw handshakes against
 * it: requests are written byte for byte and the answer is read as it arrives.
 */
import { createServer, type RequestListener, type Server } from 'node:http';
import type { Test } from 'tap';
import { WebSocketServer, type WebSocketServerOptions } from '../../src/node-server.js';
import {
  clientFrame,
  type FrameSpec,
  type HttpHead,
  portOf,
  type RawConnection,
  rawConnect,
  waitForEvent,
} from './wire.js';

/** A running server under test. */
export interface Served {
  readonly wss: WebSocketServer;
  readonly server: Server;
  readonly port: number;
}

/**
 * Starts a server whose routes `configure` declares; everything is released on teardown.
 * @param t - the test owning the server
 * @param configure - declares routes on the `WebSocketServer`
 * @param options - handshake limits
 * @param onRequest - a request listener added before `attach()`
 */
export async function serve(
  t: Test,
  configure: (wss: WebSocketServer) => void,
  options: WebSocketServerOptions = {},
  onRequest?: RequestListener,
): Promise<Served> {
  const wss = new WebSocketServer(options);
  configure(wss);
  const server = onRequest ? createServer(onRequest) : createServer();
  wss.attach(server);
  server.listen(0, '127.0.0.1');
  await waitForEvent(server, 'listening');
  t.teardown(async () => {
    await wss.close({ timeout: 100 });
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  return { wss, server, port: portOf(server) };
}

/** An answered request: the head, the body when it was not a 101, and the connection. */
export interface Exchange extends RawConnection {
  readonly head: HttpHead;
  /** The body up to the server's end; '' for a 101. */
  readonly body: string;
  /** Sends a masked client frame. */
  send(spec: FrameSpec): void;
}

/**
 * Writes `request` (plus `extra` bytes in the same write) and reads the answer.
 * @param t - the test owning the socket
 * @param port - the server port
 * @param request - the raw request
 * @param extra - bytes sent in the same write, e.g. a first frame
 */
export async function exchange(
  t: Test,
  port: number,
  request: string | Buffer,
  extra: Buffer = Buffer.alloc(0),
): Promise<Exchange> {
  const connection = await rawConnect(port, Buffer.concat([Buffer.from(request), extra]));
  t.teardown(() => {
    connection.socket.destroy();
  });
  const head = await connection.reader.head();
  const body = head.status === 101 ? '' : (await connection.reader.rest()).toString();
  const send = (spec: FrameSpec): void => {
    connection.socket.write(clientFrame(spec));
  };
  return { ...connection, head, body, send };
}
