/**
 * The handshake deadline holds from the first byte, on every entry point: Node emits
 * `'upgrade'` only once a request's headers are complete, so clients that never finish them
 * (or send nothing, or drip a byte at a time) are cut by the lifecycle's sweep within
 * `handshakeTimeout` of connecting, not by Node's own `headersTimeout` a minute later. Each
 * entry point gets 2,000 such clients at once, then must still upgrade a well-behaved one.
 */
import http from 'node:http';
import { type AddressInfo, connect, type Socket } from 'node:net';
import { WebSocketServer } from '@wsroute/core';
import { wsroute as expressWsroute } from '@wsroute/express';
import { defineWebSocketRoute, wsroute as fastifyWsroute, upgradeRequired } from '@wsroute/fastify';
import { wsroute as koaWsroute } from '@wsroute/koa';
import express from 'express';
import Fastify from 'fastify';
import Koa from 'koa';
import t, { type Test } from 'tap';
import { OP, RawClient, waitForEvent, withTimeout } from '../helpers/raw-client.js';

const HANDSHAKE_TIMEOUT = 1500;
/** Event-loop and scheduling delay allowed past the deadline on a busy machine. */
const LATE_MS = 1000;
const CLIENTS = 2000;

const echoRoute = {
  defaultProtocol: {
    onMessage(connection: { send(message: string | Buffer): boolean }, message: string | Buffer) {
      connection.send(message);
    },
  },
  heartbeatInterval: 0,
};

interface EntryPoint {
  readonly port: number;
  /** The server's open TCP connections. */
  connections(): Promise<number>;
  close(): Promise<void>;
}

function countConnections(server: http.Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.getConnections((error, count) => (error ? reject(error) : resolve(count)));
  });
}

async function listen(server: http.Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await waitForEvent(server, 'listening');
  return (server.address() as AddressInfo).port;
}

function closeServer(server: http.Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

const options = { handshakeTimeout: HANDSHAKE_TIMEOUT, shutdownTimeout: 100 };

const entryPoints: Record<string, () => Promise<EntryPoint>> = {
  async node() {
    const wss = new WebSocketServer(options).route('/echo', echoRoute);
    const server = wss.attach(http.createServer());
    return {
      port: await listen(server),
      connections: () => countConnections(server),
      close: () => closeServer(server),
    };
  },
  async fastify() {
    const app = Fastify();
    await app.register(fastifyWsroute, options);
    app.get(
      '/echo',
      { websocket: defineWebSocketRoute({ ...echoRoute, data: () => undefined }) },
      upgradeRequired,
    );
    await app.listen({ port: 0, host: '127.0.0.1' });
    return {
      port: (app.server.address() as AddressInfo).port,
      connections: () => countConnections(app.server),
      async close() {
        app.server.closeAllConnections();
        await app.close();
      },
    };
  },
  async express() {
    const app = express();
    const ws = expressWsroute(options);
    app.get('/echo', ws.route(echoRoute));
    const server = ws.attach(http.createServer(app), app);
    return {
      port: await listen(server),
      connections: () => countConnections(server),
      close: () => closeServer(server),
    };
  },
  async koa() {
    const app = new Koa();
    const ws = koaWsroute(options);
    app.use(ws.middleware());
    app.use(ws.route(echoRoute));
    const server = ws.attach(http.createServer(app.callback()), app);
    return {
      port: await listen(server),
      connections: () => countConnections(server),
      close: () => closeServer(server),
    };
  },
};

/** What the clients send before going silent: never a complete request head. */
const PARTIAL_REQUESTS = [
  '',
  'GET /echo HTT',
  'GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n',
  'GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n',
];

/** A client that connected and sent part of a request: how long until the server cut it. */
interface HalfSent {
  readonly socket: Socket;
  /** Resolves with ms from connecting to the end of the server's side, and what it answered. */
  readonly cut: Promise<{ readonly ms: number; readonly answer: string }>;
}

function connectHalfSent(t: Test, port: number, request: string): Promise<HalfSent> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1' });
    t.teardown(() => {
      socket.destroy();
    });
    socket.once('error', reject);
    socket.once('connect', () => {
      const connectedAt = Date.now();
      socket.off('error', reject);
      socket.on('error', () => {});
      if (request) socket.write(request);
      const chunks: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      const cut = new Promise<{ ms: number; answer: string }>((settle) => {
        const done = (): void => {
          settle({ ms: Date.now() - connectedAt, answer: Buffer.concat(chunks).toString() });
        };
        socket.once('end', done);
        socket.once('close', done);
      });
      resolve({ socket, cut });
    });
  });
}

/** A client that sends its request one byte every 100 ms and never finishes. */
function dripForever(t: Test, client: HalfSent): void {
  const request = PARTIAL_REQUESTS[3]!;
  let sent = 0;
  const timer = setInterval(() => {
    if (client.socket.destroyed || sent >= request.length) return;
    client.socket.write(request.slice(sent, sent + 1));
    sent++;
  }, 100);
  t.teardown(() => clearInterval(timer));
  void client.cut.then(() => clearInterval(timer));
}

for (const [name, start] of Object.entries(entryPoints)) {
  t.test(`${name}: ${CLIENTS} half-sent handshakes are cut within handshakeTimeout`, async (t) => {
    const entry = await start();
    t.teardown(() => entry.close());
    const clients: HalfSent[] = [];
    // In batches, so the listen backlog never overflows (a dropped SYN is retried after 1 s).
    for (let i = 0; i < CLIENTS; i += 200) {
      const batch = [];
      for (let j = i; j < Math.min(i + 200, CLIENTS); j++) {
        const request = PARTIAL_REQUESTS[j % PARTIAL_REQUESTS.length]!;
        batch.push(connectHalfSent(t, entry.port, request));
      }
      clients.push(...(await Promise.all(batch)));
    }
    for (const client of clients.slice(0, 20)) dripForever(t, client);

    const cuts = await withTimeout(
      Promise.all(clients.map((client) => client.cut)),
      'every half-sent handshake cut',
      HANDSHAKE_TIMEOUT + 10_000,
    );
    const times = cuts.map((cut) => cut.ms);
    const slowest = Math.max(...times);
    const fastest = Math.min(...times);
    t.ok(
      slowest <= HANDSHAKE_TIMEOUT + LATE_MS,
      `all cut by ${slowest} ms (handshakeTimeout ${HANDSHAKE_TIMEOUT} ms)`,
    );
    t.ok(fastest >= HANDSHAKE_TIMEOUT * 0.8, `none before ${fastest} ms`);
    const answers = new Set(cuts.map((cut) => cut.answer.split('\r\n')[0]));
    t.same([...answers], ['HTTP/1.1 408 Request Timeout'], 'each was answered 408');

    // The server is healthy: its sockets close (each after the client's FIN, or a grace
    // period of a second) and a real client upgrades.
    const closedBy = Date.now() + 5000;
    let open = await entry.connections();
    while (open > 0 && Date.now() < closedBy) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      open = await entry.connections();
    }
    t.equal(open, 0, 'every cut socket closed');
    const client = await RawClient.upgrade(t, entry.port, { path: '/echo' });
    client.send({ opcode: OP.text, payload: 'still here' });
    t.equal((await client.frame()).payload.toString(), 'still here');
  });
}
