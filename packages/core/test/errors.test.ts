import t from 'tap';
import {
  type HandshakeError,
  HandshakeErrorCode,
  handshakeTimeoutError,
  internalError,
  isHandshakeError,
  notFoundError,
  shuttingDownError,
  upgradeRequiredError,
} from '../src/errors.js';

/** The parts of a handshake Boom every answer is built from. */
function outline(error: HandshakeError): unknown {
  return {
    status: error.output.statusCode,
    code: error.data?.code,
    message: error.message,
    headers: error.output.headers,
    dataHeaders: error.data?.headers,
  };
}

t.test('upgradeRequiredError is a 426 naming websocket and version 13', async (t) => {
  const error = upgradeRequiredError();
  t.ok(isHandshakeError(error));
  t.same(outline(error), {
    status: 426,
    code: HandshakeErrorCode.UpgradeRequired,
    message: 'Upgrade Required',
    headers: { Upgrade: 'websocket', 'Sec-WebSocket-Version': '13' },
    dataHeaders: { Upgrade: 'websocket', 'Sec-WebSocket-Version': '13' },
  });
  t.equal(error.output.payload.message, 'Upgrade Required');
});

t.test('notFoundError is a 404 with WS_NOT_FOUND and no extra header', async (t) => {
  const error = notFoundError();
  t.ok(isHandshakeError(error));
  t.same(outline(error), {
    status: 404,
    code: HandshakeErrorCode.NotFound,
    message: 'Not Found',
    headers: {},
    dataHeaders: undefined,
  });
});

t.test('shuttingDownError is a 503 with WS_SHUTTING_DOWN and its message', async (t) => {
  const error = shuttingDownError();
  t.ok(isHandshakeError(error));
  t.same(outline(error), {
    status: 503,
    code: HandshakeErrorCode.ShuttingDown,
    message: 'Server shutting down',
    headers: {},
    dataHeaders: undefined,
  });
  t.equal(error.output.payload.message, 'Server shutting down', 'a 503 keeps its message');
});

t.test('handshakeTimeoutError is a 408 with WS_HANDSHAKE_TIMEOUT and its message', async (t) => {
  const error = handshakeTimeoutError();
  t.ok(isHandshakeError(error));
  t.same(outline(error), {
    status: 408,
    code: HandshakeErrorCode.HandshakeTimeout,
    message: 'Handshake timed out',
    headers: {},
    dataHeaders: undefined,
  });
  t.equal(HandshakeErrorCode.HandshakeTimeout, 'WS_HANDSHAKE_TIMEOUT');
});

t.test('internalError is a 500 with WS_INTERNAL whose payload reveals nothing', async (t) => {
  const error = internalError();
  t.ok(isHandshakeError(error));
  t.same(outline(error), {
    status: 500,
    code: HandshakeErrorCode.Internal,
    message: 'Internal Server Error',
    headers: {},
    dataHeaders: undefined,
  });
  t.equal(error.output.payload.message, 'An internal server error occurred');
});

t.test('every factory call returns a new Boom', async (t) => {
  for (const factory of [
    upgradeRequiredError,
    notFoundError,
    shuttingDownError,
    handshakeTimeoutError,
    internalError,
  ]) {
    const first = factory();
    const second = factory();
    t.not(first, second, factory.name);
    first.output.headers['X-Changed'] = 'yes';
    t.equal(second.output.headers['X-Changed'], undefined, `${factory.name}: headers not shared`);
  }
});
