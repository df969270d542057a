import t from 'tap';
import { ChunkQueue } from '../src/chunk-queue.js';

/** A queue holding `parts` (strings, one chunk each), with `consumed` bytes already skipped. */
function queueOf(parts: readonly string[], consumed = 0): ChunkQueue {
  const queue = new ChunkQueue();
  for (const part of parts) queue.push(Buffer.from(part));
  queue.skip(consumed);
  return queue;
}

/** Everything the current walk over the newest bytes returns, as strings. */
function walk(queue: ChunkQueue, count: number): string[] {
  const parts: string[] = [];
  queue.seekNewest(count);
  for (let bytes = queue.nextNewest(); bytes !== undefined; bytes = queue.nextNewest()) {
    parts.push(bytes.toString());
  }
  return parts;
}

t.test('counts the unconsumed bytes across chunks', async (t) => {
  const queue = queueOf(['ab', 'cde']);
  t.equal(queue.length, 5);
  queue.skip(3);
  t.equal(queue.length, 2);
  t.equal(queue.take(2).toString(), 'de');
  t.equal(queue.length, 0);
});

t.test('peeks bytes and big-endian words across chunk boundaries without consuming', async (t) => {
  const queue = new ChunkQueue();
  queue.push(Buffer.from([0x00, 0x81]));
  queue.push(Buffer.from([0x82]));
  queue.push(Buffer.from([0x83, 0xff, 0x7f]));
  queue.skip(1);
  t.equal(queue.peek(0), 0x81);
  t.equal(queue.peek(2), 0x83, 'the first byte of the third chunk');
  t.equal(queue.peekUint32(0), 0x818283ff, 'unsigned, even with the top bit set');
  t.equal(queue.peekUint32(1), 0x8283ff7f);
  t.equal(queue.length, 5, 'nothing consumed');
});

t.test(
  'take hands out a view when the bytes sit in one chunk, the chunk itself when whole',
  async (t) => {
    const first = Buffer.from('whole');
    const second = Buffer.from('partial');
    const queue = new ChunkQueue();
    queue.push(first);
    queue.push(second);
    t.equal(queue.take(5), first, 'a whole chunk is handed out as is');
    const view = queue.take(4);
    t.equal(view.toString(), 'part');
    t.equal(view.buffer, second.buffer, 'a view, not a copy');
    t.equal(view.byteOffset, second.byteOffset);
    t.equal(queue.take(0).length, 0);
    t.equal(queue.take(3).toString(), 'ial');
  },
);

t.test('take copies once when the bytes span chunks', async (t) => {
  const queue = queueOf(['xxab', 'c', 'def'], 2);
  const taken = queue.take(5);
  t.equal(taken.toString(), 'abcde');
  t.equal(queue.length, 1);
  t.equal(queue.take(1).toString(), 'f');
});

t.test('copyOut writes into the target at an offset and consumes what it copied', async (t) => {
  const queue = queueOf(['-ab', 'cd', 'ef'], 1);
  const target = Buffer.alloc(8, '.');
  queue.copyOut(target, 2, 4);
  t.equal(target.toString(), '..abcd..');
  t.equal(queue.length, 2);
  t.equal(queue.peek(0), 'e'.charCodeAt(0), 'continues in the middle of the last chunk');
  queue.copyOut(target, 6, 2);
  t.equal(target.toString(), '..abcdef');
  t.equal(queue.length, 0);
});

t.test('copyOut consumes many one-byte chunks in one call', async (t) => {
  const queue = new ChunkQueue();
  const count = 200_000;
  for (let i = 0; i < count; i++) queue.push(Buffer.from([i & 0xff]));
  const target = Buffer.alloc(count);
  queue.copyOut(target, 0, count);
  t.equal(queue.length, 0);
  t.ok(target.every((byte, i) => byte === (i & 0xff)));
});

t.test('walks the newest bytes oldest first, starting inside the right chunk', async (t) => {
  const queue = queueOf(['xxab', 'cd', 'efg'], 2);
  t.same(walk(queue, 1), ['g']);
  t.same(walk(queue, 3), ['efg'], 'a whole chunk');
  t.same(walk(queue, 4), ['d', 'efg']);
  t.same(walk(queue, 7), ['ab', 'cd', 'efg'], 'all of it: the consumed bytes are left out');
  t.same(walk(queue, 100), ['ab', 'cd', 'efg'], 'clamped to what is held');
  t.same(walk(queue, 0), []);
  t.same(walk(new ChunkQueue(), 3), [], 'an empty queue');
  t.equal(queue.length, 7, 'walking consumes nothing');
});

t.test('hands out views the caller may change in place', async (t) => {
  const chunk = Buffer.from('abcd');
  const queue = new ChunkQueue();
  queue.push(chunk);
  queue.seekNewest(2);
  const bytes = queue.nextNewest()!;
  bytes.fill('z');
  t.equal(chunk.toString(), 'abzz');
  t.equal(queue.take(4).toString(), 'abzz');
});

t.test('clear drops every byte and ends a walk', async (t) => {
  const queue = queueOf(['ab', 'cd'], 1);
  queue.seekNewest(3);
  queue.clear();
  t.equal(queue.length, 0);
  t.equal(queue.nextNewest(), undefined);
  queue.push(Buffer.from('new'));
  t.equal(queue.take(3).toString(), 'new', 'usable again, with no offset left over');
});
