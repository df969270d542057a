/**
 * Test helpers: a Fastify app with the plugin on 127.0.0.1:0, raw HTTP exchanges over TCP (so
 * tests see exactly what the server wrote, 101 or not), and `ws` clients with a message queue.
 * Everything is released with `t.teardown`.
 */
import { once } from 'node:events';
import { type AddressInfo, connect, type Socket } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Test } from 'tap';
import WebSocket from 'ws';
import { type WsrouteOptions, wsroute } from '../src/index.js';

/** A valid `Sec-WebSocket-Key` and its accept value (RFC 6455 §1.3). */
export const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
export const ACCEPT = 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=';

/** Longest wait of any helper, so a broken case fails instead of hanging. */
const WAIT_MS = 5_000;

/** Rejects when `promise` takes longer than {@link WAIT_MS}. */
export async function bounded<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, fail) => {
    timer = setTimeout(() => fail(new Error(`timed out waiting for ${what}`)), WAIT_MS);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** A new app with the plugin registered; closed on teardown. */
export async function createApp(t: Test, options: WsrouteOptions = {}): Promise<FastifyInstance> {
  const app = Fastify();
  await app.register(wsroute, options);
  t.teardown(() => app.close());
  return app;
}

/** Listens on 127.0.0.1:0. */
export async function listen(app: FastifyInstance): Promise<{ port: number; url: string }> {
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as AddressInfo;
  return { port, url: `ws://127.0.0.1:${port}` };
}

/** The upgrade request a client sends for `path`, with extra header lines. */
export function upgradeRequest(path: string, headers: Record<string, string> = {}): string {
  let request =
    `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n`;
  for (const [name, value] of Object.entries(headers)) request += `${name}: ${value}\r\n`;
  return `${request}\r\n`;
}

/** An HTTP answer read off a raw socket. */
export interface RawAnswer {
  readonly status: number;
  /** Header names lower-cased; repeated headers joined with ', '. */
  readonly headers: Readonly<Record<string, string>>;
  /** The body, until the server ended the socket (empty for a 101). */
  readonly body: string;
  /** Everything received, as latin1. */
  readonly raw: string;
  /** Whether the server ended the socket (always, unless the answer is a 101). */
  readonly isEnded: boolean;
  readonly socket: Socket;
}

function parseHead(head: string): { status: number; headers: Record<string, string> } {
  const [statusLine = '', ...lines] = head.split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  return { status: Number(statusLine.split(' ')[1]), headers };
}

/**
 * Writes `data` (a request, possibly followed by frames) in one write and reads the answer: a
 * 101 until the end of its head, anything else until the server ends the socket.
 */
export async function exchange(t: Test, port: number, data: string | Buffer): Promise<RawAnswer> {
  const socket = connect({ port, host: '127.0.0.1' });
  t.teardown(() => {
    socket.destroy();
  });
  socket.on('error', () => {});
  const chunks: Buffer[] = [];
  const isEnded = await bounded(
    new Promise<boolean>((resolve) => {
      socket.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        const text = Buffer.concat(chunks).toString('latin1');
        if (text.startsWith('HTTP/1.1 101') && text.includes('\r\n\r\n')) resolve(false);
      });
      socket.once('end', () => resolve(true));
      socket.once('close', () => resolve(true));
      socket.write(data);
    }),
    'the answer',
  );
  const raw = Buffer.concat(chunks).toString('latin1');
  const split = raw.indexOf('\r\n\r\n');
  const head = parseHead(raw.slice(0, split));
  return { ...head, body: isEnded ? raw.slice(split + 4) : '', raw, isEnded, socket };
}

/** A masked client frame (RFC 6455 §5.3), payloads under 126 bytes. */
export function clientFrame(opcode: number, payload: string | Buffer): Buffer {
  const data = typeof payload === 'string' ? Buffer.from(payload) : payload;
  if (data.length > 125) throw new RangeError('helper supports payloads under 126 bytes');
  const mask = Buffer.from([0x0f, 0x1e, 0x2d, 0x3c]);
  const masked = Buffer.alloc(data.length);
  for (let i = 0; i < data.length; i++) masked[i] = (data[i] ?? 0) ^ (mask[i % 4] ?? 0);
  return Buffer.concat([Buffer.from([0x80 | opcode, 0x80 | data.length]), mask, masked]);
}

/** A `ws` client whose messages are queued from the start. */
export interface Client {
  readonly ws: WebSocket;
  /** The next message, as text. */
  next(): Promise<string>;
  /** Sends `message` and returns the answer. */
  ask(message: string): Promise<string>;
  /** The close code the client receives. */
  readonly closed: Promise<number>;
}

/** Wraps an open (or opening) `ws` client in a queue; terminated on teardown. */
export function track(t: Test, ws: WebSocket): Client {
  t.teardown(() => {
    ws.terminate();
  });
  const messages: string[] = [];
  const waiters: ((message: string) => void)[] = [];
  ws.on('message', (data: Buffer) => {
    const waiter = waiters.shift();
    if (waiter) waiter(data.toString());
    else messages.push(data.toString());
  });
  ws.on('error', () => {});
  const closed = new Promise<number>((resolve) =>
    ws.once('close', (code: number) => resolve(code)),
  );
  const next = (): Promise<string> => {
    const queued = messages.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    return bounded(new Promise((resolve) => waiters.push(resolve)), 'a message');
  };
  return {
    ws,
    next,
    ask(message) {
      ws.send(message);
      return next();
    },
    closed,
  };
}

/** Opens a `ws` client; rejects with the status of a refused handshake. */
export async function open(
  t: Test,
  url: string,
  protocols: string[] = [],
  headers: Record<string, string> = {},
): Promise<Client> {
  const client = track(t, new WebSocket(url, protocols, { headers }));
  await bounded(
    new Promise<void>((resolve, fail) => {
      client.ws.once('open', () => resolve());
      client.ws.once('unexpected-response', (_request, response) => {
        fail(Object.assign(new Error(`refused with ${response.statusCode}`), response));
      });
      client.ws.once('error', fail);
    }),
    'open',
  );
  return client;
}

/** Waits for one event. */
export async function next(emitter: Socket, event: string): Promise<unknown[]> {
  return bounded(once(emitter, event), event);
}
