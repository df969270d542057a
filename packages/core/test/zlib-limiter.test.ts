import t from 'tap';
import { getSharedZlibLimiter, ZlibLimiter } from '../src/zlib-limiter.js';

t.test('admits at most `concurrency` tasks, in FIFO order', async (t) => {
  const limiter = new ZlibLimiter(2);
  const started: number[] = [];
  const releases: Array<() => void> = [];
  for (let i = 0; i < 5; i++) {
    limiter.run((release) => {
      started.push(i);
      releases.push(release);
    });
  }
  t.same(started, [0, 1]);
  t.equal(limiter.active, 2);
  t.equal(limiter.pending, 3);
  releases[1]?.();
  t.same(started, [0, 1, 2]);
  releases[0]?.();
  releases[0]?.(); // idempotent: must not admit a fourth task
  t.same(started, [0, 1, 2, 3]);
  t.equal(limiter.active, 2);
  for (const release of releases) release();
  t.equal(limiter.active, 0);
  t.equal(limiter.pending, 0);
  t.same(started, [0, 1, 2, 3, 4]);
  t.equal(limiter.peakActive, 2);
});

t.test('does not grow the stack when queued tasks release synchronously', async (t) => {
  const limiter = new ZlibLimiter(1);
  let release0: (() => void) | undefined;
  limiter.run((release) => {
    release0 = release;
  });
  let ran = 0;
  for (let i = 0; i < 200_000; i++) {
    limiter.run((release) => {
      ran++;
      release();
    });
  }
  t.equal(limiter.pending, 200_000);
  release0?.();
  t.equal(ran, 200_000);
  t.equal(limiter.active, 0);
  t.equal(limiter.pending, 0);
});

t.test('keeps FIFO order for tasks queued from inside a task', async (t) => {
  const limiter = new ZlibLimiter(1);
  const order: string[] = [];
  let releaseA: (() => void) | undefined;
  limiter.run((release) => {
    order.push('a');
    releaseA = release;
  });
  limiter.run((release) => {
    order.push('b');
    limiter.run((r) => {
      order.push('d');
      r();
    });
    release();
  });
  limiter.run((release) => {
    order.push('c');
    release();
  });
  releaseA?.();
  t.same(order, ['a', 'b', 'c', 'd']);
});

t.test('rejects a concurrency that is not a positive integer', async (t) => {
  for (const bad of [0, -1, 1.5, Number.NaN]) t.throws(() => new ZlibLimiter(bad), RangeError);
});

t.test('shares one limiter per concurrency value', async (t) => {
  t.equal(getSharedZlibLimiter(7), getSharedZlibLimiter(7));
  t.not(getSharedZlibLimiter(7), getSharedZlibLimiter(8));
  t.equal(getSharedZlibLimiter(7).concurrency, 7);
});
