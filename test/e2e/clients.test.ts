/**
 * The echo server against independent client implementations: the `ws` package and undici's
 * WHATWG `WebSocket`. Nothing of @wsroute/core is used on the client side.
 */
import t, { type Test } from 'tap';
import { WebSocket as UndiciWebSocket } from 'undici';
import WebSocket from 'ws';
import { startEcho } from '../helpers/echo-server.js';
import { waitForEvent, withTimeout } from '../helpers/raw-client.js';

interface Received {
  readonly data: Buffer;
  readonly isBinary: boolean;
}

/** Opens a `ws` client; it is terminated on teardown. */
async function openWs(t: Test, url: string, protocols?: string[]): Promise<WebSocket> {
  const ws = new WebSocket(url, protocols);
  ws.on('error', () => {});
  t.teardown(() => ws.terminate());
  await waitForEvent(ws, 'open');
  return ws;
}

/** The next message a `ws` client receives. */
async function nextMessage(ws: WebSocket): Promise<Received> {
  const [data, isBinary] = await waitForEvent(ws, 'message');
  return { data: data as Buffer, isBinary: isBinary as boolean };
}

/** The close a `ws` client sees. */
async function closed(ws: WebSocket): Promise<{ code: number; reason: string }> {
  const [code, reason] = await waitForEvent(ws, 'close');
  return { code: code as number, reason: String(reason) };
}

/** A payload of `size` bytes with a recognisable pattern. */
function pattern(size: number): Buffer {
  const bytes = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 31 + 7) & 0xff;
  return bytes;
}

t.test('ws client', async (t) => {
  const { port } = await startEcho(t);
  const url = `ws://127.0.0.1:${port}/`;

  t.test('text stays text and binary stays binary', async (t) => {
    const ws = await openWs(t, url);
    ws.send('héllo');
    const text = await nextMessage(ws);
    t.equal(text.isBinary, false);
    t.equal(text.data.toString(), 'héllo');
    ws.send(Buffer.from([0, 1, 2, 255]));
    const binary = await nextMessage(ws);
    t.equal(binary.isBinary, true);
    t.same([...binary.data], [0, 1, 2, 255]);
  });

  const sizes = [0, 125, 126, 65535, 65536, 1024 * 1024, 16 * 1024 * 1024];
  for (const size of sizes) {
    t.test(`echoes ${size} bytes, binary and text`, async (t) => {
      const ws = await openWs(t, url);
      const payload = pattern(size);
      ws.send(payload);
      const binary = await withTimeout(nextMessage(ws), `${size} B binary`, 30_000);
      t.equal(binary.isBinary, true);
      t.equal(binary.data.length, size);
      t.ok(binary.data.equals(payload), 'identical bytes');
      const text = 'x'.repeat(size);
      ws.send(text);
      const echoed = await withTimeout(nextMessage(ws), `${size} B text`, 30_000);
      t.equal(echoed.isBinary, false);
      t.ok(echoed.data.equals(Buffer.from(text)), 'identical text');
    });
  }

  t.test('fragmented sends arrive as one message of the first fragment type', async (t) => {
    const ws = await openWs(t, url);
    ws.send('frag', { fin: false });
    ws.send('men', { fin: false });
    ws.send('ted', { fin: true });
    const text = await nextMessage(ws);
    t.same([text.isBinary, text.data.toString()], [false, 'fragmented']);
    ws.send(Buffer.from([1, 2]), { binary: true, fin: false });
    ws.send(Buffer.alloc(70_000, 3), { binary: true, fin: true });
    const binary = await nextMessage(ws);
    t.equal(binary.isBinary, true);
    t.equal(binary.data.length, 70_002);
    t.same([...binary.data.subarray(0, 3)], [1, 2, 3]);
  });

  t.test('negotiates a subprotocol from the client offer', async (t) => {
    t.equal((await openWs(t, url, ['chat.v2', 'chat'])).protocol, 'chat.v2');
    t.equal((await openWs(t, url, ['chat', 'chat.v2'])).protocol, 'chat', 'client order wins');
    t.equal((await openWs(t, url, ['other', 'chat'])).protocol, 'chat');
    t.equal((await openWs(t, url)).protocol, '', 'none offered: none answered');
    const refused = new WebSocket(url, ['other']);
    refused.on('error', () => {});
    t.teardown(() => refused.terminate());
    const [, response] = await waitForEvent(refused, 'unexpected-response');
    t.equal((response as { statusCode: number }).statusCode, 400);
  });

  t.test('a client close code is echoed back', async (t) => {
    const ws = await openWs(t, url);
    ws.close(4000, 'bye');
    t.same(await closed(ws), { code: 4000, reason: '' });
  });

  t.test('the server closes with 1007 on invalid UTF-8 text', async (t) => {
    const ws = await openWs(t, url);
    ws.send(Buffer.from([0xc0, 0xaf]), { binary: false });
    t.equal((await closed(ws)).code, 1007);
  });

  t.test('server shutdown closes with 1001', async (t) => {
    const own = await startEcho(t);
    const ws = await openWs(t, `ws://127.0.0.1:${own.port}/`);
    const onClose = closed(ws);
    await own.close();
    t.equal((await onClose).code, 1001);
  });
});

/** Opens an undici client; it is closed on teardown. */
async function openUndici(t: Test, url: string, protocols?: string[]): Promise<UndiciWebSocket> {
  const ws = new UndiciWebSocket(url, protocols);
  ws.binaryType = 'arraybuffer';
  t.teardown(() => ws.close());
  await new Promise<void>((resolve, reject) => {
    ws.addEventListener('open', () => resolve(), { once: true });
    ws.addEventListener('error', () => reject(new Error('undici client failed to open')), {
      once: true,
    });
  });
  return ws;
}

function nextUndiciMessage(ws: UndiciWebSocket): Promise<string | ArrayBuffer> {
  return withTimeout(
    new Promise((resolve) => {
      ws.addEventListener('message', (event) => resolve(event.data as string | ArrayBuffer), {
        once: true,
      });
    }),
    'undici message',
  );
}

t.test('undici WebSocket client', async (t) => {
  const { port } = await startEcho(t);
  const url = `ws://127.0.0.1:${port}/`;

  t.test('text and binary', async (t) => {
    const ws = await openUndici(t, url);
    ws.send('grüß');
    t.equal(await nextUndiciMessage(ws), 'grüß');
    ws.send(new Uint8Array([9, 8, 7]));
    const binary = await nextUndiciMessage(ws);
    t.ok(binary instanceof ArrayBuffer, 'binary arrives as binary');
    t.same([...new Uint8Array(binary as ArrayBuffer)], [9, 8, 7]);
  });

  t.test('subprotocol', async (t) => {
    t.equal((await openUndici(t, url, ['chat'])).protocol, 'chat');
    t.equal((await openUndici(t, url, ['x', 'chat.v2'])).protocol, 'chat.v2');
  });

  t.test('close codes both ways', async (t) => {
    const ws = await openUndici(t, url);
    const event = withTimeout(
      new Promise<{ code: number; wasClean: boolean }>((resolve) => {
        ws.addEventListener('close', (e) => resolve({ code: e.code, wasClean: e.wasClean }), {
          once: true,
        });
      }),
      'undici close',
    );
    ws.close(4001, 'done');
    t.same(await event, { code: 4001, wasClean: true });

    const own = await startEcho(t);
    const other = await openUndici(t, `ws://127.0.0.1:${own.port}/`);
    const shutdown = withTimeout(
      new Promise<number>((resolve) => {
        other.addEventListener('close', (e) => resolve(e.code), { once: true });
      }),
      'undici close on shutdown',
    );
    await own.close();
    t.equal(await shutdown, 1001, 'server shutdown');
  });
});

t.test('the echo server takes any origin and sets no admission limit', async (t) => {
  const { port } = await startEcho(t);
  const url = `ws://127.0.0.1:${port}/`;
  const foreign = new WebSocket(url, { origin: 'https://conformance-tool.example' });
  foreign.on('error', () => {});
  t.teardown(() => foreign.terminate());
  await waitForEvent(foreign, 'open');
  // A load tool: many handshakes at once from one address, all accepted.
  const burst = Array.from({ length: 64 }, () => openWs(t, url));
  t.equal((await Promise.all(burst)).length, 64);
});
