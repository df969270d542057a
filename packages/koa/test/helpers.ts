/**
 * Shared helpers of the Koa adapter's tests: a Koa app with the websocket middleware on a real
 * server (127.0.0.1, port 0), raw upgrade exchanges, and `ws` clients. Everything started here
 * is released with `t.teardown`.
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { type AddressInfo, connect, type Socket } from 'node:net';
import Koa from 'koa';
import type { Test } from 'tap';
import WebSocket from 'ws';
import { type KoaWebSocket, type KoaWebSocketOptions, wsroute } from '../src/index.js';

export const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
/** `Sec-WebSocket-Accept` for {@link KEY} (RFC 6455 §1.3). */
export const ACCEPT = 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=';

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

/**
 * A complete upgrade request.
 * @param path - request target
 * @param headers - extra header lines (name → value)
 */
export function upgradeRequest(path: string, headers: Record<string, string> = {}): string {
  let request =
    `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n`;
  for (const [name, value] of Object.entries(headers)) request += `${name}: ${value}\r\n`;
  return `${request}\r\n`;
}

/** A parsed HTTP response head. */
export interface ResponseHead {
  readonly status: number;
  readonly statusLine: string;
  /** Lower-cased names; repeated lines joined with ', '. */
  readonly headers: Readonly<Record<string, string>>;
}

/** Parses a response head (everything before the blank line). */
export function parseHead(head: string): ResponseHead {
  const [statusLine = '', ...lines] = head.split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  return { status: Number(statusLine.split(' ')[1]), statusLine, headers };
}

/** Opens a raw TCP connection to the app, destroyed on teardown. */
export async function rawConnect(t: Test, port: number): Promise<Socket> {
  const socket = connect({ port, host: '127.0.0.1' });
  t.teardown(() => {
    socket.destroy();
  });
  await once(socket, 'connect');
  return socket;
}

/**
 * Sends `data` and reads the whole answer until the server ends the connection: what a refused
 * upgrade must look like (plain HTTP, then FIN).
 */
export async function rawExchange(
  t: Test,
  port: number,
  data: string | Buffer,
): Promise<ResponseHead & { readonly body: string; readonly raw: string }> {
  const socket = await rawConnect(t, port);
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.write(data);
  await once(socket, 'end');
  const raw = Buffer.concat(chunks).toString('latin1');
  const split = raw.indexOf('\r\n\r\n');
  return { ...parseHead(raw.slice(0, split)), body: raw.slice(split + 4), raw };
}

/**
 * Reads bytes until the response head is complete.
 * @returns the head and whatever arrived after it
 */
export async function readHead(socket: Socket): Promise<ResponseHead & { readonly rest: Buffer }> {
  let buffered = Buffer.alloc(0);
  for (;;) {
    const split = buffered.indexOf('\r\n\r\n');
    if (split !== -1) {
      const head = parseHead(buffered.subarray(0, split).toString('latin1'));
      return { ...head, rest: buffered.subarray(split + 4) };
    }
    const [chunk] = (await once(socket, 'data')) as [Buffer];
    buffered = Buffer.concat([buffered, chunk]);
  }
}

/**
 * A masked client frame (RFC 6455 §5.2) with a payload under 126 bytes.
 * @param opcode - 0x1 text, 0x2 binary, 0x8 close
 * @param payload - the unmasked payload
 */
export function clientFrame(opcode: number, payload: Buffer): Buffer {
  const mask = Buffer.from([0x12, 0x34, 0x56, 0x78]);
  const masked = Buffer.alloc(payload.length);
  for (let i = 0; i < payload.length; i++) {
    masked[i] = (payload[i] ?? 0) ^ (mask[i % 4] ?? 0);
  }
  return Buffer.concat([Buffer.from([0x80 | opcode, 0x80 | payload.length]), mask, masked]);
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
