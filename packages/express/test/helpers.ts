/**
 * Test helpers: an Express app on 127.0.0.1:0 with the middleware attached, raw upgrade
 * requests over TCP, masked client frames, and `ws` clients; everything is released with
 * `t.teardown`.
 */
import { once } from 'node:events';
import type { Server } from 'node:http';
import { type AddressInfo, connect, type Socket } from 'node:net';
import type { Express } from 'express';
import type { Test } from 'tap';
import WebSocket from 'ws';
import type { ExpressWebSocket } from '../src/index.js';

export const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';

/** A listening server with the middleware attached. */
export interface Running {
  readonly server: Server;
  readonly port: number;
  readonly url: string;
}

/**
 * Attaches `ws` to `app.listen()` on 127.0.0.1:0; on teardown closes every connection and the
 * server.
 */
export async function start(t: Test, app: Express, ws: ExpressWebSocket): Promise<Running> {
  const server = ws.attach(app.listen(0, '127.0.0.1'));
  await once(server, 'listening');
  t.teardown(async () => {
    await ws.close({ timeout: 200 });
    server.closeAllConnections();
    if (server.listening) {
      server.close();
      await once(server, 'close');
    }
  });
  const { port } = server.address() as AddressInfo;
  return { server, port, url: `ws://127.0.0.1:${port}` };
}

/** An HTTP response read off a raw socket. */
export interface RawResponse {
  readonly status: number;
  /** Header names lower-cased; repeated headers joined with ', '. */
  readonly headers: Readonly<Record<string, string>>;
  /** Body bytes received until the server ended the socket (empty for a 101). */
  readonly body: string;
  /** Everything received, as latin1. */
  readonly raw: string;
  readonly socket: Socket;
}

/** The upgrade request a client sends for `path`, with extra header lines. */
export function upgradeRequest(path: string, headers: Record<string, string> = {}): string {
  let request =
    `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n`;
  for (const [name, value] of Object.entries(headers)) request += `${name}: ${value}\r\n`;
  return `${request}\r\n`;
}

function parseHead(raw: string): { status: number; headers: Record<string, string> } {
  const [statusLine = '', ...lines] = raw.split('\r\n');
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
 * Writes `data` (a request, possibly followed by frames) in one write and reads the answer:
 * for a 101 until the end of the head, otherwise until the server ends the socket.
 */
export async function send(t: Test, port: number, data: string | Buffer): Promise<RawResponse> {
  const socket = connect({ port, host: '127.0.0.1' });
  t.teardown(() => {
    socket.destroy();
  });
  const chunks: Buffer[] = [];
  let onData: () => void = () => {};
  socket.on('data', (chunk: Buffer) => {
    chunks.push(chunk);
    onData();
  });
  const ended = once(socket, 'end');
  socket.write(data);
  const isSwitching = await new Promise<boolean>((resolve, fail) => {
    const check = (): void => {
      const text = Buffer.concat(chunks).toString('latin1');
      if (text.includes('\r\n\r\n') && text.startsWith('HTTP/1.1 101')) resolve(true);
    };
    onData = check;
    ended.then(() => resolve(false), fail);
  });
  const raw = Buffer.concat(chunks).toString('latin1');
  const split = raw.indexOf('\r\n\r\n');
  const head = parseHead(raw.slice(0, split));
  return {
    ...head,
    body: isSwitching ? '' : raw.slice(split + 4),
    raw,
    socket,
  };
}

/** A masked client frame (RFC 6455 §5.3), payloads under 126 bytes. */
export function clientFrame(opcode: number, payload: string | Buffer): Buffer {
  const data = typeof payload === 'string' ? Buffer.from(payload) : payload;
  if (data.length > 125) throw new RangeError('helper supports payloads under 126 bytes');
  const mask = Buffer.from([0x12, 0x34, 0x56, 0x78]);
  const masked = Buffer.alloc(data.length);
  for (let i = 0; i < data.length; i++) masked[i] = (data[i] ?? 0) ^ (mask[i % 4] ?? 0);
  return Buffer.concat([Buffer.from([0x80 | opcode, 0x80 | data.length]), mask, masked]);
}

/** Reads the first server frame after a 101 read by {@link send} (payloads under 126 bytes). */
export async function readServerFrame(
  response: RawResponse,
): Promise<{ readonly fin: boolean; readonly opcode: number; readonly payload: Buffer }> {
  const tail = response.raw.slice(response.raw.indexOf('\r\n\r\n') + 4);
  let buffer = Buffer.from(tail, 'latin1');
  while (buffer.length < 2 || buffer.length < 2 + ((buffer[1] ?? 0) & 0x7f)) {
    const [chunk] = (await once(response.socket, 'data')) as [Buffer];
    buffer = Buffer.concat([buffer, chunk]);
  }
  const first = buffer[0] ?? 0;
  return {
    fin: (first & 0x80) !== 0,
    opcode: first & 0x0f,
    payload: buffer.subarray(2, 2 + ((buffer[1] ?? 0) & 0x7f)),
  };
}

/** Messages received before anyone waited for them, per client. */
const inboxes = new WeakMap<WebSocket, { messages: string[]; waiters: ((m: string) => void)[] }>();

/**
 * Opens a `ws` client; rejects with the status of a refused handshake. Messages are queued from
 * the start: a server may send in `onOpen`, in the same TCP segment as the 101.
 */
export async function open(
  t: Test,
  url: string,
  protocols: string | string[] = [],
  headers: Record<string, string> = {},
): Promise<WebSocket> {
  const client = new WebSocket(url, protocols, { headers });
  t.teardown(() => {
    client.terminate();
  });
  const inbox = { messages: [] as string[], waiters: [] as ((m: string) => void)[] };
  inboxes.set(client, inbox);
  client.on('message', (data: Buffer) => {
    const waiter = inbox.waiters.shift();
    if (waiter) waiter(data.toString());
    else inbox.messages.push(data.toString());
  });
  await new Promise<void>((resolve, fail) => {
    client.once('open', () => resolve());
    client.once('unexpected-response', (_req, res) => {
      fail(new Error(`refused with ${res.statusCode}`));
    });
    client.once('error', fail);
  });
  return client;
}

/** Resolves with the next message as a string. */
export async function nextMessage(client: WebSocket): Promise<string> {
  const inbox = inboxes.get(client);
  if (!inbox) throw new Error('not opened with open()');
  const queued = inbox.messages.shift();
  if (queued !== undefined) return queued;
  return new Promise((resolve) => inbox.waiters.push(resolve));
}

/** Resolves with the close code the client received. */
export async function closeCode(client: WebSocket): Promise<number> {
  if (client.readyState === WebSocket.CLOSED) throw new Error('already closed');
  const [code] = (await once(client, 'close')) as [number];
  return code;
}
