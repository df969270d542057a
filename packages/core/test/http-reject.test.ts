import { once } from 'node:events';
import { createServer as createHttpServer } from 'node:http';
import { type AddressInfo, connect, createServer, Socket } from 'node:net';
import { Duplex } from 'node:stream';
import Boom from '@hapi/boom';
import t, { type Test } from 'tap';
import { HandshakeErrorCode, handshakeError } from '../src/errors.js';
import { describeRejection, reject } from '../src/http-reject.js';

const REQUEST =
  'GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
  'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n';

/** Listens on 127.0.0.1:0; the server and every accepted socket are released on teardown. */
async function listen(t: Test, onConnection: (socket: Socket) => void): Promise<number> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    onConnection(socket);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(async () => {
    for (const socket of sockets) socket.destroy();
    server.close();
    await once(server, 'close');
  });
  return (server.address() as AddressInfo).port;
}

/** Connects, writes `data`, and resolves with every byte received until the server's FIN. */
async function readUntilEnd(
  t: Test,
  port: number,
  data: string | Buffer = REQUEST,
  allowHalfOpen = false,
): Promise<{ raw: string; client: Socket }> {
  const client = connect({ port, host: '127.0.0.1', allowHalfOpen });
  t.teardown(() => {
    client.destroy();
  });
  const chunks: Buffer[] = [];
  client.on('data', (chunk: Buffer) => chunks.push(chunk));
  client.write(data);
  await once(client, 'end');
  return { raw: Buffer.concat(chunks).toString('utf8'), client };
}

/** Splits a raw response into status line, header lines and body. */
function parse(raw: string): { statusLine: string; headers: string[]; body: string } {
  const split = raw.indexOf('\r\n\r\n');
  const [statusLine = '', ...headers] = raw.slice(0, split).split('\r\n');
  return { statusLine, headers, body: raw.slice(split + 4) };
}

t.test('writes the exact status line, headers and body for a 400', async (t) => {
  const port = await listen(t, (socket) => {
    reject(socket, handshakeError(400, HandshakeErrorCode.KeyHeader, 'Bad key'));
  });
  const { raw } = await readUntilEnd(t, port);
  t.equal(
    raw,
    'HTTP/1.1 400 Bad Request\r\n' +
      'Connection: close\r\n' +
      'Content-Type: text/plain; charset=utf-8\r\n' +
      'Content-Length: 7\r\n' +
      '\r\n' +
      'Bad key',
  );
});

t.test('a 405 carries Allow: GET', async (t) => {
  const port = await listen(t, (socket) => {
    reject(
      socket,
      handshakeError(405, HandshakeErrorCode.MethodNotAllowed, 'Use GET', { Allow: 'GET' }),
    );
  });
  const { statusLine, headers, body } = parse((await readUntilEnd(t, port)).raw);
  t.equal(statusLine, 'HTTP/1.1 405 Method Not Allowed');
  t.same(headers, [
    'Connection: close',
    'Content-Type: text/plain; charset=utf-8',
    'Content-Length: 7',
    'Allow: GET',
  ]);
  t.equal(body, 'Use GET');
});

t.test('a 426 carries Upgrade and Sec-WebSocket-Version', async (t) => {
  const port = await listen(t, (socket) => {
    reject(
      socket,
      handshakeError(426, HandshakeErrorCode.VersionHeader, 'Unsupported version', {
        Upgrade: 'websocket',
        'Sec-WebSocket-Version': '13',
      }),
    );
  });
  const { statusLine, headers, body } = parse((await readUntilEnd(t, port)).raw);
  t.equal(statusLine, 'HTTP/1.1 426 Upgrade Required');
  t.same(headers.slice(3), ['Upgrade: websocket', 'Sec-WebSocket-Version: 13']);
  t.equal(body, 'Unsupported version');
});

t.test('counts Content-Length in UTF-8 bytes', async (t) => {
  const port = await listen(t, (socket) => {
    reject(socket, handshakeError(403, HandshakeErrorCode.Origin, 'Origine refusée ✓'));
  });
  const { statusLine, headers, body } = parse((await readUntilEnd(t, port)).raw);
  t.equal(statusLine, 'HTTP/1.1 403 Forbidden');
  t.ok(headers.includes(`Content-Length: ${Buffer.byteLength('Origine refusée ✓')}`));
  t.equal(body, 'Origine refusée ✓');
});

t.test('neutralises CR/LF in header values and drops invalid or reserved names', async (t) => {
  const port = await listen(t, (socket) => {
    const err = handshakeError(401, HandshakeErrorCode.Origin, 'No', {
      'WWW-Authenticate': 'Bearer\r\nSet-Cookie: stolen=1',
      'X-Nul': 'a\u0000b\nc\u2028d',
      'X-Evil\r\nSet-Cookie: x': '1',
      'Content-Length': '999',
      Connection: 'keep-alive',
    });
    err.output.headers['X-List'] = ['one', 'two'];
    err.output.headers['X-Number'] = 42;
    err.output.headers['X-Undefined'] = undefined;
    reject(socket, err);
  });
  const { statusLine, headers, body } = parse((await readUntilEnd(t, port)).raw);
  t.equal(statusLine, 'HTTP/1.1 401 Unauthorized');
  t.same(headers, [
    'Connection: close',
    'Content-Type: text/plain; charset=utf-8',
    'Content-Length: 2',
    'WWW-Authenticate: Bearer  Set-Cookie: stolen=1',
    'X-Nul: a b c d',
    'X-List: one',
    'X-List: two',
    'X-Number: 42',
  ]);
  t.equal(body, 'No');
});

t.test('answers a non-Boom with a generic 500 that leaks nothing', async (t) => {
  const port = await listen(t, (socket) => {
    // Defensive path: callers typed as Boom may still pass anything at runtime.
    reject(socket, new Error('database password is hunter2') as unknown as Boom.Boom);
  });
  const { raw } = await readUntilEnd(t, port);
  t.equal(
    raw,
    'HTTP/1.1 500 Internal Server Error\r\n' +
      'Connection: close\r\n' +
      'Content-Type: text/plain; charset=utf-8\r\n' +
      'Content-Length: 21\r\n' +
      '\r\n' +
      'Internal Server Error',
  );
});

t.test('uses Boom’s hidden message for a 500 Boom', async (t) => {
  const port = await listen(t, (socket) => {
    reject(socket, Boom.internal('secret detail'));
  });
  const { statusLine, body } = parse((await readUntilEnd(t, port)).raw);
  t.equal(statusLine, 'HTTP/1.1 500 Internal Server Error');
  t.equal(body, 'An internal server error occurred');
});

t.test('falls back to the reason phrase, or a generic 500 for a non-error status', async (t) => {
  const bodies: string[] = [];
  const port = await listen(t, (socket) => {
    const err = new Boom.Boom('x', { statusCode: 499 });
    err.output.payload.message = '';
    const redirect = new Boom.Boom('y', { statusCode: 400 });
    redirect.output.statusCode = 302;
    reject(socket, bodies.length === 0 ? err : redirect);
    bodies.push('');
  });
  const first = parse((await readUntilEnd(t, port)).raw);
  t.equal(first.statusLine, 'HTTP/1.1 499 Unknown');
  t.equal(first.body, 'Error');
  const second = parse((await readUntilEnd(t, port)).raw);
  t.equal(second.statusLine, 'HTTP/1.1 500 Internal Server Error');
  t.equal(second.body, 'Internal Server Error');
});

t.test('delivers the answer even when request bytes remain unread', async (t) => {
  const port = await listen(t, (socket) => {
    reject(socket, handshakeError(400, HandshakeErrorCode.UpgradeHeader, 'Nope'));
  });
  const { raw } = await readUntilEnd(
    t,
    port,
    Buffer.concat([Buffer.from(REQUEST), Buffer.alloc(256 * 1024, 0x61)]),
  );
  t.ok(raw.startsWith('HTTP/1.1 400 Bad Request\r\n'), raw);
  t.ok(raw.endsWith('\r\n\r\nNope'), raw);
});

t.test('works on a node:http upgrade socket', async (t) => {
  const server = createHttpServer();
  server.on('upgrade', (_req, socket) => {
    reject(socket, handshakeError(404, HandshakeErrorCode.NotFound, 'No route'));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(async () => {
    server.closeAllConnections();
    server.close();
    await once(server, 'close');
  });
  const { raw } = await readUntilEnd(t, (server.address() as AddressInfo).port);
  const { statusLine, body } = parse(raw);
  t.equal(statusLine, 'HTTP/1.1 404 Not Found');
  t.equal(body, 'No route');
});

t.test('destroys the socket after the grace period when the peer never closes', async (t) => {
  let serverSocket: Socket | undefined;
  const port = await listen(t, (socket) => {
    serverSocket = socket;
    reject(socket, handshakeError(400, HandshakeErrorCode.HostHeader, 'No host'));
  });
  // A half-open client keeps its side open after the server's FIN.
  const { raw, client } = await readUntilEnd(t, port, REQUEST, true);
  t.match(raw, /^HTTP\/1\.1 400 Bad Request/);
  t.notOk(client.writableEnded, 'the client has not closed its side');
  if (serverSocket === undefined) throw new Error('no server socket');
  if (!serverSocket.destroyed) await once(serverSocket, 'close');
  t.ok(serverSocket.destroyed, 'the server released its socket');
});

t.test('never throws', async (t) => {
  t.test('on a destroyed socket', async (t) => {
    const port = await listen(t, (socket) => {
      socket.destroy();
      t.doesNotThrow(() =>
        reject(socket, handshakeError(400, HandshakeErrorCode.KeyHeader, 'Bad key')),
      );
    });
    const client = connect({ port, host: '127.0.0.1' });
    t.teardown(() => {
      client.destroy();
    });
    client.on('error', () => {});
    client.resume();
    await once(client, 'close');
  });

  t.test('on a socket that was never connected', async (t) => {
    const socket = new Socket();
    t.doesNotThrow(() => reject(socket, handshakeError(400, HandshakeErrorCode.KeyHeader, 'x')));
    socket.destroy();
  });

  t.test('on a socket that is no longer writable', async (t) => {
    const socket = new Duplex({ read() {}, write: (_chunk, _enc, cb) => cb() });
    socket.end();
    await once(socket, 'finish');
    t.doesNotThrow(() => reject(socket, handshakeError(400, HandshakeErrorCode.KeyHeader, 'x')));
    t.ok(socket.destroyed);
  });

  t.test('when the write fails', async (t) => {
    const socket = new Duplex({
      read() {},
      write: (_chunk, _enc, cb) => cb(new Error('EPIPE')),
    });
    // events.once would reject on the 'error' event that reject() must swallow.
    const closed = new Promise((resolve) => socket.once('close', resolve));
    t.doesNotThrow(() => reject(socket, handshakeError(400, HandshakeErrorCode.KeyHeader, 'x')));
    await closed;
    t.ok(socket.destroyed);
  });

  t.test('when the stream itself throws', async (t) => {
    const socket = new Duplex({ read() {}, write: (_chunk, _enc, cb) => cb() });
    socket.end = () => {
      throw new Error('broken stream');
    };
    t.doesNotThrow(() => reject(socket, handshakeError(400, HandshakeErrorCode.KeyHeader, 'x')));
    t.ok(socket.destroyed);
  });

  t.test('when even destroy throws', async (t) => {
    const socket = new Duplex({ read() {}, write: (_chunk, _enc, cb) => cb() });
    const broken = (): never => {
      throw new Error('broken stream');
    };
    socket.end = broken;
    socket.destroy = broken;
    t.doesNotThrow(() => reject(socket, handshakeError(400, HandshakeErrorCode.KeyHeader, 'x')));
  });
});

t.test('describeRejection', async (t) => {
  t.test('reads status, extra headers and message of a handshake Boom', async (t) => {
    const err = handshakeError(405, HandshakeErrorCode.MethodNotAllowed, 'Use GET', {
      Allow: 'GET',
    });
    t.same(describeRejection(err), { statusCode: 405, headers: { Allow: 'GET' }, body: 'Use GET' });
  });

  t.test('makes headers safe exactly as reject writes them', async (t) => {
    const err = handshakeError(401, HandshakeErrorCode.Origin, 'No', {
      'WWW-Authenticate': 'Bearer\r\nSet-Cookie: stolen=1',
      'X-Nul': 'a\u0000b\nc\u2028d',
      'X-Evil\r\nSet-Cookie: x': '1',
      'Content-Length': '999',
      Connection: 'keep-alive',
      'content-type': 'text/html',
      'Transfer-Encoding': 'chunked',
    });
    err.output.headers['X-List'] = ['one', 'two\r\n'];
    err.output.headers['X-Number'] = 42;
    err.output.headers['X-Undefined'] = undefined;
    t.same(describeRejection(err).headers, {
      'WWW-Authenticate': 'Bearer  Set-Cookie: stolen=1',
      'X-Nul': 'a b c d',
      'X-List': ['one', 'two  '],
      'X-Number': '42',
    });
  });

  t.test('keeps a header named __proto__ as a header', async (t) => {
    const err = handshakeError(400, HandshakeErrorCode.KeyHeader, 'x');
    Object.defineProperty(err.output.headers, '__proto__', { value: 'p', enumerable: true });
    const { headers } = describeRejection(err);
    t.ok(Object.hasOwn(headers, '__proto__'));
    t.equal(Object.getPrototypeOf(headers), Object.prototype);
  });

  t.test('answers anything that is not a Boom with a generic 500', async (t) => {
    for (const err of [
      new Error('database password is hunter2'),
      'text',
      undefined,
      { isBoom: 1 },
    ]) {
      t.same(describeRejection(err), {
        statusCode: 500,
        headers: {},
        body: 'Internal Server Error',
      });
    }
  });

  t.test(
    'answers a Boom with a non-error status as a generic 500 without its headers',
    async (t) => {
      const redirect = handshakeError(400, HandshakeErrorCode.KeyHeader, 'y', { Location: '/x' });
      redirect.output.statusCode = 302;
      t.same(describeRejection(redirect), {
        statusCode: 500,
        headers: {},
        body: 'Internal Server Error',
      });
    },
  );

  t.test('uses the hidden message of a 500, the reason phrase for an empty one', async (t) => {
    t.equal(
      describeRejection(Boom.internal('secret detail')).body,
      'An internal server error occurred',
    );
    const empty = Boom.forbidden();
    t.equal(describeRejection(empty).body, 'Forbidden');
    const unknown = new Boom.Boom('x', { statusCode: 499 });
    unknown.output.payload.message = '';
    t.same(describeRejection(unknown), { statusCode: 499, headers: {}, body: 'Error' });
  });

  t.test('keeps the message of other 5xx Booms', async (t) => {
    t.same(describeRejection(handshakeError(503, HandshakeErrorCode.ShuttingDown, 'Bye')), {
      statusCode: 503,
      headers: {},
      body: 'Bye',
    });
  });

  t.test('returns fresh headers on every call', async (t) => {
    const err = handshakeError(405, HandshakeErrorCode.MethodNotAllowed, 'x', { Allow: 'GET' });
    const first = describeRejection(err);
    first.headers.Allow = 'POST';
    t.equal(describeRejection(err).headers.Allow, 'GET');
    t.equal(err.output.headers.Allow, 'GET', 'the Boom is left unchanged');
  });

  t.test('is what reject writes', async (t) => {
    const err = handshakeError(429, HandshakeErrorCode.Origin, 'Slow down ✓', {
      'Retry-After': '5',
    });
    err.output.headers.Vary = ['a', 'b'];
    const port = await listen(t, (socket) => reject(socket, err));
    const { statusLine, headers, body } = parse((await readUntilEnd(t, port)).raw);
    const described = describeRejection(err);
    t.equal(statusLine, `HTTP/1.1 ${described.statusCode} Too Many Requests`);
    t.same(headers.slice(3), ['Retry-After: 5', 'Vary: a', 'Vary: b']);
    t.same(described.headers, { 'Retry-After': '5', Vary: ['a', 'b'] });
    t.equal(body, described.body);
  });
});
