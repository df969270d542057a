/**
 * Peers that send without reading, against a server with default options whose handler ignores
 * `send()`'s result (the common way to write one). What waits to be written is bounded per
 * connection (`outputHighWaterMark`): past it the server stops reading, TCP pushes back on the
 * peer, and memory stays flat; pongs for a flood of pings are coalesced (RFC 6455 §5.5.3).
 * Once the peer reads again, reading resumes and every reply arrives.
 *
 * Sizes here are a few times what the kernel's socket buffers hold, so that without the bound
 * the server would have to hold most of what was sent. Memory is asserted with wide margins:
 * the server holds a few MiB where it would otherwise hold over a hundred.
 */
import http from 'node:http';
import type { Socket } from 'node:net';
import { type Connection, WebSocketServer } from '@wsroute/core';
import t, { type Test } from 'tap';
import { listenAttached } from '../helpers/listen.js';
import { settledRss } from '../helpers/memory.js';
import { frame, OP, RawClient, withTimeout } from '../helpers/raw-client.js';

const MiB = 1024 * 1024;
/** The default `outputHighWaterMark`. */
const OUTPUT_LIMIT = MiB;
/** What the server may hold beyond the limit: the replies to one socket chunk. */
const SLACK = MiB;

interface Served {
  readonly port: number;
  readonly wss: WebSocketServer;
  /** The server side of the next upgraded socket. */
  readonly upgraded: Promise<Socket>;
  /** Resolves when a text message `done` arrives: everything sent before it was read. */
  readonly done: Promise<void>;
}

/** A server with default options (compression aside) whose echo ignores `send()`'s result. */
async function serve(t: Test, perMessageDeflate = false): Promise<Served> {
  let markDone: () => void = () => {};
  const done = new Promise<void>((resolve) => {
    markDone = resolve;
  });
  const wss = new WebSocketServer().route('/', {
    perMessageDeflate,
    defaultProtocol: {
      onMessage(connection: Connection, message: string | Buffer) {
        if (message === 'done') markDone();
        else connection.send(message);
      },
    },
  });
  const server = wss.attach(http.createServer());
  const upgraded = new Promise<Socket>((resolve) => {
    server.prependListener('upgrade', (_request, socket: Socket) => resolve(socket));
  });
  const port = await listenAttached(t, wss, server);
  return { port, wss, upgraded, done };
}

/** Opens a connection, then stops reading: the client's socket is paused. */
async function openSilent(t: Test, port: number, extensions?: string): Promise<RawClient> {
  const headers = extensions ? { 'Sec-WebSocket-Extensions': extensions } : {};
  const client = await RawClient.upgrade(t, port, { headers });
  client.socket.pause();
  return client;
}

/** The only open connection of the server. */
function onlyConnection(wss: WebSocketServer): Connection<unknown, unknown, unknown> {
  const [connection] = wss.connections;
  if (!connection) throw new Error('no connection');
  return connection;
}

/**
 * Polls until `isSettled` has held for `quietMs`, at most `maxMs`: the way to see that a
 * server stopped reading, since nothing signals an absence.
 */
async function settle(isSettled: () => boolean, quietMs = 500, maxMs = 30_000): Promise<void> {
  const started = Date.now();
  let quietSince = Date.now();
  while (Date.now() - quietSince < quietMs) {
    if (Date.now() - started > maxMs) throw new Error(`not settled within ${maxMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
    if (!isSettled()) quietSince = Date.now();
  }
}

/**
 * Writes `message` `count` times from a client that never reads, then waits until the server
 * has stopped reading (or has read everything).
 * @returns the bytes sent and the largest `bufferedAmount` seen meanwhile
 */
async function floodUntilStill(
  client: RawClient,
  serverSocket: Socket,
  connection: Connection<unknown, unknown, unknown>,
  message: Buffer,
  count: number,
): Promise<{ sent: number; maxBuffered: number }> {
  for (let i = 0; i < count; i++) client.socket.write(message);
  const sent = count * message.length;
  let maxBuffered = 0;
  let lastBytesRead = -1;
  await settle(() => {
    maxBuffered = Math.max(maxBuffered, connection.bufferedAmount);
    const bytesRead = serverSocket.bytesRead;
    const isStill = bytesRead === lastBytesRead && (serverSocket.isPaused() || bytesRead >= sent);
    lastBytesRead = bytesRead;
    return isStill;
  });
  return { sent, maxBuffered };
}

t.test('a peer that sends without reading meets backpressure; memory stays flat', async (t) => {
  const { port, wss, upgraded } = await serve(t);
  const rssBefore = settledRss();
  const client = await openSilent(t, port);
  const serverSocket = await upgraded;
  const connection = onlyConnection(wss);
  // 2,048 binary messages of 65,000 bytes (127 MiB), one frame written again and again: the
  // client holds references to a single buffer, not 127 MiB.
  const payload = Buffer.alloc(65_000, 0x5a);
  const message = frame({ opcode: OP.binary, payload });
  const count = 2048;
  const flood = await floodUntilStill(client, serverSocket, connection, message, count);
  const { sent, maxBuffered } = flood;
  t.ok(
    serverSocket.bytesRead < sent / 4,
    `the server stopped reading (${serverSocket.bytesRead} of ${sent} bytes)`,
  );
  t.ok(
    maxBuffered <= OUTPUT_LIMIT + SLACK,
    `buffered output stayed bounded (at most ${maxBuffered} bytes)`,
  );
  const growth = settledRss() - rssBefore;
  t.ok(growth < 64 * MiB, `rss grew by ${(growth / MiB).toFixed(1)} MiB while 127 MiB were sent`);

  // The peer reads again: the server resumes, and every message comes back.
  const echoBytes = count * (payload.length + 4);
  let received = 0;
  let maxBufferedAfter = 0;
  const allEchoed = new Promise<void>((resolve) => {
    client.socket.on('data', (chunk: Buffer) => {
      maxBufferedAfter = Math.max(maxBufferedAfter, connection.bufferedAmount);
      received += chunk.length;
      if (received >= echoBytes) resolve();
    });
  });
  client.socket.resume();
  await withTimeout(allEchoed, 'every echo', 60_000);
  t.equal(received, echoBytes, 'every message was echoed once the peer read');
  t.ok(maxBufferedAfter <= OUTPUT_LIMIT + SLACK, 'and output stayed bounded while it did');
});

t.test('a ping flood from a peer that does not read costs one pong', async (t) => {
  const { port, wss, done } = await serve(t);
  const rssBefore = settledRss();
  const client = await openSilent(t, port);
  const connection = onlyConnection(wss);
  // 500,000 pings of 125 bytes (64 MiB of frames), then one last ping and a message that
  // tells when the server has read them all.
  const ping = frame({ opcode: OP.ping, payload: Buffer.alloc(125, 0x70) });
  const batch = Buffer.concat(Array.from({ length: 5000 }, () => ping));
  for (let i = 0; i < 100; i++) client.socket.write(batch);
  const last = Buffer.alloc(125, 0x21);
  client.socket.write(frame({ opcode: OP.ping, payload: last }));
  client.socket.write(frame({ opcode: OP.text, payload: 'done' }));

  let maxBuffered = 0;
  const sampler = setInterval(() => {
    maxBuffered = Math.max(maxBuffered, connection.bufferedAmount);
  }, 10);
  t.teardown(() => clearInterval(sampler));
  await withTimeout(done, 'every ping read', 30_000);
  clearInterval(sampler);
  maxBuffered = Math.max(maxBuffered, connection.bufferedAmount);
  t.ok(
    maxBuffered <= OUTPUT_LIMIT + SLACK,
    `buffered output stayed bounded (${maxBuffered} bytes)`,
  );
  const growth = settledRss() - rssBefore;
  t.ok(growth < 64 * MiB, `rss grew by ${(growth / MiB).toFixed(1)} MiB for 64 MiB of pings`);

  // Once the peer reads, the pong it gets last answers the most recent ping.
  client.socket.resume();
  let pongs = 0;
  let others = 0;
  for (;;) {
    const next = await client.frame(10_000);
    if (next.opcode === OP.pong) pongs++;
    else others++;
    if (next.payload.equals(last)) break;
  }
  t.equal(others, 0, 'only pongs');
  t.ok(pongs < 500_001, `${pongs} pongs answered 500,001 pings, the last one among them`);
  t.ok(connection.isOpen, 'the connection is still open');
});

t.test('with permessage-deflate, replies waiting for the compressor count too', async (t) => {
  const { port, wss, upgraded } = await serve(t, true);
  const rssBefore = settledRss();
  const client = await openSilent(t, port, 'permessage-deflate; server_no_context_takeover');
  const serverSocket = await upgraded;
  const connection = onlyConnection(wss);
  // Text the compressor has work with, sent uncompressed: each echo goes through zlib.
  const text = Array.from({ length: 4000 }, (_, i) => `{"id":${i},"v":"${i * 7919}"}`).join(',');
  const message = frame({ opcode: OP.text, payload: text });
  const count = Math.ceil((96 * MiB) / message.length);
  const { sent, maxBuffered } = await floodUntilStill(
    client,
    serverSocket,
    connection,
    message,
    count,
  );
  t.ok(
    serverSocket.bytesRead < sent,
    `the server stopped reading (${serverSocket.bytesRead} of ${sent} bytes)`,
  );
  t.ok(
    maxBuffered <= OUTPUT_LIMIT + SLACK,
    `buffered output stayed bounded (${maxBuffered} bytes)`,
  );
  const growth = settledRss() - rssBefore;
  t.ok(growth < 64 * MiB, `rss grew by ${(growth / MiB).toFixed(1)} MiB while 96 MiB were sent`);
});
