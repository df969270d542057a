/**
 * Shared helpers of the Koa adapter's tests: a Koa app with the websocket middleware on a real
 * server (127.0.0.1, port 0), raw upgrade exchanges, and `ws` clients. Everything started here
 * is released with `t.teardown`.
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import type { Test } from 'tap';
import WebSocket from 'ws';
import { type KoaWebSocket, type KoaWebSocketOptions, wsroute } from '../src/index.js';

export {
  connectRaw as rawConnect,
  exchange as rawExchange,
  maskedFrame as clientFrame,
  parseResponseHead as parseHead,
  type ResponseHead,
  readHead,
  SAMPLE_ACCEPT as ACCEPT,
  upgradeRequest,
} from '@wsroute/test-utils';

/** A running app under test. */
export interface TestApp {
  readonly app: Koa;
  readonly ws: KoaWebSocket;
  readonly server: Server;
  readonly port: number;
  readonly url: string;
  /** Errors Koa emitted on `app.on('error')`. */
  readonly errors: unknown[];
}

/**
 * Starts Koa with `ws.middleware()` mounted first, then whatever `build` adds.
 * @param t - the test owning the app
 * @param build - mounts routes and middleware
 * @param options - options of `wsroute()`
 */
export async function startApp(
  t: Test,
  build: (app: Koa, ws: KoaWebSocket) => void,
  options?: KoaWebSocketOptions,
): Promise<TestApp> {
  const app = new Koa();
  const errors: unknown[] = [];
  app.on('error', (error: unknown) => errors.push(error));
  const ws = wsroute(options);
  app.use(ws.middleware());
  build(app, ws);
  const server = ws.attach(createServer(app.callback()), app);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(async () => {
    await ws.close({ timeout: 200 });
    server.closeAllConnections();
    server.close();
    await once(server, 'close');
  });
  const { port } = server.address() as AddressInfo;
  return { app, ws, server, port, url: `ws://127.0.0.1:${port}`, errors };
}

/** The result of a `ws` client's connection attempt. */
export type WsOutcome =
  | { readonly kind: 'open'; readonly socket: WebSocket }
  | { readonly kind: 'refused'; readonly status: number; readonly body: string };

/**
 * Connects a `ws` client; resolves on open or on a non-101 answer. Closed on teardown.
 * @param protocols - subprotocols to offer
 * @param headers - extra request headers
 */
export async function wsConnect(
  t: Test,
  url: string,
  protocols: string[] = [],
  headers: Record<string, string> = {},
): Promise<WsOutcome> {
  const socket = new WebSocket(url, protocols, { headers });
  trackMessages(socket);
  t.teardown(() => {
    // Terminating a refused client reports an abort error: expected here.
    socket.on('error', () => {});
    socket.terminate();
  });
  return new Promise<WsOutcome>((resolve, reject) => {
    socket.once('open', () => resolve({ kind: 'open', socket }));
    socket.once('unexpected-response', (_request, response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () =>
        resolve({
          kind: 'refused',
          status: response.statusCode ?? 0,
          body: Buffer.concat(chunks).toString('utf8'),
        }),
      );
    });
    socket.once('error', reject);
  });
}

/**
 * Connects a `ws` client that must open.
 * @returns the open socket
 * @throws when the server refused the upgrade
 */
export async function wsOpen(
  t: Test,
  url: string,
  protocols: string[] = [],
  headers: Record<string, string> = {},
): Promise<WebSocket> {
  const outcome = await wsConnect(t, url, protocols, headers);
  if (outcome.kind !== 'open') throw new Error(`expected 101, got ${outcome.status}`);
  return outcome.socket;
}

/** Messages received but not read yet, and readers waiting for one. */
interface MessageQueue {
  readonly received: string[];
  readonly waiting: Array<(message: string) => void>;
}

const queues = new WeakMap<WebSocket, MessageQueue>();

/**
 * Queues a client's messages from the start: a message sent in the server's `onOpen` may be
 * emitted in the same tick as `'open'`, before a test could listen for it.
 */
function trackMessages(socket: WebSocket): void {
  const queue: MessageQueue = { received: [], waiting: [] };
  queues.set(socket, queue);
  socket.on('message', (data: Buffer) => {
    const message = data.toString('utf8');
    const reader = queue.waiting.shift();
    if (reader) reader(message);
    else queue.received.push(message);
  });
}

/** The next message of a `ws` client opened by {@link wsConnect}, as text. */
export async function nextMessage(socket: WebSocket): Promise<string> {
  const queue = queues.get(socket);
  if (!queue) throw new Error('not a client of wsConnect()');
  const message = queue.received.shift();
  if (message !== undefined) return message;
  return new Promise((resolve) => queue.waiting.push(resolve));
}

/** Resolves with the close code and reason a `ws` client received. */
export async function closed(socket: WebSocket): Promise<{ code: number; reason: string }> {
  const [code, reason] = (await once(socket, 'close')) as [number, Buffer];
  return { code, reason: reason.toString('utf8') };
}
