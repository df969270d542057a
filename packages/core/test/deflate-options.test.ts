import t from 'tap';
import {
  PER_MESSAGE_DEFLATE_DEFAULTS,
  type PerMessageDeflateOptions,
  resolvePerMessageDeflateOptions,
} from '../src/deflate-options.js';

t.test('applies the documented defaults', async (t) => {
  t.same(resolvePerMessageDeflateOptions(), {
    serverNoContextTakeover: false,
    clientNoContextTakeover: false,
    serverMaxWindowBits: 15,
    clientMaxWindowBits: 15,
    threshold: 1024,
    level: 1,
    memLevel: 8,
    concurrency: 10,
  });
  t.same(resolvePerMessageDeflateOptions({}), PER_MESSAGE_DEFLATE_DEFAULTS);
  t.ok(Object.isFrozen(PER_MESSAGE_DEFLATE_DEFAULTS));
});

t.test('keeps given values and treats undefined as the default', async (t) => {
  const resolved = resolvePerMessageDeflateOptions({
    serverNoContextTakeover: true,
    serverMaxWindowBits: 8,
    clientMaxWindowBits: 9,
    threshold: 0,
    level: -1,
    memLevel: 1,
    concurrency: 1,
    // JavaScript callers may pass undefined; the type says "absent".
    clientNoContextTakeover: undefined as unknown as boolean,
  });
  t.equal(resolved.serverNoContextTakeover, true);
  t.equal(resolved.clientNoContextTakeover, false);
  t.equal(resolved.serverMaxWindowBits, 8);
  t.equal(resolved.clientMaxWindowBits, 9);
  t.equal(resolved.threshold, 0);
  t.equal(resolved.level, -1);
  t.equal(resolved.memLevel, 1);
  t.equal(resolved.concurrency, 1);
  t.ok(Object.isFrozen(resolved));
});

t.test('fails synchronously on bad configuration', async (t) => {
  const ranges: Array<[keyof PerMessageDeflateOptions, unknown[]]> = [
    ['serverMaxWindowBits', [7, 16, 10.5, Number.NaN, '10']],
    ['clientMaxWindowBits', [7, 16, 0]],
    ['threshold', [-1, 1.5, Number.POSITIVE_INFINITY]],
    ['level', [-2, 10]],
    ['memLevel', [0, 10]],
    ['concurrency', [0, -1, 2.5, 100_000]],
  ];
  for (const [key, values] of ranges) {
    for (const value of values) {
      t.throws(
        () => resolvePerMessageDeflateOptions({ [key]: value }),
        RangeError,
        `${key}=${String(value)}`,
      );
    }
  }
  for (const key of ['serverNoContextTakeover', 'clientNoContextTakeover'] as const) {
    t.throws(() => resolvePerMessageDeflateOptions({ [key]: 1 }), TypeError, key);
  }
});

t.test('ignores keys it does not know', async (t) => {
  const options = { level: 3, unknown: true } as PerMessageDeflateOptions;
  t.equal(resolvePerMessageDeflateOptions(options).level, 3);
  t.notOk('unknown' in resolvePerMessageDeflateOptions(options));
});
