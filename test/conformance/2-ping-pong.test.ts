/**
 * RFC 6455 §5.5.2–§5.5.3 (ping and pong) — Autobahn case group 2.
 */
import t from 'tap';
import { echoClients, expectFailure, expectOnlyPong } from '../helpers/conformance.js';
import { frame, OP } from '../helpers/raw-client.js';

const open = await echoClients(t);

/** Every byte value, as a binary application-data sample. */
const ALL_BYTES = Buffer.from(Array.from({ length: 125 }, (_, i) => (i * 2 + 1) & 0xff));

for (const [name, payload] of [
  ['2.1 a ping without payload', Buffer.alloc(0)],
  ['2.2 a ping with text payload', Buffer.from('Hello, world!')],
  ['2.3 a ping with binary payload', Buffer.from([0x00, 0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0x00, 0xff])],
  ['2.4 a ping with a 125-byte payload', ALL_BYTES],
] as const) {
  t.test(`${name} is answered by a pong with the same payload (§5.5.3)`, async (t) => {
    const client = await open(t);
    client.send({ opcode: OP.ping, payload });
    const pong = await client.frame();
    t.same([pong.opcode, pong.fin, pong.isMasked], [OP.pong, true, false]);
    t.ok(pong.payload.equals(payload), 'identical application data');
  });
}

t.test('2.5 a ping with a 126-byte payload fails with 1002 and gets no pong (§5.5)', async (t) => {
  const client = await open(t);
  client.send({ opcode: OP.ping, payload: Buffer.alloc(126, 0xfe) });
  t.same(await expectFailure(t, client, 1002), [], 'no pong');
});

t.test('2.6 a 125-byte ping sent one byte at a time is answered', async (t) => {
  const client = await open(t);
  await client.writeBytewise(frame({ opcode: OP.ping, payload: ALL_BYTES }));
  const pong = await client.frame();
  t.equal(pong.opcode, OP.pong);
  t.ok(pong.payload.equals(ALL_BYTES));
});

t.test('2.7 an unsolicited pong without payload is ignored', async (t) => {
  const client = await open(t);
  client.send({ opcode: OP.pong });
  await expectOnlyPong(t, client, 'after');
});

t.test('2.8 an unsolicited pong with payload is ignored', async (t) => {
  const client = await open(t);
  client.send({ opcode: OP.pong, payload: 'unsolicited pong payload' });
  await expectOnlyPong(t, client, 'after');
});

t.test('2.9 an unsolicited pong then a ping: only the ping is answered', async (t) => {
  const client = await open(t);
  client.write(
    Buffer.concat([
      frame({ opcode: OP.pong, payload: 'unsolicited' }),
      frame({ opcode: OP.ping, payload: 'solicited' }),
    ]),
  );
  const pong = await client.frame();
  t.same([pong.opcode, pong.payload.toString()], [OP.pong, 'solicited']);
});

t.test('2.10 ten pings in one write get ten pongs, in order', async (t) => {
  const client = await open(t);
  const payloads = Array.from({ length: 10 }, (_, i) => `payload-${i}`);
  client.write(Buffer.concat(payloads.map((payload) => frame({ opcode: OP.ping, payload }))));
  for (const payload of payloads) {
    const pong = await client.frame();
    t.same([pong.opcode, pong.payload.toString()], [OP.pong, payload]);
  }
});

t.test('2.11 ten pings sent one byte at a time get ten pongs, in order', async (t) => {
  const client = await open(t);
  const payloads = Array.from({ length: 10 }, (_, i) => `payload-${i}`);
  await client.writeBytewise(
    Buffer.concat(payloads.map((payload) => frame({ opcode: OP.ping, payload }))),
  );
  for (const payload of payloads) {
    const pong = await client.frame();
    t.same([pong.opcode, pong.payload.toString()], [OP.pong, payload]);
  }
});
