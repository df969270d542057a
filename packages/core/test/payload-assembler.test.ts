import t from 'tap';
import { ChunkQueue } from '../src/chunk-queue.js';
import { LARGE_PAYLOAD, PayloadAssembler } from '../src/payload-assembler.js';
import { Utf8Validator } from '../src/utf8.js';

const KEY = 0x37fa213d;
const KEY_BYTES = Buffer.from('37fa213d', 'hex');

/** `payload` masked with KEY (RFC 6455 §5.3), as a fresh buffer. */
function masked(payload: Buffer | string): Buffer {
  return Buffer.from(Buffer.from(payload).map((byte, i) => byte ^ KEY_BYTES[i % 4]!));
}

/** A payload of `length` pseudo-random bytes. */
function bytes(length: number): Buffer {
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i++) out[i] = (i * 131 + 7) & 0xff;
  return out;
}

function setup(): { input: ChunkQueue; payload: PayloadAssembler } {
  const input = new ChunkQueue();
  return { input, payload: new PayloadAssembler(input) };
}

t.test('hands out a payload that sits in one chunk as a view, unmasked in place', async (t) => {
  const { input, payload } = setup();
  const chunk = masked('Hello');
  input.push(chunk);
  t.equal(payload.arrived, 5);
  t.equal(payload.processed, 0);
  const data = payload.take(5, true, KEY);
  t.equal(data.toString(), 'Hello');
  t.equal(data, chunk, 'the chunk itself, no copy');
  t.equal(input.length, 0);
});

t.test('leaves the bytes after the payload in the input', async (t) => {
  const { input, payload } = setup();
  input.push(Buffer.concat([Buffer.from('abc'), Buffer.from([0x81, 0x00])]));
  t.equal(payload.take(3, false, 0).toString(), 'abc');
  t.equal(input.length, 2);
  t.equal(input.peek(0), 0x81);
});

t.test('unmasks and validates text as it arrives, each byte once', async (t) => {
  const { input, payload } = setup();
  const text = 'κόσμε, κόσμε';
  const wire = masked(text);
  const pushed: string[] = [];
  class RecordingValidator extends Utf8Validator {
    override push(chunk: Uint8Array): boolean {
      pushed.push(Buffer.from(chunk).toString('hex'));
      return super.push(chunk);
    }
  }
  const spy = new RecordingValidator();
  for (const [from, to] of [
    [0, 3],
    [3, 4],
    [4, 11],
  ] as const) {
    input.push(Buffer.from(wire.subarray(from, to)));
    t.ok(payload.processArrived(wire.length, true, KEY, spy));
    t.equal(payload.processed, to);
  }
  t.ok(payload.processArrived(wire.length, true, KEY, spy), 'nothing new: nothing to do');
  t.equal(pushed.length, 3, 'no byte validated twice');
  t.equal(pushed.join(''), Buffer.from(text).subarray(0, 11).toString('hex'), 'unmasked bytes');
  input.push(Buffer.from(wire.subarray(11)));
  const done = payload.processed;
  const data = payload.take(wire.length, true, KEY);
  t.equal(done, 11);
  t.equal(data.toString(), text, 'the rest unmasked when the payload is complete');
  t.equal(payload.processed, 0, 'ready for the next payload');
});

t.test('reports text that is not valid UTF-8 as soon as it arrives', async (t) => {
  const { input, payload } = setup();
  input.push(masked(Buffer.from([0x61, 0xff])));
  t.notOk(payload.processArrived(10, true, KEY, new Utf8Validator()));
});

t.test('moves a large payload into its delivery buffer once a quarter is here', async (t) => {
  const { input, payload } = setup();
  const length = LARGE_PAYLOAD * 2;
  const plain = bytes(length);
  const wire = masked(plain);
  const quarter = length / 4;
  input.push(Buffer.from(wire.subarray(0, quarter - 1)));
  t.ok(payload.processArrived(length, true, KEY, undefined));
  t.equal(payload.retainedBytes, 0, 'below a quarter: still in the input');
  t.equal(input.length, quarter - 1);
  input.push(Buffer.from(wire.subarray(quarter - 1, quarter + 10)));
  t.ok(payload.processArrived(length, true, KEY, undefined));
  t.equal(payload.retainedBytes, length, 'one buffer of the whole length');
  t.equal(input.length, 0, 'the socket chunks are let go');
  t.equal(payload.arrived, quarter + 10);
  input.push(Buffer.from(wire.subarray(quarter + 10)));
  input.push(Buffer.from('next'));
  t.equal(payload.take(length, true, KEY).equals(plain), true, 'whole and unmasked');
  t.equal(payload.retainedBytes, 0);
  t.equal(input.length, 4, 'the next frame stays in the input');
});

t.test('keeps a payload under LARGE_PAYLOAD in the input until it is complete', async (t) => {
  const { input, payload } = setup();
  const wire = masked(bytes(1000));
  input.push(wire.subarray(0, 900));
  t.ok(payload.processArrived(1000, true, KEY, undefined));
  t.equal(payload.retainedBytes, 0);
  t.equal(input.length, 900);
});

t.test('reset drops the delivery buffer and the progress', async (t) => {
  const { input, payload } = setup();
  const length = LARGE_PAYLOAD;
  input.push(masked(bytes(length / 2)));
  payload.processArrived(length, true, KEY, undefined);
  t.equal(payload.retainedBytes, length);
  payload.reset();
  t.equal(payload.retainedBytes, 0);
  t.equal(payload.processed, 0);
  t.equal(payload.arrived, 0);
});
