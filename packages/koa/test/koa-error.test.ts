import Boom from '@hapi/boom';
import { HandshakeErrorCode, isHandshakeError } from '@wsroute/core';
import { handshakeError } from '@wsroute/core/adapter';
import t from 'tap';
import { toKoaError, upgradeRequired } from '../src/koa-error.js';

t.test('toKoaError gives a 4xx Boom the fields Koa answers from', async (t) => {
  const boom = Boom.unauthorized('bad token', 'Bearer', { realm: 'chat' });
  const error = toKoaError(boom);
  t.equal(error, boom, 'changed in place: upstream handlers still see the Boom');
  t.equal(error.status, 401);
  t.equal(error.expose, true);
  t.same(error.headers, { 'WWW-Authenticate': 'Bearer realm="chat", error="bad token"' });
  t.equal(error.message, 'bad token');
  t.equal(Boom.isBoom(error), true);
});

t.test('toKoaError hides the message of a 5xx Boom', async (t) => {
  const error = toKoaError(Boom.badImplementation('secret'));
  t.equal(error.status, 500);
  t.equal(error.expose, false);
});

t.test('toKoaError turns numeric header values into strings and drops undefined', async (t) => {
  const boom = Boom.tooManyRequests('slow down');
  boom.output.headers['Retry-After'] = 30;
  boom.output.headers['X-Nothing'] = undefined;
  boom.output.headers.Vary = ['a', 'b'];
  t.same(toKoaError(boom).headers, { 'Retry-After': '30', Vary: ['a', 'b'] });
});

t.test('toKoaError keeps the handshake error code of core Booms', async (t) => {
  const error = toKoaError(handshakeError(403, HandshakeErrorCode.Origin, 'Origin not allowed'));
  t.equal(error.status, 403);
  t.ok(isHandshakeError(error));
  t.equal(error.data?.code, 'WS_ORIGIN_FORBIDDEN');
});

t.test('upgradeRequired answers 426 naming websocket and version 13', async (t) => {
  const error = upgradeRequired();
  t.equal(error.output.statusCode, 426);
  t.equal(error.data?.code, HandshakeErrorCode.UpgradeRequired);
  t.same(toKoaError(error).headers, { Upgrade: 'websocket', 'Sec-WebSocket-Version': '13' });
});
