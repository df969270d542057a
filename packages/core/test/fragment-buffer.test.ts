import t from 'tap';
import { FragmentBuffer } from '../src/fragment-buffer.js';

t.test('returns the appended bytes in order, copied, and is empty afterwards', async (t) => {
  const buffer = new FragmentBuffer(1 << 20);
  const first = Buffer.from('frag');
  buffer.append(first);
  first.fill(0); // the caller may reuse its memory: nothing of it is kept
  buffer.append(Buffer.alloc(0));
  buffer.append(Buffer.from('ment'));
  t.equal(buffer.length, 8);
  t.equal(buffer.finish(Buffer.from('ed')).toString(), 'fragmented');
  t.equal(buffer.length, 0);
  t.equal(buffer.retainedBytes, 0, 'the buffer went out with the message');
});

t.test('hands back the last payload itself when nothing was held', async (t) => {
  const buffer = new FragmentBuffer(1 << 20);
  const last = Buffer.from('whole');
  t.equal(buffer.finish(last), last);
  buffer.append(Buffer.alloc(0));
  t.equal(buffer.finish(last), last, 'empty payloads hold nothing');
});

t.test('retains at most twice the bytes held, growing geometrically', async (t) => {
  const buffer = new FragmentBuffer(1 << 30);
  let grows = 0;
  let capacity = 0;
  for (let i = 1; i <= 100_000; i++) {
    buffer.append(Buffer.from([i & 0x7f]));
    if (buffer.retainedBytes !== capacity) grows++;
    capacity = buffer.retainedBytes;
    if (capacity > Math.max(256, 2 * buffer.length)) {
      t.fail(`${capacity} bytes retained for ${buffer.length}`);
      return;
    }
  }
  t.ok(grows <= 10, `${grows} allocations for 100,000 one-byte appends`);
  const message = buffer.finish(Buffer.alloc(0));
  t.equal(message.length, 100_000);
  t.ok(message.every((byte, i) => byte === ((i + 1) & 0x7f)));
});

t.test('never grows beyond the largest possible message unless an append needs it', async (t) => {
  const buffer = new FragmentBuffer(1000);
  buffer.append(Buffer.alloc(600, 1));
  t.equal(buffer.retainedBytes, 1000, 'capped at the largest message, not 1200');
  buffer.append(Buffer.alloc(700, 2));
  t.equal(buffer.retainedBytes, 1300, 'exactly what is needed beyond the cap');
});

t.test('grows to the exact size when the last payload does not fit', async (t) => {
  const buffer = new FragmentBuffer(1 << 20);
  buffer.append(Buffer.alloc(3000, 1));
  // 8000 bytes: above the size Node serves from its shared 8 KiB pool, so the memory is visible.
  const message = buffer.finish(Buffer.alloc(5000, 2));
  t.equal(message.length, 8000);
  t.equal(message.buffer.byteLength, 8000, 'no spare capacity handed on');
  t.ok(message.subarray(0, 3000).every((byte) => byte === 1));
  t.ok(message.subarray(3000).every((byte) => byte === 2));
});

t.test('reset drops the bytes held', async (t) => {
  const buffer = new FragmentBuffer(1 << 20);
  buffer.append(Buffer.from('dropped'));
  buffer.reset();
  t.equal(buffer.length, 0);
  t.equal(buffer.retainedBytes, 0);
  t.equal(buffer.finish(Buffer.from('kept')).toString(), 'kept');
});
