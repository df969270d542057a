import t from 'tap';
import {
  type ClientRequestInfo,
  clientAddressOf,
  type ResolvedTrustProxy,
  resolveTrustProxy,
} from '../src/client-address.js';

/** A request from `peer` with these header lines. */
function request(
  peer: string | undefined,
  headers: Record<string, string[]> = {},
): ClientRequestInfo {
  return { headersDistinct: headers, socket: { remoteAddress: peer } };
}

function trust(value: unknown): ResolvedTrustProxy {
  const resolved = resolveTrustProxy('test', value);
  if (!resolved) throw new Error('no trust');
  return resolved;
}

t.test('without trustProxy the socket peer is the client, headers ignored', async (t) => {
  const spoofed = request('198.51.100.4', {
    'x-forwarded-for': ['203.0.113.9'],
    forwarded: ['for=203.0.113.8'],
    'x-forwarded-host': ['evil.example'],
  });
  t.same(clientAddressOf(spoofed, undefined), {
    address: '198.51.100.4',
    key: '198.51.100.4',
    forwardedHost: undefined,
    forwardedProto: undefined,
  });
  t.equal(clientAddressOf(request(undefined), undefined).address, 'unknown');
});

t.test('an untrusted peer is the client even when trustProxy is set', async (t) => {
  const result = clientAddressOf(
    request('198.51.100.4', { 'x-forwarded-for': ['203.0.113.9'], 'x-forwarded-host': ['x'] }),
    trust(['10.0.0.0/8']),
  );
  t.same([result.address, result.forwardedHost], ['198.51.100.4', undefined]);
});

t.test('walks X-Forwarded-For from the right while addresses are trusted', async (t) => {
  const proxies = trust(['10.0.0.0/8', '127.0.0.1']);
  const from = (chain: string): string =>
    clientAddressOf(request('10.0.0.1', { 'x-forwarded-for': [chain] }), proxies).address;
  t.equal(from('203.0.113.7'), '203.0.113.7');
  t.equal(from('spoofed, 203.0.113.7, 10.0.0.2'), '203.0.113.7', 'left of the client: ignored');
  t.equal(from('10.0.0.3, 10.0.0.2'), '10.0.0.3', 'every hop trusted: the leftmost');
  t.equal(from('203.0.113.7:5123'), '203.0.113.7', 'a port is dropped');
  t.equal(from('[2001:db8::7]:443'), '2001:db8::7');
  t.equal(from('garbage'), 'garbage', 'kept as written, never trusted');
  const lines = request('10.0.0.1', { 'x-forwarded-for': ['203.0.113.1', '203.0.113.2'] });
  t.equal(clientAddressOf(lines, proxies).address, '203.0.113.2', 'lines form one list');
  t.equal(clientAddressOf(request('10.0.0.1'), proxies).address, '10.0.0.1', 'no header');
});

t.test('a hop count trusts the N nearest proxies, whatever their addresses', async (t) => {
  const chain = { 'x-forwarded-for': ['203.0.113.1, 198.51.100.2, 198.51.100.3'] };
  t.equal(clientAddressOf(request('192.0.2.1', chain), trust(1)).address, '198.51.100.3');
  t.equal(clientAddressOf(request('192.0.2.1', chain), trust(2)).address, '198.51.100.2');
  t.equal(clientAddressOf(request('192.0.2.1', chain), trust(0)).address, '192.0.2.1');
});

t.test('a predicate gets each address and its hop', async (t) => {
  const calls: [string, number][] = [];
  const proxies = trust((address: string, hop: number) => {
    calls.push([address, hop]);
    return address.startsWith('10.');
  });
  const chain = { 'x-forwarded-for': ['203.0.113.1, 10.0.0.9'] };
  t.equal(clientAddressOf(request('10.0.0.1', chain), proxies).address, '203.0.113.1');
  // The leftmost address is the client whatever it is: it is never asked about.
  t.same(calls, [
    ['10.0.0.1', 0],
    ['10.0.0.9', 1],
  ]);
  const longer = { 'x-forwarded-for': ['203.0.113.1, 198.51.100.1, 10.0.0.9'] };
  t.equal(clientAddressOf(request('10.0.0.1', longer), proxies).address, '198.51.100.1');
  t.same(calls.at(-1), ['198.51.100.1', 2]);
});

t.test('reads only the configured header', async (t) => {
  const headers = {
    'x-forwarded-for': ['203.0.113.1'],
    forwarded: ['for=198.51.100.1;host=app.example;proto=HTTPS'],
  };
  const xff = clientAddressOf(request('127.0.0.1', headers), trust(['loopback']));
  t.equal(xff.address, '203.0.113.1');
  const full = trust({ proxies: ['loopback'], header: 'forwarded' });
  t.same(clientAddressOf(request('127.0.0.1', headers), full), {
    address: '198.51.100.1',
    key: '198.51.100.1',
    forwardedHost: 'app.example',
    forwardedProto: 'https',
  });
});

t.test('parses RFC 7239 Forwarded: quoted values, IPv6, ports, several elements', async (t) => {
  const full = trust({ proxies: ['10.0.0.0/8'], header: 'forwarded' });
  const of = (...lines: string[]): ReturnType<typeof clientAddressOf> =>
    clientAddressOf(request('10.0.0.1', { forwarded: lines }), full);
  t.equal(of('for="[2001:db8:cafe::17]:4711"').address, '2001:db8:cafe::17');
  t.equal(of('For=192.0.2.60;Proto=http;By=203.0.113.43').address, '192.0.2.60');
  t.equal(of('for=192.0.2.43, for=10.0.0.7').address, '192.0.2.43');
  t.equal(of('for=192.0.2.43', 'for=10.0.0.7').address, '192.0.2.43');
  t.equal(of('for=unknown').address, 'unknown');
  t.equal(of('for=_hidden, for=10.0.0.7').address, '_hidden');
  const quoted = of('for=192.0.2.1;host="a,b\\"c.example;x", for=10.0.0.7;host=inner');
  t.same([quoted.address, quoted.forwardedHost], ['192.0.2.1', 'a,b"c.example;x']);
  t.equal(of('proto=https').address, '10.0.0.1', 'an element without for is skipped');
});

t.test('a trusted proxy forwards the host and scheme the client asked for', async (t) => {
  const result = clientAddressOf(
    request('127.0.0.1', {
      'x-forwarded-host': ['app.example, inner.example'],
      'x-forwarded-proto': ['HTTPS'],
    }),
    trust(['loopback']),
  );
  t.same(result, {
    address: '127.0.0.1',
    key: '127.0.0.1',
    forwardedHost: 'app.example',
    forwardedProto: 'https',
  });
});

t.test('a dual-stack peer matches IPv4 rules; IPv6 clients are keyed by /64', async (t) => {
  const mapped = clientAddressOf(request('::ffff:127.0.0.1'), trust(['127.0.0.1']));
  t.same([mapped.address, mapped.key], ['127.0.0.1', '127.0.0.1']);
  const v6 = clientAddressOf(request('2001:DB8::7'), undefined);
  t.same([v6.address, v6.key], ['2001:db8::7', '2001:db8:0:0::/64']);
});

t.test('resolveTrustProxy refuses what it cannot honour, naming the entry point', async (t) => {
  t.equal(resolveTrustProxy('test', undefined), undefined);
  for (const bad of [
    true,
    'loopback',
    ['10.0.0.0/33'],
    ['10.0.0.0/x'],
    ['not-an-ip'],
    ['::1/129'],
    [42],
    -1,
    1.5,
    { proxies: ['loopback'], header: 'x-real-ip' },
    { header: 'forwarded' },
  ]) {
    t.throws(() => resolveTrustProxy('entry', bad), { name: 'TypeError', message: /^entry: / });
  }
  const named = trust(['linklocal', 'uniquelocal']);
  t.ok(named.isTrusted('169.254.1.1', 0));
  t.ok(named.isTrusted('192.168.1.1', 0));
  t.ok(named.isTrusted('fd00::1', 0));
  t.notOk(named.isTrusted('8.8.8.8', 0));
  t.notOk(named.isTrusted('garbage', 0));
});
