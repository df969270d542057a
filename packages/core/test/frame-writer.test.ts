import { Duplex } from 'node:stream';
import t from 'tap';
import { Opcode } from '../src/constants.js';
import { FrameWriter, headerLength, writeFrameHeader } from '../src/frame-writer.js';
import { decodeFrame, type Frame, hex } from './helpers/wire.js';

/** A socket that records each `_write`/`_writev` call as the list of chunks it received. */
function captureSocket(): { socket: Duplex; calls: Buffer[][]; bytes: () => Buffer } {
  const calls: Buffer[][] = [];
  const socket = new Duplex({
    read() {},
    write(chunk: Buffer, _encoding, callback) {
      calls.push([chunk]);
      callback();
    },
    writev(chunks, callback) {
      calls.push(chunks.map(({ chunk }) => chunk as Buffer));
      callback();
    },
  });
  return { socket, calls, bytes: () => Buffer.concat(calls.flat()) };
}

/** Splits bytes into frames. */
function frames(bytes: Buffer): Frame[] {
  const out: Frame[] = [];
  let rest = bytes;
  while (rest.length > 0) {
    const decoded = decodeFrame(rest);
    if (!decoded) throw new Error(`truncated frame: ${rest.toString('hex')}`);
    out.push(decoded.frame);
    rest = rest.subarray(decoded.size);
  }
  return out;
}

function writerFor(maxFrameSize = 1 << 20) {
  const capture = captureSocket();
  return { ...capture, writer: new FrameWriter(capture.socket, { maxFrameSize }) };
}

t.test('headerLength picks the 7-bit, 16-bit and 64-bit length forms', async (t) => {
  t.equal(headerLength(0), 2);
  t.equal(headerLength(125), 2);
  t.equal(headerLength(126), 4);
  t.equal(headerLength(65535), 4);
  t.equal(headerLength(65536), 10);
  t.equal(headerLength(2 ** 40), 10);
});

t.test('writeFrameHeader matches the examples of RFC 6455 §5.7', async (t) => {
  const header = (opcode: number, isFinal: boolean, rsv1: boolean, length: number): string => {
    const target = Buffer.alloc(12, 0xee);
    const end = writeFrameHeader(target, 1, opcode, isFinal, rsv1, length);
    t.equal(end, 1 + headerLength(length), 'returns the offset after the header');
    t.equal(target[0], 0xee, 'writes nothing before the offset');
    return target.subarray(1, end).toString('hex');
  };
  t.equal(header(Opcode.Text, true, false, 5), '8105', 'single-frame text "Hello"');
  t.equal(header(Opcode.Text, false, false, 3), '0103', 'first fragment "Hel"');
  t.equal(header(Opcode.Continuation, true, false, 2), '8002', 'last fragment "lo"');
  t.equal(header(Opcode.Ping, true, false, 5), '8905', 'unmasked ping');
  t.equal(header(Opcode.Binary, true, false, 256), '827e0100', '256 bytes: 16-bit length');
  t.equal(header(Opcode.Binary, true, false, 65536), '827f0000000000010000', '64 KiB: 64-bit');
  t.equal(header(Opcode.Text, true, false, 125), '817d', '125 still fits 7 bits');
  t.equal(header(Opcode.Text, true, false, 126), '817e007e', '126 needs 16 bits');
  t.equal(header(Opcode.Binary, true, false, 65535), '827effff', '65535 is the 16-bit maximum');
  t.equal(header(Opcode.Binary, true, true, 1), 'c201', 'RSV1 sets 0x40');
  t.equal(
    header(Opcode.Binary, true, false, 2 ** 32 + 5),
    '827f0000000100000005',
    'high and low 32-bit words',
  );
  t.equal(
    header(Opcode.Binary, true, false, Number.MAX_SAFE_INTEGER),
    '827f001fffffffffffff',
    'the most significant bit stays 0',
  );
});

t.test('writes a single unmasked frame per small message', async (t) => {
  const { writer, calls, bytes } = writerFor();
  writer.writeMessage(Opcode.Text, Buffer.from('Hello'));
  t.equal(calls.length, 1, 'one write');
  t.equal(bytes().toString('hex'), '810548656c6c6f');
  writer.writeMessage(Opcode.Ping, Buffer.from('Hello'));
  t.equal(calls.length, 2);
  t.equal(calls[1]![0]!.toString('hex'), '890548656c6c6f');
  writer.writeMessage(Opcode.Binary, Buffer.alloc(0));
  t.equal(calls[2]![0]!.toString('hex'), '8200', 'an empty message is one empty frame');
});

t.test(
  'writeText encodes UTF-8 and chooses the length form by bytes, not characters',
  async (t) => {
    const { writer, bytes } = writerFor();
    writer.writeText('€');
    writer.writeText('é'.repeat(63));
    const [euro, accents] = frames(bytes());
    t.equal(bytes().subarray(0, 5).toString('hex'), '8103e282ac');
    t.equal(accents?.payload.length, 126, '63 characters are 126 bytes');
    t.equal(bytes().subarray(5, 9).toString('hex'), '817e007e', '16-bit length form');
    t.equal(euro?.payload.toString(), '€');
    t.equal(accents?.payload.toString(), 'é'.repeat(63));
  },
);

t.test('writeText sends large text as one frame with the right length', async (t) => {
  const { writer, bytes } = writerFor();
  const text = 'x'.repeat(70_000);
  writer.writeText(text);
  const [frame] = frames(bytes());
  t.equal(bytes().subarray(0, 10).toString('hex'), '817f0000000000011170');
  t.equal(frame?.payload.toString(), text);
});

t.test('fragments a message larger than maxFrameSize (RFC 6455 §5.4)', async (t) => {
  const { writer, bytes } = writerFor(3);
  writer.writeMessage(Opcode.Text, Buffer.from('Hello'));
  t.equal(bytes().toString('hex'), '010348656c' + '80026c6f', 'the §5.7 "Hel" + "lo" example');

  const big = writerFor(16 * 1024);
  const payload = Buffer.alloc(40 * 1024);
  for (let i = 0; i < payload.length; i++) payload[i] = i & 0xff;
  big.writer.writeMessage(Opcode.Binary, payload, true);
  const parts = frames(big.bytes());
  t.same(
    parts.map((f) => [f.opcode, f.fin, f.rsv, f.payload.length]),
    [
      [Opcode.Binary, false, 4, 16 * 1024],
      [Opcode.Continuation, false, 0, 16 * 1024],
      [Opcode.Continuation, true, 0, 8 * 1024],
    ],
    'opcode only on the first frame, RSV1 only on the first, FIN only on the last',
  );
  t.ok(Buffer.concat(parts.map((f) => f.payload)).equals(payload), 'payload intact');
});

t.test('writeText honours maxFrameSize too', async (t) => {
  const { writer, bytes } = writerFor(4);
  writer.writeText('abcdefghij');
  const parts = frames(bytes());
  t.same(
    parts.map((f) => [f.opcode, f.fin, f.payload.toString()]),
    [
      [Opcode.Text, false, 'abcd'],
      [Opcode.Continuation, false, 'efgh'],
      [Opcode.Continuation, true, 'ij'],
    ],
  );
});

t.test('never fragments a control frame, whatever maxFrameSize is (RFC 6455 §5.5)', async (t) => {
  const { writer, bytes } = writerFor(4);
  const reason = Buffer.concat([hex('03e8'), Buffer.from('a reason of some length')]);
  writer.writeMessage(Opcode.Close, reason);
  writer.writeMessage(Opcode.Ping, Buffer.from('0123456789'));
  const parts = frames(bytes());
  t.same(
    parts.map((f) => [f.opcode, f.fin, f.payload.length]),
    [
      [Opcode.Close, true, reason.length],
      [Opcode.Ping, true, 10],
    ],
  );
});

t.test('a batch leaves in exactly one write, in order', async (t) => {
  const { writer, calls, bytes } = writerFor();
  writer.beginBatch();
  writer.writeText('one');
  writer.writeMessage(Opcode.Binary, Buffer.from([1, 2, 3]));
  writer.beginBatch();
  writer.writeMessage(Opcode.Pong, Buffer.from('p'));
  writer.endBatch();
  t.equal(calls.length, 0, 'nothing written while the outermost batch is open');
  t.equal(writer.pendingBytes, 5 + 5 + 3, 'pendingBytes counts the gathered frames');
  writer.writeText('two');
  writer.endBatch();
  t.equal(calls.length, 1, 'one write');
  t.equal(calls[0]!.length, 1, 'one chunk');
  t.equal(writer.pendingBytes, 0);
  t.equal(bytes().toString('hex'), '81036f6e65' + '8203010203' + '8a0170' + '810374776f');
});

t.test('flush() hands gathered frames over even inside a batch', async (t) => {
  const { writer, calls } = writerFor();
  writer.beginBatch();
  writer.writeText('a');
  writer.flush();
  t.equal(calls.length, 1);
  writer.writeText('b');
  writer.endBatch();
  t.equal(calls.length, 2);
});

t.test('a large payload is written by reference, corked with its header', async (t) => {
  const { writer, calls } = writerFor();
  const payload = Buffer.alloc(64 * 1024, 7);
  writer.writeMessage(Opcode.Binary, payload);
  t.equal(calls.length, 1, 'one writev');
  const [header, body] = calls[0]!;
  t.equal(header?.toString('hex'), '827f0000000000010000');
  t.equal(body, payload, 'the very same buffer, not a copy');

  const view = new Uint8Array(new ArrayBuffer(20_000 + 8), 8, 20_000);
  writer.writeMessage(Opcode.Binary, view);
  const written = calls[1]![1]!;
  t.equal(written.buffer, view.buffer, 'a Uint8Array is written as a view of its memory');
  t.equal(written.byteOffset, 8);
});

t.test('a batch with a large frame still leaves in one writev, in order', async (t) => {
  const { writer, calls, bytes } = writerFor();
  const payload = Buffer.alloc(20_000, 1);
  writer.beginBatch();
  writer.writeText('first');
  writer.writeMessage(Opcode.Binary, payload);
  writer.writeText('last');
  t.equal(calls.length, 0, 'nothing written while the batch is open');
  writer.endBatch();
  t.equal(calls.length, 1, 'one writev for the whole batch');
  t.same(
    calls[0]!.map((chunk) => chunk.length),
    [7 + 4, 20_000, 6],
    'small frame and large header, the payload by reference, the frame after it',
  );
  t.equal(calls[0]![1], payload, 'the payload is not copied');
  t.same(
    frames(bytes()).map((f) => f.payload.length),
    [5, 20_000, 4],
  );
});

t.test('payloads from 1 KiB on are written by reference, smaller ones copied', async (t) => {
  const { writer, calls } = writerFor();
  writer.writeMessage(Opcode.Binary, Buffer.alloc(1024, 2));
  t.equal(calls[0]!.length, 1, '1 KiB: header and payload copied into one chunk');
  const payload = Buffer.alloc(1025, 3);
  writer.writeMessage(Opcode.Binary, payload);
  t.equal(calls[1]!.length, 2, '1 KiB + 1: header, then the payload');
  t.equal(calls[1]![1], payload);
});

t.test('bytes handed to the socket are never overwritten by later frames', async (t) => {
  const { writer, calls } = writerFor();
  const expected: string[] = [];
  for (let i = 0; i < 5000; i++) {
    const text = `message ${i} ${'.'.repeat(i % 200)}`;
    expected.push(text);
    writer.writeText(text);
  }
  t.equal(calls.length, 5000);
  const decoded = frames(Buffer.concat(calls.flat())).map((f) => f.payload.toString());
  t.same(decoded, expected);
});

t.test('writes nothing once the socket has ended, and leaves nothing pending', async (t) => {
  const { socket, writer, calls } = writerFor();
  socket.end();
  writer.writeText('late');
  writer.writeMessage(Opcode.Binary, Buffer.alloc(100_000));
  t.equal(calls.length, 0);
  t.equal(writer.pendingBytes, 0);
});

t.test('back-to-back shared frames leave by reference in one write, without a copy', async (t) => {
  const { writer, calls } = writerFor();
  const memory = Buffer.from('8201618202626382016381', 'hex');
  const [a, b, c] = [memory.subarray(0, 3), memory.subarray(3, 7), memory.subarray(7, 10)];
  writer.beginBatch();
  writer.writeFrameBytes(a);
  writer.writeFrameBytes(b);
  writer.writeFrameBytes(c);
  t.equal(writer.pendingBytes, 10, 'the pending range counts as buffered');
  writer.endBatch();
  t.equal(calls.length, 1, 'one write');
  const [written] = calls[0] ?? [];
  t.equal(written?.buffer, memory.buffer, 'the shared memory itself, not a copy');
  t.equal(written?.toString('hex'), memory.subarray(0, 10).toString('hex'));
});

t.test('a frame of its own after shared frames follows them, in the same write', async (t) => {
  const { writer, calls, bytes } = writerFor();
  const memory = Buffer.from('82016182016282016300', 'hex');
  writer.beginBatch();
  writer.writeFrameBytes(memory.subarray(0, 3));
  writer.writeFrameBytes(memory.subarray(3, 6));
  writer.writeMessage(Opcode.Text, Buffer.from('x'));
  // Not adjacent to the last shared frame: a range of its own, after everything else.
  writer.writeFrameBytes(memory.subarray(6, 9));
  writer.endBatch();
  t.equal(calls.length, 1, 'one write');
  t.same(
    frames(bytes()).map((frame) => frame.payload.toString()),
    ['a', 'b', 'x', 'c'],
    'in call order',
  );
});

t.test('writers taking turns over shared frames still write once per batch', async (t) => {
  // A topic's frames: publications cut back to back, then a fresh block of memory (the topic's
  // frame slab rolled over), every subscriber receiving each publication in turn.
  const first = Buffer.from('820161820162', 'hex');
  const second = Buffer.from('820163820164', 'hex');
  const published = [first.subarray(0, 3), first.subarray(3, 6), second.subarray(0, 3)];
  published.push(second.subarray(3, 6));
  const subscribers = Array.from({ length: 3 }, () => writerFor());
  for (const { writer } of subscribers) writer.beginBatch();
  for (const frame of published) {
    for (const { writer } of subscribers) writer.writeFrameBytes(frame);
    // Another writer's own frames come between two publications, as an echo would.
    subscribers[0]?.writer.writeMessage(Opcode.Text, Buffer.from('x'));
  }
  for (const { writer, calls } of subscribers) {
    t.equal(calls.length, 0, 'nothing written while the batch is open');
    writer.endBatch();
  }
  for (const [i, { calls, bytes }] of subscribers.entries()) {
    t.equal(calls.length, 1, `subscriber ${i}: one write (writev) for the whole batch`);
    const expected = i === 0 ? ['a', 'x', 'b', 'x', 'c', 'x', 'd', 'x'] : ['a', 'b', 'c', 'd'];
    t.same(
      frames(bytes()).map((frame) => frame.payload.toString()),
      expected,
      `subscriber ${i}: every frame, in order`,
    );
  }
});

t.test('deferFlush holds frames past microtasks, until the check phase of the turn', async (t) => {
  const { writer, calls, bytes } = writerFor();
  writer.deferFlush();
  writer.writeMessage(Opcode.Binary, Buffer.from('a'));
  await Promise.resolve();
  // Work of the same turn after a microtask (another socket read, a resolved promise) joins in.
  writer.deferFlush();
  writer.writeMessage(Opcode.Binary, Buffer.from('b'));
  t.equal(calls.length, 0, 'nothing written yet');
  await new Promise((resolve) => setImmediate(resolve));
  t.equal(calls.length, 1, 'one write for both');
  t.same(
    frames(bytes()).map((frame) => frame.payload.toString()),
    ['a', 'b'],
  );
});

t.test('a socket still sending gets a copy of shared frames, never a reference', async (t) => {
  const calls: Buffer[] = [];
  let release: (() => void) | undefined;
  // The first write completes only when released: until then the socket is still sending.
  const socket = new Duplex({
    read() {},
    write(chunk: Buffer, _encoding, callback) {
      calls.push(chunk);
      if (calls.length === 1) release = callback;
      else callback();
    },
  });
  const writer = new FrameWriter(socket, { maxFrameSize: 1 << 20 });
  const memory = Buffer.from('820161820162', 'hex');
  writer.writeFrameBytes(memory.subarray(0, 3));
  t.equal(calls[0]?.buffer, memory.buffer, 'an idle socket is handed the shared bytes');
  writer.writeFrameBytes(memory.subarray(3, 6));
  memory.fill(0);
  release?.();
  await new Promise((resolve) => setImmediate(resolve));
  t.equal(calls.length, 2);
  t.not(calls[1]?.buffer, memory.buffer, 'the second write is a copy');
  t.equal(calls[1]?.toString('hex'), '820162', 'taken before the shared memory changed');
});
