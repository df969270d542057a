import type { IncomingHttpHeaders } from 'node:http';
import t, { type Test } from 'tap';
import { DEFAULT_LIMITS } from '../src/constants.js';
import { type HandshakeError, HandshakeErrorCode, isHandshakeError } from '../src/errors.js';
import {
  checkHeaderLimits,
  computeAcceptKey,
  isWebSocketUpgrade,
  type UpgradeRequestInfo,
  type ValidatedUpgrade,
  validateUpgradeRequest,
} from '../src/handshake.js';

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';

/** Header lines as a client would send them: name, then one value per line. */
type Lines = Record<string, string | readonly string[] | undefined>;

const BASE: Lines = {
  Host: 'example.com',
  Upgrade: 'websocket',
  Connection: 'Upgrade',
  'Sec-WebSocket-Key': KEY,
  'Sec-WebSocket-Version': '13',
};

/**
 * Builds a request the way Node's parser would: `headersDistinct` keeps lines apart,
 * `headers` joins them with ', '. Keys are lower-cased; undefined removes a header.
 */
function request(
  overrides: Lines = {},
  init: Partial<UpgradeRequestInfo> = {},
): UpgradeRequestInfo {
  const headers: Record<string, string> = {};
  const headersDistinct: Record<string, string[]> = {};
  const merged: Lines = { ...BASE, ...overrides };
  for (const [name, value] of Object.entries(merged)) {
    if (value === undefined) continue;
    const lower = name.toLowerCase();
    const lines = typeof value === 'string' ? [value] : [...value];
    headersDistinct[lower] = [...(headersDistinct[lower] ?? []), ...lines];
    headers[lower] = headersDistinct[lower].join(', ');
  }
  return {
    method: 'GET',
    httpVersionMajor: 1,
    httpVersionMinor: 1,
    headers,
    headersDistinct,
    ...init,
  };
}

/** Asserts a rejection with status, code and (optionally) exact extra headers. */
function expectRejection(
  t: Test,
  result: ValidatedUpgrade | HandshakeError | undefined,
  status: number,
  code: HandshakeErrorCode,
  headers?: Record<string, string>,
): void {
  if (!isHandshakeError(result)) {
    t.fail(`expected a ${status} rejection, got ${JSON.stringify(result)}`);
    return;
  }
  t.equal(result.output.statusCode, status, 'status');
  t.equal(result.data?.code, code, 'data.code');
  t.same(result.output.headers, headers ?? {}, 'response headers');
}

/** Asserts acceptance and returns the validated upgrade. */
function expectValid(t: Test, result: ValidatedUpgrade | HandshakeError): ValidatedUpgrade {
  if (isHandshakeError(result)) {
    t.fail(`expected a valid upgrade, got ${result.output.statusCode} ${result.data?.code}`);
    throw result;
  }
  return result;
}

const VERSION_HEADERS = { Upgrade: 'websocket', 'Sec-WebSocket-Version': '13' };

t.test('validateUpgradeRequest accepts valid requests', async (t) => {
  t.test('a minimal request', async (t) => {
    const v = expectValid(t, validateUpgradeRequest(request()));
    t.same(v, { key: KEY, offeredProtocols: [], origin: undefined, extensions: [] });
  });

  t.test('protocols, origin and raw extension lines', async (t) => {
    const ext = ['permessage-deflate; client_max_window_bits', 'x-foo'];
    const v = expectValid(
      t,
      validateUpgradeRequest(
        request({
          'Sec-WebSocket-Protocol': ['chat, superchat', 'mqtt'],
          Origin: 'https://example.com',
          'Sec-WebSocket-Extensions': ext,
        }),
      ),
    );
    t.same(v.offeredProtocols, ['chat', 'superchat', 'mqtt']);
    t.equal(v.origin, 'https://example.com');
    t.same(v.extensions, ext);
  });

  t.test('Upgrade and Connection as comma lists in any case', async (t) => {
    for (const [upgrade, connection] of [
      ['WebSocket', 'keep-alive, Upgrade'],
      ['h2c, WEBSOCKET', 'UPGRADE'],
      ['foo,websocket', 'keep-alive,upgrade'],
      [' websocket\t', '\tupgrade ,keep-alive'],
    ] as const) {
      expectValid(t, validateUpgradeRequest(request({ Upgrade: upgrade, Connection: connection })));
    }
    expectValid(t, validateUpgradeRequest(request({ Connection: ['keep-alive', 'Upgrade'] })));
  });

  t.test('HTTP versions above 1.1', async (t) => {
    expectValid(t, validateUpgradeRequest(request({}, { httpVersionMinor: 2 })));
    expectValid(
      t,
      validateUpgradeRequest(request({}, { httpVersionMajor: 2, httpVersionMinor: 0 })),
    );
  });

  t.test('falls back to the joined headers when headersDistinct lacks a field', async (t) => {
    const req = request();
    const headers: IncomingHttpHeaders = { ...req.headers };
    headers['sec-websocket-extensions'] = ['a', 'b'] as unknown as string;
    const v = expectValid(t, validateUpgradeRequest({ ...req, headers, headersDistinct: {} }));
    t.equal(v.key, KEY);
    t.same(v.extensions, ['a', 'b']);
  });
});

t.test('validateUpgradeRequest rejects', async (t) => {
  t.test('a method other than GET with 405 and Allow: GET', async (t) => {
    for (const method of ['POST', 'HEAD', 'get', undefined]) {
      expectRejection(
        t,
        validateUpgradeRequest(request({}, { method })),
        405,
        HandshakeErrorCode.MethodNotAllowed,
        { Allow: 'GET' },
      );
    }
  });

  t.test('HTTP versions below 1.1 with 400', async (t) => {
    for (const [major, minor] of [
      [1, 0],
      [0, 9],
    ] as const) {
      expectRejection(
        t,
        validateUpgradeRequest(request({}, { httpVersionMajor: major, httpVersionMinor: minor })),
        400,
        HandshakeErrorCode.HttpVersion,
      );
    }
  });

  t.test('an Upgrade header without the websocket token with 400', async (t) => {
    for (const upgrade of [undefined, '', 'h2c', 'websocket/13', 'web socket', 'websockets']) {
      expectRejection(
        t,
        validateUpgradeRequest(request({ Upgrade: upgrade })),
        400,
        HandshakeErrorCode.UpgradeHeader,
      );
    }
  });

  t.test('a Connection header without the upgrade token with 400', async (t) => {
    for (const connection of [undefined, '', 'keep-alive', 'upgrades', 'keep-alive upgrade']) {
      expectRejection(
        t,
        validateUpgradeRequest(request({ Connection: connection })),
        400,
        HandshakeErrorCode.ConnectionHeader,
      );
    }
  });

  t.test('a missing, empty or repeated Host with 400', async (t) => {
    for (const host of [undefined, '', '  ', ['a.example', 'b.example']]) {
      expectRejection(
        t,
        validateUpgradeRequest(request({ Host: host })),
        400,
        HandshakeErrorCode.HostHeader,
      );
    }
  });

  t.test('a missing, repeated or malformed Sec-WebSocket-Key with 400', async (t) => {
    const b64 = (n: number): string => Buffer.alloc(n, 7).toString('base64');
    const cases: Record<string, string | readonly string[] | undefined> = {
      missing: undefined,
      empty: '',
      'sent twice': [KEY, KEY],
      '15 bytes': b64(15),
      '17 bytes': b64(17),
      '16 bytes, unpadded': b64(16).slice(0, 22),
      'url-safe alphabet': 'dGhlIHNhbXBsZSBub25j-_==',
      'invalid character': 'dGhlIHNhbXBsZSBub25j*Q==',
      'non-canonical trailing bits': 'dGhlIHNhbXBsZSBub25jZR==',
      'leading whitespace': ` ${KEY.slice(1)}`,
      'inner whitespace': `${KEY.slice(0, 10)} ${KEY.slice(11)}`,
      'trailing whitespace': `${KEY} `,
      'joined pair': `${KEY}, ${KEY}`,
      'padding in the middle': 'dGhlIHNhbXBsZSBub25j=Q==',
      'three padding characters': 'dGhlIHNhbXBsZSBub25jZ===',
    };
    for (const [name, key] of Object.entries(cases)) {
      t.test(name, async (t) => {
        expectRejection(
          t,
          validateUpgradeRequest(request({ 'Sec-WebSocket-Key': key })),
          400,
          HandshakeErrorCode.KeyHeader,
        );
      });
    }
    t.equal(b64(16).length, 24, 'sanity: 16 bytes encode to 24 characters');
  });

  t.test('an unsupported, missing or repeated version with 426 and both headers', async (t) => {
    for (const version of [undefined, '', '8', '12', '14', '13, 13', ['13', '13'], ['8', '13']]) {
      expectRejection(
        t,
        validateUpgradeRequest(request({ 'Sec-WebSocket-Version': version })),
        426,
        HandshakeErrorCode.VersionHeader,
        VERSION_HEADERS,
      );
    }
  });

  t.test('a malformed Sec-WebSocket-Protocol with 400', async (t) => {
    for (const protocol of ['a,,b', 'a b', ['a', 'a'], '']) {
      expectRejection(
        t,
        validateUpgradeRequest(request({ 'Sec-WebSocket-Protocol': protocol })),
        400,
        HandshakeErrorCode.ProtocolHeader,
      );
    }
  });

  t.test('a repeated Origin with 403', async (t) => {
    expectRejection(
      t,
      validateUpgradeRequest(request({ Origin: ['https://a.example', 'https://b.example'] })),
      403,
      HandshakeErrorCode.Origin,
    );
  });

  t.test('in RFC 6455 §4.2.1 order: the first failing check wins', async (t) => {
    const broken: Lines = {
      Upgrade: undefined,
      Connection: undefined,
      Host: undefined,
      'Sec-WebSocket-Key': undefined,
      'Sec-WebSocket-Version': undefined,
      'Sec-WebSocket-Protocol': ',',
    };
    const steps: [Lines, number, HandshakeErrorCode][] = [
      [{}, 400, HandshakeErrorCode.UpgradeHeader],
      [{ Upgrade: 'websocket' }, 400, HandshakeErrorCode.ConnectionHeader],
      [{ Connection: 'upgrade' }, 400, HandshakeErrorCode.HostHeader],
      [{ Host: 'h' }, 400, HandshakeErrorCode.KeyHeader],
      [{ 'Sec-WebSocket-Key': KEY }, 426, HandshakeErrorCode.VersionHeader],
      [{ 'Sec-WebSocket-Version': '13' }, 400, HandshakeErrorCode.ProtocolHeader],
    ];
    expectRejection(
      t,
      validateUpgradeRequest(request(broken, { method: 'POST', httpVersionMinor: 0 })),
      405,
      HandshakeErrorCode.MethodNotAllowed,
      { Allow: 'GET' },
    );
    expectRejection(
      t,
      validateUpgradeRequest(request(broken, { httpVersionMinor: 0 })),
      400,
      HandshakeErrorCode.HttpVersion,
    );
    let fixed: Lines = broken;
    for (const [fix, status, code] of steps) {
      fixed = { ...fixed, ...fix };
      const result = validateUpgradeRequest(request(fixed));
      if (isHandshakeError(result)) {
        t.equal(result.output.statusCode, status, code);
        t.equal(result.data?.code, code);
      } else {
        t.fail(`expected ${code}`);
      }
    }
  });
});

t.test('computeAcceptKey matches the RFC 6455 §1.3 example', async (t) => {
  t.equal(computeAcceptKey('dGhlIHNhbXBsZSBub25jZQ=='), 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
});

t.test('checkHeaderLimits', async (t) => {
  const limits = { maxHeaderCount: 3, maxHeaderBytes: 40 };

  t.test('accepts headers within both limits, including exactly at them', async (t) => {
    t.equal(checkHeaderLimits([], limits), undefined);
    // Exactly 3 lines.
    t.equal(checkHeaderLimits(['ab', 'cd', 'ab', 'cd', 'ab', 'cd'], limits), undefined);
    // Exactly 40 bytes: "a: " + 35 characters + CRLF.
    t.equal(checkHeaderLimits(['a', 'x'.repeat(35)], limits), undefined);
  });

  t.test('refuses too many header lines with 431', async (t) => {
    const raw = ['a', '1', 'b', '2', 'c', '3', 'd', '4'];
    expectRejection(t, checkHeaderLimits(raw, limits), 431, HandshakeErrorCode.HeadersTooLarge);
  });

  t.test('refuses too many header bytes with 431', async (t) => {
    const raw = ['a', 'x'.repeat(36)];
    expectRejection(t, checkHeaderLimits(raw, limits), 431, HandshakeErrorCode.HeadersTooLarge);
    const spread = ['a', 'x'.repeat(20), 'b', 'y'.repeat(20)];
    expectRejection(t, checkHeaderLimits(spread, limits), 431, HandshakeErrorCode.HeadersTooLarge);
  });

  t.test('passes a typical browser request with the default limits', async (t) => {
    const raw = Object.entries(BASE).flatMap(([k, v]) => [k, String(v)]);
    t.equal(checkHeaderLimits(raw, DEFAULT_LIMITS), undefined);
  });
});

t.test('isWebSocketUpgrade', async (t) => {
  t.test('finds the websocket token in any case, list position or line', async (t) => {
    for (const upgrade of [
      'websocket',
      'WebSocket',
      'h2c, WEBSOCKET',
      'foo,websocket',
      ' websocket\t',
      ['h2c', 'websocket'],
    ]) {
      t.equal(isWebSocketUpgrade(request({ Upgrade: upgrade })), true, JSON.stringify(upgrade));
    }
  });

  t.test('is false without the exact token', async (t) => {
    for (const upgrade of [
      undefined,
      '',
      'h2c',
      'websocket/13',
      'web socket',
      'websockets',
      ',,',
      'websocket\u00a0',
      'websoc\u212aet',
    ]) {
      t.equal(isWebSocketUpgrade(request({ Upgrade: upgrade })), false, JSON.stringify(upgrade));
    }
  });

  t.test('reads only Upgrade: the rest of the handshake is not checked', async (t) => {
    const req = request(
      { Connection: undefined, 'Sec-WebSocket-Key': undefined },
      { method: 'POST' },
    );
    t.equal(isWebSocketUpgrade(req), true);
  });

  t.test('falls back to the joined headers when headersDistinct lacks the field', async (t) => {
    const { headers } = request({ Upgrade: 'h2c, websocket' });
    t.equal(isWebSocketUpgrade({ headers, headersDistinct: {} }), true);
    t.equal(isWebSocketUpgrade({ headers: { upgrade: 'h2c' }, headersDistinct: {} }), false);
  });

  t.test('handles long pathological input in linear time', async (t) => {
    const n = 100_000;
    const started = process.hrtime.bigint();
    t.equal(isWebSocketUpgrade(request({ Upgrade: `${'x,'.repeat(n)}websocket` })), true);
    t.equal(isWebSocketUpgrade(request({ Upgrade: `${' '.repeat(n)}websocket` })), true);
    t.equal(isWebSocketUpgrade(request({ Upgrade: ' ,'.repeat(n) })), false);
    t.equal(isWebSocketUpgrade(request({ Upgrade: `websocke${' '.repeat(n)}t` })), false);
    t.ok(Number(process.hrtime.bigint() - started) / 1e6 < 2000, 'fast');
  });

  t.test('agrees with validateUpgradeRequest on the Upgrade header', async (t) => {
    for (const upgrade of ['websocket', 'h2c', 'h2c, WebSocket', 'websockets', undefined]) {
      const req = request({ Upgrade: upgrade });
      const result = validateUpgradeRequest(req);
      const isRefusedForUpgrade =
        isHandshakeError(result) && result.data?.code === HandshakeErrorCode.UpgradeHeader;
      t.equal(isWebSocketUpgrade(req), !isRefusedForUpgrade, JSON.stringify(upgrade));
    }
  });
});
