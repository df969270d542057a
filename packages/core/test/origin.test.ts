import t, { type Test } from 'tap';
import { type HandshakeError, HandshakeErrorCode, isHandshakeError } from '../src/errors.js';
import type { UpgradeRequestInfo } from '../src/handshake.js';
import {
  checkOrigin,
  isSameOrigin,
  type RequestSite,
  type ResolvedOriginPolicy,
  resolveOriginPolicy,
} from '../src/origin.js';

/** A request with these `Origin` lines (none for an empty list). */
function request(...origins: string[]): UpgradeRequestInfo {
  return {
    method: 'GET',
    httpVersionMajor: 1,
    httpVersionMinor: 1,
    headers: origins.length > 0 ? { origin: origins.join(', ') } : {},
    headersDistinct: origins.length > 0 ? { origin: origins } : {},
  };
}

const SITE: RequestSite = { host: 'app.example', scheme: undefined };

function policy(value: unknown): ResolvedOriginPolicy {
  const resolved = resolveOriginPolicy(value);
  if (!resolved) throw new Error('no policy');
  return resolved;
}

function expectCode(
  t: Test,
  result: HandshakeError | undefined,
  status: number,
  code: HandshakeErrorCode,
): void {
  if (!isHandshakeError(result)) {
    t.fail(`expected ${status} ${code}`);
    return;
  }
  t.equal(result.output.statusCode, status);
  t.equal(result.data?.code, code);
}

t.test('isSameOrigin compares host and port, the port defaulted from the scheme', async (t) => {
  const cases: [string, RequestSite, boolean][] = [
    ['https://app.example', SITE, true],
    ['http://app.example', SITE, true],
    ['HTTPS://APP.EXAMPLE', SITE, true],
    ['https://app.example:443', SITE, true],
    ['https://app.example:8443', SITE, false],
    ['https://app.example', { host: 'app.example:443', scheme: undefined }, true],
    ['http://app.example', { host: 'app.example:443', scheme: undefined }, false],
    ['http://app.example:3000', { host: 'APP.example:3000', scheme: undefined }, true],
    ['http://[::1]:3000', { host: '[::1]:3000', scheme: undefined }, true],
    ['http://[::1]:3000', { host: '[::2]:3000', scheme: undefined }, false],
    // The request's scheme, when known, must agree: a TLS server is not http://…:443.
    ['https://app.example', { host: 'app.example', scheme: 'https' }, true],
    ['http://app.example:443', { host: 'app.example', scheme: 'https' }, false],
    ['http://app.example', { host: 'app.example', scheme: 'https' }, false],
    ['wss://app.example', { host: 'app.example', scheme: 'https' }, true],
    ['https://evil.example', SITE, false],
    ['https://app.example.evil.example', SITE, false],
    ['https://sub.app.example', SITE, false],
    ['https://app.example/', SITE, false],
    ['https://user@app.example', SITE, false],
    ['null', SITE, false],
    ['file://app.example', SITE, false],
    ['chrome-extension://app.example', SITE, false],
    // U+212A KELVIN SIGN folds to 'k' under Unicode lower-casing; origins fold ASCII only.
    ['https://\u212aiosk.example', { host: 'kiosk.example', scheme: undefined }, false],
    ['\u212attps://kiosk.example', { host: 'kiosk.example', scheme: undefined }, false],
    ['https://app.example', { host: undefined, scheme: undefined }, false],
    ['https://app.example', { host: 'app.example:99999', scheme: undefined }, false],
  ];
  for (const [origin, site, expected] of cases) {
    t.equal(isSameOrigin(origin, site), expected, `${origin} vs ${site.host} (${site.scheme})`);
  }
});

t.test('resolveOriginPolicy checks the option at registration', async (t) => {
  t.equal(resolveOriginPolicy(undefined), undefined);
  t.same(resolveOriginPolicy('same-origin'), { kind: 'same-origin' });
  t.same(resolveOriginPolicy('*'), { kind: 'any' });
  t.equal(resolveOriginPolicy(() => true)?.kind, 'predicate');
  for (const bad of [
    'any',
    ['https://a.example/'],
    ['https://a.example/path'],
    ['a.example'],
    ['null'],
    [''],
    [42],
    ['https://a.example:70000'],
    { origin: 'x' },
    true,
  ]) {
    t.throws(() => resolveOriginPolicy(bad), TypeError, JSON.stringify(bad));
  }
});

t.test('same-origin (the default) refuses foreign origins with 403', async (t) => {
  const same = policy('same-origin');
  const site = (): RequestSite => SITE;
  t.equal(checkOrigin(request('https://app.example'), same, false, site), undefined);
  expectCode(
    t,
    checkOrigin(request('https://evil.example'), same, false, site),
    403,
    HandshakeErrorCode.Origin,
  );
});

t.test('a request without Origin passes unless requireOrigin', async (t) => {
  for (const value of ['same-origin', ['https://a.example'], () => false] as const) {
    t.equal(
      checkOrigin(request(), policy(value), false, () => SITE),
      undefined,
    );
    expectCode(
      t,
      checkOrigin(request(), policy(value), true, () => SITE),
      403,
      HandshakeErrorCode.OriginRequired,
    );
  }
});

t.test('two Origin lines are refused whatever the policy', async (t) => {
  const twice = request('https://app.example', 'https://app.example');
  expectCode(
    t,
    checkOrigin(twice, policy('*'), false, () => SITE),
    403,
    HandshakeErrorCode.Origin,
  );
});

t.test('a list allows exactly its origins, default ports implied, not its own', async (t) => {
  const list = policy(['https://app.example', 'http://localhost:3000', 'capacitor://localhost']);
  const check = (origin: string): HandshakeError | undefined =>
    checkOrigin(request(origin), list, false, () => ({ host: 'own.example', scheme: undefined }));
  for (const origin of [
    'https://app.example',
    'HTTPS://App.Example:443',
    'http://localhost:3000',
    'capacitor://localhost',
  ]) {
    t.equal(check(origin), undefined, origin);
  }
  for (const origin of [
    'https://own.example',
    'http://app.example',
    'https://app.example.evil.example',
    'http://localhost',
    'http://localhost:30000',
    'null',
    'https://\u212app.example',
  ]) {
    expectCode(t, check(origin), 403, HandshakeErrorCode.Origin);
  }
});

t.test('a predicate decides, told whether the origin is the request’s own', async (t) => {
  const seen: [string, boolean][] = [];
  const decide = policy((origin: string, context: { isSameOrigin: boolean }) => {
    seen.push([origin, context.isSameOrigin]);
    return context.isSameOrigin || origin.endsWith('.partner.example');
  });
  const check = (origin: string): HandshakeError | undefined =>
    checkOrigin(request(origin), decide, false, () => SITE);
  t.equal(check('https://app.example'), undefined);
  t.equal(check('https://a.partner.example'), undefined);
  expectCode(t, check('https://evil.example'), 403, HandshakeErrorCode.Origin);
  t.same(seen, [
    ['https://app.example', true],
    ['https://a.partner.example', false],
    ['https://evil.example', false],
  ]);
  const truthy = policy(() => 1);
  expectCode(
    t,
    checkOrigin(request('https://a.example'), truthy, false, () => SITE),
    403,
    HandshakeErrorCode.Origin,
  );
});

t.test('a throwing predicate answers 500 without its message', async (t) => {
  const throwing = policy(() => {
    throw new Error('secret detail');
  });
  const result = checkOrigin(request('https://a.example'), throwing, false, () => SITE);
  expectCode(t, result, 500, HandshakeErrorCode.Internal);
  t.notMatch(result?.output.payload.message ?? '', 'secret');
});

t.test("'*' allows every origin and never reads the request's site", async (t) => {
  const site = (): RequestSite => {
    throw new Error('not needed');
  };
  t.equal(checkOrigin(request('https://evil.example'), policy('*'), false, site), undefined);
});

t.test('no refusal quotes the Origin value', async (t) => {
  const marker = 'https://zq7-marker.example';
  for (const value of ['same-origin', ['https://a.example'], () => false] as const) {
    const result = checkOrigin(request(marker), policy(value), false, () => SITE);
    t.notMatch(JSON.stringify(result?.output), 'zq7');
  }
});

t.test('remembered same-origin decisions stay exact per origin, host and scheme', async (t) => {
  const same = policy('same-origin');
  const answers: boolean[] = [];
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < 100; i++) {
      const host = `h${i}.example`;
      const isTls = (i + round) % 2 === 0;
      const site = (): RequestSite => ({ host, scheme: isTls ? 'https' : undefined });
      answers.push(checkOrigin(request(`https://${host}`), same, false, site) === undefined);
      answers.push(checkOrigin(request(`http://${host}`), same, false, site) === undefined);
      answers.push(
        checkOrigin(request(`https://h${i + 1}.example`), same, false, site) === undefined,
      );
    }
  }
  const expected = Array.from({ length: 900 }, (_, k) => {
    const [round, i, which] = [Math.floor(k / 300), Math.floor(k / 3) % 100, k % 3];
    return which === 0 || (which === 1 && (i + round) % 2 === 1);
  });
  t.same(answers, expected);
});

t.test('a remembered decision is the same origin and host with the same scheme only', async (t) => {
  const same = policy('same-origin');
  const answers: boolean[] = [];
  for (const isTls of [true, false, true, false]) {
    const site = (): RequestSite => ({ host: 'app.example', scheme: isTls ? 'https' : undefined });
    answers.push(checkOrigin(request('http://app.example'), same, false, site) === undefined);
    const otherHost = (): RequestSite => ({
      host: 'evil.example',
      scheme: isTls ? 'https' : undefined,
    });
    answers.push(checkOrigin(request('http://app.example'), same, false, otherHost) === undefined);
  }
  t.same(answers, [false, false, true, false, false, false, true, false]);
});
