/**
 * Type tests, checked by `tsc -b` (never run): handlers bound to a contract take their
 * message types from its schemas (zod, valibot) or type markers.
 */
import { defineContract, jsonCodec, type } from '@wsroute/contract';
import * as v from 'valibot';
import { z } from 'zod';
import { defineProtocol } from '../../src/protocol.js';
import { createRoute } from '../../src/route.js';

type Equal<A, B> =
  (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function expectEqual<A, B>(isEqual: Equal<A, B>): void {
  void isEqual;
}

// zod: the handler receives the schema's output; send() takes the server schema's input.
const zodChat = defineContract({
  name: 'chat.v2',
  codec: jsonCodec(),
  client: z.object({ type: z.literal('say'), text: z.string(), times: z.number().default(1) }),
  server: z.object({ type: z.literal('said'), from: z.string(), text: z.string() }),
});
export const zodProtocol = defineProtocol(zodChat, {
  onMessage(connection, message) {
    expectEqual<typeof message, { type: 'say'; text: string; times: number }>(true);
    connection.send({ type: 'said', from: 'me', text: message.text.repeat(message.times) });
    // @ts-expect-error the server's messages are 'said', not 'say'
    connection.send({ type: 'say', text: '' });
  },
});

// valibot, and per-connection data inferred from an annotated handler.
const valibotOrders = defineContract({
  name: 'orders.v1',
  codec: jsonCodec(),
  client: v.object({ id: v.number() }),
  server: type<{ readonly ack: number }>(),
});
export const valibotProtocol = defineProtocol(valibotOrders, {
  onMessage(
    connection: { readonly data: { readonly user: string }; send(m: { ack: number }): boolean },
    message,
  ) {
    expectEqual<typeof message, { id: number }>(true);
    connection.send({ ack: message.id });
  },
});

createRoute({ protocols: { [zodChat.name]: zodProtocol, [valibotOrders.name]: valibotProtocol } });
