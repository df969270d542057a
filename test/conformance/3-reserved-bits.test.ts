/**
 * RFC 6455 §5.2: RSV1–RSV3 MUST be 0 unless an extension defines them; no extension is
 * negotiated here, so any set bit fails the connection — Autobahn case group 3.
 */
import t from 'tap';
import { echoClients, expectEcho, expectFailure } from '../helpers/conformance.js';
import { frame, OP } from '../helpers/raw-client.js';

const open = await echoClients(t);

const CASES = [
  ['3.1 RSV1 on a text frame', OP.text, 0b100],
  ['3.2 RSV2 on a text frame', OP.text, 0b010],
  ['3.3 RSV3 on a text frame', OP.text, 0b001],
  ['3.4 RSV1+RSV2 on a text frame', OP.text, 0b110],
  ['3.5 RSV1+RSV3 on a binary frame', OP.binary, 0b101],
  ['3.6 RSV2+RSV3 on a ping', OP.ping, 0b011],
  ['3.7 every RSV bit on a close frame', OP.close, 0b111],
] as const;

for (const [name, opcode, rsv] of CASES) {
  t.test(`${name} fails with 1002; earlier messages are echoed, later ones ignored`, async (t) => {
    const client = await open(t);
    client.write(
      Buffer.concat([
        frame({ opcode: OP.text, payload: 'before' }),
        frame({ opcode, rsv, payload: opcode === OP.close ? Buffer.from([3, 232]) : 'bad' }),
        frame({ opcode: OP.ping, payload: 'after' }),
      ]),
    );
    await expectEcho(t, client, OP.text, 'before');
    t.same(await expectFailure(t, client, 1002), [], 'no pong for the ping after the bad frame');
  });
}

t.test('3.x RSV1 on a continuation frame fails with 1002', async (t) => {
  const client = await open(t);
  client.send({ opcode: OP.text, payload: 'frag', fin: false });
  client.send({ opcode: OP.continuation, payload: 'ment', rsv: 0b100 });
  await expectFailure(t, client, 1002);
});
