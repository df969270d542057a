import { once } from 'node:events';
import { createServer, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import t, { type Test } from 'tap';
import {
  bindUpgradeResponse,
  createUpgradeResponse,
  isUpgradable,
} from '../src/upgrade-response.js';
import { deferred, portOf, rawConnect, upgradeRequest } from './helpers/wire.js';

/** A node:http server whose `'upgrade'` events go to `onUpgrade`; released on teardown. */
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
  return portOf(server);
}

/** Sends an upgrade request and resolves with every byte received until the server's FIN. */
async function answerOf(t: Test, port: number): Promise<string> {
  const { socket } = await rawConnect(port);
  t.teardown(() => {
    socket.destroy();
  });
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.write(upgradeRequest('/'));
  await once(socket, 'end');
  return Buffer.concat(chunks).toString('utf8');
}

t.test('createUpgradeResponse makes an unbound response that closes the exchange', async (t) => {
  const port = await listen(t, (request, socket) => {
    const response = createUpgradeResponse(request);
    t.equal(response.socket, null, 'not bound');
    t.equal(response.shouldKeepAlive, false);
    socket.destroy();
  });
  const { socket } = await rawConnect(port, upgradeRequest('/'));
  t.teardown(() => {
    socket.destroy();
  });
  await once(socket, 'close');
});

t.test('bindUpgradeResponse sends the answer on the socket, then ends it', async (t) => {
  let releases = 0;
  let wasDetached: Promise<boolean> = Promise.resolve(false);
  const port = await listen(t, (request, socket) => {
    const response = createUpgradeResponse(request);
    bindUpgradeResponse(response, socket, () => releases++);
    wasDetached = once(response, 'finish').then(() => response.socket === null);
    response.statusCode = 401;
    response.setHeader('Content-Type', 'text/plain');
    response.end('who are you');
  });
  const raw = await answerOf(t, port);
  t.match(raw, /^HTTP\/1\.1 401 Unauthorized\r\n/);
  t.match(raw, /\r\nConnection: close\r\n/i);
  t.ok(raw.endsWith('\r\n\r\nwho are you'), raw);
  t.equal(await wasDetached, true, 'detached once finished');
  t.equal(releases, 1, 'released on finish');
});

t.test('bindUpgradeResponse releases when the socket closes under the response', async (t) => {
  const released = deferred();
  const port = await listen(t, (request, socket) => {
    bindUpgradeResponse(createUpgradeResponse(request), socket, () => released.resolve());
    socket.destroy();
  });
  const { socket } = await rawConnect(port, upgradeRequest('/'));
  t.teardown(() => {
    socket.destroy();
  });
  await released.promise;
  t.pass('released');
});

t.test('isUpgradable', async (t) => {
  t.test('is true until the response sends headers', async (t) => {
    const seen: boolean[] = [];
    const port = await listen(t, (request, socket) => {
      const response = createUpgradeResponse(request);
      bindUpgradeResponse(response, socket, () => {});
      seen.push(isUpgradable(response, socket));
      response.writeHead(403);
      seen.push(isUpgradable(response, socket));
      response.end();
    });
    await answerOf(t, port);
    t.same(seen, [true, false]);
  });

  t.test('is false once the response ended without headers flushed', async (t) => {
    let seen: boolean | undefined;
    const port = await listen(t, (request, socket) => {
      const response = createUpgradeResponse(request);
      response.end('buffered');
      seen = isUpgradable(response, socket);
      socket.destroy();
    });
    const { socket } = await rawConnect(port, upgradeRequest('/'));
    t.teardown(() => {
      socket.destroy();
    });
    await once(socket, 'close');
    t.equal(seen, false);
  });

  t.test('is false once the socket is ended or destroyed', async (t) => {
    const seen: boolean[] = [];
    const port = await listen(t, (request, socket) => {
      const response = createUpgradeResponse(request);
      socket.end();
      seen.push(isUpgradable(response, socket));
      socket.destroy();
      seen.push(isUpgradable(response, socket));
    });
    const { socket } = await rawConnect(port, upgradeRequest('/'));
    t.teardown(() => {
      socket.destroy();
    });
    await once(socket, 'close');
    t.same(seen, [false, false]);
  });
});
