import t, { type Test } from 'tap';
import { type HandshakeError, HandshakeErrorCode, isHandshakeError } from '../src/errors.js';
import { isToken, parseProtocolList, selectProtocol } from '../src/subprotocol.js';

/** Asserts a parse failure: 400, code WS_PROTOCOL_HEADER, and a message naming the problem. */
function expectProtocolError(
  t: Test,
  result: string[] | HandshakeError,
  messagePart: string,
): void {
  if (!isHandshakeError(result)) {
    t.fail(`expected a rejection, got ${JSON.stringify(result)}`);
    return;
  }
  t.equal(result.output.statusCode, 400);
  t.equal(result.data?.code, HandshakeErrorCode.ProtocolHeader);
  t.match(result.message, messagePart);
}

t.test('parseProtocolList', async (t) => {
  t.test('returns [] when the header is absent or has no lines', async (t) => {
    t.same(parseProtocolList(undefined), []);
    t.same(parseProtocolList([]), []);
  });

  t.test('keeps client order', async (t) => {
    t.same(parseProtocolList(['chat, superchat, mqtt']), ['chat', 'superchat', 'mqtt']);
    t.same(parseProtocolList(['mqtt, chat']), ['mqtt', 'chat']);
  });

  t.test('reads several header lines as one list', async (t) => {
    t.same(parseProtocolList(['a, b', 'c', 'd,e']), ['a', 'b', 'c', 'd', 'e']);
  });

  t.test('accepts a list without spaces as ws and autobahn send it', async (t) => {
    t.same(parseProtocolList(['a,b']), ['a', 'b']);
  });

  t.test('accepts SP and HTAB around commas and at the ends', async (t) => {
    t.same(parseProtocolList([' a \t,\tb  ,  c\t']), ['a', 'b', 'c']);
  });

  t.test('accepts every tchar', async (t) => {
    const all = "!#$%&'*+-.^_`|~09AZaz";
    t.same(parseProtocolList([all]), [all]);
    t.same(parseProtocolList(['graphql-transport-ws']), ['graphql-transport-ws']);
  });

  t.test('rejects duplicates, also across lines', async (t) => {
    expectProtocolError(t, parseProtocolList(['a, b, a']), 'duplicate protocol at position 6');
    expectProtocolError(t, parseProtocolList(['a, b', 'b']), 'duplicate protocol at position 0');
  });

  t.test('treats protocols as case-sensitive', async (t) => {
    t.same(parseProtocolList(['Chat, chat']), ['Chat', 'chat']);
  });

  t.test('rejects empty elements', async (t) => {
    expectProtocolError(t, parseProtocolList(['a,,b']), 'empty element');
    expectProtocolError(t, parseProtocolList(['a, , b']), 'empty element');
    expectProtocolError(t, parseProtocolList(['a,']), 'empty element');
    expectProtocolError(t, parseProtocolList([',a']), 'empty element');
    expectProtocolError(t, parseProtocolList(['']), 'empty element');
    expectProtocolError(t, parseProtocolList([' \t ']), 'empty element');
    expectProtocolError(t, parseProtocolList(['a', '']), 'empty element');
  });

  t.test('rejects invalid characters and names them', async (t) => {
    expectProtocolError(t, parseProtocolList(['a b']), "invalid character 'b' at position 2");
    expectProtocolError(t, parseProtocolList(['a;b']), "invalid character ';' at position 1");
    expectProtocolError(t, parseProtocolList(['"x"']), `invalid character '"' at position 0`);
    expectProtocolError(t, parseProtocolList(['chät']), 'invalid character U+00E4');
    expectProtocolError(t, parseProtocolList(['a/b']), "invalid character '/'");
    expectProtocolError(t, parseProtocolList(['a\r\nb']), 'invalid character U+000D');
    expectProtocolError(t, parseProtocolList(['a\u0000']), 'invalid character U+0000');
  });

  t.test('handles long pathological input in linear time', async (t) => {
    const n = 100_000;
    expectProtocolError(t, parseProtocolList([','.repeat(n)]), 'empty element');
    expectProtocolError(t, parseProtocolList([' '.repeat(n)]), 'empty element');
    expectProtocolError(t, parseProtocolList([`a${' '.repeat(n)}b`]), 'invalid character');
    expectProtocolError(t, parseProtocolList([`a${', '.repeat(n)}`]), 'empty element');
    expectProtocolError(t, parseProtocolList([`${'a'.repeat(n)} ;`]), "invalid character ';'");
    const many = Array.from({ length: n }, (_, i) => `p${i}`);
    t.same(parseProtocolList([many.join(',\t ')]), many);
  });
});

t.test('selectProtocol', async (t) => {
  t.test('picks the first client offer the server supports, in client order', async (t) => {
    t.equal(selectProtocol(['b', 'a'], ['a', 'b']), 'b');
    t.equal(selectProtocol(['x', 'a', 'b'], new Set(['b', 'a'])), 'a');
  });

  t.test('returns undefined when nothing matches or nothing is offered', async (t) => {
    t.equal(selectProtocol(['x', 'y'], ['a']), undefined);
    t.equal(selectProtocol([], ['a']), undefined);
    t.equal(selectProtocol(['a'], []), undefined);
    t.equal(selectProtocol(['a'], new Set()), undefined);
  });

  t.test('compares case-sensitively', async (t) => {
    t.equal(selectProtocol(['Chat'], ['chat']), undefined);
  });
});

t.test('isToken', async (t) => {
  t.test('accepts RFC 7230 tokens', async (t) => {
    t.ok(isToken('chat'));
    t.ok(isToken('graphql-transport-ws'));
    t.ok(isToken("!#$%&'*+-.^_`|~09AZaz"));
  });

  t.test('rejects empty strings, separators, whitespace and non-ASCII', async (t) => {
    for (const s of ['', 'a b', 'a,b', 'a;b', '"a"', '(a)', 'a/b', 'a=b', 'a\tb', 'ä', '\u007f']) {
      t.notOk(isToken(s), JSON.stringify(s));
    }
  });
});
