// Run by pack.test.ts with plain node after tsc compiled the project: one message each way on
// every entry point, through the installed tarballs, then a JSON summary on stdout.
import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import WebSocket from 'ws';
import { startExpress } from './express-app.js';
import { buildApp } from './fastify-app.js';
import { createKoaServer } from './koa-app.js';
import { createChatServer } from './node-server.js';
import { openFastify, refusedStatus } from './testing.js';

const auth = { authorization: 'Bearer s3cret' };

/** Opens a client, sends one message, resolves with the protocol and the first answer. */
async function roundTrip(
  url: string,
  protocol: string,
  message: unknown,
): Promise<{ protocol: string; answer: unknown }> {
  const ws = new WebSocket(url, [protocol], { headers: auth });
  await once(ws, 'open');
  return exchange(ws, message);
}

async function exchange(
  ws: WebSocket,
  message: unknown,
): Promise<{ protocol: string; answer: unknown }> {
  const answered = once(ws, 'message');
  ws.send(JSON.stringify(message));
  const [data] = (await answered) as [Buffer];
  const closed = once(ws, 'close');
  ws.close(1000);
  await closed;
  return { protocol: ws.protocol, answer: JSON.parse(String(data)) };
}

function portOf(server: Server): number {
  return (server.address() as AddressInfo).port;
}

async function listening(server: Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return portOf(server);
}

const summary: Record<string, unknown> = {};

const app = await buildApp();
await app.listen({ port: 0, host: '127.0.0.1' });
try {
  summary.fastify = await roundTrip(`ws://127.0.0.1:${portOf(app.server)}/rooms/lobby`, 'chat.v2', {
    text: 'hi',
  });
  summary.injectWS = await exchange(await openFastify(app, '/rooms/attic'), { text: 'ho' });
} finally {
  await app.close();
}

const { wss, server } = createChatServer();
const nodePort = await listening(server);
try {
  summary.node = await roundTrip(`ws://127.0.0.1:${nodePort}/chat`, 'chat.v2', {
    type: 'say',
    text: 'hey',
  });
  summary.injectWebSocketRefused = await refusedStatus(server, '/chat');
} finally {
  await wss.close();
  server.close();
}

const expressServer = startExpress(0);
await once(expressServer, 'listening');
try {
  summary.express = await roundTrip(
    `ws://127.0.0.1:${portOf(expressServer)}/chat/lobby`,
    'chat.v1',
    { type: 'say', text: 'yo' },
  );
} finally {
  expressServer.close();
}

const koaServer = createKoaServer();
const koaPort = await listening(koaServer);
try {
  summary.koa = await roundTrip(`ws://127.0.0.1:${koaPort}/rooms/lobby`, 'chat.v1', {
    text: 'hallo',
  });
} finally {
  koaServer.close();
}

process.stdout.write(`${JSON.stringify(summary)}\n`);
