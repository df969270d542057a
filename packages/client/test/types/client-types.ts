/**
 * Type tests, checked by `tsc -b` (never run): the client is a union narrowed by the
 * negotiated protocol; messages are inferred from zod and valibot schemas and `type<T>()`.
 */
import { defineContract, jsonCodec, textCodec, type } from '@wsroute/contract';
import { WebSocket } from 'undici';
import * as v from 'valibot';
import { z } from 'zod';
import { connect } from '../../src/client.js';
import type { Client, ClientEvents, ClosedInfo, ContractClient } from '../../src/client-types.js';
import type { CloseCodeName, CloseInfo } from '../../src/close-info.js';
import type { ClientError, ClientErrorCode } from '../../src/errors.js';

/** true when A and B are the same type (not merely assignable). */
type Equal<A, B> =
  (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function expectEqual<A, B>(isEqual: Equal<A, B>): void {
  void isEqual;
}

const orders = defineContract({
  name: 'orders.v2',
  codec: jsonCodec(),
  client: z.object({ type: z.literal('order'), sku: z.string(), qty: z.number().default(1) }),
  server: z.object({ type: z.literal('placed'), id: z.string(), at: z.iso.datetime() }),
});
const ticks = defineContract({
  name: 'ticks.v1',
  codec: jsonCodec(),
  client: v.object({ type: v.literal('subscribe'), symbol: v.string() }),
  server: v.object({ type: v.literal('tick'), symbol: v.string(), price: v.number() }),
});
const plain = defineContract({ name: 'plain', codec: textCodec() });
const typed = defineContract({
  name: 'typed',
  codec: jsonCodec(),
  client: type<{ ping: number }>(),
  server: type<{ pong: number }>(),
});
const raw = defineContract({ name: 'raw' });

export async function narrowing(): Promise<void> {
  const client = await connect('ws://127.0.0.1:1/x', [orders, ticks, plain], { WebSocket });
  expectEqual<typeof client.protocol, 'orders.v2' | 'ticks.v1' | 'plain'>(true);
  expectEqual<
    typeof client,
    ContractClient<typeof orders> | ContractClient<typeof ticks> | ContractClient<typeof plain>
  >(true);

  // @ts-expect-error nothing can be sent before narrowing by protocol
  client.send({ type: 'order', sku: 'a' });

  if (client.protocol === 'orders.v2') {
    // The schema's input type: qty has a default, so it may be left out.
    client.send({ type: 'order', sku: 'a' });
    client.send({ type: 'order', sku: 'a', qty: 2 });
    // @ts-expect-error a ticks.v1 message on orders.v2
    client.send({ type: 'subscribe', symbol: 'ACME' });
    // @ts-expect-error a wrong field type
    client.send({ type: 'order', sku: 1 });
    // @ts-expect-error text on a JSON contract with a schema
    client.send('order');
    for await (const message of client.messages()) {
      expectEqual<typeof message, { type: 'placed'; id: string; at: string }>(true);
    }
    client.onMessage((message) => {
      expectEqual<typeof message, { type: 'placed'; id: string; at: string }>(true);
    });
  } else if (client.protocol === 'ticks.v1') {
    client.send({ type: 'subscribe', symbol: 'ACME' });
    // @ts-expect-error an orders.v2 message on ticks.v1
    client.send({ type: 'order', sku: 'a' });
    client.onMessage((message) => {
      expectEqual<typeof message, { type: 'tick'; symbol: string; price: number }>(true);
    });
  } else {
    expectEqual<typeof client.protocol, 'plain'>(true);
    client.send('hello');
    // @ts-expect-error plain is text only
    client.send({ text: 'hello' });
    client.onMessage((message) => expectEqual<typeof message, string>(true));
  }

  // What every client has works without narrowing.
  client.on('close', (close) => expectEqual<typeof close, ClosedInfo>(true));
  client.on('reconnecting', ({ attempt, delay }) =>
    expectEqual<number, typeof attempt | typeof delay>(true),
  );
  client.on('error', (error) => expectEqual<typeof error.code, ClientErrorCode>(true));
  // @ts-expect-error no such event
  client.on('message', () => {});
  const closed = await client.close();
  expectEqual<typeof closed.name, CloseCodeName | undefined>(true);
  expectEqual<typeof client.state, 'connecting' | 'open' | 'closing' | 'reconnecting' | 'closed'>(
    true,
  );
}

export async function typesOnlyAndRaw(): Promise<void> {
  const client = await connect('ws://127.0.0.1:1/x', [typed, raw]);
  if (client.protocol === 'typed') {
    client.send({ ping: 1 });
    // @ts-expect-error the marker's type is checked too
    client.send({ pong: 1 });
    client.onMessage((message) => expectEqual<typeof message, { pong: number }>(true));
  } else {
    client.send('text');
    client.send(new Uint8Array(2));
    // @ts-expect-error raw contracts take strings or bytes
    client.send({ ping: 1 });
    client.onMessage((message) => expectEqual<typeof message, string | Uint8Array>(true));
  }
}

// The union is built per contract, whatever the tuple's length.
expectEqual<Client<[typeof plain]>, ContractClient<typeof plain>>(true);
expectEqual<ClientEvents['error'], ClientError>(true);
expectEqual<CloseInfo['code'] extends number ? true : false, true>(true);

// @ts-expect-error at least one contract
connect('ws://127.0.0.1:1/x', []);
// @ts-expect-error contracts, not names
connect('ws://127.0.0.1:1/x', ['plain']);
// @ts-expect-error the option is a constructor
connect('ws://127.0.0.1:1/x', [plain], { WebSocket: {} });
// @ts-expect-error invalidMessage is 'close' or 'skip'
connect('ws://127.0.0.1:1/x', [plain], { invalidMessage: 'ignore' });
