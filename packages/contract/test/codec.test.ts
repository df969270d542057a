import t from 'tap';
import { jsonCodec, textCodec } from '../src/codec.js';

t.test('jsonCodec parses text messages and stringifies values', async (t) => {
  const codec = jsonCodec<{ n: number }, { n: number }>();
  t.same(codec.decode('{"n":1}', false), { n: 1 });
  t.equal(codec.encode({ n: 2 }), '{"n":2}');
});

t.test('jsonCodec refuses binary messages and invalid JSON', async (t) => {
  const codec = jsonCodec();
  t.throws(() => codec.decode(new Uint8Array([0x7b, 0x7d]), true), TypeError);
  t.throws(() => codec.decode('{', false), SyntaxError);
});

t.test('textCodec passes strings through and refuses binary messages', async (t) => {
  const codec = textCodec();
  t.equal(codec.decode('hi', false), 'hi');
  t.equal(codec.encode('yo'), 'yo');
  // A server hands decode a Buffer, which is a Uint8Array.
  t.throws(() => codec.decode(Buffer.from('hi'), true), TypeError);
});
