/**
 * Test helpers: an Express app on 127.0.0.1:0 with the middleware attached, raw upgrade
 * requests over TCP and masked client frames (from `@wsroute/test-utils`), and `ws` clients;
 * everything is released with `t.teardown`.
 */
import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Express } from 'express';
import type { Test } from 'tap';
import WebSocket from 'ws';
import type { ExpressWebSocket } from '../src/index.js';

export {
  exchange as send,
  maskedFrame as clientFrame,
  type RawAnswer as RawResponse,
  readAnswerFrame as readServerFrame,
  upgradeRequest,
} from '@wsroute/test-utils';

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
