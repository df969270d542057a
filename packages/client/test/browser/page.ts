/**
 * The browser test page's module, bundled by esbuild with the client's sources and the same
 * contract module the test servers import. It exposes `globalThis.clientTest`.
 */
import { ClientError, connect } from '../../src/index.js';
import { chatText, chatV2 } from '../fixtures/contracts.js';

/** What a round trip in the page reports back to the test. */
export interface RoundTrip {
  readonly protocol: string;
  readonly received: unknown;
  readonly close: { readonly code: number; readonly name: string | undefined };
}

/** What the page exposes. */
export interface PageApi {
  /** Offers [chat.v2, chat] with a token, says `text`, returns the answer and the close. */
  chat(url: string, token: string, text: string): Promise<RoundTrip>;
  /** Offers only chat, says `text`. */
  plain(url: string, token: string, text: string): Promise<RoundTrip>;
  /** Connects to a route that speaks neither; returns the ClientError's code. */
  refused(url: string): Promise<string>;
}

const api: PageApi = {
  async chat(url, token, text) {
    const client = await connect(url, [chatV2, chatText], { token });
    const messages = client.messages();
    if (client.protocol === 'chat.v2') client.send({ type: 'say', text });
    else client.send(text);
    const { value } = await messages.next();
    const close = await client.close(1000, 'done');
    return { protocol: client.protocol, received: value, close };
  },
  async plain(url, token, text) {
    const client = await connect(url, [chatText], { token });
    const received = new Promise((resolve) => client.onMessage(resolve));
    client.send(text);
    const value = await received;
    const close = await client.close();
    return { protocol: client.protocol, received: value, close };
  },
  async refused(url) {
    try {
      await connect(url, [chatV2]);
      return 'opened';
    } catch (error) {
      return error instanceof ClientError ? error.code : String(error);
    }
  },
};

(globalThis as { clientTest?: PageApi }).clientTest = api;
