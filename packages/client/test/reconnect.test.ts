import t from 'tap';
import { closeInfo } from '../src/close-info.js';
import { backoffDelay, isTransientClose, resolveReconnect } from '../src/reconnect.js';

t.test('reconnecting is off unless asked for', async (t) => {
  t.equal(resolveReconnect(undefined), undefined);
  t.equal(resolveReconnect(false), undefined);
  t.match(resolveReconnect(true), {
    attempts: 10,
    initialDelay: 500,
    maxDelay: 30_000,
    factor: 2,
    jitter: 0.5,
  });
});

t.test('checks the bounds of every option', async (t) => {
  for (const bad of [
    { attempts: 0 },
    { attempts: 1.5 },
    { initialDelay: -1 },
    { initialDelay: 100, maxDelay: 50 },
    { factor: 0.5 },
    { jitter: -0.1 },
    { jitter: 1.1 },
    { attempts: Number.NaN },
  ]) {
    t.throws(() => resolveReconnect(bad), RangeError, JSON.stringify(bad));
  }
});

t.test('the delay grows by the factor, is capped, and jitter only shortens it', async (t) => {
  const policy = resolveReconnect({ initialDelay: 100, maxDelay: 1000, factor: 2, jitter: 0.5 });
  if (!policy) throw new Error('no policy');
  t.same(
    [1, 2, 3, 4, 5, 6].map((attempt) => backoffDelay(policy, attempt, 0)),
    [100, 200, 400, 800, 1000, 1000],
  );
  t.equal(backoffDelay(policy, 3, 0.999_999), 200, 'at most half of 400 is taken away');
  t.equal(backoffDelay(policy, 3, 0.5), 300);
  const none = resolveReconnect({ initialDelay: 100, jitter: 0 });
  t.equal(none && backoffDelay(none, 2, 0.9), 200, 'no jitter');
  const full = resolveReconnect({ initialDelay: 100, jitter: 1 });
  t.equal(full && backoffDelay(full, 1, 0.999_999), 0, 'full jitter reaches zero');
});

t.test('transient closes reconnect by default; deliberate ones do not', async (t) => {
  for (const code of [1001, 1005, 1006, 1011, 1012, 1013, 1014]) {
    t.ok(isTransientClose(closeInfo(code, '', false)), String(code));
  }
  for (const code of [1000, 1002, 1003, 1007, 1008, 1009, 1010, 1015, 4000, 4008]) {
    t.notOk(isTransientClose(closeInfo(code, '', true)), String(code));
  }
});
