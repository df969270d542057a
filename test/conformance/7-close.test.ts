/**
 * RFC 6455 §5.5.1 (close frames), §7.1 (closing handshake), §7.4 (close codes) — Autobahn case
 * group 7.
 */
import t from 'tap';
import { echoClients, expectCloseEcho, expectEcho, expectFailure } from '../helpers/conformance.js';
import { closePayload, frame, OP } from '../helpers/raw-client.js';

const open = await echoClients(t);

const close = (code?: number, reason: string | Buffer = '') =>
  frame({ opcode: OP.close, payload: code === undefined ? '' : closePayload(code, reason) });

t.test('7.1.1 a message then a close: echo, close echoed, then the server ends TCP', async (t) => {
  const client = await open(t);
  client.write(Buffer.concat([frame({ opcode: OP.text, payload: 'Hello World!' }), close(1000)]));
  await expectEcho(t, client, OP.text, 'Hello World!');
  await expectCloseEcho(t, client, 1000);
});

t.test('7.1.2 a second close frame is ignored', async (t) => {
  const client = await open(t);
  client.write(Buffer.concat([close(1000), close(1000)]));
  await expectCloseEcho(t, client, 1000);
  t.equal(await client.rest(), '', 'exactly one close frame came back');
});

t.test('7.1.3–7.1.4 nothing after a close frame is processed (§5.5.1)', async (t) => {
  const client = await open(t);
  client.write(
    Buffer.concat([
      close(1000),
      frame({ opcode: OP.ping, payload: 'after close' }),
      frame({ opcode: OP.text, payload: 'after close' }),
    ]),
  );
  t.same(await expectCloseEcho(t, client, 1000), [], 'no pong, no echo before the close');
  const rest = await client.rest();
  t.equal(rest, '', 'and nothing after it');
});

t.test('7.1.5 a close between the fragments of a message drops the message', async (t) => {
  const client = await open(t);
  client.write(
    Buffer.concat([
      frame({ opcode: OP.text, payload: 'fragment1', fin: false }),
      close(1000),
      frame({ opcode: OP.continuation, payload: 'fragment2' }),
    ]),
  );
  t.same(await expectCloseEcho(t, client, 1000), []);
});

t.test('7.1.6 a close after a large message: the echo is complete before the close', async (t) => {
  const client = await open(t);
  const big = Buffer.alloc(256 * 1024, 0x42);
  client.write(
    Buffer.concat([
      frame({ opcode: OP.text, payload: big }),
      frame({ opcode: OP.ping, payload: 'p' }),
      close(1000),
    ]),
  );
  await expectEcho(t, client, OP.text, big);
  t.equal((await client.frame()).opcode, OP.pong);
  await expectCloseEcho(t, client, 1000);
});

t.test('7.3.1 an empty close frame is answered with an empty close frame', async (t) => {
  const client = await open(t);
  client.write(close());
  await expectCloseEcho(t, client, undefined);
});

t.test('7.3.2 a 1-byte close payload fails with 1002', async (t) => {
  const client = await open(t);
  client.send({ opcode: OP.close, payload: Buffer.from([0x03]) });
  await expectFailure(t, client, 1002);
});

t.test('7.3.3–7.3.5 close 1000 with no reason, a reason, and a 123-byte reason', async (t) => {
  for (const reason of ['', 'Hello World!', '*'.repeat(123), '€'.repeat(41)]) {
    const client = await open(t);
    client.write(close(1000, reason));
    await expectCloseEcho(t, client, 1000);
  }
});

t.test('7.3.6 a 124-byte reason (a 126-byte control payload) fails with 1002', async (t) => {
  const client = await open(t);
  client.write(close(1000, '*'.repeat(124)));
  await expectFailure(t, client, 1002);
});

t.test('7.5.1 a close reason that is not valid UTF-8 fails with 1007 (§5.5.1)', async (t) => {
  const client = await open(t);
  client.write(close(1000, Buffer.from('cebae1bdb9cf83cebcceb5eda080656469746564', 'hex')));
  await expectFailure(t, client, 1007);
});

/**
 * §7.4.1 codes, plus 1012–1014 registered with IANA since (§11.7), and the ranges 3000–3999
 * (registered) and 4000–4999 (private use) of §7.4.2.
 */
const VALID_CODES = [
  1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999,
];

for (const code of VALID_CODES) {
  t.test(`7.7 the valid close code ${code} is echoed`, async (t) => {
    const client = await open(t);
    client.write(close(code, 'bye'));
    await expectCloseEcho(t, client, code);
  });
}

/** Reserved (1004–1006, 1015), unassigned (1016–2999) and out of range (< 1000, ≥ 5000). */
const INVALID_CODES = [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535];

for (const code of INVALID_CODES) {
  t.test(`7.9 the invalid close code ${code} fails with 1002`, async (t) => {
    const client = await open(t);
    client.write(close(code));
    await expectFailure(t, client, 1002);
  });
}

t.test('a failed connection is ended by the server without waiting for the client', async (t) => {
  const client = await open(t);
  client.send({ opcode: OP.text, payload: 'x', maskKey: null });
  await expectFailure(t, client, 1002);
  t.notOk(client.socket.writableEnded, 'the client never closed its side');
});
