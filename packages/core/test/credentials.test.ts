/**
 * The credential carrier on real requests parsed by Node (the header rewrite touches every
 * form Node keeps headers in, so hand-built request objects would prove nothing).
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage } from 'node:http';
import { connect } from 'node:net';
import t, { type Test } from 'tap';
import { DEFAULT_TOKEN_PREFIX, resolveTokenPrefix, takeToken } from '../src/credentials.js';
import { type HandshakeError, HandshakeErrorCode, isHandshakeError } from '../src/errors.js';
import { portOf, upgradeRequest, withTimeout } from './helpers/wire.js';

/** Sends an upgrade request with these headers and returns the request Node parsed. */
async function parsed(
  t: Test,
  headers: Record<string, string | string[]>,
): Promise<IncomingMessage> {
  const server = createServer();
  const upgraded = new Promise<IncomingMessage>((resolve) => {
    server.once('upgrade', (request: IncomingMessage, socket) => {
      socket.destroy();
      resolve(request);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => new Promise((resolve) => server.close(resolve)));
  const socket = connect(portOf(server), '127.0.0.1');
  socket.on('error', () => {});
  t.teardown(() => {
    socket.destroy();
  });
  socket.write(upgradeRequest('/', headers));
  return withTimeout(upgraded, 'the upgrade request');
}

const encode = (token: string): string => Buffer.from(token).toString('base64url');
const carrier = (token: string): string => `${DEFAULT_TOKEN_PREFIX}${encode(token)}`;

function expectCode(t: Test, result: unknown, code: HandshakeErrorCode): void {
  if (!isHandshakeError(result)) {
    t.fail(`expected 400 ${code}, got ${String(result)}`);
    return;
  }
  t.equal(result.output.statusCode, 400);
  t.equal(result.data?.code, code);
  t.notMatch(JSON.stringify((result as HandshakeError).output), /czNj|s3cret/, 'nothing quoted');
}

t.test('takes the token out of the offer and rewrites every form of the header', async (t) => {
  const request = await parsed(t, {
    'Sec-WebSocket-Protocol': ['chat.v2', `${carrier('pässwörd ✓')} , chat`],
  });
  t.equal(takeToken(request, DEFAULT_TOKEN_PREFIX), 'pässwörd ✓');
  t.equal(request.headers['sec-websocket-protocol'], 'chat.v2, chat');
  t.same(request.headersDistinct['sec-websocket-protocol'], ['chat.v2, chat']);
  const raw = request.rawHeaders.filter((_, i) => i % 2 === 1).join('\n');
  t.notMatch(raw, DEFAULT_TOKEN_PREFIX, 'rawHeaders no longer hold it');
  t.equal(
    request.rawHeaders.filter((name) => name.toLowerCase() === 'sec-websocket-protocol').length,
    1,
    'one header line left',
  );
});

t.test('leaves a request without a credential untouched', async (t) => {
  const request = await parsed(t, { 'Sec-WebSocket-Protocol': 'chat, x-base64url.bearer.abc' });
  t.equal(takeToken(request, DEFAULT_TOKEN_PREFIX), undefined);
  t.equal(request.headers['sec-websocket-protocol'], 'chat, x-base64url.bearer.abc');
  t.equal(takeToken(await parsed(t, {}), DEFAULT_TOKEN_PREFIX), undefined);
});

t.test('refuses two credentials, even the same one twice, without quoting them', async (t) => {
  for (const offer of [
    `chat, ${carrier('s3cret')}, ${carrier('other')}`,
    `${carrier('s3cret')}, chat, ${carrier('s3cret')}`,
  ]) {
    const request = await parsed(t, { 'Sec-WebSocket-Protocol': offer });
    expectCode(t, takeToken(request, DEFAULT_TOKEN_PREFIX), HandshakeErrorCode.CredentialDuplicate);
  }
});

t.test('refuses anything but canonical base64url of UTF-8', async (t) => {
  for (const encoded of [
    '',
    `${encode('s3cret')}=`,
    'czNj+mV0',
    'czNj/mV0',
    'a',
    // "a" and "ab" with non-zero trailing bits: a lenient decoder reads the same bytes.
    'YR',
    'YWJ',
    Buffer.from([0xff, 0xfe]).toString('base64url'),
  ]) {
    const request = await parsed(t, {
      'Sec-WebSocket-Protocol': `chat, ${DEFAULT_TOKEN_PREFIX}${encoded}`,
    });
    expectCode(t, takeToken(request, DEFAULT_TOKEN_PREFIX), HandshakeErrorCode.CredentialMalformed);
  }
});

t.test('refuses a credential without a real subprotocol next to it', async (t) => {
  for (const offer of [carrier('s3cret'), `${carrier('s3cret')}, `, ` , ${carrier('s3cret')}`]) {
    const request = await parsed(t, { 'Sec-WebSocket-Protocol': offer });
    expectCode(
      t,
      takeToken(request, DEFAULT_TOKEN_PREFIX),
      HandshakeErrorCode.CredentialWithoutProtocol,
    );
  }
});

t.test('keeps malformed leftovers for negotiation to refuse', async (t) => {
  const request = await parsed(t, { 'Sec-WebSocket-Protocol': `chat, , ${carrier('s3cret')}` });
  t.equal(takeToken(request, DEFAULT_TOKEN_PREFIX), 's3cret');
  t.equal(request.headers['sec-websocket-protocol'], 'chat, ');
});

t.test('takes another prefix, and only that one', async (t) => {
  const prefix = 'base64url.bearer.authorization.k8s.io.';
  const request = await parsed(t, {
    'Sec-WebSocket-Protocol': `chat, ${prefix}${encode('s3cret')}`,
  });
  t.equal(takeToken(request, prefix), 's3cret');
  t.equal(resolveTokenPrefix('e', undefined), DEFAULT_TOKEN_PREFIX);
  t.equal(resolveTokenPrefix('e', prefix), prefix);
  for (const bad of ['', 'bearer ', 'a/b.', 42]) {
    t.throws(() => resolveTokenPrefix('e', bad), { name: 'TypeError', message: /^e: / });
  }
});
