// @wsroute/client with contracts from @wsroute/contract: the client narrows by protocol.
import { connect } from '@wsroute/client';
import { defineContract, jsonCodec, textCodec, type } from '@wsroute/contract';

export const chatV2 = defineContract({
  name: 'chat.v2',
  codec: jsonCodec(),
  client: type<{ type: 'say'; text: string }>(),
  server: type<{ type: 'said'; from: string; text: string }>(),
});
export const chat = defineContract({ name: 'chat', codec: textCodec() });

/** Says hello in whichever protocol the server picked; returns the first answer. */
export async function sayHello(url: string): Promise<string> {
  const client = await connect(url, [chatV2, chat], { reconnect: false });
  try {
    if (client.protocol === 'chat.v2') {
      client.send({ type: 'say', text: 'hello' });
      for await (const message of client.messages()) return `${message.from}: ${message.text}`;
    } else {
      client.send('hello');
      for await (const line of client.messages()) return line;
    }
    return '';
  } finally {
    client.close(1000);
  }
}
