/**
 * Where failures go, over real sockets: handler errors without `onError` reach the entry
 * point's listener (or `process.emitWarning`) as WS_HANDLER_ERROR; close timeouts and socket
 * errors reach `onError`; a validator sees JSON `null` as the `unknown` it is; leaving a
 * `messages()` loop early ends the connection; any connection of a hub can be sent raw data.
 */
import { once } from 'node:events';
import { connect } from 'node:net';
import t, { type Test } from 'tap';
import WebSocket from 'ws';
import type { AnyConnection } from '../src/connection-types.js';
import type { EntryOptions } from '../src/entry-options.js';
import { HandshakeErrorCode, WebSocketError } from '../src/errors.js';
import type { NodeRouteOptions, WebSocketServer } from '../src/node-server.js';
import { defineProtocol, jsonCodec } from '../src/protocol.js';
import { negotiate } from '../src/route.js';
import { serve } from './helpers/serve.js';
import { deferred, upgradeRequest, withTimeout } from './helpers/wire.js';

async function start(
  t: Test,
  route: NodeRouteOptions<undefined>,
  options: EntryOptions = {},
): Promise<{ wss: WebSocketServer; url: string }> {
  const { wss, port } = await serve(
    t,
    (wss) => wss.route('/', { heartbeatInterval: 0, ...route }),
    options,
  );
  return { wss, url: `ws://127.0.0.1:${port}/` };
}

async function open(t: Test, url: string, protocols: string[] = []): Promise<WebSocket> {
  const ws = new WebSocket(url, protocols);
  ws.on('error', () => {});
  t.teardown(() => ws.terminate());
  await withTimeout(once(ws, 'open'), 'open');
  return ws;
}

const throwing = {
  onMessage() {
    throw new Error('handler failure');
  },
};

t.test(
  'a handler error without onError reaches the onError option as WS_HANDLER_ERROR',
  async (t) => {
    const seen = deferred<{ error: WebSocketError; connection: AnyConnection }>();
    const { url } = await start(
      t,
      { defaultProtocol: throwing },
      { onError: (error, connection) => seen.resolve({ error, connection }) },
    );
    const ws = await open(t, url);
    ws.send('boom');
    const { error, connection } = await withTimeout(seen.promise, 'the entry point hears of it');
    t.ok(error instanceof WebSocketError);
    t.match(error, { code: 'WS_HANDLER_ERROR', closeCode: 1011 });
    t.match(error.cause, { message: 'handler failure' }, 'what the handler threw is the cause');
    t.equal(connection.path, '/');
    const [code] = (await withTimeout(once(ws, 'close'), 'close')) as [number];
    t.equal(code, 1011);
  },
);

t.test('without an onError option it becomes a process warning', async (t) => {
  const warned = deferred<Error>();
  const onWarning = (warning: Error) => {
    if (warning instanceof WebSocketError) warned.resolve(warning);
  };
  process.on('warning', onWarning);
  t.teardown(() => process.off('warning', onWarning));
  const { url } = await start(t, { defaultProtocol: throwing });
  (await open(t, url)).send('boom');
  t.match(await withTimeout(warned.promise, 'warning'), { code: 'WS_HANDLER_ERROR' });
});

t.test('a protocol with onError handles its own errors: nothing else is told', async (t) => {
  const own: unknown[] = [];
  let entry = 0;
  const { url } = await start(
    t,
    { defaultProtocol: { ...throwing, onError: (_c, error) => own.push(error) } },
    { onError: () => entry++ },
  );
  const ws = await open(t, url);
  ws.send('boom');
  await withTimeout(once(ws, 'close'), 'close');
  t.match(own, [{ message: 'handler failure' }]);
  t.equal(entry, 0);
});

t.test(
  'a peer that never answers the close: WS_CLOSE_TIMEOUT, then the socket is gone',
  async (t) => {
    const errors: unknown[] = [];
    const closed = deferred<number>();
    const { url } = await start(t, {
      defaultProtocol: {
        onOpen(connection) {
          connection.close(1000, 'bye');
        },
        onError: (_c, error) => errors.push(error),
        onClose: (_c, code) => closed.resolve(code),
      },
      closeTimeout: 100,
    });
    // A raw client that completes the handshake and then ignores everything.
    const socket = connect(Number(new URL(url).port), '127.0.0.1');
    socket.on('error', () => {});
    t.teardown(() => {
      socket.destroy();
    });
    await once(socket, 'connect');
    socket.write(upgradeRequest('/'));
    t.equal(await withTimeout(closed.promise, 'onClose'), 1000);
    t.match(errors, [{ code: 'WS_CLOSE_TIMEOUT', closeCode: 1006 }]);
  },
);

t.test('a reset connection reaches onError as WS_SOCKET_ERROR', async (t) => {
  const errors: unknown[] = [];
  const closed = deferred<number>();
  const { url } = await start(t, {
    defaultProtocol: {
      onOpen(connection) {
        // Written while the peer is gone: the kernel answers with a reset.
        setTimeout(() => {
          for (let i = 0; i < 20; i++) connection.send(Buffer.alloc(64 * 1024));
        }, 50);
      },
      onError: (_c, error) => errors.push(error),
      onClose: (_c, code) => closed.resolve(code),
    },
  });
  const socket = connect(Number(new URL(url).port), '127.0.0.1');
  socket.on('error', () => {});
  await once(socket, 'connect');
  socket.write(upgradeRequest('/'));
  await once(socket, 'data');
  socket.resetAndDestroy();
  t.equal(await withTimeout(closed.promise, 'onClose'), 1006);
  t.match(errors, [{ code: 'WS_SOCKET_ERROR', closeCode: 1006 }]);
});

t.test('a validator receives unknown: JSON null closes with 1008, not 1011', async (t) => {
  const errors: unknown[] = [];
  const { url } = await start(t, {
    protocols: {
      'chat.v1': defineProtocol({
        codec: jsonCodec<unknown, string>(),
        validate: (message): message is { text: string } =>
          typeof (message as { text?: unknown } | null)?.text === 'string',
        handler: { onError: (_c, error) => errors.push(error) },
      }),
    },
  });
  const ws = await open(t, url, ['chat.v1']);
  ws.send('null');
  const [code] = (await withTimeout(once(ws, 'close'), 'close')) as [number];
  t.equal(code, 1008);
  t.match(errors, [{ code: 'WS_VALIDATION_FAILED' }]);
});

t.test('leaving a messages() loop early ends the connection and frees it', async (t) => {
  const left = deferred();
  const { wss, url } = await start(t, {
    defaultProtocol: {
      async onOpen(connection) {
        for await (const message of connection.messages()) {
          if (message === 'stop') break;
        }
        left.resolve();
      },
    },
  });
  const ws = await open(t, url);
  const closed = once(ws, 'close');
  ws.send('go on');
  ws.send('stop');
  // More messages after the break would once have piled up in a dead inbox.
  for (let i = 0; i < 100; i++) ws.send('x'.repeat(1000));
  await withTimeout(left.promise, 'the loop ended');
  const [code] = (await withTimeout(closed, 'the connection ended')) as [number];
  t.equal(code, 1000, 'closed normally after the break');
  await withTimeout(
    (async () => {
      while (wss.connections.size > 0) await new Promise((r) => setTimeout(r, 5));
    })(),
    'released',
  );
  t.equal(wss.connections.size, 0, 'no longer held by the server');
});

t.test("a hub's connections know their path and protocol and take raw data", async (t) => {
  const { wss, url } = await start(t, {
    protocols: {
      'chat.v2': defineProtocol({ codec: jsonCodec<unknown, { n: number }>(), handler: {} }),
    },
    defaultProtocol: {},
  });
  const typed = await open(t, url, ['chat.v2']);
  const raw = await open(t, url);
  const got = [once(typed, 'message'), once(raw, 'message')];
  for (const connection of wss.connections) {
    t.equal(connection.path, '/');
    connection.sendRaw(`to ${connection.protocol ?? 'none'}`);
  }
  const [[a], [b]] = (await withTimeout(Promise.all(got), 'messages')) as [[Buffer], [Buffer]];
  t.same([a.toString(), b.toString()], ['to chat.v2', 'to none']);
});

t.test(
  'a selector answering something unoffered is refused with WS_PROTOCOL_SELECTION',
  async (t) => {
    const { createRoute } = await import('../src/route.js');
    const route = createRoute({ protocols: { a: {}, b: {} }, selectProtocol: () => 'b' });
    const request = {
      method: 'GET',
      httpVersionMajor: 1,
      httpVersionMinor: 1,
      headers: {
        host: 'x',
        upgrade: 'websocket',
        connection: 'Upgrade',
        'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
        'sec-websocket-version': '13',
        'sec-websocket-protocol': 'a',
      },
      headersDistinct: {},
    };
    const result = negotiate(request, route);
    t.notOk(result instanceof Promise, 'a synchronous selector negotiates synchronously');
    t.match(result, { isBoom: true, data: { code: HandshakeErrorCode.ProtocolSelection } });
  },
);
