import { once } from 'node:events';
import { createServer, type IncomingMessage } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import type { Duplex } from 'node:stream';
import t, { type Test } from 'tap';
import {
  createUpgradeResponse,
  endSocketGracefully,
  sendOnSocket,
} from '../src/socket-response.js';
import { rawConnect, readHead, upgradeRequest } from './helpers.js';

/** A plain node server whose `'upgrade'` events are handed to `onUpgrade`. */
async function listen(
  t: Test,
  onUpgrade: (request: IncomingMessage, socket: Duplex) => void,
): Promise<number> {
  const server = createServer();
  server.on('upgrade', onUpgrade);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(async () => {
    server.closeAllConnections();
    server.close();
    await once(server, 'close');
  });
  return (server.address() as AddressInfo).port;
}

t.test('writes what was answered before binding, with Connection: close, then ends', async (t) => {
  const port = await listen(t, (request, socket) => {
    const response = createUpgradeResponse(request);
    response.statusCode = 401;
    response.setHeader('Content-Type', 'text/plain');
    response.end('no');
    sendOnSocket(response, socket);
  });
  const client = await rawConnect(t, port);
  client.write(upgradeRequest('/'));
  const head = await readHead(client);
  t.equal(head.statusLine, 'HTTP/1.1 401 Unauthorized');
  t.equal(head.headers.connection, 'close');
  t.equal(head.headers['content-length'], '2');
  const rest: Buffer[] = [head.rest];
  client.on('data', (chunk: Buffer) => rest.push(chunk));
  await once(client, 'end');
  t.equal(Buffer.concat(rest).toString(), 'no');
});

t.test('a body still streaming when bound keeps flowing until it ends', async (t) => {
  const port = await listen(t, (request, socket) => {
    const response = createUpgradeResponse(request);
    response.write('one,');
    sendOnSocket(response, socket);
    setTimeout(() => response.end('two'), 10);
  });
  const client = await rawConnect(t, port);
  client.write(upgradeRequest('/'));
  const chunks: Buffer[] = [];
  client.on('data', (chunk: Buffer) => chunks.push(chunk));
  await once(client, 'end');
  const raw = Buffer.concat(chunks).toString();
  t.match(raw, /^HTTP\/1\.1 200 OK\r\n/);
  t.match(raw, /Transfer-Encoding: chunked/);
  t.match(raw, /one,.*two/s);
});

t.test('does nothing on a socket that is gone', async (t) => {
  const port = await listen(t, (request, socket) => {
    socket.destroy();
    const response = createUpgradeResponse(request);
    response.end('x');
    sendOnSocket(response, socket);
    t.equal(response.socket, null, 'never bound');
  });
  const client = await rawConnect(t, port);
  client.write(upgradeRequest('/'));
  await once(client, 'close');
});

t.test('endSocketGracefully destroys the socket when the peer never closes', async (t) => {
  let serverClosed: Promise<unknown> = Promise.resolve();
  let isServerDestroyed = (): boolean => false;
  const port = await listen(t, (_request, socket) => {
    serverClosed = once(socket, 'close');
    isServerDestroyed = () => socket.destroyed;
    endSocketGracefully(socket);
  });
  // Half-open on purpose: the client never sends its FIN.
  const client = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  t.teardown(() => {
    client.destroy();
  });
  client.write(upgradeRequest('/'));
  client.resume();
  await once(client, 'end');
  t.equal(isServerDestroyed(), false, 'still waiting for the peer');
  const started = Date.now();
  await serverClosed;
  t.ok(Date.now() - started >= 900, 'after the grace period');
});

t.test('endSocketGracefully closes at once when the peer closes too', async (t) => {
  let serverClosed: Promise<unknown> = Promise.resolve();
  const port = await listen(t, (_request, socket) => {
    serverClosed = once(socket, 'close');
    endSocketGracefully(socket);
  });
  const client = await rawConnect(t, port);
  client.write(upgradeRequest('/'));
  client.resume();
  await once(client, 'end');
  const started = Date.now();
  await serverClosed;
  t.ok(Date.now() - started < 900);
});
