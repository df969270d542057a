/**
 * Test helpers: a Fastify app with the plugin on 127.0.0.1:0, raw HTTP exchanges over TCP (so
 * tests see exactly what the server wrote, 101 or not), and `ws` clients with a message queue.
 * Everything is released with `t.teardown`.
 */
import type { AddressInfo } from 'node:net';
import { withTimeout } from '@wsroute/test-utils';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Test } from 'tap';
import WebSocket from 'ws';
import { type WsrouteOptions, wsroute } from '../src/index.js';

export {
  exchange,
  maskedFrame as clientFrame,
  type RawAnswer,
  SAMPLE_ACCEPT as ACCEPT,
  upgradeRequest,
} from '@wsroute/test-utils';

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
    return withTimeout(new Promise((resolve) => waiters.push(resolve)), 'a message');
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
  await withTimeout(
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
