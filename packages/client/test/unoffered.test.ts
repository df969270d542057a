/**
 * Servers that answer the handshake with a protocol the client cannot speak: a tiny raw
 * `node:http` upgrade handler writes the 101 with whatever `Sec-WebSocket-Protocol` a case
 * asks for, then reports the close frame the client sends.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import t, { type Test } from 'tap';
import { WebSocket } from 'undici';
import { connect } from '../src/client.js';
import { ClientCloseCode } from '../src/close-info.js';
import type { ClientError } from '../src/errors.js';
import { chatText, chatV2 } from './fixtures/contracts.js';
import { withTimeout } from './helpers/events.js';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** The close code of the first (masked, client) close frame in `bytes`, if any. */
function closeCodeOf(bytes: Buffer): number | undefined {
  if (bytes.length < 8 || (bytes[0]! & 0x0f) !== 0x8) return undefined;
  const mask = bytes.subarray(2, 6);
  return ((bytes[6]! ^ mask[0]!) << 8) | (bytes[7]! ^ mask[1]!);
}

/**
 * A server that accepts every upgrade with `answer` as the selected protocol (`undefined`: no
 * header at all). Resolves each received upgrade socket's first bytes through `frames`.
 */
async function answering(t: Test, answer: (offered: string) => string | undefined) {
  const frames: Promise<Buffer>[] = [];
  const sockets = new Set<Duplex>();
  const server = createServer();
  server.on('upgrade', (request, socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    // The first bytes from the client (its close frame); then the server goes away.
    frames.push(
      once(socket, 'data').then(([chunk]) => {
        socket.end();
        return chunk as Buffer;
      }),
    );
    const key = String(request.headers['sec-websocket-key']);
    const accept = createHash('sha1')
      .update(key + GUID)
      .digest('base64');
    const protocol = answer(String(request.headers['sec-websocket-protocol']));
    socket.write(
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        `Sec-WebSocket-Accept: ${accept}\r\n` +
        (protocol === undefined ? '' : `Sec-WebSocket-Protocol: ${protocol}\r\n`) +
        '\r\n',
    );
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  });
  return { url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}/`, frames };
}

async function failure(promise: Promise<unknown>): Promise<ClientError> {
  return withTimeout(
    promise.then(
      () => {
        throw new Error('connect() resolved');
      },
      (error: ClientError) => error,
    ),
    'connect() to fail',
  );
}

t.test('a protocol that was never offered fails the handshake', async (t) => {
  const { url } = await answering(t, () => 'evil.v9');
  const error = await failure(connect(url, [chatV2, chatText], { WebSocket }));
  // undici checks this one itself (WHATWG) and never fires open: the client sees a failed
  // handshake, closed abnormally.
  t.equal(error.code, 'HANDSHAKE_FAILED');
  t.match(error.close, { code: 1006, wasClean: false, name: 'ABNORMAL_CLOSURE' });
});

t.test('the echoed token carrier is not a contract: UNEXPECTED_PROTOCOL, close 4002', async (t) => {
  const { url, frames } = await answering(t, (offered) => offered.split(', ').at(-1));
  const error = await failure(connect(url, [chatV2, chatText], { WebSocket, token: 'secret' }));
  t.equal(error.code, 'UNEXPECTED_PROTOCOL');
  t.equal(error.protocol, 'base64url.bearer.c2VjcmV0');
  t.match(error.message, /selected base64url\.bearer\.c2VjcmV0/);
  const frame = await withTimeout(frames[0]!, 'the close frame');
  t.equal(closeCodeOf(frame), ClientCloseCode.UNEXPECTED_PROTOCOL, 'the client closes with 4002');
});

t.test('an answer without a protocol is refused', async (t) => {
  const { url } = await answering(t, () => undefined);
  const error = await failure(connect(url, [chatV2], { WebSocket }));
  // undici (like browsers) fails this handshake itself; the client's own NO_PROTOCOL check is
  // for implementations that let it through.
  t.equal(error.code, 'HANDSHAKE_FAILED');
  t.equal(error.close?.code, 1006);
});

t.test('an offered contract that the server selected opens', async (t) => {
  const { url } = await answering(t, () => 'chat');
  const client = await withTimeout(connect(url, [chatV2, chatText], { WebSocket }), 'connect');
  t.equal(client.protocol, 'chat');
  client.close().catch(() => {});
});
