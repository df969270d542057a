import t, { type Test } from 'tap';
import { Opcode } from '../src/constants.js';
import type { WebSocketHandler } from '../src/protocol.js';
import { ConnectionRegistry } from '../src/registry.js';
import { type Exchange, exchange, serve } from './helpers/serve.js';
import { closePayload, deferred, upgradeRequest, withTimeout } from './helpers/wire.js';

const echo: WebSocketHandler<unknown> = {
  onMessage(connection, message) {
    connection.send(message);
  },
};

/** Opens `count` raw clients on `/echo` and waits until each has exchanged one message. */
async function openClients(t: Test, port: number, count: number): Promise<Exchange[]> {
  const clients: Exchange[] = [];
  for (let i = 0; i < count; i++) {
    const client = await exchange(t, port, upgradeRequest('/echo'));
    t.equal(client.head.status, 101);
    client.send({ opcode: Opcode.Text, payload: `hi ${i}` });
    await client.reader.frame();
    clients.push(client);
  }
  return clients;
}

t.test('shutdown closes every connection with 1001 and waits for the handshakes', async (t) => {
  const codes: number[] = [];
  const { wss, port } = await serve(t, (wss) =>
    wss.route('/echo', { defaultProtocol: { ...echo, onClose: (_c, code) => codes.push(code) } }),
  );
  const clients = await openClients(t, port, 3);
  let isDone = false;
  const shutdown = wss.close().then(() => {
    isDone = true;
  });
  for (const client of clients) {
    const frame = await client.reader.closeFrame();
    t.same([frame.code, frame.reason], [1001, 'server shutting down']);
  }
  t.notOk(isDone, 'still waiting for the clients to answer');
  for (const client of clients) {
    client.send({ opcode: Opcode.Close, payload: closePayload(1001) });
    await client.reader.ended();
    client.socket.end();
  }
  await withTimeout(shutdown, 'shutdown');
  t.equal(wss.connections.size, 0);
  t.same(codes, [1001, 1001, 1001]);
});

t.test('handshakes after shutdown began are refused with 503', async (t) => {
  const { wss, port } = await serve(t, (wss) => wss.route('/echo', { defaultProtocol: echo }));
  await wss.close();
  const late = await exchange(t, port, upgradeRequest('/echo'));
  t.equal(late.head.status, 503);
  t.equal(late.body, 'Server shutting down');
});

t.test('a handshake whose hook was running when shutdown began gets 503', async (t) => {
  const hookStarted = deferred();
  const release = deferred();
  const { wss, port } = await serve(t, (wss) =>
    wss.route('/echo', {
      defaultProtocol: echo,
      upgrade: async () => {
        hookStarted.resolve();
        await release.promise;
      },
    }),
  );
  const answer = exchange(t, port, upgradeRequest('/echo'));
  await withTimeout(hookStarted.promise, 'hook');
  const shutdown = wss.close();
  release.resolve();
  const { head } = await answer;
  t.equal(head.status, 503, 'not a 101 that shutdown would never close');
  await withTimeout(shutdown, 'shutdown');
});

t.test('shutdown destroys connections that do not answer within the timeout', async (t) => {
  const { wss, port } = await serve(t, (wss) =>
    wss.route('/echo', { defaultProtocol: echo, closeTimeout: 60_000 }),
  );
  const [client] = await openClients(t, port, 1);
  const shutdown = wss.close({ code: 1012, reason: 'restart', timeout: 50 });
  const frame = await client!.reader.closeFrame();
  t.same([frame.code, frame.reason], [1012, 'restart'], 'custom code and reason');
  await withTimeout(shutdown, 'shutdown');
  await client!.reader.ended();
  t.equal(wss.connections.size, 0);
});

t.test('shutdown without connections resolves at once and is idempotent', async (t) => {
  const registry = new ConnectionRegistry();
  t.notOk(registry.isShuttingDown);
  await withTimeout(registry.shutdown(), 'first');
  await withTimeout(registry.shutdown(), 'second');
  t.ok(registry.isShuttingDown);
  t.equal(registry.connections.size, 0);
});
