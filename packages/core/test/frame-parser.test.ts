import { constants, deflateRawSync, inflateRawSync } from 'node:zlib';
import t from 'tap';
import { WebSocketError } from '../src/errors.js';
import {
  FrameParser,
  type FrameParserOptions,
  type FrameParserSink,
  HELD_FRAME_COST,
  type MessageInflater,
} from '../src/frame-parser.js';

// ---------------------------------------------------------------------------------------------
// Helpers

type ParserEvent =
  | { type: 'message'; data: Buffer; isBinary: boolean }
  | { type: 'ping' | 'pong'; payload: Buffer }
  | { type: 'close'; code: number | undefined; reason: string }
  | { type: 'fail'; closeCode: number; errorCode: string }
  | { type: 'paused'; paused: boolean };

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const text = (s: string): ParserEvent => ({
  type: 'message',
  data: Buffer.from(s),
  isBinary: false,
});
const binary = (data: Buffer): ParserEvent => ({ type: 'message', data, isBinary: true });
const fail = (closeCode: number, errorCode: string): ParserEvent => ({
  type: 'fail',
  closeCode,
  errorCode,
});

const KEY = hex('37fa213d');

/** Builds a frame; masked with KEY unless `mask` is null. `lengthBytes` forces an encoding. */
function frame(spec: {
  opcode: number;
  payload?: Buffer | string;
  fin?: boolean;
  rsv?: number;
  mask?: Buffer | null;
  lengthBytes?: 0 | 2 | 8;
}): Buffer {
  const payload = Buffer.from(spec.payload ?? '');
  const key = spec.mask === undefined ? KEY : spec.mask;
  const length = payload.length;
  const lengthBytes = spec.lengthBytes ?? (length < 126 ? 0 : length < 65536 ? 2 : 8);
  const header = Buffer.alloc(2 + lengthBytes);
  header[0] = (spec.fin === false ? 0 : 0x80) | ((spec.rsv ?? 0) << 4) | spec.opcode;
  header[1] = (key ? 0x80 : 0) | (lengthBytes === 0 ? length : lengthBytes === 2 ? 126 : 127);
  if (lengthBytes === 2) header.writeUInt16BE(length, 2);
  if (lengthBytes === 8) header.writeBigUInt64BE(BigInt(length), 2);
  if (!key) return Buffer.concat([header, payload]);
  const masked = Buffer.from(payload.map((b, i) => b ^ key[i % 4]!));
  return Buffer.concat([header, key, masked]);
}

/** A parser with a sink that records every event (payloads copied). */
function setup(options: Partial<FrameParserOptions> = {}) {
  const events: ParserEvent[] = [];
  const waiters: Array<() => void> = [];
  const add = (event: ParserEvent): void => {
    events.push(event);
    for (const wake of waiters.splice(0)) wake();
  };
  const sink: FrameParserSink = {
    onMessage: (data, isBinary) => add({ type: 'message', data: Buffer.from(data), isBinary }),
    onPing: (payload) => add({ type: 'ping', payload: Buffer.from(payload) }),
    onPong: (payload) => add({ type: 'pong', payload: Buffer.from(payload) }),
    onClose: (code, reason) => add({ type: 'close', code, reason }),
    onFail: (closeCode, errorCode, message) => {
      if (message.length === 0) throw new Error('empty failure message');
      add({ type: 'fail', closeCode, errorCode });
    },
    onPausedChange: (paused) => add({ type: 'paused', paused }),
  };
  const parser = new FrameParser(sink, { maxPayload: 1 << 20, maxFragments: 16, ...options });
  /** Resolves once `count` events of `type` were recorded. */
  const until = async (type: ParserEvent['type'], count = 1): Promise<void> => {
    while (events.filter((e) => e.type === type).length < count) {
      await new Promise<void>((resolve) => waiters.push(resolve));
    }
  };
  return { parser, sink, events, until };
}

/** Parses `input` on a fresh server-side parser and returns the recorded events. */
function parse(input: Buffer, options: Partial<FrameParserOptions> = {}): ParserEvent[] {
  const { parser, events } = setup(options);
  parser.push(input);
  return events;
}

function pushBytewise(parser: FrameParser, input: Buffer): void {
  for (let i = 0; i < input.length; i++) parser.push(input.subarray(i, i + 1));
}

/** permessage-deflate payload: raw deflate, sync-flushed, minus the 00 00 ff ff tail (RFC 7692 §7.2.1). */
function deflate(data: Buffer | string): Buffer {
  const out = deflateRawSync(data, { finishFlush: constants.Z_SYNC_FLUSH });
  return out.subarray(0, out.length - 4);
}

const TRAILER = hex('0000ffff');

/** Test inflater: re-inflates the message so far with inflateRawSync and hands out the new bytes. */
class FakeInflater implements MessageInflater {
  readonly calls: Array<{ fin: boolean; maxBytes: number }> = [];
  readonly #isSync: boolean;
  #input: Buffer[] = [];
  #emitted = 0;

  constructor(isSync = false) {
    this.#isSync = isSync;
  }

  inflate(
    data: Buffer,
    fin: boolean,
    maxBytes: number,
    callback: (err: WebSocketError | null, inflated?: Buffer) => void,
  ): void {
    this.calls.push({ fin, maxBytes });
    this.#input.push(Buffer.from(data), ...(fin ? [TRAILER] : []));
    let result: [WebSocketError | null, Buffer?];
    try {
      const all = inflateRawSync(Buffer.concat(this.#input), {
        finishFlush: constants.Z_SYNC_FLUSH,
      });
      const fresh = all.subarray(this.#emitted);
      this.#emitted = all.length;
      result =
        fresh.length > maxBytes
          ? [new WebSocketError(1009, 'WS_MESSAGE_TOO_BIG', 'inflated message too big')]
          : [null, fresh];
    } catch {
      result = [new WebSocketError(1007, 'WS_INFLATE_FAILED', 'bad deflate data')];
    }
    if (fin) {
      this.#input = [];
      this.#emitted = 0;
    }
    if (this.#isSync) callback(...result);
    else setImmediate(() => callback(...result));
  }
}

// ---------------------------------------------------------------------------------------------
// RFC 6455 §5.7 examples

t.test('§5.7: parses a single-frame unmasked text message on the client side', async (t) => {
  t.same(parse(hex('81 05 48656c6c6f'), { expectMasked: false }), [text('Hello')]);
});

t.test('§5.7: parses a single-frame masked text message', async (t) => {
  t.same(parse(hex('81 85 37fa213d 7f9f4d5158')), [text('Hello')]);
});

t.test('§5.7: reassembles a fragmented unmasked text message', async (t) => {
  const input = hex('01 03 48656c 80 02 6c6f');
  t.same(parse(input, { expectMasked: false }), [text('Hello')]);
});

t.test('§5.7: reports an unmasked ping and a masked pong', async (t) => {
  t.same(parse(hex('89 05 48656c6c6f'), { expectMasked: false }), [
    { type: 'ping', payload: Buffer.from('Hello') },
  ]);
  t.same(parse(hex('8a 85 37fa213d 7f9f4d5158')), [
    { type: 'pong', payload: Buffer.from('Hello') },
  ]);
});

t.test('§5.7: parses a 256-byte binary message with a 16-bit length', async (t) => {
  const payload = Buffer.alloc(256, 0x5a);
  const input = Buffer.concat([hex('82 7e 0100'), payload]);
  t.same(parse(input, { expectMasked: false }), [binary(payload)]);
});

t.test('§5.7: parses a 64 KiB binary message with a 64-bit length', async (t) => {
  const payload = Buffer.alloc(65536, 0xa5);
  const input = Buffer.concat([hex('82 7f 0000000000010000'), payload]);
  t.same(parse(input, { expectMasked: false }), [binary(payload)]);
});

// ---------------------------------------------------------------------------------------------
// One frame fed byte by byte, for each parser state

t.test(
  'parses a 7-bit-length masked frame fed byte by byte (header, masking key, payload)',
  async (t) => {
    const { parser, events } = setup();
    const input = hex('81 85 37fa213d 7f9f4d5158');
    for (let i = 0; i < input.length - 1; i++) {
      parser.push(input.subarray(i, i + 1));
      t.equal(parser.bufferedBytes, [1, 0, 1, 2, 3, 0, 1, 2, 3, 4][i], `buffered after byte ${i}`);
    }
    t.same(events, []);
    parser.push(input.subarray(input.length - 1));
    t.same(events, [text('Hello')]);
    t.equal(parser.bufferedBytes, 0);
  },
);

t.test('parses a 16-bit-length frame fed byte by byte', async (t) => {
  const { parser, events } = setup();
  const payload = Buffer.alloc(300, 7);
  pushBytewise(parser, frame({ opcode: 2, payload }));
  t.same(events, [binary(payload)]);
});

t.test('parses a 64-bit-length frame fed byte by byte', async (t) => {
  const { parser, events } = setup();
  pushBytewise(parser, frame({ opcode: 1, payload: 'sixty-four', lengthBytes: 8 }));
  t.same(events, [text('sixty-four')]);
});

t.test('parses a close frame fed byte by byte', async (t) => {
  const { parser, events } = setup();
  pushBytewise(parser, frame({ opcode: 8, payload: Buffer.from('\x03\xe8bye', 'latin1') }));
  t.same(events, [{ type: 'close', code: 1000, reason: 'bye' }]);
});

t.test(
  'holds bytes pushed while inflating, byte by byte, and parses them afterwards',
  async (t) => {
    const inflater = new FakeInflater();
    const { parser, events, until } = setup({ inflater });
    const compressed = frame({ opcode: 1, rsv: 4, payload: deflate('squeezed') });
    const next = frame({ opcode: 1, payload: 'plain' });
    parser.push(compressed);
    t.same(events, [{ type: 'paused', paused: true }]);
    pushBytewise(parser, next);
    t.equal(parser.bufferedBytes, next.length + compressed.length - 6, 'waiting bytes are counted');
    await until('message', 2);
    t.same(events, [
      { type: 'paused', paused: true },
      text('squeezed'),
      { type: 'paused', paused: false },
      text('plain'),
    ]);
    t.equal(parser.bufferedBytes, 0);
  },
);

// ---------------------------------------------------------------------------------------------
// Zero-copy

t.test('delivers a frame that sits in one chunk as a view, unmasked in place', async (t) => {
  let delivered: Buffer | undefined;
  const sink: FrameParserSink = {
    onMessage: (data) => {
      delivered = data;
    },
    onPing: () => {},
    onPong: () => {},
    onClose: () => {},
    onFail: () => t.fail('unexpected failure'),
  };
  const parser = new FrameParser(sink, { maxPayload: 1024, maxFragments: 1 });
  const chunk = Buffer.concat([
    frame({ opcode: 2, payload: 'ab' }),
    frame({ opcode: 2, payload: 'view' }),
  ]);
  parser.push(chunk);
  t.equal(delivered?.buffer, chunk.buffer, 'same backing memory');
  t.equal(delivered?.byteOffset, chunk.byteOffset + chunk.length - 4);
  t.equal(chunk.subarray(-4).toString(), 'view', 'the chunk itself was unmasked');
});

t.test('copies a payload that spans chunks into one buffer', async (t) => {
  const { parser, events } = setup();
  const input = frame({ opcode: 2, payload: Buffer.alloc(1000, 3) });
  for (let i = 0; i < input.length; i += 97) parser.push(input.subarray(i, i + 97));
  t.same(events, [binary(Buffer.alloc(1000, 3))]);
});

t.test(
  'moves a large payload into its delivery buffer as it arrives, once a quarter is here',
  async (t) => {
    const { parser, events } = setup();
    const payload = Buffer.alloc(256 * 1024);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 7) & 0xff;
    const input = frame({ opcode: 2, payload });
    const header = input.length - payload.length;
    const piece = 16 * 1024;
    parser.push(input.subarray(0, header + piece));
    t.equal(parser.bufferedBytes, piece, 'under a quarter: the chunk is held as is');
    let at = header + piece;
    for (; at < header + payload.length / 4; at += piece) {
      parser.push(input.subarray(at, at + piece));
    }
    t.equal(
      parser.bufferedBytes,
      payload.length,
      'from a quarter on: the delivery buffer, at its full size, and no chunk',
    );
    // The rest byte by byte at first (a chunk per byte), then in one piece.
    pushBytewise(parser, input.subarray(at, at + 100));
    t.equal(parser.bufferedBytes, payload.length, 'each byte moved on arrival');
    parser.push(input.subarray(at + 100));
    t.same(events, [binary(payload)], 'delivered whole and unmasked');
    t.equal(parser.bufferedBytes, 0);
  },
);

t.test('a large text payload assembled on arrival is still validated as it arrives', async (t) => {
  const { parser, events } = setup();
  const valid = Buffer.from('é'.repeat(60 * 1024));
  const payload = Buffer.concat([valid, hex('c3'), Buffer.from('x'.repeat(1000))]);
  const input = frame({ opcode: 1, payload });
  const cut = input.length - 500;
  for (let at = 0; at < cut; at += 8192) parser.push(input.subarray(at, Math.min(at + 8192, cut)));
  t.same(events, [fail(1007, 'WS_INVALID_UTF8')], 'failed before the frame ended');
});

// ---------------------------------------------------------------------------------------------
// Header rules

t.test('fails with 1002 when a client frame is not masked', async (t) => {
  t.same(parse(hex('81 05 48656c6c6f')), [fail(1002, 'WS_UNMASKED_FRAME')]);
});

t.test('fails with 1002 when a server frame is masked (client side)', async (t) => {
  const events = parse(hex('81 85 37fa213d 7f9f4d5158'), { expectMasked: false });
  t.same(events, [fail(1002, 'WS_MASKED_FRAME')]);
});

t.test('fails with 1002 when RSV1 is set and no inflater was negotiated', async (t) => {
  t.same(parse(hex('c1 85 37fa213d 7f9f4d5158')), [fail(1002, 'WS_RESERVED_BITS')]);
});

t.test('fails with 1002 when RSV1 is set on a continuation frame', async (t) => {
  const input = Buffer.concat([
    frame({ opcode: 1, payload: 'a', fin: false }),
    frame({ opcode: 0, payload: 'b', rsv: 4 }),
  ]);
  t.same(parse(input, { inflater: new FakeInflater() }), [fail(1002, 'WS_RESERVED_BITS')]);
});

t.test('fails with 1002 when RSV1 is set on a control frame', async (t) => {
  const input = frame({ opcode: 9, rsv: 4 });
  t.same(parse(input, { inflater: new FakeInflater() }), [fail(1002, 'WS_RESERVED_BITS')]);
});

t.test('fails with 1002 when RSV2 or RSV3 is set, even with an inflater', async (t) => {
  for (const rsv of [1, 2, 3, 5, 7]) {
    const input = frame({ opcode: 2, payload: 'x', rsv });
    t.same(parse(input, { inflater: new FakeInflater() }), [fail(1002, 'WS_RESERVED_BITS')]);
  }
});

t.test('fails with 1002 on every reserved opcode', async (t) => {
  for (const opcode of [3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf]) {
    t.same(parse(frame({ opcode })), [fail(1002, 'WS_INVALID_OPCODE')], `opcode ${opcode}`);
  }
});

t.test('fails with 1002 when a control frame has FIN clear', async (t) => {
  t.same(parse(hex('09 80 37fa213d')), [fail(1002, 'WS_CONTROL_FRAGMENTED')]);
});

t.test('fails with 1002 when a control frame payload is longer than 125 bytes', async (t) => {
  t.same(parse(hex('89 fe 007e')), [fail(1002, 'WS_CONTROL_TOO_LONG')], '126 in a 16-bit length');
  t.same(parse(hex('8a ff 0000000000000001')), [fail(1002, 'WS_CONTROL_TOO_LONG')]);
  t.same(parse(frame({ opcode: 9, payload: Buffer.alloc(125) })), [
    { type: 'ping', payload: Buffer.alloc(125) },
  ]);
});

t.test('fails with 1002 on a continuation frame with no message in progress', async (t) => {
  t.same(parse(frame({ opcode: 0, payload: 'x' })), [fail(1002, 'WS_UNEXPECTED_CONTINUATION')]);
});

t.test('fails with 1002 when a new data frame starts inside a fragmented message', async (t) => {
  const input = Buffer.concat([
    frame({ opcode: 1, payload: 'a', fin: false }),
    frame({ opcode: 2, payload: 'b' }),
  ]);
  t.same(parse(input), [fail(1002, 'WS_EXPECTED_CONTINUATION')]);
});

t.test('accepts control frames interleaved inside a fragmented message', async (t) => {
  const input = Buffer.concat([
    frame({ opcode: 1, payload: 'Hel', fin: false }),
    frame({ opcode: 9, payload: 'p1' }),
    frame({ opcode: 0, payload: 'l', fin: false }),
    frame({ opcode: 10, payload: 'p2' }),
    frame({ opcode: 0, payload: 'o' }),
  ]);
  t.same(parse(input), [
    { type: 'ping', payload: Buffer.from('p1') },
    { type: 'pong', payload: Buffer.from('p2') },
    text('Hello'),
  ]);
});

t.test('fails with 1002 when a 64-bit length has the most significant bit set', async (t) => {
  t.same(parse(hex('82 ff 8000000000000000')), [fail(1002, 'WS_INVALID_LENGTH')]);
});

t.test('fails with 1009 when a legal 64-bit length exceeds Number.MAX_SAFE_INTEGER', async (t) => {
  const options = { maxPayload: Number.POSITIVE_INFINITY };
  t.same(parse(hex('82 ff 0020000000000000'), options), [fail(1009, 'WS_MESSAGE_TOO_BIG')]);
  t.same(parse(hex('82 ff 7fffffffffffffff'), options), [fail(1009, 'WS_MESSAGE_TOO_BIG')]);
  t.same(
    parse(hex('82 ff 001fffffffffffff 37fa213d'), options),
    [],
    'MAX_SAFE_INTEGER itself is waited for',
  );
});

// ---------------------------------------------------------------------------------------------
// Size limits

t.test('fails with 1009 from the header alone when a frame exceeds maxPayload', async (t) => {
  const { parser, events } = setup({ maxPayload: 100 });
  parser.push(hex('82 fe 0065')); // 101 bytes announced, none sent
  t.same(events, [fail(1009, 'WS_MESSAGE_TOO_BIG')]);
  t.equal(parser.bufferedBytes, 0);
  t.same(parse(hex('82 ff 0000010000000000'), { maxPayload: 100 }), [
    fail(1009, 'WS_MESSAGE_TOO_BIG'),
  ]);
});

t.test('fails with 1009 when the fragments together exceed maxPayload', async (t) => {
  const { parser, events } = setup({ maxPayload: 10 });
  parser.push(frame({ opcode: 2, payload: Buffer.alloc(6), fin: false }));
  parser.push(frame({ opcode: 0, payload: Buffer.alloc(5) }).subarray(0, 2)); // header only
  t.same(events, [fail(1009, 'WS_MESSAGE_TOO_BIG')]);
});

t.test('accepts a message of exactly maxPayload bytes', async (t) => {
  const input = Buffer.concat([
    frame({ opcode: 2, payload: Buffer.alloc(6), fin: false }),
    frame({ opcode: 0, payload: Buffer.alloc(4) }),
  ]);
  t.same(parse(input, { maxPayload: 10 }), [binary(Buffer.alloc(10))]);
});

t.test('does not count control frames against maxPayload', async (t) => {
  const events = parse(frame({ opcode: 9, payload: Buffer.alloc(50) }), { maxPayload: 10 });
  t.same(events, [{ type: 'ping', payload: Buffer.alloc(50) }]);
});

t.test('fails with 1009 when a message has more frames than maxFragments', async (t) => {
  const { parser, events } = setup({ maxFragments: 3 });
  parser.push(frame({ opcode: 1, payload: 'a', fin: false }));
  parser.push(frame({ opcode: 0, payload: 'b', fin: false }));
  parser.push(frame({ opcode: 9 })); // control frames do not count
  parser.push(frame({ opcode: 0, payload: 'c', fin: false }));
  t.same(events, [{ type: 'ping', payload: Buffer.alloc(0) }]);
  parser.push(frame({ opcode: 0, payload: 'd' }));
  t.same(events.at(-1), fail(1009, 'WS_TOO_MANY_FRAGMENTS'));
});

t.test('counts fragments per message', async (t) => {
  const input = Buffer.concat([
    frame({ opcode: 1, payload: 'a', fin: false }),
    frame({ opcode: 0, payload: 'b' }),
    frame({ opcode: 1, payload: 'c', fin: false }),
    frame({ opcode: 0, payload: 'd' }),
  ]);
  t.same(parse(input, { maxFragments: 2 }), [text('ab'), text('cd')]);
});

t.test('accepts any number of fragments when maxFragments is Infinity', async (t) => {
  const frames = [frame({ opcode: 2, payload: 'x', fin: false })];
  for (let i = 0; i < 2000; i++) frames.push(frame({ opcode: 0, payload: 'x', fin: false }));
  frames.push(frame({ opcode: 0 }));
  const events = parse(Buffer.concat(frames), { maxFragments: Number.POSITIVE_INFINITY });
  t.same(events, [binary(Buffer.alloc(2001, 'x'))]);
});

// ---------------------------------------------------------------------------------------------
// Held fragments and maxBufferedBytes

const UNLIMITED_FRAGMENTS = { maxFragments: Number.POSITIVE_INFINITY } as const;

t.test(
  'fails with 1009 (WS_BUFFER_OVERFLOW) inside one chunk when tiny fragments exceed maxBufferedBytes',
  async (t) => {
    const maxBufferedBytes = 20_000;
    const frames = [frame({ opcode: 1, payload: 'x', fin: false })];
    for (let i = 0; i < 1000; i++) frames.push(frame({ opcode: 0, payload: 'x', fin: false }));
    const chunk = Buffer.concat(frames);
    t.ok(chunk.length < maxBufferedBytes, 'the chunk alone is within the cap');
    const { parser, events } = setup({ ...UNLIMITED_FRAGMENTS, maxBufferedBytes });
    parser.push(chunk);
    t.same(events, [fail(1009, 'WS_BUFFER_OVERFLOW')], 'failed between frames of the chunk');
    t.ok(parser.isStopped);
    t.same(parse(chunk, UNLIMITED_FRAGMENTS), [], 'without the cap nothing fails');
  },
);

t.test(
  'keeps bufferedBytes within maxBufferedBytes until failing, empty fragments included',
  async (t) => {
    const maxBufferedBytes = 10_000;
    for (const payload of ['', 'x']) {
      const { parser, events } = setup({ ...UNLIMITED_FRAGMENTS, maxBufferedBytes });
      parser.push(frame({ opcode: 2, payload, fin: false }));
      let frames = 1;
      let highest = parser.bufferedBytes;
      while (events.length === 0 && frames < 1000) {
        parser.push(frame({ opcode: 0, payload, fin: false }));
        frames++;
        if (events.length === 0) highest = Math.max(highest, parser.bufferedBytes);
      }
      t.same(events, [fail(1009, 'WS_BUFFER_OVERFLOW')], `${payload.length}-byte fragments`);
      t.ok(highest <= maxBufferedBytes, `never above the cap before failing (${highest})`);
      t.ok(
        frames <= maxBufferedBytes / HELD_FRAME_COST + 1,
        `failed by frame ${frames}: each held frame costs at least HELD_FRAME_COST`,
      );
    }
  },
);

t.test('fails with 1009 at the header of a fragment that could not be held', async (t) => {
  const { parser, events } = setup({ maxBufferedBytes: 1000 });
  parser.push(frame({ opcode: 2, payload: Buffer.alloc(10), fin: false }));
  // Only the header of a 2000-byte continuation: no payload byte has arrived.
  parser.push(frame({ opcode: 0, payload: Buffer.alloc(2000) }).subarray(0, 8));
  t.same(events, [fail(1009, 'WS_BUFFER_OVERFLOW')]);
});

t.test('charges nothing per frame for a message in a single frame', async (t) => {
  // Exactly fits: 2 header bytes, 4 masking key bytes and 100 payload bytes, no frame cost.
  const input = frame({ opcode: 2, payload: Buffer.alloc(100) });
  t.same(parse(input, { maxBufferedBytes: input.length }), [binary(Buffer.alloc(100))]);
});

t.test('holds fragment payloads in owned memory, not in views of the pushed chunks', async (t) => {
  const { parser, events } = setup();
  const first = frame({ opcode: 2, payload: 'abc', fin: false });
  parser.push(first);
  first.fill(0); // a socket chunk the parser kept a view of would now read as zeros
  const last = frame({ opcode: 0, payload: 'def' });
  parser.push(last);
  t.same(events, [binary(Buffer.from('abcdef'))]);
});

// ---------------------------------------------------------------------------------------------
// UTF-8

t.test('fails with 1007 on an unfragmented text message that is not UTF-8', async (t) => {
  t.same(parse(frame({ opcode: 1, payload: hex('48c328') })), [fail(1007, 'WS_INVALID_UTF8')]);
});

t.test('fails with 1007 on the first invalid text fragment, before FIN', async (t) => {
  const { parser, events } = setup();
  parser.push(frame({ opcode: 1, payload: 'fine', fin: false }));
  t.same(events, []);
  parser.push(frame({ opcode: 0, payload: hex('eda0'), fin: false })); // a surrogate prefix
  t.same(events, [fail(1007, 'WS_INVALID_UTF8')]);
});

t.test('fails with 1007 when a fragmented text message ends mid-character', async (t) => {
  const input = Buffer.concat([
    frame({ opcode: 1, payload: 'a', fin: false }),
    frame({ opcode: 0, payload: hex('e282') }),
  ]);
  t.same(parse(input), [fail(1007, 'WS_INVALID_UTF8')]);
});

t.test('accepts a code point split across fragments', async (t) => {
  const euro = Buffer.from('€');
  const input = Buffer.concat([
    frame({ opcode: 1, payload: euro.subarray(0, 1), fin: false }),
    frame({ opcode: 0, payload: euro.subarray(1, 2), fin: false }),
    frame({ opcode: 0, payload: euro.subarray(2) }),
  ]);
  t.same(parse(input), [text('€')]);
});

// ---------------------------------------------------------------------------------------------
// UTF-8 validated as it arrives (RFC 6455 §8.1: fail as soon as the text cannot be valid)

const KOSME = 'cebae1bdb9cf83cebcceb5';

t.test(
  'fails with 1007 when the invalid bytes of a text frame arrive in a later push',
  async (t) => {
    // Autobahn 6.4.3 and 6.4.4: one frame sent in three pieces, the last one never arrives.
    const cases: Array<[string, string[], Partial<FrameParserOptions>]> = [
      ['6.4.3: F4 90 80 80 after κόσμε', [KOSME, 'f4908080', '656469746564'], {}],
      ['6.4.4: 90 after κόσμε F4', [`${KOSME}f4`, '90', '8080656469746564'], {}],
      ['an unmasked server frame', [KOSME, 'ff', '6869'], { expectMasked: false }],
      ['a 16-bit-length frame', ['61'.repeat(300), 'eda080', '62'.repeat(300)], {}],
      ['a 64 KiB frame, unmasked ahead', ['61'.repeat(70_000), 'c0af', '62'.repeat(70_000)], {}],
    ];
    for (const [name, parts, options] of cases) {
      const payload = hex(parts.join(''));
      const bytes = frame(
        options.expectMasked === false
          ? { opcode: 1, payload, mask: null }
          : { opcode: 1, payload },
      );
      const headerLength = bytes.length - payload.length;
      const validEnd = headerLength + hex(parts[0]!).length;
      const invalidEnd = validEnd + hex(parts[1]!).length;
      const { parser, events } = setup(options);
      parser.push(bytes.subarray(0, validEnd));
      t.same(events, [], `${name}: a valid prefix is accepted`);
      parser.push(bytes.subarray(validEnd, invalidEnd));
      t.same(events, [fail(1007, 'WS_INVALID_UTF8')], `${name}: fails on the invalid bytes`);
      t.ok(parser.isStopped, `${name}: the rest of the frame is not awaited`);
    }
  },
);

t.test(
  'fails with 1007 on the byte that makes a text frame invalid, fed byte by byte',
  async (t) => {
    const cases: Array<[string, string, number]> = [
      ['U+110000 after κόσμε', `${KOSME}f4908080656469746564`, 12],
      ['0xFF inside κόσμε', 'cebaffe1bdb9', 2],
      ['a surrogate', '6869eda080', 3],
      ['an overlong "/" after a "/"', '2fc0af', 1],
    ];
    for (const [name, payloadHex, invalidAt] of cases) {
      for (const isFragmented of [false, true]) {
        const payload = hex(payloadHex);
        // Fragmented: the first byte in a frame of its own, the rest (where every case turns
        // invalid) in a continuation, so both headers come before the failing byte.
        const bytes = isFragmented
          ? Buffer.concat([
              frame({ opcode: 1, payload: payload.subarray(0, 1), fin: false }),
              frame({ opcode: 0, payload: payload.subarray(1) }),
            ])
          : frame({ opcode: 1, payload });
        const failingByte = bytes.length - payload.length + invalidAt;
        const { parser, events } = setup();
        let failedAt = -1;
        for (let i = 0; i < bytes.length && failedAt === -1; i++) {
          parser.push(bytes.subarray(i, i + 1));
          if (events.length > 0) failedAt = i;
        }
        const label = `${name}${isFragmented ? ', fragmented' : ''}`;
        t.equal(failedAt, failingByte, `${label}: fails on frame byte ${failingByte}`);
        t.same(events, [fail(1007, 'WS_INVALID_UTF8')], label);
      }
    }
  },
);

t.test('accepts valid text split at every byte, across pushes and fragments', async (t) => {
  const payload = Buffer.from('κόσμε €𝄞 ascii');
  const inputs = [
    frame({ opcode: 1, payload }),
    frame({ opcode: 1, payload, mask: null }),
    Buffer.concat([
      frame({ opcode: 1, payload: payload.subarray(0, 5), fin: false }),
      frame({ opcode: 9, payload: 'ping' }),
      frame({ opcode: 0, payload: payload.subarray(5) }),
    ]),
  ];
  for (const [index, input] of inputs.entries()) {
    const options = index === 1 ? { expectMasked: false } : {};
    for (let cut = 1; cut < input.length; cut++) {
      const { parser, events } = setup(options);
      parser.push(Buffer.from(input.subarray(0, cut)));
      parser.push(Buffer.from(input.subarray(cut)));
      const messages = events.filter((e) => e.type === 'message');
      t.same(messages, [text(payload.toString())], `input ${index}, cut at ${cut}`, {
        diagnostic: false,
      });
    }
  }
});

t.test('validates text once: one native check when a frame arrives whole', async (t) => {
  const utf8 = await import('../src/utf8.js');
  const calls = { whole: 0, streamed: 0 };
  class CountingValidator extends utf8.Utf8Validator {
    override push(chunk: Uint8Array): boolean {
      calls.streamed++;
      return super.push(chunk);
    }
  }
  const { FrameParser: CountingParser } = await t.mockImport<
    typeof import('../src/frame-parser.js')
  >('../src/frame-parser.js', {
    '../src/utf8.js': {
      isValidUtf8: (bytes: Uint8Array) => {
        calls.whole++;
        return utf8.isValidUtf8(bytes);
      },
      Utf8Validator: CountingValidator,
    },
  });
  const messages: string[] = [];
  const parser = new CountingParser(
    { ...setup().sink, onMessage: (data) => void messages.push(data.toString()) },
    { maxPayload: 1 << 20, maxFragments: 4 },
  );
  const payload = 'κόσμε '.repeat(1000);
  // Copies: the parser unmasks in place.
  const bytes = frame({ opcode: 1, payload });
  parser.push(Buffer.from(bytes));
  t.same(calls, { whole: 1, streamed: 0 }, 'a frame in one chunk: one native call');
  const header = bytes.length - Buffer.byteLength(payload);
  parser.push(Buffer.from(bytes.subarray(0, header)));
  parser.push(Buffer.from(bytes.subarray(header)));
  t.same(calls, { whole: 2, streamed: 0 }, 'a payload in one chunk after its header: the same');
  parser.push(Buffer.from(bytes.subarray(0, 1000)));
  parser.push(Buffer.from(bytes.subarray(1000)));
  t.same(calls, { whole: 2, streamed: 2 }, 'a payload split in two: each part checked once');
  t.same(messages, [payload, payload, payload]);
});

t.test('does not check compressed text as it arrives, only once inflated', async (t) => {
  const inflater = new FakeInflater();
  const { parser, events, until } = setup({ inflater });
  // Deflate output is not UTF-8; a compressed frame arriving in pieces must not be checked.
  const bytes = frame({ opcode: 1, rsv: 4, payload: deflate('déjà compressé') });
  for (let i = 0; i < bytes.length; i++) parser.push(bytes.subarray(i, i + 1));
  await until('message');
  t.same(
    events.filter((e) => e.type === 'message'),
    [text('déjà compressé')],
  );
});

t.test('does not check binary messages for UTF-8', async (t) => {
  t.same(parse(frame({ opcode: 2, payload: hex('ff') })), [binary(hex('ff'))]);
});

t.test('delivers empty text and binary messages', async (t) => {
  const input = Buffer.concat([frame({ opcode: 1 }), frame({ opcode: 2 })]);
  t.same(parse(input), [text(''), binary(Buffer.alloc(0))]);
});

// ---------------------------------------------------------------------------------------------
// Close frames

t.test('reports a close frame without payload with an undefined code', async (t) => {
  t.same(parse(hex('88 80 37fa213d')), [{ type: 'close', code: undefined, reason: '' }]);
});

t.test('reports the close code and UTF-8 reason', async (t) => {
  const payload = Buffer.concat([hex('0bb8'), Buffer.from('gone ☂')]);
  t.same(parse(frame({ opcode: 8, payload })), [{ type: 'close', code: 3000, reason: 'gone ☂' }]);
});

t.test('fails with 1002 on a 1-byte close payload', async (t) => {
  t.same(parse(frame({ opcode: 8, payload: hex('03') })), [fail(1002, 'WS_INVALID_CLOSE_PAYLOAD')]);
});

t.test('fails with 1002 on close codes that may not be sent', async (t) => {
  for (const code of [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535]) {
    const payload = Buffer.alloc(2);
    payload.writeUInt16BE(code);
    t.same(parse(frame({ opcode: 8, payload })), [fail(1002, 'WS_INVALID_CLOSE_CODE')], `${code}`);
  }
});

t.test('fails with 1007 on a close reason that is not UTF-8', async (t) => {
  t.same(parse(frame({ opcode: 8, payload: hex('03e8 c0af') })), [fail(1007, 'WS_INVALID_UTF8')]);
});

t.test('stops after a close frame and ignores everything after it', async (t) => {
  const { parser, events } = setup();
  parser.push(
    Buffer.concat([
      frame({ opcode: 8, payload: hex('03e8') }),
      frame({ opcode: 1, payload: 'late' }),
    ]),
  );
  parser.push(frame({ opcode: 1, payload: 'later' }));
  t.ok(parser.isStopped);
  t.equal(parser.bufferedBytes, 0);
  t.same(events, [{ type: 'close', code: 1000, reason: '' }]);
});

// ---------------------------------------------------------------------------------------------
// Failure and re-entrancy

t.test('reports exactly one failure and ignores all input after it', async (t) => {
  const { parser, events } = setup();
  t.notOk(parser.isStopped);
  parser.push(Buffer.concat([frame({ opcode: 3 }), frame({ opcode: 1, payload: 'x' })]));
  parser.push(frame({ opcode: 0 }));
  t.ok(parser.isStopped);
  t.same(events, [fail(1002, 'WS_INVALID_OPCODE')]);
  t.equal(parser.bufferedBytes, 0);
});

t.test(
  'counts partial frames, held fragments and a cost per held frame in bufferedBytes',
  async (t) => {
    const { parser } = setup();
    parser.push(frame({ opcode: 2, payload: Buffer.alloc(10), fin: false }));
    // The 10 bytes sit in an owned buffer of the smallest capacity, 256 bytes: that is counted.
    t.equal(parser.bufferedBytes, 256 + HELD_FRAME_COST, 'a held fragment');
    parser.push(frame({ opcode: 0, payload: Buffer.alloc(20) }).subarray(0, 9));
    t.equal(
      parser.bufferedBytes,
      256 + 2 * HELD_FRAME_COST + 3,
      'plus the next frame, charged from its header on, and its 3 payload bytes so far',
    );
    parser.push(frame({ opcode: 0, payload: Buffer.alloc(20) }).subarray(9));
    t.equal(parser.bufferedBytes, 0, 'nothing once the message is delivered');
  },
);

t.test('queues bytes pushed from inside a sink callback', async (t) => {
  const order: string[] = [];
  let parser: FrameParser | undefined;
  const sink: FrameParserSink = {
    onMessage: (data) => {
      order.push(data.toString());
      if (data.toString() === 'first') parser?.push(frame({ opcode: 1, payload: 'third' }));
    },
    onPing: () => {},
    onPong: () => {},
    onClose: () => {},
    onFail: () => t.fail('unexpected failure'),
  };
  parser = new FrameParser(sink, { maxPayload: 100, maxFragments: 1 });
  parser.push(
    Buffer.concat([
      frame({ opcode: 1, payload: 'first' }),
      frame({ opcode: 1, payload: 'second' }),
    ]),
  );
  t.same(order, ['first', 'second', 'third']);
});

t.test('lets a sink exception propagate out of push and keeps parsing afterwards', async (t) => {
  const { parser, sink, events } = setup();
  const original = sink.onMessage;
  sink.onMessage = () => {
    throw new Error('handler bug');
  };
  t.throws(() => parser.push(frame({ opcode: 1, payload: 'boom' })), { message: 'handler bug' });
  sink.onMessage = original;
  parser.push(frame({ opcode: 1, payload: 'ok' }));
  t.same(events, [text('ok')]);
});

t.test('rejects invalid limits at construction', async (t) => {
  const sink = setup().sink;
  t.throws(() => new FrameParser(sink, { maxPayload: -1, maxFragments: 1 }), RangeError);
  t.throws(() => new FrameParser(sink, { maxPayload: Number.NaN, maxFragments: 1 }), RangeError);
  t.throws(() => new FrameParser(sink, { maxPayload: 1, maxFragments: 0 }), RangeError);
  t.throws(
    () => new FrameParser(sink, { maxPayload: 1, maxFragments: 1, maxBufferedBytes: -1 }),
    RangeError,
  );
});

// ---------------------------------------------------------------------------------------------
// Compressed messages (permessage-deflate)

t.test('inflates a compressed text message and pauses while inflating', async (t) => {
  const inflater = new FakeInflater();
  const { parser, events, until } = setup({ inflater, maxPayload: 1000 });
  parser.push(frame({ opcode: 1, rsv: 4, payload: deflate('Hello, deflate') }));
  t.same(events, [{ type: 'paused', paused: true }]);
  t.ok(parser.bufferedBytes > 0, 'the compressed payload counts while inflating');
  await until('paused', 2);
  t.same(events, [
    { type: 'paused', paused: true },
    text('Hello, deflate'),
    { type: 'paused', paused: false },
  ]);
  t.same(inflater.calls, [{ fin: true, maxBytes: 1000 }]);
});

t.test('inflates a fragmented compressed message with RSV1 on the first frame only', async (t) => {
  const inflater = new FakeInflater();
  const { parser, events, until } = setup({ inflater, maxPayload: 1000 });
  const message = 'abc '.repeat(50);
  const compressed = deflate(message);
  const half = compressed.length >> 1;
  parser.push(frame({ opcode: 1, rsv: 4, fin: false, payload: compressed.subarray(0, half) }));
  parser.push(frame({ opcode: 9, payload: 'mid' }));
  parser.push(frame({ opcode: 0, payload: compressed.subarray(half) }));
  await until('message');
  t.same(
    events.filter((e) => e.type !== 'paused'),
    [{ type: 'ping', payload: Buffer.from('mid') }, text(message)],
  );
  t.equal(inflater.calls.length, 2);
  t.equal(inflater.calls[1]?.fin, true);
  t.ok((inflater.calls[1]?.maxBytes ?? 0) <= 1000, 'maxBytes shrinks by what was inflated');
});

t.test('fails with 1009 when the inflated message exceeds maxPayload', async (t) => {
  const { parser, events, until } = setup({ inflater: new FakeInflater(), maxPayload: 100 });
  parser.push(frame({ opcode: 2, rsv: 4, payload: deflate(Buffer.alloc(101)) }));
  await until('fail');
  t.same(events, [{ type: 'paused', paused: true }, fail(1009, 'WS_MESSAGE_TOO_BIG')]);
  t.ok(parser.isStopped);
});

t.test('fails with 1009 when an inflater returns more than maxBytes', async (t) => {
  const greedy: MessageInflater = {
    inflate: (_data, _fin, _maxBytes, callback) =>
      setImmediate(() => callback(null, Buffer.alloc(101))),
  };
  const { parser, events, until } = setup({ inflater: greedy, maxPayload: 100 });
  parser.push(frame({ opcode: 2, rsv: 4, payload: 'x' }));
  await until('fail');
  t.same(events.at(-1), fail(1009, 'WS_MESSAGE_TOO_BIG'));
});

t.test(
  'fails with 1009 from the header when compressed bytes alone are far over maxPayload',
  async (t) => {
    const events = parse(hex('c2 ff 0000000100000000'), {
      inflater: new FakeInflater(),
      maxPayload: 1000,
    });
    t.same(events, [fail(1009, 'WS_MESSAGE_TOO_BIG')]);
  },
);

t.test('fails with 1007 when compressed text inflates to invalid UTF-8', async (t) => {
  const { parser, events, until } = setup({ inflater: new FakeInflater() });
  parser.push(frame({ opcode: 1, rsv: 4, payload: deflate(hex('41ff42')) }));
  await until('fail');
  t.same(events.at(-1), fail(1007, 'WS_INVALID_UTF8'));
});

t.test(
  'fails with 1007 on the first compressed fragment that inflates to invalid UTF-8',
  async (t) => {
    const { parser, events, until } = setup({ inflater: new FakeInflater() });
    parser.push(frame({ opcode: 1, rsv: 4, fin: false, payload: deflate(hex('41eda0')) }));
    await until('fail');
    t.same(events.at(-1), fail(1007, 'WS_INVALID_UTF8'));
  },
);

t.test('forwards an inflater error as the failure', async (t) => {
  const { parser, events, until } = setup({ inflater: new FakeInflater() });
  parser.push(frame({ opcode: 2, rsv: 4, payload: hex('ffffffff') }));
  await until('fail');
  t.same(events.at(-1), fail(1007, 'WS_INFLATE_FAILED'));
});

t.test('ignores a second callback from an inflater that calls back twice', async (t) => {
  const twice: MessageInflater = {
    inflate: (_data, _fin, _maxBytes, callback) =>
      setImmediate(() => {
        callback(null, Buffer.from('once'));
        callback(null, Buffer.from('twice'));
      }),
  };
  const { parser, events, until } = setup({ inflater: twice });
  parser.push(frame({ opcode: 1, rsv: 4, payload: 'x' }));
  await until('paused', 2);
  t.same(events, [
    { type: 'paused', paused: true },
    text('once'),
    { type: 'paused', paused: false },
  ]);
});

t.test('handles an inflater that calls back synchronously', async (t) => {
  const { parser, events } = setup({ inflater: new FakeInflater(true) });
  parser.push(
    Buffer.concat([
      frame({ opcode: 1, rsv: 4, payload: deflate('sync') }),
      frame({ opcode: 1, payload: 'after' }),
    ]),
  );
  t.same(events, [text('sync'), text('after')], 'no pause reported, order kept');
});

t.test('accepts uncompressed messages when an inflater is present', async (t) => {
  const inflater = new FakeInflater();
  t.same(parse(frame({ opcode: 1, payload: 'raw' }), { inflater }), [text('raw')]);
  t.equal(inflater.calls.length, 0);
});

t.test('unmasks a large payload correctly whatever the chunk boundaries', async (t) => {
  // Payloads from 64 KiB on are unmasked chunk by chunk while they arrive.
  const payload = Buffer.alloc(200_003);
  for (let i = 0; i < payload.length; i++) payload[i] = (i * 7 + (i >> 9)) & 0xff;
  const bytes = Buffer.concat([
    frame({ opcode: 0x2, payload }),
    frame({ opcode: 0x2, payload: payload.subarray(0, 70_001) }),
    frame({ opcode: 0x1, payload: 'after' }),
  ]);
  for (const step of [1, 3, 4093, 65_536, 100_001]) {
    const { parser, events } = setup();
    for (let offset = 0; offset < bytes.length; offset += step) {
      parser.push(Buffer.from(bytes.subarray(offset, offset + step)));
    }
    t.equal(events.length, 3, `step ${step}`);
    t.ok(events[0]?.type === 'message' && events[0].data.equals(payload), `step ${step}: first`);
    t.ok(
      events[1]?.type === 'message' && events[1].data.equals(payload.subarray(0, 70_001)),
      `step ${step}: second`,
    );
    t.ok(events[2]?.type === 'message' && events[2].data.toString() === 'after');
  }
});
