/**
 * RFC 6455 §5.2: opcodes 0x3–0x7 (non-control) and 0xB–0xF (control) are reserved; receiving
 * one fails the connection — Autobahn case group 4.
 */
import t from 'tap';
import { echoClients, expectEcho, expectFailure } from '../helpers/conformance.js';
import { frame, OP } from '../helpers/raw-client.js';

const open = await echoClients(t);

const NON_CONTROL = [0x3, 0x4, 0x5, 0x6, 0x7];
const CONTROL = [0xb, 0xc, 0xd, 0xe, 0xf];

for (const [group, opcodes] of [
  ['4.1 reserved non-control', NON_CONTROL],
  ['4.2 reserved control', CONTROL],
] as const) {
  for (const opcode of opcodes) {
    t.test(`${group} opcode 0x${opcode.toString(16)} fails with 1002`, async (t) => {
      const client = await open(t);
      client.send({ opcode });
      await expectFailure(t, client, 1002);
    });
  }
  t.test(`${group} opcode with payload after a message, before a ping`, async (t) => {
    const client = await open(t);
    client.write(
      Buffer.concat([
        frame({ opcode: OP.text, payload: 'hello' }),
        frame({ opcode: opcodes[2]!, payload: 'reserved opcode payload' }),
        frame({ opcode: OP.ping, payload: 'p' }),
      ]),
    );
    await expectEcho(t, client, OP.text, 'hello');
    t.same(await expectFailure(t, client, 1002), [], 'the ping is never answered');
  });
}
