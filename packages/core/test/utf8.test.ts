import fc from 'fast-check';
import t from 'tap';
import { isValidUtf8, Utf8Validator } from '../src/utf8.js';

const hex = (s: string): Buffer => Buffer.from(s, 'hex');

/** Feeds chunks to a fresh validator: each push() result, then end(). */
function validate(chunks: readonly Buffer[]): { pushes: boolean[]; end: boolean } {
  const validator = new Utf8Validator();
  const pushes = chunks.map((chunk) => validator.push(chunk));
  return { pushes, end: validator.end() };
}

/**
 * Oracle for fail-fast behaviour: the WHATWG decoder in streaming, fatal mode throws at the
 * first byte that cannot start or continue a valid sequence.
 */
function decodeStreaming(chunks: readonly Uint8Array[]): { pushes: boolean[]; end: boolean } {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const pushes: boolean[] = [];
  let hasFailed = false;
  for (const chunk of chunks) {
    if (!hasFailed) {
      try {
        decoder.decode(chunk, { stream: true });
      } catch {
        hasFailed = true;
      }
    }
    pushes.push(!hasFailed);
  }
  if (hasFailed) return { pushes, end: false };
  try {
    decoder.decode();
    return { pushes, end: true };
  } catch {
    return { pushes, end: false };
  }
}

/** Splits `bytes` at the given (unsorted, possibly repeated) positions. */
function splitAt(bytes: Uint8Array, cuts: readonly number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let start = 0;
  for (const point of [...points, bytes.length]) {
    chunks.push(Buffer.from(bytes.subarray(start, point)));
    start = point;
  }
  return chunks;
}

t.test('isValidUtf8 accepts well-formed UTF-8 of every sequence length', async (t) => {
  t.ok(isValidUtf8(Buffer.alloc(0)));
  t.ok(isValidUtf8(Buffer.from('plain ASCII')));
  t.ok(isValidUtf8(Buffer.from('é € 😀 \u{10ffff} \ud7ff \ue000')));
});

t.test(
  'isValidUtf8 rejects overlongs, surrogates, out-of-range and truncated sequences',
  async (t) => {
    for (const bad of [
      'c080',
      'c1bf',
      'e08080',
      'eda080',
      'edbfbf',
      'f08f8080',
      'f4908080',
      'f5',
    ]) {
      t.notOk(isValidUtf8(hex(bad)), bad);
    }
    for (const bad of ['80', 'bf', 'ff', 'fe', 'e282', 'f09f98', '41c3'])
      t.notOk(isValidUtf8(hex(bad)), bad);
  },
);

t.test('Utf8Validator accepts every code point split at every byte position', async (t) => {
  const text = Buffer.from('aé€😀\u{10ffff}z');
  for (let i = 0; i <= text.length; i++) {
    for (let j = i; j <= text.length; j++) {
      const chunks = [text.subarray(0, i), text.subarray(i, j), text.subarray(j)];
      const result = validate(chunks);
      t.strictSame(result, { pushes: [true, true, true], end: true }, `cuts at ${i}, ${j}`);
    }
  }
});

t.test('Utf8Validator accepts a 4-byte sequence fed one byte at a time', async (t) => {
  const bytes = Buffer.from('😀');
  const chunks = [...bytes].map((b) => Buffer.from([b]));
  t.strictSame(validate(chunks), { pushes: [true, true, true, true], end: true });
});

t.test('Utf8Validator fails at once on a trailing byte that can never be valid', async (t) => {
  const cases: Record<string, string> = {
    'lone 0xF5': 'f5',
    'lone 0xFF': 'ff',
    'overlong lead 0xC0': 'c0',
    'overlong lead 0xC1': 'c1',
    'E0 followed by 80–9F (overlong)': 'e09f',
    'ED followed by A0–BF (surrogate)': 'eda0',
    'F0 followed by 80–8F (overlong)': 'f08f',
    'F4 followed by 90+ (above U+10FFFF)': 'f490',
    'lead followed by a non-continuation byte': 'e241',
    'third byte not a continuation': 'f09041',
  };
  for (const [name, bytes] of Object.entries(cases)) {
    const validator = new Utf8Validator();
    t.equal(validator.push(Buffer.concat([Buffer.from('ok'), hex(bytes)])), false, name);
  }
});

t.test('Utf8Validator fails at once when the next chunk breaks a carried prefix', async (t) => {
  for (const [carried, next] of [
    ['e0', '80'],
    ['ed', 'a0'],
    ['f0', '8f'],
    ['f4', '90'],
    ['e2', '41'],
    ['f0', '9f41'],
  ] as const) {
    const validator = new Utf8Validator();
    t.equal(validator.push(hex(carried)), true, `${carried} alone is a valid prefix`);
    t.equal(validator.push(hex(next)), false, `${carried} then ${next}`);
  }
});

t.test('Utf8Validator end() fails when a sequence is left unfinished', async (t) => {
  t.strictSame(validate([hex('41e282')]), { pushes: [true], end: false });
  t.strictSame(validate([hex('f09f'), hex('98')]), { pushes: [true, true], end: false });
});

t.test('Utf8Validator keeps failing until reset, and end() resets it', async (t) => {
  const validator = new Utf8Validator();
  t.equal(validator.push(hex('ff')), false);
  t.equal(validator.push(Buffer.from('fine')), false);
  validator.reset();
  t.equal(validator.push(Buffer.from('fine')), true);
  t.equal(validator.push(hex('e2')), true);
  t.equal(validator.end(), false);
  t.equal(validator.push(Buffer.from('fresh message')), true, 'end() started a new message');
  t.equal(validator.end(), true);
});

t.test('Utf8Validator treats empty chunks as no-ops', async (t) => {
  t.strictSame(validate([Buffer.alloc(0), hex('e2'), Buffer.alloc(0), hex('82ac')]), {
    pushes: [true, true, true, true],
    end: true,
  });
});

t.test(
  'Utf8Validator agrees with isValidUtf8 on random bytes split at random points',
  async (t) => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 64 }),
        fc.array(fc.nat(), { maxLength: 6 }),
        (bytes, cuts) => {
          const result = validate(splitAt(bytes, cuts));
          return (result.end && result.pushes.every(Boolean)) === isValidUtf8(bytes);
        },
      ),
      { numRuns: 2000 },
    );
    t.pass('2000 random inputs agree');
  },
);

t.test('Utf8Validator fails on the same chunk as a streaming WHATWG decoder', async (t) => {
  // Mostly-valid input with injected bad bytes, so failures land at interesting places.
  const nearlyValid = fc
    .tuple(fc.string({ unit: 'binary', maxLength: 24 }), fc.uint8Array({ maxLength: 3 }), fc.nat())
    .map(([text, noise, at]) => {
      const bytes = Buffer.from(text);
      const pos = at % (bytes.length + 1);
      return Buffer.concat([bytes.subarray(0, pos), noise, bytes.subarray(pos)]);
    });
  fc.assert(
    fc.property(nearlyValid, fc.array(fc.nat(), { maxLength: 8 }), (bytes, cuts) => {
      const chunks = splitAt(bytes, cuts);
      const actual = validate(chunks);
      const expected = decodeStreaming(chunks);
      return (
        actual.end === expected.end && actual.pushes.every((ok, i) => ok === expected.pushes[i])
      );
    }),
    { numRuns: 3000 },
  );
  t.pass('3000 random inputs fail on the same chunk');
});
