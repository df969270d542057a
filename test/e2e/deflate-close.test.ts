/**
 * Closing behind compression (RFC 6455 §7.1, RFC 7692): a close frame received, or a protocol
 * violation detected, while compressed replies are still being deflated waits for them. The
 * peer gets every reply queued before the close, in order, then the close frame, then the end
 * of TCP, never a bare FIN (which it would report as 1006).
 *
 * Each case sends its messages and the frame that ends the connection in one TCP write, so the
 * server reads them in one chunk: the replies are still in the compressor when the close (or the
 * violation) is parsed. Each runs many times: an ordering bug would show as a flake.
 */
import t, { type Test } from 'tap';
import {
  compress,
  echoRoute,
  inflate,
  jsonText,
  openRaw,
  PMD,
  RSV1,
  startServer,
} from '../helpers/deflate.js';
import { closePayload, frame, OP, type RawClient } from '../helpers/raw-client.js';

const ROUNDS = 25;
const OFFER = `${PMD}; server_no_context_takeover`;

/** Reads the echoes of `texts`, compressed, then the close frame and the end of TCP. */
async function expectEchoesThenClose(
  t: Test,
  client: RawClient,
  texts: readonly string[],
  code: number,
): Promise<void> {
  const { code: closeCode, before } = await client.closeFrame();
  t.same(
    before.map((echoed) => [echoed.opcode, echoed.rsv, inflate(echoed.payload).toString()]),
    texts.map((text) => [OP.text, RSV1, text]),
    'every echo, compressed, in order, before the close frame',
  );
  t.equal(closeCode, code, `then the close frame (${code})`);
  await client.ended();
  t.equal(client.pendingBytes, 0, 'nothing after the close frame');
}

/** The frames of `texts` sent as the client chooses: compressed by it, or plain. */
function messages(texts: readonly string[], isCompressed: boolean): Buffer[] {
  return texts.map((text) =>
    isCompressed
      ? frame({ opcode: OP.text, rsv: RSV1, payload: compress(text) })
      : frame({ opcode: OP.text, payload: text }),
  );
}

t.test('replies still being compressed go out before the close frame', async (t) => {
  const { port } = await startServer(t, { '/': echoRoute() });
  for (const isCompressed of [false, true]) {
    const how = isCompressed ? 'compressed' : 'plain';
    t.test(`an echo, then the close frame, from one write (${how} messages)`, async (t) => {
      for (let round = 0; round < ROUNDS; round++) {
        const client = await openRaw(t, port, OFFER);
        const text = jsonText(20_000, round);
        const close = frame({ opcode: OP.close, payload: closePayload(1000) });
        client.write(Buffer.concat([...messages([text], isCompressed), close]));
        await expectEchoesThenClose(t, client, [text], 1000);
        client.socket.destroy();
      }
    });

    t.test(`several echoes, then the close frame, from one write (${how})`, async (t) => {
      for (let round = 0; round < ROUNDS; round++) {
        const client = await openRaw(t, port, OFFER);
        const texts = [0, 1, 2, 3].map((i) => jsonText(5_000 + 3_000 * i, round));
        const close = frame({ opcode: OP.close, payload: closePayload(4000) });
        client.write(Buffer.concat([...messages(texts, isCompressed), close]));
        await expectEchoesThenClose(t, client, texts, 4000);
        client.socket.destroy();
      }
    });

    t.test(`an echo, the close frame and FIN in one go (${how})`, async (t) => {
      for (let round = 0; round < ROUNDS; round++) {
        const client = await openRaw(t, port, OFFER);
        const text = jsonText(20_000, round);
        const close = frame({ opcode: OP.close, payload: closePayload(1000) });
        // The client half-closes at once: its FIN must not cut the replies short.
        client.socket.end(Buffer.concat([...messages([text], isCompressed), close]));
        await expectEchoesThenClose(t, client, [text], 1000);
      }
    });

    t.test(`an echo, then a protocol violation, from one write (${how})`, async (t) => {
      for (let round = 0; round < ROUNDS; round++) {
        const client = await openRaw(t, port, OFFER);
        const text = jsonText(20_000, round);
        // Opcode 3 is reserved (RFC 6455 §5.2): the connection fails with 1002.
        const violation = frame({ opcode: 3, payload: 'x' });
        client.write(Buffer.concat([...messages([text], isCompressed), violation]));
        await expectEchoesThenClose(t, client, [text], 1002);
        client.socket.destroy();
      }
    });

    t.test(`an echo, then invalid compressed data, from one write (${how})`, async (t) => {
      for (let round = 0; round < ROUNDS; round++) {
        const client = await openRaw(t, port, OFFER);
        const text = jsonText(20_000, round);
        // Not a deflate stream: inflating it fails (1007), after the echo was queued.
        const garbage = frame({ opcode: OP.binary, rsv: RSV1, payload: Buffer.alloc(64, 0xff) });
        client.write(Buffer.concat([...messages([text], isCompressed), garbage]));
        await expectEchoesThenClose(t, client, [text], 1007);
        client.socket.destroy();
      }
    });
  }
});
