/** The inbox alone: ordering across sync and async outcomes, held messages, iterators. */
import t from 'tap';
import { ClientError } from '../src/errors.js';
import { Inbox, type Outcome } from '../src/inbox.js';

function later(outcome: Outcome, ms: number): Promise<Outcome> {
  return new Promise((resolve) => setTimeout(() => resolve(outcome), ms));
}

t.test('delivers in push order whatever order outcomes settle in', async (t) => {
  const inbox = new Inbox(() => {});
  const seen: unknown[] = [];
  inbox.listen((value) => seen.push(value));
  await Promise.resolve();
  inbox.push(later({ value: 1 }, 20));
  inbox.push({ value: 2 });
  inbox.push(later({ value: 3 }, 1));
  t.same(seen, [], 'the head is pending, so nothing yet');
  await later({ value: 0 }, 40);
  t.same(seen, [1, 2, 3]);
  inbox.push({ value: 4 });
  t.same(seen, [1, 2, 3, 4], 'a settled head is delivered synchronously');
});

t.test('reports a failure in its place and stops when cleared', async (t) => {
  const seen: unknown[] = [];
  const failures: string[] = [];
  const inbox = new Inbox((error) => {
    failures.push(error.code);
    inbox.clear();
  });
  inbox.listen((value) => seen.push(value));
  await Promise.resolve();
  inbox.push(later({ value: 'a' }, 10));
  inbox.push({ error: new ClientError('INVALID_MESSAGE', 'bad') });
  inbox.push({ value: 'c' });
  await later({ value: 0 }, 30);
  t.same(seen, ['a']);
  t.same(failures, ['INVALID_MESSAGE']);
});

t.test('holds messages until the first consumer, then hands them over in order', async (t) => {
  const inbox = new Inbox(() => {});
  inbox.push({ value: 1 });
  inbox.push({ value: 2 });
  const iterator = inbox.iterate();
  inbox.push({ value: 3 });
  const values = [await iterator.next(), await iterator.next(), await iterator.next()];
  t.same(
    values.map((result) => result.value),
    [1, 2, 3],
  );
});

t.test('iterators end after the last queued message once the inbox ends', async (t) => {
  const inbox = new Inbox(() => {});
  const iterator = inbox.iterate();
  inbox.push(later({ value: 'last' }, 5));
  inbox.end();
  t.same(await iterator.next(), { value: 'last', done: false });
  t.same(await iterator.next(), { value: undefined, done: true });
});

t.test('return() detaches an iterator; a throwing listener does not stop delivery', async (t) => {
  const inbox = new Inbox(() => {});
  const iterator = inbox.iterate();
  const seen: unknown[] = [];
  const thrown: unknown[] = [];
  const onUncaught = (error: unknown): void => {
    thrown.push(error);
  };
  process.on('uncaughtException', onUncaught);
  t.teardown(() => {
    process.off('uncaughtException', onUncaught);
  });
  inbox.listen(() => {
    throw new Error('listener bug');
  });
  inbox.listen((value) => seen.push(value));
  await Promise.resolve();
  t.same(await iterator.return?.(), { value: undefined, done: true });
  inbox.push({ value: 1 });
  t.same(seen, [1]);
  t.same(await iterator.next(), { value: undefined, done: true });
  await later({ value: 0 }, 5);
  t.match(thrown, [{ message: 'listener bug' }], 'reported as uncaught');
});
