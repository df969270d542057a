import { isIP } from 'node:net';
import t from 'tap';
import {
  clientKeyOf,
  isInRange,
  normalizeAddress,
  parseIp,
  parseIpRange,
} from '../src/ip-address.js';

const bytesOf = (address: string): number[] | undefined => {
  const bytes = parseIp(address);
  return bytes && [...bytes];
};

t.test('parses IPv4 and IPv6 into bytes', async (t) => {
  t.same(bytesOf('10.1.2.3'), [10, 1, 2, 3]);
  t.same(bytesOf('::1'), [...new Array(15).fill(0), 1]);
  t.same(
    bytesOf('2001:db8::ff00:42:8329'),
    [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0xff, 0x00, 0x00, 0x42, 0x83, 0x29],
  );
  t.same(bytesOf('::ffff:192.0.2.1')?.slice(10), [0xff, 0xff, 192, 0, 2, 1]);
  t.same(bytesOf('FE80::1%eth0')?.slice(0, 2), [0xfe, 0x80]);
  t.same(bytesOf('1:2:3:4:5:6:7:8')?.slice(14), [0, 8]);
  t.same(bytesOf('::'), new Array(16).fill(0));
});

t.test('agrees with net.isIP on what is an address', async (t) => {
  for (const candidate of [
    '256.0.0.1',
    '1.2.3',
    '1.2.3.4.5',
    '01.2.3.4x',
    '1:2:3:4:5:6:7',
    '1:2:3:4:5:6:7:8:9',
    '1::2::3',
    '12g4::1',
    ':::1',
    '1:2:3:4:5:6:7::8',
    '::1.2.3.256',
    'unknown',
    '',
    '_hidden',
    '10.0.0.1',
    '2001:db8::1',
    '::ffff:10.0.0.1',
  ]) {
    t.equal(parseIp(candidate) !== undefined, isIP(candidate) !== 0, candidate);
  }
});

t.test('matches CIDR ranges, IPv4 and IPv6 apart', async (t) => {
  const inside = (address: string, range: string): boolean => {
    const bytes = parseIp(address);
    const parsed = parseIpRange(range);
    if (!bytes || !parsed) throw new Error(`${address} ${range}`);
    return isInRange(bytes, parsed);
  };
  t.ok(inside('10.200.3.4', '10.0.0.0/8'));
  t.notOk(inside('11.0.0.1', '10.0.0.0/8'));
  t.ok(inside('172.31.255.255', '172.16.0.0/12'));
  t.notOk(inside('172.32.0.0', '172.16.0.0/12'));
  t.ok(inside('127.0.0.1', '127.0.0.1'));
  t.notOk(inside('127.0.0.2', '127.0.0.1'));
  t.ok(inside('8.8.8.8', '0.0.0.0/0'));
  t.ok(inside('fd12::1', 'fc00::/7'));
  t.notOk(inside('fe80::1', 'fc00::/7'));
  t.ok(inside('2001:db8:0:1:ffff::1', '2001:db8:0:1::/64'));
  t.notOk(inside('10.0.0.1', '::/0'), 'IPv4 never matches an IPv6 range');
  for (const bad of ['10.0.0.0/33', '::/129', '10.0.0.0/', '10.0.0.0/x', '10.0.0.0/-1', 'x/8']) {
    t.equal(parseIpRange(bad), undefined, bad);
  }
});

t.test('normalizes IPv4-mapped addresses and keys IPv6 clients by /64', async (t) => {
  t.equal(normalizeAddress('::FFFF:10.1.2.3'), '10.1.2.3');
  t.equal(normalizeAddress('2001:DB8::1'), '2001:db8::1');
  t.equal(clientKeyOf('10.1.2.3'), '10.1.2.3');
  t.equal(clientKeyOf('2001:db8:1:2:3:4:5:6'), '2001:db8:1:2::/64');
  t.equal(clientKeyOf('2001:db8:1:2::9'), '2001:db8:1:2::/64');
  t.equal(clientKeyOf('2001:db8::1'), '2001:db8:0:0::/64');
  t.equal(clientKeyOf('::1'), '0:0:0:0::/64');
  t.equal(clientKeyOf('fe80::1%eth0'), 'fe80:0:0:0::/64');
  t.equal(clientKeyOf('64:ff9b::192.0.2.1'), '64:ff9b:0:0::/64');
  t.equal(clientKeyOf('unknown'), 'unknown');
});
