import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import Boom from '@hapi/boom';
import { HandshakeErrorCode, isHandshakeError } from '@wsroute/core';
import express from 'express';
import t, { type Test } from 'tap';
import { boomErrorHandler, sendBoom, toBoom, upgradeRequiredError } from '../src/index.js';

/** Serves `handler` on 127.0.0.1:0 and fetches `/` once. */
async function fetchFrom(
  t: Test,
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<Response> {
  const server = createServer(handler);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  const { port } = server.address() as AddressInfo;
  return fetch(`http://127.0.0.1:${port}/`);
}

t.test('toBoom maps what reached the end of the stack', async (t) => {
  const notFound = toBoom(undefined);
  t.equal(notFound.output.statusCode, 404);
  t.ok(isHandshakeError(notFound));
  t.equal(notFound.data?.code, HandshakeErrorCode.NotFound);

  const boom = Boom.forbidden('no');
  t.equal(toBoom(boom), boom, 'a Boom is kept as is');

  const limited = toBoom(Object.assign(new Error('later'), { status: 429 }));
  t.equal(limited.output.statusCode, 429);
  t.equal(limited.output.payload.message, 'later');

  const hidden = toBoom(Object.assign(new Error('db down'), { statusCode: 503, expose: false }));
  t.equal(hidden.output.statusCode, 503);
  t.not(hidden.output.payload.message, 'db down', 'unexposed messages stay hidden');

  const internal = toBoom(new Error('secret'));
  t.equal(internal.output.statusCode, 500);
  t.notMatch(internal.output.payload.message, /secret/);
  t.equal(toBoom('a string').output.statusCode, 500);
  t.equal(toBoom({ status: 200 }).output.statusCode, 500, 'a non-error status is ignored');
});

t.test('sendBoom writes status, Boom headers and the message as plain text', async (t) => {
  const response = await fetchFrom(t, (_req, res) => {
    const boom = Boom.unauthorized('token expired', 'Bearer', { realm: 'chat' });
    boom.output.headers['X-Bad'] = 'a\r\nInjected: yes';
    boom.output.headers['Content-Type'] = 'text/html';
    sendBoom(res, boom);
  });
  t.equal(response.status, 401);
  t.match(response.headers.get('www-authenticate'), /^Bearer realm="chat"/);
  t.equal(response.headers.get('content-type'), 'text/plain; charset=utf-8');
  t.equal(response.headers.get('injected'), null, 'a header value with CR/LF is dropped');
  t.equal(response.headers.get('x-content-type-options'), 'nosniff');
  t.equal(await response.text(), 'token expired');
});

t.test('sendBoom answers a Boom with a non-error status as a 500', async (t) => {
  const response = await fetchFrom(t, (_req, res) => {
    const boom = Boom.badRequest('odd');
    boom.output.statusCode = 302;
    sendBoom(res, boom);
  });
  t.equal(response.status, 500);
  t.equal(await response.text(), 'Internal Server Error');
});

t.test('upgradeRequiredError is a 426 naming websocket', async (t) => {
  const error = upgradeRequiredError();
  t.equal(error.output.statusCode, 426);
  t.equal(error.output.headers.Upgrade, 'websocket');
  t.ok(isHandshakeError(error));
});

t.test('boomErrorHandler answers Booms on plain HTTP routes and passes others on', async (t) => {
  const app = express();
  app.get('/boom', () => {
    throw Boom.tooManyRequests('slow down');
  });
  app.get('/plain', () => {
    throw new Error('not a boom');
  });
  app.use(boomErrorHandler());
  app.use(
    (
      _error: unknown,
      _req: express.Request,
      res: express.Response,
      _next: express.NextFunction,
    ) => {
      res.status(500).send('fallback');
    },
  );
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  const { port } = server.address() as AddressInfo;
  const boom = await fetch(`http://127.0.0.1:${port}/boom`);
  t.equal(boom.status, 429);
  t.equal(await boom.text(), 'slow down');
  const plain = await fetch(`http://127.0.0.1:${port}/plain`);
  t.equal(plain.status, 500);
  t.equal(await plain.text(), 'fallback');
});
