import t, { type Test } from 'tap';
import {
  AdmissionGate,
  MAX_TRACKED_CLIENTS,
  type ResolvedAdmissionLimits,
  resolveAdmissionLimits,
} from '../src/admission-gate.js';
import { type HandshakeError, HandshakeErrorCode, isHandshakeError } from '../src/errors.js';

/** A gate on a clock the test moves. */
function gateWith(limits: Parameters<typeof resolveAdmissionLimits>[0]): {
  gate: AdmissionGate;
  advance(ms: number): void;
} {
  let now = 1_000;
  const gate = new AdmissionGate(resolveAdmissionLimits(limits), () => now);
  return {
    gate,
    advance(ms) {
      now += ms;
    },
  };
}

function expectCode(
  t: Test,
  result: HandshakeError | undefined,
  status: number,
  code: HandshakeErrorCode,
): HandshakeError | undefined {
  if (!isHandshakeError(result)) {
    t.fail(`expected ${status} ${code}`);
    return undefined;
  }
  t.equal(result.output.statusCode, status);
  t.equal(result.data?.code, code);
  return result;
}

t.test('every limit is off unless set', async (t) => {
  const limits: ResolvedAdmissionLimits = resolveAdmissionLimits({});
  t.same(limits, {
    maxConnections: Number.POSITIVE_INFINITY,
    maxConnectionsPerClient: Number.POSITIVE_INFINITY,
    handshakesPerClient: undefined,
  });
  const gate = new AdmissionGate(limits);
  t.notOk(gate.isLimited);
  t.notOk(gate.isPerClient);
  const answers = Array.from({ length: 1000 }, () => gate.takeHandshake('a'));
  t.ok(
    answers.every((answer) => answer === undefined),
    'never refuses',
  );
  t.same(gate.trackedClients, { open: 0, budgets: 0 });
});

t.test('refuses limits that are not positive integers', async (t) => {
  for (const bad of [
    { maxConnections: 0 },
    { maxConnections: -1 },
    { maxConnections: 1.5 },
    { maxConnections: Number.NaN },
    { maxConnectionsPerClient: '10' },
    { handshakesPerClient: { limit: 0, windowMs: 1000 } },
    { handshakesPerClient: { limit: 1.5, windowMs: 1000 } },
    { handshakesPerClient: { limit: 1, windowMs: 0 } },
    { handshakesPerClient: { limit: 1, windowMs: 2 ** 31 } },
    { handshakesPerClient: 10 },
    { handshakesPerClient: null },
  ]) {
    t.throws(
      () => resolveAdmissionLimits(bad as Parameters<typeof resolveAdmissionLimits>[0]),
      TypeError,
      JSON.stringify(bad),
    );
  }
  t.equal(
    resolveAdmissionLimits({ maxConnections: Number.POSITIVE_INFINITY }).maxConnections,
    Infinity,
  );
});

t.test('a burst of `limit`, then one handshake per windowMs / limit', async (t) => {
  const { gate, advance } = gateWith({ handshakesPerClient: { limit: 2, windowMs: 60_000 } });
  t.ok(gate.isPerClient);
  t.equal(gate.takeHandshake('a'), undefined);
  t.equal(gate.takeHandshake('a'), undefined);
  const refused = expectCode(t, gate.takeHandshake('a'), 429, HandshakeErrorCode.RateLimited);
  t.equal(refused?.output.headers['Retry-After'], '30', 'the next one in 30 s');
  t.equal(gate.takeHandshake('b'), undefined, 'each client has its own budget');
  advance(10_000);
  const later = expectCode(t, gate.takeHandshake('a'), 429, HandshakeErrorCode.RateLimited);
  t.equal(later?.output.headers['Retry-After'], '20');
  advance(20_000);
  t.equal(gate.takeHandshake('a'), undefined, 'one more after 30 s');
  expectCode(t, gate.takeHandshake('a'), 429, HandshakeErrorCode.RateLimited);
  advance(60_000);
  t.equal(gate.takeHandshake('a'), undefined, 'a full burst again after a whole window');
  t.equal(gate.takeHandshake('a'), undefined);
});

t.test('Retry-After is at least one second', async (t) => {
  const { gate, advance } = gateWith({ handshakesPerClient: { limit: 1, windowMs: 1_000 } });
  gate.takeHandshake('a');
  advance(999.5);
  const refused = expectCode(t, gate.takeHandshake('a'), 429, HandshakeErrorCode.RateLimited);
  t.equal(refused?.output.headers['Retry-After'], '1');
});

t.test('forgets budgets that are full again, and never tracks more than the cap', async (t) => {
  const { gate, advance } = gateWith({ handshakesPerClient: { limit: 5, windowMs: 1_000 } });
  for (let i = 0; i < 100; i++) gate.takeHandshake(`idle-${i}`);
  t.equal(gate.trackedClients.budgets, 100);
  advance(1_000);
  for (let i = 0; i < 16; i++) gate.takeHandshake(`fresh-${i}`);
  t.equal(gate.trackedClients.budgets, 16, 'full budgets leave within 16 handshakes');

  for (let i = 0; i < MAX_TRACKED_CLIENTS + 500; i++) gate.takeHandshake(`flood-${i}`);
  t.equal(gate.trackedClients.budgets, MAX_TRACKED_CLIENTS, 'bounded');
  for (let i = 0; i < 5; i++) gate.takeHandshake('victim');
  expectCode(t, gate.takeHandshake('victim'), 429, HandshakeErrorCode.RateLimited);
});

t.test('counts open connections in total and per client, and releases them', async (t) => {
  const { gate } = gateWith({ maxConnections: 3, maxConnectionsPerClient: 2 });
  t.equal(gate.checkRoom('a'), undefined);
  gate.add('a');
  gate.add('a');
  expectCode(t, gate.checkRoom('a'), 429, HandshakeErrorCode.ClientConnectionLimit);
  t.equal(gate.checkRoom('b'), undefined);
  gate.add('b');
  t.equal(gate.openCount, 3);
  expectCode(t, gate.checkRoom('c'), 503, HandshakeErrorCode.TooManyConnections);
  gate.remove('a');
  t.equal(gate.checkRoom('c'), undefined);
  t.equal(gate.checkRoom('a'), undefined);
  gate.remove('a');
  gate.remove('b');
  t.equal(gate.openCount, 0);
  t.same(gate.trackedClients, { open: 0, budgets: 0 }, 'no entry outlives its connections');
});

t.test('a total cap alone keeps no per-client table', async (t) => {
  const { gate } = gateWith({ maxConnections: 1 });
  t.ok(gate.isLimited);
  t.notOk(gate.isPerClient);
  gate.add('');
  expectCode(t, gate.checkRoom(''), 503, HandshakeErrorCode.TooManyConnections);
  t.same(gate.trackedClients, { open: 0, budgets: 0 });
});
