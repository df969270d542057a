import assert from 'node:assert/strict';
import { isUtf8 } from 'node:buffer';
import { constants, deflateRawSync, inflateRawSync } from 'node:zlib';
import fc from 'fast-check';
import t from 'tap';
import { WebSocketError } from '../src/errors.js';
import {
  FrameParser,
  type FrameParserOptions,
  type FrameParserSink,
  type MessageInflater,
} from '../src/frame-parser.js';

/** What the sink saw, in order; payloads as hex so results compare as plain data. */
type Event = readonly [type: string, ...details: Array<string | number | boolean | undefined>];

interface FrameSpec {
  readonly opcode: number;
  readonly payload: Uint8Array;
  readonly fin: boolean;
  readonly rsv1: boolean;
  /** Extra length bytes beyond the minimal encoding: tests non-minimal 16/64-bit lengths too. */
  readonly lengthBytes: 0 | 2 | 8;
}

/** Encodes frames, masking each with its own key when `keys` is non-empty. */
function encode(frames: readonly FrameSpec[], keys: readonly Uint8Array[]): Buffer {
  const parts: Buffer[] = [];
  frames.forEach((spec, index) => {
    const { payload } = spec;
    const minimal = payload.length < 126 ? 0 : payload.length < 65536 ? 2 : 8;
    const lengthBytes = Math.max(minimal, spec.lengthBytes);
    const key = keys.length > 0 ? keys[index % keys.length] : undefined;
    const header = Buffer.alloc(2 + lengthBytes);
    header[0] = (spec.fin ? 0x80 : 0) | (spec.rsv1 ? 0x40 : 0) | spec.opcode;
    const length7 = lengthBytes === 0 ? payload.length : lengthBytes === 2 ? 126 : 127;
    header[1] = (key ? 0x80 : 0) | length7;
    if (lengthBytes === 2) header.writeUInt16BE(payload.length, 2);
    if (lengthBytes === 8) header.writeBigUInt64BE(BigInt(payload.length), 2);
    parts.push(header);
    if (key) parts.push(Buffer.from(key), Buffer.from(payload.map((b, i) => b ^ key[i % 4]!)));
    else parts.push(Buffer.from(payload));
  });
  return Buffer.concat(parts);
}

/** Splits at the given positions (taken modulo the length, deduplicated). */
function splitAt(bytes: Buffer, cuts: readonly number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let start = 0;
  for (const point of [...points, bytes.length]) {
    chunks.push(bytes.subarray(start, point));
    start = point;
  }
  return chunks;
}

/** Inflates a whole message on its final frame; calls back on the next turn of the loop. */
class WholeMessageInflater implements MessageInflater {
  #input: Buffer[] = [];
  inflate(
    data: Buffer,
    fin: boolean,
    maxBytes: number,
    callback: (err: WebSocketError | null, inflated?: Buffer) => void,
  ): void {
    this.#input.push(Buffer.from(data));
    let out = Buffer.alloc(0);
    if (fin) {
      this.#input.push(Buffer.from([0, 0, 0xff, 0xff]));
      const input = Buffer.concat(this.#input);
      this.#input = [];
      out = inflateRawSync(input, { finishFlush: constants.Z_SYNC_FLUSH });
    }
    const err =
      out.length > maxBytes ? new WebSocketError(1009, 'WS_MESSAGE_TOO_BIG', 'too big') : null;
    setImmediate(() => callback(err, out));
  }
}

/** Runs chunks through a fresh parser and records its events. */
function run(chunks: readonly Buffer[], options: Partial<FrameParserOptions>) {
  const events: Event[] = [];
  let isPaused = false;
  const sink: FrameParserSink = {
    onMessage: (data, isBinary) => events.push(['message', isBinary, data.toString('hex')]),
    onPing: (payload) => events.push(['ping', payload.toString('hex')]),
    onPong: (payload) => events.push(['pong', payload.toString('hex')]),
    onClose: (code, reason) => events.push(['close', code, reason]),
    onFail: (closeCode, errorCode) => events.push(['fail', closeCode, errorCode]),
    onPausedChange: (paused) => {
      isPaused = paused;
    },
  };
  const parser = new FrameParser(sink, { maxPayload: 4096, maxFragments: 8, ...options });
  // Copies: the parser unmasks in place, and the same input is parsed more than once.
  for (const chunk of chunks) parser.push(Buffer.from(chunk));
  return { parser, events, isPaused: () => isPaused };
}

const keyArb = fc.uint8Array({ minLength: 4, maxLength: 4 });
const lengthBytesArb = fc.constantFrom<0 | 2 | 8>(0, 0, 0, 2, 8);
const controlArb = fc.record({
  opcode: fc.constantFrom(0x9, 0xa),
  payload: fc.uint8Array({ maxLength: 125 }),
  fin: fc.constant(true),
  rsv1: fc.constant(false),
  lengthBytes: fc.constant<0>(0),
});
const messageArb = fc.record({
  isBinary: fc.boolean(),
  text: fc.string({ unit: 'binary', maxLength: 60 }),
  bytes: fc.uint8Array({ maxLength: 300 }),
  cuts: fc.array(fc.nat(), { maxLength: 4 }),
  controls: fc.array(fc.option(controlArb, { nil: undefined }), { maxLength: 4 }),
  lengthBytes: lengthBytesArb,
});

/** A valid stream of messages with interleaved control frames, and the events it must yield. */
const streamArb = fc
  .record({
    messages: fc.array(messageArb, { maxLength: 6 }),
    closeCode: fc.option(fc.constantFrom(1000, 1001, 1011, 3000, 4999), { nil: undefined }),
    compress: fc.boolean(),
  })
  .map(({ messages, closeCode, compress }) => {
    const frames: FrameSpec[] = [];
    const expected: Event[] = [];
    for (const m of messages) {
      const payload = m.isBinary ? Buffer.from(m.bytes) : Buffer.from(m.text);
      const wire = compress
        ? deflateRawSync(payload, { finishFlush: constants.Z_SYNC_FLUSH })
        : payload;
      const body = compress ? wire.subarray(0, wire.length - 4) : wire;
      const pieces = splitAt(body, m.cuts);
      pieces.forEach((piece, i) => {
        const opcode = i === 0 ? (m.isBinary ? 0x2 : 0x1) : 0x0;
        const fin = i === pieces.length - 1;
        frames.push({
          opcode,
          payload: piece,
          fin,
          rsv1: compress && i === 0,
          lengthBytes: m.lengthBytes,
        });
        const control = fin ? undefined : m.controls[i];
        if (control) {
          frames.push(control);
          expected.push([
            control.opcode === 0x9 ? 'ping' : 'pong',
            Buffer.from(control.payload).toString('hex'),
          ]);
        }
      });
      expected.push(['message', m.isBinary, payload.toString('hex')]);
    }
    if (closeCode !== undefined) {
      const payload = Buffer.alloc(2);
      payload.writeUInt16BE(closeCode);
      frames.push({ opcode: 0x8, payload, fin: true, rsv1: false, lengthBytes: 0 });
      expected.push(['close', closeCode, '']);
    }
    return { frames, expected, compress };
  });

t.test('valid frame streams split at random points yield exactly the unsplit events', async (t) => {
  fc.assert(
    fc.property(
      streamArb.filter((s) => !s.compress),
      fc.boolean(),
      fc.array(keyArb, { minLength: 1, maxLength: 3 }),
      fc.array(fc.nat(), { maxLength: 12 }),
      ({ frames, expected }, isClient, keys, cuts) => {
        const input = encode(frames, isClient ? [] : keys);
        const options = { expectMasked: !isClient };
        const whole = run([input], options).events;
        const split = run(splitAt(input, cuts), options).events;
        assert.deepEqual(whole, expected);
        assert.deepEqual(split, whole);
      },
    ),
    { numRuns: 300 },
  );
  t.pass('300 random streams parsed identically whole and split');
});

t.test('compressed streams split at random points yield the unsplit events', async (t) => {
  await fc.assert(
    fc.asyncProperty(
      streamArb.filter((s) => s.compress),
      fc.array(keyArb, { minLength: 1, maxLength: 3 }),
      fc.array(fc.nat(), { maxLength: 12 }),
      async ({ frames, expected }, keys, cuts) => {
        const input = encode(frames, keys);
        const parseAll = async (chunks: Buffer[]): Promise<Event[]> => {
          const { events, isPaused } = run(chunks, { inflater: new WholeMessageInflater() });
          // Each inflation finishes on a later turn of the event loop; wait while one is pending.
          while (isPaused()) await new Promise<void>((resolve) => setImmediate(resolve));
          return events;
        };
        assert.deepEqual(await parseAll([input]), expected);
        assert.deepEqual(await parseAll(splitAt(input, cuts)), expected);
      },
    ),
    { numRuns: 100 },
  );
  t.pass('100 random compressed streams parsed identically whole and split');
});

/** Frames with random header bits and lengths ≤ 125: random, but deep enough to hit most rules. */
const plausibleFramesArb = fc
  .array(
    fc.record({
      b0: fc.integer({ min: 0, max: 255 }),
      isMasked: fc.boolean(),
      payload: fc.uint8Array({ maxLength: 40 }),
      key: keyArb,
    }),
    { maxLength: 8 },
  )
  .map((frames) =>
    Buffer.concat(
      frames.map(({ b0, isMasked, payload, key }) =>
        Buffer.concat([
          Buffer.from([b0, (isMasked ? 0x80 : 0) | payload.length]),
          isMasked ? key : Buffer.alloc(0),
          payload,
        ]),
      ),
    ),
  );

t.test(
  'random bytes end in messages or exactly one 1002/1007/1009 failure, never a throw',
  async (t) => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)),
          plausibleFramesArb,
        ),
        fc.boolean(),
        fc.array(fc.nat(), { maxLength: 10 }),
        (input, expectMasked, cuts) => {
          const whole = run([input], { expectMasked, maxPayload: 64, maxFragments: 3 });
          const split = run(splitAt(input, cuts), {
            expectMasked,
            maxPayload: 64,
            maxFragments: 3,
          });
          assert.deepEqual(split.events, whole.events, 'splitting does not change the outcome');
          const ends = whole.events.filter(([type]) => type === 'fail' || type === 'close');
          assert.ok(ends.length <= 1, 'at most one failure or close');
          if (ends[0] !== undefined) {
            assert.equal(whole.events.at(-1), ends[0], 'nothing is reported after it');
            assert.ok(whole.parser.isStopped);
            const [type, closeCode] = ends[0];
            if (type === 'fail') assert.ok([1002, 1007, 1009].includes(Number(closeCode)));
          }
          for (const [type, isBinary, data] of whole.events) {
            if (type === 'message' && !isBinary)
              assert.ok(isUtf8(Buffer.from(String(data), 'hex')));
          }
        },
      ),
      { numRuns: 1000 },
    );
    t.pass('1000 random inputs handled');
  },
);
