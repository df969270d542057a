/**
 * RFC 6455 §5.1–§5.3 (base framing, masking, payload length) — Autobahn case group 1.
 */
import t from 'tap';
import { echoClients, expectEcho, expectFailure } from '../helpers/conformance.js';
import { frame, OP } from '../helpers/raw-client.js';

const open = await echoClients(t);

const LENGTHS = [0, 125, 126, 127, 128, 65535, 65536];

/** A payload of `size` bytes, all in the printable ASCII range (valid as text). */
function ascii(size: number): Buffer {
  const bytes = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) bytes[i] = 0x21 + (i % 90);
  return bytes;
}

t.test('1.1 text messages of every length form are echoed (§5.2)', async (t) => {
  for (const length of LENGTHS) {
    await t.test(`${length} bytes`, async (t) => {
      const client = await open(t);
      client.send({ opcode: OP.text, payload: ascii(length) });
      await expectEcho(t, client, OP.text, ascii(length));
    });
  }
});

t.test('1.2 binary messages of every length form are echoed (§5.2)', async (t) => {
  for (const length of LENGTHS) {
    await t.test(`${length} bytes`, async (t) => {
      const client = await open(t);
      const payload = Buffer.alloc(length, 0xfe);
      client.send({ opcode: OP.binary, payload });
      await expectEcho(t, client, OP.binary, payload);
    });
  }
});

t.test('1.1.7 a 64 KiB text frame written in 997-byte chops is echoed', async (t) => {
  const client = await open(t);
  const bytes = frame({ opcode: OP.text, payload: ascii(65536) });
  for (let i = 0; i < bytes.length; i += 997) client.write(bytes.subarray(i, i + 997));
  await expectEcho(t, client, OP.text, ascii(65536));
});

t.test('the server answers with the minimal length encoding (§5.2)', async (t) => {
  const client = await open(t);
  for (const length of [125, 126, 65536]) {
    client.send({ opcode: OP.binary, payload: Buffer.alloc(length) });
  }
  const frames = [await client.frame(), await client.frame(), await client.frame()];
  t.same(
    frames.map((f) => f.header.toString('hex')),
    ['827d', '827e007e', '827f0000000000010000'],
    '7-bit, 16-bit and 64-bit forms, each the shortest that fits',
  );
});

t.test('a frame fed one byte at a time goes through every parser state', async (t) => {
  const client = await open(t);
  for (const length of [5, 200, 70_000]) {
    const payload = ascii(length);
    const bytes = frame({ opcode: OP.text, payload });
    if (length < 1000) await client.writeBytewise(bytes);
    else {
      await client.writeBytewise(bytes.subarray(0, 14));
      client.write(bytes.subarray(14));
    }
    await expectEcho(t, client, OP.text, payload);
  }
});

t.test('many frames in one write are all echoed, in order', async (t) => {
  const client = await open(t);
  const texts = Array.from({ length: 50 }, (_, i) => `message ${i}`);
  client.write(Buffer.concat(texts.map((text) => frame({ opcode: OP.text, payload: text }))));
  for (const text of texts) await expectEcho(t, client, OP.text, text);
});

t.test('an unmasked client frame fails the connection with 1002 (§5.1)', async (t) => {
  const client = await open(t);
  client.send({ opcode: OP.text, payload: 'hello', maskKey: null });
  t.same(await expectFailure(t, client, 1002), [], 'nothing echoed');
});

t.test('a 64-bit length with the most significant bit set fails with 1002 (§5.2)', async (t) => {
  const client = await open(t);
  const header = Buffer.from([0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1, 0x37, 0xfa, 0x21, 0x3d]);
  client.write(header);
  await expectFailure(t, client, 1002);
});

t.test(
  'a masked frame with an all-zero masking key is still unmasked correctly (§5.3)',
  async (t) => {
    const client = await open(t);
    client.send({ opcode: OP.text, payload: 'zero key', maskKey: Buffer.alloc(4) });
    await expectEcho(t, client, OP.text, 'zero key');
  },
);
