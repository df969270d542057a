import t from 'tap';
import { mask, unmask, unmaskAt } from '../src/mask.js';

/** Reference implementation: the RFC 6455 §5.3 formula, one byte at a time. */
function xorReference(data: Uint8Array, key: Uint8Array): Buffer {
  const out = Buffer.from(data);
  for (let i = 0; i < out.length; i++) out[i] = out[i]! ^ key[i % 4]!;
  return out;
}

/** `length` pseudo-random bytes starting `byteOffset` bytes into a fresh ArrayBuffer. */
function bytesAt(byteOffset: number, length: number, seed: number): Buffer {
  const backing = Buffer.alloc(byteOffset + length + 3);
  const view = backing.subarray(byteOffset, byteOffset + length);
  for (let i = 0; i < length; i++) view[i] = (seed + i * 131) & 0xff;
  return view;
}

const KEY = Buffer.from('37fa213d', 'hex');

t.test('unmasks the RFC 6455 §5.7 masked "Hello" payload', async (t) => {
  const payload = Buffer.from('7f9f4d5158', 'hex');
  unmask(payload, KEY);
  t.equal(payload.toString(), 'Hello');
});

t.test('unmask matches the byte-wise formula for every length and alignment', async (t) => {
  const keys = [KEY, Buffer.from('00000000', 'hex'), Buffer.from('ffffffff', 'hex')];
  keys.push(Buffer.from('01020304', 'hex'));
  for (const key of keys) {
    for (let byteOffset = 0; byteOffset < 8; byteOffset++) {
      for (let length = 0; length <= 100; length++) {
        const data = bytesAt(byteOffset, length, length + byteOffset);
        const expected = xorReference(data, key);
        unmask(data, key);
        if (!data.equals(expected)) {
          t.fail(`mismatch at key ${key.toString('hex')}, offset ${byteOffset}, length ${length}`);
          return;
        }
      }
    }
  }
  t.pass('all lengths 0–100 at offsets 0–7 match');
});

t.test('unmask handles a 1 MiB unaligned payload', async (t) => {
  const data = bytesAt(3, 1024 * 1024 + 5, 7);
  const expected = xorReference(data, KEY);
  unmask(data, KEY);
  t.ok(data.equals(expected));
});

t.test('unmask accepts a Uint8Array key and leaves bytes outside the view alone', async (t) => {
  const backing = Buffer.alloc(80, 0xaa);
  const view = backing.subarray(5, 75);
  unmask(view, new Uint8Array([1, 2, 3, 4]));
  t.equal(backing[4], 0xaa);
  t.equal(backing[75], 0xaa);
  t.equal(view[0], 0xaa ^ 1);
  t.equal(view[69], 0xaa ^ 2);
});

t.test('masking twice restores the original bytes', async (t) => {
  const original = bytesAt(1, 777, 3);
  const copy = Buffer.from(original);
  unmask(copy, KEY);
  t.notOk(copy.equals(original));
  unmask(copy, KEY);
  t.ok(copy.equals(original));
});

t.test(
  'mask writes masked bytes into the target at an offset, leaving the source intact',
  async (t) => {
    for (const length of [0, 1, 5, 31, 32, 33, 200]) {
      for (const offset of [0, 1, 2, 6, 14]) {
        const source = bytesAt(offset % 3, length, length);
        const before = Buffer.from(source);
        const target = Buffer.alloc(offset + length + 2, 0xee);
        mask(source, KEY, target, offset);
        t.ok(source.equals(before), `source unchanged (length ${length}, offset ${offset})`);
        t.ok(target.subarray(offset, offset + length).equals(xorReference(source, KEY)));
        t.equal(target[offset + length], 0xee, 'bytes after the range untouched');
        if (offset > 0) t.equal(target[offset - 1], 0xee, 'bytes before the range untouched');
      }
    }
  },
);

t.test('mask masks only the first `length` bytes when a length is given', async (t) => {
  const source = Buffer.from('Hello, world');
  const target = Buffer.alloc(5);
  mask(source, KEY, target, 0, 5);
  t.equal(target.toString('hex'), '7f9f4d5158');
});

t.test('rejects a masking key that is not 4 bytes', async (t) => {
  t.throws(() => unmask(Buffer.alloc(8), Buffer.alloc(3)), RangeError);
  t.throws(() => mask(Buffer.alloc(8), Buffer.alloc(5), Buffer.alloc(8), 0), RangeError);
});

t.test('rejects a target range that does not fit', async (t) => {
  t.throws(() => mask(Buffer.alloc(8), KEY, Buffer.alloc(8), 1), RangeError);
  t.throws(() => mask(Buffer.alloc(8), KEY, Buffer.alloc(8), -1), RangeError);
  t.throws(() => mask(Buffer.alloc(8), KEY, Buffer.alloc(16), 0, 9), RangeError);
});

t.test('unmaskAt continues a payload at any offset, in pieces of any size', async (t) => {
  const key = Buffer.from([0x37, 0xfa, 0x21, 0x3d]);
  const payload = Buffer.alloc(1000);
  for (let i = 0; i < payload.length; i++) payload[i] = (i * 13) & 0xff;
  const masked = Buffer.from(payload.map((b, i) => b ^ key[i & 3]!));
  for (const piece of [1, 3, 5, 64, 333]) {
    const copy = Buffer.from(masked);
    for (let offset = 0; offset < copy.length; offset += piece) {
      unmaskAt(copy.subarray(offset, offset + piece), key, offset);
    }
    t.ok(copy.equals(payload), `pieces of ${piece}`);
  }
  t.throws(() => unmaskAt(Buffer.alloc(4), Buffer.alloc(3), 0), RangeError);
});
