/**
 * Shared steps of the conformance suite: start the echo server once per file, open raw
 * clients, and assert echoes and failures on the wire.
 */
import type { Test } from 'tap';
import { startEcho } from './echo-server.js';
import { type Frame, OP, RawClient } from './raw-client.js';

/**
 * Starts the echo server for a test file and returns an opener of upgraded raw clients.
 * @param t - the file's root test
 */
export async function echoClients(t: Test): Promise<(t: Test) => Promise<RawClient>> {
  const { port } = await startEcho(t);
  return (child) => RawClient.upgrade(child, port);
}

/** Asserts the next frame is a complete, unmasked `opcode` message carrying `payload`. */
export async function expectEcho(
  t: Test,
  client: RawClient,
  opcode: number,
  payload: string | Buffer,
): Promise<void> {
  const frame = await client.frame();
  const expected = Buffer.from(payload);
  t.same(
    [frame.opcode, frame.fin, frame.rsv, frame.isMasked],
    [opcode, true, 0, false],
    'a final, unmasked frame with no reserved bits (RFC 6455 §5.1)',
  );
  t.equal(frame.payload.length, expected.length, `${expected.length} bytes`);
  t.ok(frame.payload.equals(expected), 'identical payload');
}

/**
 * Asserts the server fails the connection (RFC 6455 §7.1.7): a close frame with `code`, then
 * the end of the TCP connection without waiting for the client. Returns the frames that came
 * before the close frame.
 */
export async function expectFailure(t: Test, client: RawClient, code: number): Promise<Frame[]> {
  const close = await client.closeFrame();
  t.equal(close.code, code, `the server closes with ${code}`);
  await client.ended();
  t.pass('the server ends the TCP connection');
  return close.before;
}

/**
 * Asserts an orderly close after the client's close frame: the server echoes `code` (or sends an
 * empty close when `code` is undefined) and ends TCP first (RFC 6455 §7.1.1). Returns the frames
 * that came before the close frame.
 */
export async function expectCloseEcho(
  t: Test,
  client: RawClient,
  code: number | undefined,
): Promise<Frame[]> {
  const close = await client.closeFrame();
  t.equal(close.code, code, code === undefined ? 'an empty close frame' : `close ${code} echoed`);
  await client.ended();
  return close.before;
}

/** Asserts nothing but the server's pong for `payload` comes next: proof nothing came before it. */
export async function expectOnlyPong(t: Test, client: RawClient, payload: string): Promise<void> {
  client.send({ opcode: OP.ping, payload });
  const frame = await client.frame();
  t.same([frame.opcode, frame.payload.toString()], [OP.pong, payload], 'only the pong');
}
