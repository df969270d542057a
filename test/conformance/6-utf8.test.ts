/**
 * RFC 6455 §5.6 and §8.1: text messages must be valid UTF-8 (RFC 3629); an endpoint fails the
 * connection with 1007 on invalid data, and may do so as soon as a fragment makes the message
 * invalid — Autobahn case group 6.
 */
import t from 'tap';
import { echoClients, expectEcho, expectFailure } from '../helpers/conformance.js';
import { type FrameSpec, frame, OP, type RawClient } from '../helpers/raw-client.js';

const open = await echoClients(t);

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

/** Splits `bytes` into a fragmented text message, one fragment per `size` bytes. */
function fragmented(bytes: Buffer, size: number): Buffer {
  const specs: FrameSpec[] = [];
  for (let i = 0; i === 0 || i < bytes.length; i += size) {
    specs.push({
      opcode: i === 0 ? OP.text : OP.continuation,
      payload: bytes.subarray(i, i + size),
      fin: i + size >= bytes.length,
    });
  }
  return Buffer.concat(specs.map(frame));
}

const HELLO = Buffer.from('Hello-µ@ßöäüàá-UTF-8!!');
const KOSME_HEX = 'cebae1bdb9cf83cebcceb5';
const KOSME = hex(KOSME_HEX);

t.test('6.1 empty text messages and empty fragments are valid', async (t) => {
  const client = await open(t);
  client.send({ opcode: OP.text });
  await expectEcho(t, client, OP.text, '');
  client.write(
    Buffer.concat([
      frame({ opcode: OP.text, fin: false }),
      frame({ opcode: OP.continuation, fin: false }),
      frame({ opcode: OP.continuation }),
    ]),
  );
  await expectEcho(t, client, OP.text, '');
  client.write(
    Buffer.concat([
      frame({ opcode: OP.text, fin: false }),
      frame({ opcode: OP.continuation, payload: 'middle frame payload', fin: false }),
      frame({ opcode: OP.continuation }),
    ]),
  );
  await expectEcho(t, client, OP.text, 'middle frame payload');
});

t.test('6.2 valid UTF-8 is echoed whole, in one frame or split at every byte', async (t) => {
  for (const text of [HELLO, KOSME]) {
    const client = await open(t);
    client.send({ opcode: OP.text, payload: text });
    await expectEcho(t, client, OP.text, text);
    for (const size of [1, 2, 3, 5]) {
      client.write(fragmented(text, size));
      await expectEcho(t, client, OP.text, text);
    }
  }
});

const VALID: ReadonlyArray<readonly [string, string]> = [
  ['κόσμε', 'cebae1bdb9cf83cebcceb5'],
  ['U+0000, the first 1-byte sequence', '00'],
  ['U+0080, the first 2-byte sequence', 'c280'],
  ['U+0800, the first 3-byte sequence', 'e0a080'],
  ['U+10000, the first 4-byte sequence', 'f0908080'],
  ['U+007F, the last 1-byte sequence', '7f'],
  ['U+07FF, the last 2-byte sequence', 'dfbf'],
  ['U+FFFF, the last 3-byte sequence', 'efbfbf'],
  ['U+10FFFF, the last code point', 'f48fbfbf'],
  ['U+D7FF, just before the surrogates', 'ed9fbf'],
  ['U+E000, just after the surrogates', 'ee8080'],
  ['U+FFFD', 'efbfbd'],
  ['U+FFFE, a noncharacter (still valid UTF-8)', 'efbfbe'],
];

t.test('6.5–6.7 boundary code points are valid, whole or fragmented', async (t) => {
  const client = await open(t);
  for (const [name, bytes] of VALID) {
    await t.test(name, async (t) => {
      client.send({ opcode: OP.text, payload: hex(bytes) });
      await expectEcho(t, client, OP.text, hex(bytes));
      client.write(fragmented(hex(bytes), 1));
      await expectEcho(t, client, OP.text, hex(bytes));
    });
  }
});

const INVALID: ReadonlyArray<readonly [string, string]> = [
  ['a surrogate inside κόσμε (6.3.1)', 'cebae1bdb9cf83cebcceb5eda080656469746564'],
  ['a lone continuation byte 0x80', '80'],
  ['a lone continuation byte 0xBF', 'bf'],
  ['two continuation bytes', '80bf'],
  ['a 2-byte lead followed by a space', 'c020'],
  ['a 3-byte lead followed by a space', 'e020'],
  ['0xFE', 'fe'],
  ['0xFF', 'ff'],
  ['0xFE 0xFE 0xFF 0xFF', 'fefeffff'],
  ['overlong "/" in 2 bytes', 'c0af'],
  ['overlong "/" in 3 bytes', 'e080af'],
  ['overlong "/" in 4 bytes', 'f08080af'],
  ['the largest overlong 2-byte sequence', 'c1bf'],
  ['the largest overlong 3-byte sequence', 'e09fbf'],
  ['the high surrogate U+D800', 'eda080'],
  ['the low surrogate U+DFFF', 'edbfbf'],
  ['a surrogate pair', 'eda080edb080'],
  ['U+110000, beyond Unicode', 'f4908080'],
  ['a 0xF5 lead byte', 'f5808080'],
  ['a 5-byte sequence', 'f888808080'],
  ['a 6-byte sequence', 'fc8480808080'],
  ['a 2-byte sequence missing its last byte', 'c2'],
  ['a 3-byte sequence missing its last byte', 'e282'],
  ['a 4-byte sequence missing its last byte', 'f09f98'],
];

for (const [name, bytes] of INVALID) {
  t.test(`6.3, 6.6–6.21 ${name} fails with 1007`, async (t) => {
    const whole = await open(t);
    whole.send({ opcode: OP.text, payload: Buffer.concat([Buffer.from('ok'), hex(bytes)]) });
    t.same(await expectFailure(t, whole, 1007), [], 'in one frame');
    const split = await open(t);
    split.write(fragmented(Buffer.concat([Buffer.from('ok'), hex(bytes)]), 1));
    t.same(await expectFailure(t, split, 1007), [], 'one byte per fragment');
  });
}

t.test('a code point split across fragments is reassembled, not rejected', async (t) => {
  const client = await open(t);
  client.write(
    Buffer.concat([
      frame({ opcode: OP.text, payload: hex('e2'), fin: false }),
      frame({ opcode: OP.continuation, payload: hex('82'), fin: false }),
      frame({ opcode: OP.continuation, payload: hex('ac') }),
    ]),
  );
  await expectEcho(t, client, OP.text, '€');
});

/**
 * 6.4 fail fast: the client sends the first fragments, then waits. The 1007 must arrive
 * before the final fragment is sent.
 */
const FAIL_FAST: ReadonlyArray<readonly [string, string[]]> = [
  ['6.4.1 the invalid bytes fill the second fragment', ['cebae1bdb9cf83cebcceb5', 'f4908080']],
  ['6.4.2 the invalid sequence starts the second fragment', ['cebae1bdb9cf83cebcceb5f4', '90']],
  ['an invalid prefix (F4 90) ends a fragment', ['cebae1bdb9cf83cebcceb5', 'f490']],
  ['an invalid byte in the middle of the first fragment', ['ceba' + 'ff' + 'e1bdb9']],
  ['a surrogate prefix (ED A0) ends the first fragment', ['6869eda0']],
];

for (const [name, sent] of FAIL_FAST) {
  t.test(`${name}: 1007 before the final fragment`, async (t) => {
    const client = await open(t);
    sent.forEach((payload, i) => {
      client.send({
        opcode: i === 0 ? OP.text : OP.continuation,
        payload: hex(payload),
        fin: false,
      });
    });
    // No final fragment was ever sent: the server had to decide on the fragments alone.
    t.same(await expectFailure(t, client, 1007), [], 'failed while the message was still open');
  });
}

/** Writes `bytes` and resolves once the socket has handed them to the kernel. */
function flush(client: RawClient, bytes: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    client.socket.write(bytes, (error) => (error ? reject(error) : resolve()));
  });
}

const EDITED = Buffer.from('edited').toString('hex');

/**
 * A frame cut in three: the valid part (after an optional first fragment sent whole), the
 * invalid bytes, and the rest, which is never sent.
 */
interface ChoppedFrame {
  /** A first fragment sent whole before the chopped frame, which is then its continuation. */
  readonly first?: string;
  readonly valid: string;
  readonly invalid: string;
  readonly rest: string;
}

/**
 * 6.4 fail fast inside a frame (RFC 6455 §8.1): the header and a valid prefix are written,
 * then the invalid bytes, and the rest of the frame is withheld. 6.4.3 and 6.4.4 are one frame
 * cut so; 6.4.1 and 6.4.2 are the same bytes sent as fragments, here with the invalid fragment
 * itself cut. The 1007 must arrive while the frame is still incomplete.
 */
const CHOPPED: ReadonlyArray<readonly [string, ChoppedFrame]> = [
  [
    '6.4.3 one frame: κόσμε, then F4 90 80 80',
    { valid: KOSME_HEX, invalid: 'f4908080', rest: EDITED },
  ],
  [
    '6.4.4 one frame: κόσμε F4, then 90',
    { valid: `${KOSME_HEX}f4`, invalid: '90', rest: `8080${EDITED}` },
  ],
  [
    '6.4.1 fragments: κόσμε, then a continuation whose F4 90 80 80 arrives after its header',
    { first: KOSME_HEX, valid: '', invalid: 'f4908080', rest: EDITED },
  ],
  [
    '6.4.2 fragments: κόσμε F4, then a continuation whose 90 arrives after its header',
    { first: `${KOSME_HEX}f4`, valid: '', invalid: '90', rest: `8080${EDITED}` },
  ],
  [
    'a 16-bit-length frame: 1,000 valid bytes, then a surrogate',
    { valid: '61'.repeat(1000), invalid: 'eda080', rest: '62'.repeat(1000) },
  ],
  [
    'a 64-bit-length frame: 100,000 valid bytes, then an overlong "/"',
    { valid: '61'.repeat(100_000), invalid: 'c0af', rest: '62'.repeat(100_000) },
  ],
];

for (const [name, chopped] of CHOPPED) {
  t.test(`${name}: 1007 while the rest of the frame is withheld`, async (t) => {
    const client = await open(t);
    const valid = hex(chopped.valid);
    const invalid = hex(chopped.invalid);
    const payload = Buffer.concat([valid, invalid, hex(chopped.rest)]);
    if (chopped.first !== undefined) {
      client.send({ opcode: OP.text, payload: hex(chopped.first), fin: false });
    }
    const bytes = frame({
      opcode: chopped.first === undefined ? OP.text : OP.continuation,
      payload,
    });
    const validEnd = bytes.length - payload.length + valid.length;
    await flush(client, bytes.subarray(0, validEnd));
    await flush(client, bytes.subarray(validEnd, validEnd + invalid.length));
    // The rest of the frame is never sent: only the bytes received can explain the close.
    t.same(await expectFailure(t, client, 1007), [], 'failed while the frame was incomplete');
  });
}
