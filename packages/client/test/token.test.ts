import t from 'tap';
import { DEFAULT_TOKEN_PREFIX, encodeTokenProtocol } from '../src/token.js';

/** Decodes what the server will see, independently of the encoder under test. */
function decode(protocol: string, prefix = DEFAULT_TOKEN_PREFIX): string {
  return Buffer.from(protocol.slice(prefix.length), 'base64url').toString('utf8');
}

t.test('encodes the token as base64url without padding after the default prefix', async (t) => {
  t.equal(DEFAULT_TOKEN_PREFIX, 'base64url.bearer.');
  // "ab" is "YWI=" in base64: the padding goes.
  t.equal(encodeTokenProtocol('ab'), 'base64url.bearer.YWI');
  t.equal(encodeTokenProtocol('?>?'), 'base64url.bearer.Pz4_', '/ becomes _');
  t.equal(encodeTokenProtocol('>>>'), 'base64url.bearer.Pj4-', '+ becomes -');
});

t.test('round-trips any UTF-8 token and yields an RFC 7230 token', async (t) => {
  for (const token of ['eyJhbGciOiJIUzI1NiJ9.e30.sig', 'pässwörd ✓', 'a', 'x'.repeat(301), '🔑']) {
    const protocol = encodeTokenProtocol(token);
    t.match(protocol, /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/, 'token characters only');
    t.notMatch(protocol, /=/, 'no padding');
    t.equal(decode(protocol), token);
  }
});

t.test('takes another prefix', async (t) => {
  const prefix = 'base64url.bearer.authorization.k8s.io.';
  const protocol = encodeTokenProtocol('s3cret', prefix);
  t.ok(protocol.startsWith(prefix));
  t.equal(decode(protocol, prefix), 's3cret');
});

t.test('refuses an empty token and a prefix that is not a token', async (t) => {
  t.throws(() => encodeTokenProtocol(''), TypeError);
  t.throws(() => encodeTokenProtocol('x', ''), TypeError);
  t.throws(() => encodeTokenProtocol('x', 'bearer '), TypeError);
  t.throws(() => encodeTokenProtocol('x', 'a/b.'), TypeError);
});
