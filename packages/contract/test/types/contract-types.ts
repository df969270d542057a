/**
 * Type tests, checked by `tsc -b` (never run): message types inferred from zod and valibot
 * schemas and from `type<T>()`, defaults of omitted sides, and codecs that fit core's `Codec`.
 */
import { type Codec as CoreCodec, defineProtocol } from '@wsroute/core';
import * as v from 'valibot';
import { z } from 'zod';
import { type Codec, jsonCodec, textCodec, type WireData } from '../../src/codec.js';
import {
  type ClientMessage,
  type ClientMessageInput,
  type ContractName,
  defineContract,
  type ServerMessage,
  type ServerMessageInput,
  type,
} from '../../src/contract.js';
import { checkMessage, type ValidationResult, type validateMessage } from '../../src/validation.js';

/** true when A and B are the same type (not merely assignable). */
type Equal<A, B> =
  (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function expectEqual<A, B>(isEqual: Equal<A, B>): void {
  void isEqual;
}

// zod: output and input differ when a schema transforms or defaults.
const zodContract = defineContract({
  name: 'orders.v1',
  codec: jsonCodec(),
  client: z.object({ type: z.literal('order'), qty: z.number().default(1) }),
  server: z.object({ type: z.literal('placed'), at: z.string().transform((s) => s.length) }),
});
expectEqual<ContractName<typeof zodContract>, 'orders.v1'>(true);
expectEqual<ClientMessage<typeof zodContract>, { type: 'order'; qty: number }>(true);
expectEqual<ClientMessageInput<typeof zodContract>, { type: 'order'; qty?: number | undefined }>(
  true,
);
expectEqual<ServerMessage<typeof zodContract>, { type: 'placed'; at: number }>(true);
expectEqual<ServerMessageInput<typeof zodContract>, { type: 'placed'; at: string }>(true);

// valibot
const valibotContract = defineContract({
  name: 'ticks',
  codec: jsonCodec(),
  client: v.object({ type: v.literal('subscribe'), symbol: v.string() }),
  server: v.object({ type: v.literal('tick'), price: v.number() }),
});
expectEqual<ClientMessage<typeof valibotContract>, { type: 'subscribe'; symbol: string }>(true);
expectEqual<ServerMessage<typeof valibotContract>, { type: 'tick'; price: number }>(true);

// Types only.
const typed = defineContract({ name: 'typed', codec: jsonCodec(), server: type<{ n: 1 }>() });
expectEqual<ServerMessage<typeof typed>, { n: 1 }>(true);
expectEqual<ClientMessage<typeof typed>, unknown>(true);

// Omitted sides take the codec's type; no codec means raw data.
expectEqual<ServerMessage<ReturnType<typeof textContract>>, string>(true);
expectEqual<ClientMessage<ReturnType<typeof rawContract>>, WireData>(true);
function textContract() {
  return defineContract({ name: 'text', codec: textCodec() });
}
function rawContract() {
  return defineContract({ name: 'raw' });
}

// @ts-expect-error a spec must be a schema or a type marker
defineContract({ name: 'bad', client: { type: 'x' } });

// Validation results carry the output type.
expectEqual<
  ReturnType<typeof validateMessage<typeof zodContract.client>>,
  Promise<ValidationResult<{ type: 'order'; qty: number }>>
>(true);
const checked = checkMessage(valibotContract.server, {});
if (!(checked instanceof Promise) && checked.ok) {
  expectEqual<typeof checked.value, { type: 'tick'; price: number }>(true);
}

// The codecs fit core's Codec today, so core can re-export them and bind a contract's codec.
export const coreJson: CoreCodec<{ a: 1 }, { b: 2 }> = jsonCodec<{ a: 1 }, { b: 2 }>();
export const coreText: CoreCodec<string, string> = textCodec();
export const contractCodec: CoreCodec<unknown, unknown> = zodContract.codec as Codec;
defineProtocol<
  undefined,
  ClientMessage<typeof zodContract>,
  ServerMessageInput<typeof zodContract>
>({
  codec: jsonCodec(),
  handler: {
    onMessage(connection, message) {
      expectEqual<typeof message, { type: 'order'; qty: number }>(true);
      connection.send({ type: 'placed', at: new Date(message.qty).toISOString() });
    },
  },
});
