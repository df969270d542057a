/**
 * The shared adapter contract: every adapter mounts the routes of `spec.ts` and runs
 *
 * ```ts
 * import t from 'tap';
 * import { runContract } from './suite.js';
 * await runContract(t, 'fastify', factory);
 * ```
 *
 * Each case starts a fresh app from the factory (released on teardown) and talks to it over
 * real sockets, with the `ws` client and with raw bytes where the exact answer matters (a
 * refusal must be a plain HTTP status, never a 101 followed by a close).
 */
import { connect } from 'node:net';
import type { Test } from 'tap';
import WebSocket from 'ws';
import { frame, OP, RawClient, waitForEvent, withTimeout } from '../helpers/raw-client.js';
import { runAdmissionContract } from './admission.js';
import {
  ask,
  closeOf,
  expectAccepted,
  expectRefused,
  nextMessage,
  offer,
  openWs,
  rawUpgrade,
  start,
} from './helpers.js';
import {
  AUTH_USER,
  type ContractApp,
  type ContractFactory,
  GOOD_TOKEN,
  HTTP_ONLY_PATH,
} from './spec.js';

export type { ContractApp, ContractFactory };

/**
 * Runs the contract against one adapter.
 * @param t - the parent test
 * @param name - the adapter name, shown in the test names
 * @param factory - starts a fresh app serving the routes of `spec.ts`
 * @returns resolves when every case has run
 */
export async function runContract(t: Test, name: string, factory: ContractFactory): Promise<void> {
  await t.test(`contract: ${name}`, async (t) => {
    t.test('selects the subprotocol in client order, answering it exactly once', async (t) => {
      const app = await start(t, factory);
      expectAccepted(t, (await rawUpgrade(t, app, '/echo', offer('chat, chat.v2'))).head, 'chat');
      expectAccepted(t, (await rawUpgrade(t, app, '/echo', offer('chat.v2,chat'))).head, 'chat.v2');
      expectAccepted(t, (await rawUpgrade(t, app, '/strict', offer('x, b, a'))).head, 'b');
      const ws = await openWs(t, `${app.url}/echo`, ['other', 'chat.v2']);
      t.equal(ws.protocol, 'chat.v2', 'the ws client agrees');
    });

    t.test('runs each protocol of a route with its own handler', async (t) => {
      const app = await start(t, factory);
      const json = await openWs(t, `${app.url}/echo`, ['chat.v2']);
      t.same(JSON.parse(await ask(json, '{"text":"hi"}')), { echo: 'hi', protocol: 'chat.v2' });
      const chat = await openWs(t, `${app.url}/echo`, ['chat']);
      t.equal(await ask(chat, 'hi'), 'chat:hi');
      const none = await openWs(t, `${app.url}/echo`);
      t.equal(await ask(none, 'hi'), 'hi');
    });

    t.test('a chat.v2 message that is not JSON closes 1007; a wrong shape 1008', async (t) => {
      const app = await start(t, factory);
      const notJson = await openWs(t, `${app.url}/echo`, ['chat.v2']);
      const first = closeOf(notJson);
      notJson.send('not json');
      t.equal((await first).code, 1007);
      const wrongShape = await openWs(t, `${app.url}/echo`, ['chat.v2']);
      const second = closeOf(wrongShape);
      wrongShape.send('{"text":42}');
      t.equal((await second).code, 1008);
    });

    t.test('no protocol offered: the default handler, or 400 without one', async (t) => {
      const app = await start(t, factory);
      expectAccepted(t, (await rawUpgrade(t, app, '/echo')).head, undefined);
      expectAccepted(t, (await rawUpgrade(t, app, '/lenient')).head, undefined);
      expectRefused(t, await rawUpgrade(t, app, '/strict'), 400);
    });

    t.test(
      "no supported protocol offered: 400, or 101 without the header on 'accept'",
      async (t) => {
        const app = await start(t, factory);
        expectRefused(t, await rawUpgrade(t, app, '/strict', offer('c, d')), 400);
        expectRefused(t, await rawUpgrade(t, app, '/echo', offer('other')), 400);
        const lenient = await rawUpgrade(t, app, '/lenient', offer('c'));
        expectAccepted(t, lenient.head, undefined);
        lenient.client.send({ opcode: OP.text, payload: 'default handler' });
        t.equal((await lenient.client.frame()).payload.toString(), 'default handler');
      },
    );

    t.test('a failing auth hook answers a plain 401 before any 101', async (t) => {
      const app = await start(t, factory);
      expectRefused(t, await rawUpgrade(t, app, '/auth'), 401);
      expectRefused(t, await rawUpgrade(t, app, '/auth', { Authorization: 'Bearer bad' }), 401);
      const ws = new WebSocket(`${app.url}/auth`);
      ws.on('error', () => {});
      t.teardown(() => ws.terminate());
      const [, response] = await waitForEvent(ws, 'unexpected-response');
      t.equal((response as { statusCode: number }).statusCode, 401, 'the ws client sees 401');
    });

    t.test('a good token reaches the handler with the data the hook attached', async (t) => {
      const app = await start(t, factory);
      const ws = await openWs(t, `${app.url}/auth`, [], { Authorization: GOOD_TOKEN });
      t.equal(await ask(ws, 'who am I'), `user:${AUTH_USER}`);
    });

    t.test('an unknown path answers 404 before any 101', async (t) => {
      const app = await start(t, factory);
      expectRefused(t, await rawUpgrade(t, app, '/no-such-route'), 404);
    });

    t.test('an upgrade to an HTTP-only route is not upgraded', async (t) => {
      const app = await start(t, factory);
      const isClientError = (status: number): boolean => status >= 400 && status < 500;
      expectRefused(t, await rawUpgrade(t, app, HTTP_ONLY_PATH), isClientError);
      const plain = await RawClient.connect(t, app.port);
      plain.write(`GET ${HTTP_ONLY_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
      const head = await plain.head();
      t.equal(head.status, 200, 'the route still serves plain HTTP');
      t.equal(await plain.body(head), 'ok');
    });

    t.test('echoes text as text and binary as binary', async (t) => {
      const app = await start(t, factory);
      const ws = await openWs(t, `${app.url}/echo`);
      ws.send('héllo');
      const text = await nextMessage(ws);
      t.same([text.isBinary, text.data.toString()], [false, 'héllo']);
      ws.send(Buffer.from([0, 1, 254, 255]));
      const binary = await nextMessage(ws);
      t.same([binary.isBinary, [...binary.data]], [true, [0, 1, 254, 255]]);
      ws.send(Buffer.alloc(70_000, 7));
      const big = await nextMessage(ws);
      t.same([big.isBinary, big.data.length], [true, 70_000]);
    });

    t.test('close codes both ways: 4000 from the client, 4001 from the server', async (t) => {
      const app = await start(t, factory);
      const ws = await openWs(t, `${app.url}/echo`);
      const closed = closeOf(ws);
      ws.close(4000, 'client done');
      t.equal((await closed).code, 4000, 'the server answers with the client code');
      const raw = await RawClient.upgrade(t, app.port, { path: '/echo' });
      raw.send({ opcode: OP.close, payload: Buffer.from([0x0f, 0xa0, 0x62, 0x79, 0x65]) });
      const answer = await raw.closeFrame();
      t.equal(answer.code, 4000, 'the close frame carries 4000');
      await raw.ended();
      const server = await openWs(t, `${app.url}/close`);
      const serverClosed = closeOf(server);
      server.send('close:4001');
      t.same(await serverClosed, { code: 4001, reason: 'requested' });
    });

    t.test('a message over the route limit closes with 1009', async (t) => {
      const app = await start(t, factory);
      const ws = await openWs(t, `${app.url}/limits`);
      t.equal((await ask(ws, 'x'.repeat(1024))).length, 1024, 'at the limit: echoed');
      const closed = closeOf(ws);
      ws.send(Buffer.alloc(2048));
      t.equal((await closed).code, 1009);
    });

    t.test('a throwing handler closes with 1011', async (t) => {
      const app = await start(t, factory);
      const ws = await openWs(t, `${app.url}/throws`);
      const closed = closeOf(ws);
      ws.send('anything');
      t.equal((await closed).code, 1011);
    });

    t.test('a first frame sent with the handshake is not lost', async (t) => {
      const app = await start(t, factory);
      const frames = Buffer.concat([
        frame({ opcode: OP.text, payload: 'first' }),
        frame({ opcode: OP.binary, payload: 'second' }),
      ]);
      const echo = await rawUpgrade(t, app, '/echo', {}, frames);
      t.equal(echo.head.status, 101);
      t.equal((await echo.client.frame()).payload.toString(), 'first');
      t.equal((await echo.client.frame()).payload.toString(), 'second');
      const auth = await rawUpgrade(
        t,
        app,
        '/auth',
        { Authorization: GOOD_TOKEN },
        frame({ opcode: OP.text, payload: 'early' }),
      );
      t.equal(auth.head.status, 101);
      t.equal(
        (await auth.client.frame()).payload.toString(),
        `user:${AUTH_USER}`,
        'even when the auth hook runs before the 101',
      );
    });

    t.test('graceful shutdown closes open clients with 1001, then stops listening', async (t) => {
      const app = await start(t, factory);
      const ws = await openWs(t, `${app.url}/echo`);
      const wsClosed = closeOf(ws);
      const raw = await RawClient.upgrade(t, app.port, {
        path: '/auth',
        headers: { Authorization: GOOD_TOKEN },
      });
      const shutdown = app.close();
      t.equal((await wsClosed).code, 1001, 'the ws client sees 1001');
      const close = await raw.closeFrame();
      t.equal(close.code, 1001, 'the raw client gets a 1001 close frame');
      raw.finishClose(1001);
      await withTimeout(shutdown, 'close()');
      const probe = connect({ port: app.port, host: '127.0.0.1' });
      t.teardown(() => {
        probe.destroy();
      });
      const [error] = await waitForEvent(probe, 'error');
      t.match(error, { code: 'ECONNREFUSED' }, 'no longer listening');
    });

    await runAdmissionContract(t, factory);
  });
}
