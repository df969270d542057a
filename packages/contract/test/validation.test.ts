import type { StandardSchemaV1 } from '@standard-schema/spec';
import t from 'tap';
import { type } from '../src/contract.js';
import { checkMessage, validateMessage } from '../src/validation.js';
import { evenNumber, slowSchema } from './helpers.js';

t.test('checkMessage answers synchronously for a synchronous schema', async (t) => {
  t.same(checkMessage(evenNumber, 2), { ok: true, value: 2 });
  const failed = checkMessage(evenNumber, 3);
  t.notOk(failed instanceof Promise);
  t.same(failed, { ok: false, issues: [{ message: 'expected an even number', path: [] }] });
});

t.test('a type marker accepts anything as it is', async (t) => {
  const value = { any: 'thing' };
  const result = checkMessage(type<{ any: string }>(), value);
  t.same(result, { ok: true, value });
});

t.test('validateMessage awaits an asynchronous schema', async (t) => {
  const schema = slowSchema();
  const pending = checkMessage(schema, { n: 1, delay: 5 });
  t.ok(pending instanceof Promise, 'checkMessage hands back the promise');
  t.same(await pending, { ok: true, value: { n: 1, delay: 5 } });
  t.same(await validateMessage(schema, { n: -1, delay: 1 }), {
    ok: false,
    issues: [{ message: 'negative', path: ['n'] }],
  });
  t.same(await validateMessage(evenNumber, 4), { ok: true, value: 4 });
});

t.test('a throwing validator is an error, not an invalid message', async (t) => {
  const broken: StandardSchemaV1<unknown, never> = {
    '~standard': {
      version: 1,
      vendor: 'test',
      validate: () => {
        throw new Error('boom');
      },
    },
  };
  t.throws(() => checkMessage(broken, 1), { message: 'boom' });
  await t.rejects(validateMessage(broken, 1), { message: 'boom' });
});

t.test('truthy issues mean failure even next to a value', async (t) => {
  const odd: StandardSchemaV1<unknown, number> = {
    '~standard': {
      version: 1,
      vendor: 'test',
      validate: () =>
        ({ value: 1, issues: [{ message: 'no' }] }) as StandardSchemaV1.Result<number>,
    },
  };
  t.same(checkMessage(odd, 1), { ok: false, issues: [{ message: 'no' }] });
});
