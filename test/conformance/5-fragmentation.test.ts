/**
 * RFC 6455 §5.4 (fragmentation) and §5.5 (control frames are never fragmented and may be
 * injected between fragments) — Autobahn case group 5.
 */
import t from 'tap';
import { echoClients, expectEcho, expectFailure } from '../helpers/conformance.js';
import { type FrameSpec, frame, OP } from '../helpers/raw-client.js';

const open = await echoClients(t);

const fragments = (specs: FrameSpec[]): Buffer => Buffer.concat(specs.map(frame));

const TWO_FRAGMENTS: FrameSpec[] = [
  { opcode: OP.text, payload: 'fragment1', fin: false },
  { opcode: OP.continuation, payload: 'fragment2' },
];

const WITH_PING: FrameSpec[] = [
  { opcode: OP.text, payload: 'fragment1', fin: false },
  { opcode: OP.ping, payload: 'pongme!' },
  { opcode: OP.continuation, payload: 'fragment2' },
];

t.test('5.1 a fragmented ping fails with 1002 (§5.5)', async (t) => {
  const client = await open(t);
  client.send({ opcode: OP.ping, payload: 'fragment1', fin: false });
  client.send({ opcode: OP.continuation, payload: 'fragment2' });
  t.same(await expectFailure(t, client, 1002), [], 'no pong');
});

t.test('5.2 a fragmented pong fails with 1002 (§5.5)', async (t) => {
  const client = await open(t);
  client.send({ opcode: OP.pong, payload: 'fragment1', fin: false });
  client.send({ opcode: OP.continuation, payload: 'fragment2' });
  await expectFailure(t, client, 1002);
});

t.test('5.3–5.5 a text message in two fragments arrives as one message', async (t) => {
  const inOneWrite = await open(t);
  inOneWrite.write(fragments(TWO_FRAGMENTS));
  await expectEcho(t, inOneWrite, OP.text, 'fragment1fragment2');

  const frameByFrame = await open(t);
  for (const spec of TWO_FRAGMENTS) frameByFrame.send(spec);
  await expectEcho(t, frameByFrame, OP.text, 'fragment1fragment2');

  const byteByByte = await open(t);
  await byteByByte.writeBytewise(fragments(TWO_FRAGMENTS));
  await expectEcho(t, byteByByte, OP.text, 'fragment1fragment2');
});

t.test('5.6–5.8 a ping between fragments is answered first, then the message', async (t) => {
  for (const bytewise of [false, true]) {
    const client = await open(t);
    const bytes = fragments(WITH_PING);
    if (bytewise) await client.writeBytewise(bytes);
    else client.write(bytes);
    const pong = await client.frame();
    t.same([pong.opcode, pong.payload.toString()], [OP.pong, 'pongme!']);
    await expectEcho(t, client, OP.text, 'fragment1fragment2');
  }
});

t.test('5.9–5.11 a final continuation with nothing to continue fails with 1002', async (t) => {
  const client = await open(t);
  client.write(
    fragments([
      { opcode: OP.continuation, payload: 'non-continuation payload' },
      { opcode: OP.text, payload: 'Hello, world!' },
    ]),
  );
  t.same(await expectFailure(t, client, 1002), [], 'the text after it is not echoed');
});

t.test('5.12–5.14 a non-final continuation with nothing to continue fails with 1002', async (t) => {
  const client = await open(t);
  await client.writeBytewise(
    fragments([
      { opcode: OP.continuation, payload: 'non-continuation payload', fin: false },
      { opcode: OP.text, payload: 'Hello, world!' },
    ]),
  );
  await expectFailure(t, client, 1002);
});

t.test(
  '5.15 a message, then a continuation with nothing to continue: echo, then 1002',
  async (t) => {
    const client = await open(t);
    client.write(
      fragments([
        ...TWO_FRAGMENTS,
        { opcode: OP.continuation, payload: 'fragment3', fin: false },
        { opcode: OP.continuation, payload: 'fragment4' },
      ]),
    );
    await expectEcho(t, client, OP.text, 'fragment1fragment2');
    await expectFailure(t, client, 1002);
  },
);

t.test('5.16–5.18 a new data frame while a message is open fails with 1002 (§5.4)', async (t) => {
  for (const second of [OP.text, OP.binary]) {
    const client = await open(t);
    client.write(
      fragments([
        { opcode: OP.text, payload: 'fragment1', fin: false },
        { opcode: second, payload: 'fragment2' },
      ]),
    );
    t.same(await expectFailure(t, client, 1002), [], 'nothing delivered');
  }
});

t.test('5.19–5.20 a message in five fragments with pings between them', async (t) => {
  for (const bytewise of [false, true]) {
    const client = await open(t);
    const bytes = fragments([
      { opcode: OP.text, payload: 'fragment1', fin: false },
      { opcode: OP.continuation, payload: 'fragment2', fin: false },
      { opcode: OP.ping, payload: 'pongme 1!' },
      { opcode: OP.continuation, payload: 'fragment3', fin: false },
      { opcode: OP.continuation, payload: 'fragment4', fin: false },
      { opcode: OP.ping, payload: 'pongme 2!' },
      { opcode: OP.continuation, payload: 'fragment5' },
    ]);
    if (bytewise) await client.writeBytewise(bytes);
    else client.write(bytes);
    for (const payload of ['pongme 1!', 'pongme 2!']) {
      const pong = await client.frame();
      t.same([pong.opcode, pong.payload.toString()], [OP.pong, payload]);
    }
    await expectEcho(t, client, OP.text, 'fragment1fragment2fragment3fragment4fragment5');
  }
});

t.test('a fragmented binary message keeps the binary type and every byte', async (t) => {
  const client = await open(t);
  const parts = [Buffer.alloc(10, 1), Buffer.alloc(0), Buffer.alloc(70_000, 2), Buffer.alloc(3, 3)];
  client.write(
    fragments(
      parts.map((payload, i) => ({
        opcode: i === 0 ? OP.binary : OP.continuation,
        payload,
        fin: i === parts.length - 1,
      })),
    ),
  );
  await expectEcho(t, client, OP.binary, Buffer.concat(parts));
});

t.test('a close frame between fragments is answered; the open message is dropped', async (t) => {
  const client = await open(t);
  client.write(
    fragments([
      { opcode: OP.text, payload: 'fragment1', fin: false },
      { opcode: OP.close, payload: Buffer.from([0x03, 0xe8]) },
      { opcode: OP.continuation, payload: 'fragment2' },
    ]),
  );
  const close = await client.closeFrame();
  t.equal(close.code, 1000);
  t.same(close.before, [], 'the unfinished message is never delivered');
});
