import fc from 'fast-check';
import t, { type Test } from 'tap';
import { type HandshakeError, HandshakeErrorCode, isHandshakeError } from '../src/errors.js';
import {
  type ExtensionOffer,
  formatExtensionHeader,
  parseExtensionHeader,
} from '../src/extension-header.js';

/** Asserts a successful parse and returns the offers. */
function parsed(t: Test, lines: readonly string[]): ExtensionOffer[] {
  const result = parseExtensionHeader(lines);
  if (isHandshakeError(result)) {
    t.fail(`unexpected rejection of ${JSON.stringify(lines)}: ${result.message}`);
    return [];
  }
  return result;
}

/** Asserts a 400 WS_EXTENSION_HEADER rejection. */
function expectRejected(t: Test, result: ExtensionOffer[] | HandshakeError, line: string): void {
  if (!isHandshakeError(result)) {
    t.fail(`expected a rejection of ${JSON.stringify(line)}, got ${JSON.stringify(result)}`);
    return;
  }
  t.equal(result.output.statusCode, 400, line);
  t.equal(result.data?.code, HandshakeErrorCode.ExtensionHeader, line);
}

t.test('parseExtensionHeader', async (t) => {
  t.test('returns [] for an absent header', async (t) => {
    t.same(parsed(t, []), []);
  });

  t.test('reads an extension without parameters', async (t) => {
    t.same(parsed(t, ['permessage-deflate']), [{ name: 'permessage-deflate', params: [] }]);
  });

  t.test('reads flags and token values in header order', async (t) => {
    t.same(parsed(t, ['permessage-deflate; client_max_window_bits; server_max_window_bits=10']), [
      {
        name: 'permessage-deflate',
        params: [
          ['client_max_window_bits', true],
          ['server_max_window_bits', '10'],
        ],
      },
    ]);
  });

  t.test('unquotes quoted-string values, including quoted-pairs', async (t) => {
    t.same(parsed(t, ['a; b="10"; c="1\\0"; d="\\x"']), [
      {
        name: 'a',
        params: [
          ['b', '10'],
          ['c', '10'],
          ['d', 'x'],
        ],
      },
    ]);
  });

  t.test('accepts SP and HTAB around commas, semicolons and equals signs', async (t) => {
    t.same(parsed(t, [' a ;\tb = 1 ,\tc ; d = "x" ; e ']), [
      { name: 'a', params: [['b', '1']] },
      {
        name: 'c',
        params: [
          ['d', 'x'],
          ['e', true],
        ],
      },
    ]);
  });

  t.test('reads several offers per line and several lines, keeping order', async (t) => {
    const offers = parsed(t, ['permessage-deflate; server_no_context_takeover, x-foo', 'y; z=1']);
    t.same(
      offers.map((o) => o.name),
      ['permessage-deflate', 'x-foo', 'y'],
    );
  });

  t.test('keeps repeated offers and repeated parameters for negotiation to judge', async (t) => {
    t.same(parsed(t, ['a; b; b=1, a']), [
      {
        name: 'a',
        params: [
          ['b', true],
          ['b', '1'],
        ],
      },
      { name: 'a', params: [] },
    ]);
  });

  t.test('ignores empty list elements and empty lines (RFC 7230 §7)', async (t) => {
    t.same(parsed(t, ['a, , b', ',c', 'd,', '', ' \t ']), [
      { name: 'a', params: [] },
      { name: 'b', params: [] },
      { name: 'c', params: [] },
      { name: 'd', params: [] },
    ]);
  });

  t.test('rejects malformed headers with 400 WS_EXTENSION_HEADER', async (t) => {
    const malformed = [
      'a;',
      'a; ',
      'a;;b',
      ';a',
      'a; =1',
      'a; b=',
      'a; b= ;c',
      'a; b=1 2',
      'a; b==1',
      'a b',
      'a=1',
      '"a"',
      'a; b="',
      'a; b="1',
      'a; b=""',
      'a; b="1 0"',
      'a; b="1,0"',
      'a; b="x\\"',
      'a; b="x\\ "',
      'a; b="1"x',
      'a; b=x"y"',
      'a; b=1;',
      'ä',
      'a; b=ä',
      'a\u0000',
      'a\r\nb',
      'a/b',
    ];
    for (const line of malformed) expectRejected(t, parseExtensionHeader([line]), line);
    expectRejected(t, parseExtensionHeader(['a', 'b;']), 'second line');
  });

  t.test('names the problem without echoing control characters', async (t) => {
    const result = parseExtensionHeader(['a; b=\u0007']);
    t.ok(isHandshakeError(result));
    if (isHandshakeError(result)) t.match(result.message, 'U+0007 at position 5');
  });

  t.test('handles long pathological input in linear time', async (t) => {
    const n = 100_000;
    const started = process.hrtime.bigint();
    expectRejected(t, parseExtensionHeader([`a; b${' '.repeat(n)}x`]), 'spaces');
    expectRejected(t, parseExtensionHeader([`a; b="${'1'.repeat(n)}`]), 'open quote');
    expectRejected(t, parseExtensionHeader([`a${'; b'.repeat(n)};`]), 'trailing ;');
    t.same(parsed(t, [',  '.repeat(n)]), []);
    const many = parsed(t, [Array.from({ length: n }, (_, i) => `e${i}; p="${i}"`).join(', ')]);
    t.equal(many.length, n);
    t.same(many[n - 1], { name: `e${n - 1}`, params: [['p', String(n - 1)]] });
    t.ok(Number(process.hrtime.bigint() - started) / 1e6 < 2000, 'fast');
  });
});

t.test('formatExtensionHeader', async (t) => {
  t.test('writes flags and values separated by "; " and extensions by ", "', async (t) => {
    t.equal(
      formatExtensionHeader([
        {
          name: 'permessage-deflate',
          params: [
            ['server_no_context_takeover', true],
            ['client_max_window_bits', '10'],
          ],
        },
        { name: 'x', params: [] },
      ]),
      'permessage-deflate; server_no_context_takeover; client_max_window_bits=10, x',
    );
    t.equal(formatExtensionHeader([]), '');
  });

  t.test('throws TypeError for names or values that are not tokens', async (t) => {
    t.throws(() => formatExtensionHeader([{ name: 'a b', params: [] }]), TypeError);
    t.throws(() => formatExtensionHeader([{ name: '', params: [] }]), TypeError);
    t.throws(() => formatExtensionHeader([{ name: 'a', params: [['b;', true]] }]), TypeError);
    t.throws(() => formatExtensionHeader([{ name: 'a', params: [['b', '1 0']] }]), TypeError);
    t.throws(() => formatExtensionHeader([{ name: 'a', params: [['b', '']] }]), TypeError);
  });

  t.test('round-trips through parseExtensionHeader (property)', async (t) => {
    const token = fc.stringMatching(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,12}$/);
    const offer = fc.record({
      name: token,
      params: fc.array(fc.tuple(token, fc.oneof(fc.constant<true>(true), token)), {
        maxLength: 5,
      }),
    });
    fc.assert(
      fc.property(fc.array(offer, { minLength: 1, maxLength: 5 }), (offers) => {
        t.same(parseExtensionHeader([formatExtensionHeader(offers)]), offers);
      }),
      { numRuns: 200 },
    );
  });
});
