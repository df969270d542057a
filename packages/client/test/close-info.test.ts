import t from 'tap';
import { ClientCloseCode, CloseCode, closeCodeName, closeInfo } from '../src/close-info.js';

t.test('names every registered code from 1000 to 1015', async (t) => {
  const codes = Object.values(CloseCode);
  t.same(
    codes,
    Array.from({ length: 16 }, (_, i) => 1000 + i),
  );
  for (const [name, code] of Object.entries(CloseCode)) t.equal(closeCodeName(code), name);
  t.equal(closeCodeName(1006), 'ABNORMAL_CLOSURE');
  t.equal(closeCodeName(1012), 'SERVICE_RESTART');
});

t.test('has no name outside 1000-1015', async (t) => {
  for (const code of [999, 1016, 3000, 4008, 0]) t.equal(closeCodeName(code), undefined);
});

t.test('closeInfo carries code, reason, wasClean and the name', async (t) => {
  t.same(closeInfo(1001, 'bye', true), {
    code: 1001,
    reason: 'bye',
    wasClean: true,
    name: 'GOING_AWAY',
  });
});

t.test('the client failure codes sit in the private range a browser may send', async (t) => {
  for (const code of Object.values(ClientCloseCode)) t.ok(code >= 4000 && code <= 4999);
});
