/**
 * RFC 6455 §10.4 (implementation-specific limits) and §7.4.1 (1009) — Autobahn case group 9:
 * large messages, many fragments, many messages. The echo server allows 64 MiB messages and any
 * number of fragments.
 */
import t, { type Test } from 'tap';
import { echoClients, expectEcho, expectFailure } from '../helpers/conformance.js';
import { type FrameSpec, frame, OP, type RawClient } from '../helpers/raw-client.js';

const open = await echoClients(t);

const KIB = 1024;
const MIB = 1024 * KIB;
const WAIT = 60_000;

function pattern(size: number, isText: boolean): Buffer {
  const bytes = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) bytes[i] = isText ? 0x20 + (i % 95) : (i * 13) & 0xff;
  return bytes;
}

/** One message split into frames of `size` bytes, masked, as one buffer. */
function fragmented(opcode: number, payload: Buffer, size: number): Buffer {
  const specs: FrameSpec[] = [];
  for (let i = 0; i < payload.length; i += size) {
    specs.push({
      opcode: i === 0 ? opcode : OP.continuation,
      payload: payload.subarray(i, i + size),
      fin: i + size >= payload.length,
    });
  }
  return Buffer.concat(specs.map(frame));
}

/** Asserts the echo of a large message: same type, every byte, continuations well formed. */
async function expectLargeEcho(
  t: Test,
  client: RawClient,
  opcode: number,
  payload: Buffer,
): Promise<void> {
  const echo = await client.message(WAIT);
  t.equal(echo.opcode, opcode);
  t.ok(
    echo.frames.slice(1).every((f) => f.opcode === OP.continuation && f.rsv === 0),
    'later frames are continuations (the server may fragment, §5.4)',
  );
  t.equal(echo.payload.length, payload.length);
  t.ok(echo.payload.equals(payload), 'identical payload');
}

for (const [group, opcode] of [
  ['9.1 text', OP.text],
  ['9.2 binary', OP.binary],
] as const) {
  t.test(`${group} messages of 64 KiB to 16 MiB sent in one frame are echoed`, async (t) => {
    const client = await open(t);
    for (const size of [64 * KIB, 256 * KIB, 1 * MIB, 4 * MIB, 16 * MIB]) {
      const payload = pattern(size, opcode === OP.text);
      client.send({ opcode, payload });
      await expectLargeEcho(t, client, opcode, payload);
    }
  });
}

for (const [group, opcode] of [
  ['9.3 text', OP.text],
  ['9.4 binary', OP.binary],
] as const) {
  t.test(`${group}: a 4 MiB message in fragments of 64 B to 4 MiB is echoed`, async (t) => {
    const client = await open(t);
    const payload = pattern(4 * MIB, opcode === OP.text);
    for (const size of [64, 256, KIB, 4 * KIB, 64 * KIB, MIB, 4 * MIB]) {
      client.write(fragmented(opcode, payload, size));
      await expectLargeEcho(t, client, opcode, payload);
    }
  });
}

t.test('9.7–9.8 a thousand small messages in one write are echoed in order', async (t) => {
  const client = await open(t);
  const messages = Array.from({ length: 1000 }, (_, i) => `message number ${i}`);
  client.write(Buffer.concat(messages.map((payload) => frame({ opcode: OP.text, payload }))));
  const echoed: string[] = [];
  for (let i = 0; i < messages.length; i++)
    echoed.push((await client.message()).payload.toString());
  t.same(echoed, messages);
});

t.test('1009 when a frame header announces more than maxPayload, before any payload', async (t) => {
  const client = await open(t);
  // Only the header: 64 MiB + 1 announced, not one payload byte sent.
  client.write(frame({ opcode: OP.binary, announcedLength: 64 * MIB + 1 }).subarray(0, 14));
  await expectFailure(t, client, 1009);
});

t.test('1009 when fragments add up to more than maxPayload', async (t) => {
  const client = await open(t);
  client.send({ opcode: OP.binary, payload: Buffer.alloc(10), fin: false });
  client.write(frame({ opcode: OP.continuation, announcedLength: 64 * MIB }).subarray(0, 14));
  await expectFailure(t, client, 1009);
});

/**
 * Writes `bytes` unless the server's close frame came first; resolves once the socket can take
 * more (or the close came), so the sender honours backpressure.
 */
async function writeUnlessClosed(
  client: RawClient,
  bytes: Buffer,
  isClosed: () => boolean,
  closed: Promise<unknown>,
): Promise<void> {
  if (isClosed() || client.socket.write(bytes)) return;
  let onDrain: (() => void) | undefined;
  await Promise.race([
    new Promise<void>((resolve) => {
      onDrain = resolve;
      client.socket.once('drain', resolve);
    }),
    closed,
  ]);
  if (onDrain) client.socket.off('drain', onDrain);
}

t.test('1009, not heap exhaustion, for 10 million 1-byte fragments of one message', async (t) => {
  // The echo server allows any number of fragments (maxFragments: Infinity) and 64 MiB
  // messages: 10 million bytes are within maxPayload, so only the cost of each held frame can
  // stop this flood. Uncounted, it held about 115 bytes per fragment: over a gigabyte.
  const client = await open(t);
  const FRAGMENTS = 10_000_000;
  const PER_WRITE = 64 * KIB;
  const continuation = frame({ opcode: OP.continuation, payload: 'x', fin: false });
  const batch = Buffer.concat(Array.from({ length: PER_WRITE }, () => continuation));
  // The first frame the server sends must be its close: an echo would mean the flood got through.
  let isClosed = false;
  const closed = client.frame(WAIT).finally(() => {
    isClosed = true;
  });
  client.write(frame({ opcode: OP.text, payload: 'x', fin: false }));
  let sent = 1;
  while (sent < FRAGMENTS && !isClosed) {
    const count = Math.min(PER_WRITE, FRAGMENTS - sent);
    sent += count;
    const bytes =
      sent < FRAGMENTS
        ? batch
        : Buffer.concat([
            batch.subarray(0, (count - 1) * continuation.length),
            frame({ opcode: OP.continuation, payload: 'x' }),
          ]);
    await writeUnlessClosed(client, bytes, () => isClosed, closed);
  }
  const reply = await closed;
  const code = reply.payload.length >= 2 ? reply.payload.readUInt16BE(0) : undefined;
  t.same([reply.opcode, code], [OP.close, 1009], 'the first frame the client reads is close 1009');
  t.ok(sent < FRAGMENTS, `the server closed before the flood ended (${sent} fragments written)`);
  await client.ended();
  const next = await open(t);
  next.send({ opcode: OP.text, payload: 'still serving' });
  await expectEcho(t, next, OP.text, 'still serving');
});
