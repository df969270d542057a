/**
 * Protocols bound to contracts (`@wsroute/contract`) over real sockets: the contract's codec,
 * its Standard Schema for incoming messages (sync and async, in arrival order), failures
 * closing with 1008 and reaching onError with the issues, and the route's name check.
 */
import { once } from 'node:events';
import { defineContract, jsonCodec, type StandardSchemaV1, type } from '@wsroute/contract';
import t, { type Test } from 'tap';
import WebSocket from 'ws';
import { WebSocketError } from '../src/errors.js';
import { defineProtocol } from '../src/protocol.js';
import { createRoute } from '../src/route.js';
import { serve } from './helpers/serve.js';
import { withTimeout } from './helpers/wire.js';

interface Order {
  readonly id: number;
}

/**
 * A Standard Schema for `{ id: number }` that doubles the id (its output differs from its
 * input) and, when `delay` is given, answers asynchronously after `delay(id)` ms.
 */
function orderSchema(delay?: (id: number) => number): StandardSchemaV1<unknown, Order> {
  const check = (value: unknown): StandardSchemaV1.Result<Order> => {
    const id = (value as { id?: unknown } | null)?.id;
    if (typeof id !== 'number')
      return { issues: [{ message: 'id must be a number', path: ['id'] }] };
    return { value: { id: id * 2 } };
  };
  return {
    '~standard': {
      version: 1,
      vendor: 'test',
      validate(value) {
        if (!delay) return check(value);
        const id = (value as { id?: unknown } | null)?.id;
        const ms = typeof id === 'number' ? delay(id) : 0;
        return new Promise((resolve) => setTimeout(() => resolve(check(value)), ms));
      },
    },
  };
}

/** Serves `/` with one protocol bound to `contract`; records messages and errors. */
async function start(t: Test, schema: StandardSchemaV1<unknown, Order>) {
  const orders = defineContract({
    name: 'orders.v1',
    codec: jsonCodec(),
    client: schema,
    server: type<{ readonly ack: number }>(),
  });
  const received: number[] = [];
  const errors: unknown[] = [];
  const { port } = await serve(t, (wss) =>
    wss.route('/', {
      protocols: {
        [orders.name]: defineProtocol(orders, {
          onMessage(connection, message) {
            received.push(message.id);
            connection.send({ ack: message.id });
          },
          onError(_connection, error) {
            errors.push(error);
          },
        }),
      },
      heartbeatInterval: 0,
    }),
  );
  const ws = new WebSocket(`ws://127.0.0.1:${port}/`, ['orders.v1']);
  ws.on('error', () => {});
  t.teardown(() => ws.terminate());
  await withTimeout(once(ws, 'open'), 'open');
  t.equal(ws.protocol, 'orders.v1');
  return { ws, received, errors };
}

t.test('a synchronous schema checks and transforms every message', async (t) => {
  const { ws, received } = await start(t, orderSchema());
  const acks: string[] = [];
  ws.on('message', (data: Buffer) => acks.push(data.toString()));
  ws.send(JSON.stringify({ id: 1 }));
  ws.send(JSON.stringify({ id: 2 }));
  await withTimeout(
    new Promise<void>((resolve) => ws.on('message', () => acks.length === 2 && resolve())),
    'acks',
  );
  t.same(received, [2, 4], 'handlers get the schema output');
  t.same(acks, ['{"ack":2}', '{"ack":4}'], 'the contract codec encodes replies');
});

t.test('an invalid message closes with 1008 and hands the issues to onError', async (t) => {
  const { ws, received, errors } = await start(t, orderSchema());
  ws.send(JSON.stringify({ id: 1 }));
  ws.send(JSON.stringify({ id: 'two' }));
  ws.send(JSON.stringify({ id: 3 }));
  const [code] = (await withTimeout(once(ws, 'close'), 'close')) as [number];
  t.equal(code, 1008);
  t.same(received, [2], 'earlier messages delivered, later ones dropped');
  const error = errors[0];
  t.ok(error instanceof WebSocketError);
  t.match(error, { code: 'WS_VALIDATION_FAILED', closeCode: 1008 });
  t.same((error as WebSocketError).issues, [{ message: 'id must be a number', path: ['id'] }]);
});

t.test('async validations settle out of order; messages arrive in order', async (t) => {
  // Earlier messages take longer: without the queue they would be delivered in reverse.
  const { ws, received } = await start(
    t,
    orderSchema((id) => (10 - id) * 8),
  );
  for (let id = 1; id <= 9; id++) ws.send(JSON.stringify({ id }));
  const acks: number[] = [];
  await withTimeout(
    new Promise<void>((resolve) =>
      ws.on('message', (data: Buffer) => {
        acks.push((JSON.parse(data.toString()) as { ack: number }).ack);
        if (acks.length === 9) resolve();
      }),
    ),
    'nine acks',
  );
  const expected = [2, 4, 6, 8, 10, 12, 14, 16, 18];
  t.same(received, expected, 'handled in arrival order');
  t.same(acks, expected);
});

t.test('an async failure in the middle: the ones before are delivered, then 1008', async (t) => {
  const schema = orderSchema((id) => (id === 2 ? 40 : 1));
  const { ws, received, errors } = await start(t, schema);
  ws.send(JSON.stringify({ id: 1 }));
  ws.send(JSON.stringify({ id: null }));
  ws.send(JSON.stringify({ id: 3 }));
  const [code] = (await withTimeout(once(ws, 'close'), 'close')) as [number];
  t.equal(code, 1008);
  t.same(received, [2]);
  t.match(errors, [{ code: 'WS_VALIDATION_FAILED' }]);
});

t.test('a schema that throws is a broken validator: 1011 and onError', async (t) => {
  const failure = new Error('schema bug');
  const broken: StandardSchemaV1<unknown, Order> = {
    '~standard': {
      version: 1,
      vendor: 'test',
      validate() {
        throw failure;
      },
    },
  };
  const { ws, errors } = await start(t, broken);
  ws.send('{}');
  const [code] = (await withTimeout(once(ws, 'close'), 'close')) as [number];
  t.equal(code, 1011);
  t.equal(errors[0], failure);
});

t.test('a route lists a contract-bound protocol under the contract name only', async (t) => {
  const chat = defineContract({ name: 'chat.v2', codec: jsonCodec() });
  const protocol = defineProtocol(chat, {});
  t.doesNotThrow(() => createRoute({ protocols: { 'chat.v2': protocol } }));
  t.throws(() => createRoute({ protocols: { chat: protocol } }), TypeError);
});
