/**
 * permessage-deflate (RFC 7692) on the wire, with a raw client: which messages are compressed
 * and how they are framed, context takeover, the RSV1 rules (RFC 7692 §6, RFC 6455 §5.2), the
 * inflated size limit against a decompression bomb, and the release of every zlib stream when
 * connections close.
 */
import { randomBytes } from 'node:crypto';
import { syncBuiltinESMExports } from 'node:module';
import zlib from 'node:zlib';
import t, { type Test } from 'tap';
import {
  compress,
  echoRoute,
  inflate,
  jsonText,
  MiB,
  openRaw,
  PMD,
  RSV1,
  startServer,
  TAIL,
  THRESHOLD,
} from '../helpers/deflate.js';
import { collectGarbage } from '../helpers/memory.js';
import { closePayload, type Frame, OP, waitForEvent, withTimeout } from '../helpers/raw-client.js';

t.test('compressed frames on the wire', async (t) => {
  const { port } = await startServer(t, {
    '/': echoRoute(),
    '/small-frames': echoRoute({ maxFrameSize: 64 * 1024 }),
  });

  t.test('messages below the threshold are sent uncompressed, from it on compressed', async (t) => {
    const client = await openRaw(t, port, `${PMD}; server_no_context_takeover`);
    for (const size of [0, 5, THRESHOLD - 1, THRESHOLD, 10_000]) {
      const text = 'a'.repeat(size);
      client.send({ opcode: OP.text, payload: text });
      const echoed = await client.frame();
      const isCompressed = size >= THRESHOLD;
      t.equal(echoed.rsv, isCompressed ? RSV1 : 0, `${size} B: RSV1 ${isCompressed}`);
      const payload = isCompressed ? inflate(echoed.payload) : echoed.payload;
      t.equal(payload.toString(), text, `${size} B intact`);
    }
  });

  t.test('a compressed message from the client is inflated and echoed', async (t) => {
    const client = await openRaw(t, port, `${PMD}; server_no_context_takeover`);
    const text = jsonText(200_000);
    client.send({ opcode: OP.text, rsv: RSV1, payload: compress(text) });
    const echoed = await client.frame();
    t.same([echoed.opcode, echoed.rsv, echoed.fin], [OP.text, RSV1, true]);
    t.equal(inflate(echoed.payload).toString(), text);
    const small = 'tiny';
    client.send({ opcode: OP.text, rsv: RSV1, payload: compress(small) });
    const smallEcho = await client.frame();
    t.same([smallEcho.rsv, smallEcho.payload.toString()], [0, small], 'echoed uncompressed');
  });

  t.test('RSV1 marks only the first frame of a fragmented compressed message', async (t) => {
    const client = await openRaw(t, port, `${PMD}; server_no_context_takeover`, '/small-frames');
    const bytes = randomBytes(300_000);
    client.send({ opcode: OP.binary, payload: bytes });
    const { frames, payload } = await client.message();
    t.ok(frames.length > 1, `${frames.length} frames`);
    t.same(
      frames.map((f: Frame) => [f.opcode, f.rsv]),
      frames.map((_, i) => (i === 0 ? [OP.binary, RSV1] : [OP.continuation, 0])),
    );
    t.ok(inflate(payload).equals(bytes), 'the joined frames inflate to the message');
  });

  t.test('server_no_context_takeover: each message inflates on its own', async (t) => {
    const client = await openRaw(t, port, `${PMD}; server_no_context_takeover`);
    const text = jsonText(20_000);
    client.send({ opcode: OP.text, payload: text });
    client.send({ opcode: OP.text, payload: text });
    const first = await client.frame();
    const second = await client.frame();
    t.ok(second.payload.equals(first.payload), 'the compressor started afresh');
    t.equal(inflate(second.payload).toString(), text);
  });

  t.test('with context takeover a repeated message refers to the previous one', async (t) => {
    const client = await openRaw(t, port, PMD);
    // Random hex: compresses to about half on its own, to almost nothing against a copy.
    const text = randomBytes(8000).toString('hex');
    client.send({ opcode: OP.text, payload: text });
    client.send({ opcode: OP.text, payload: text });
    const first = await client.frame();
    const second = await client.frame();
    t.ok(second.payload.length * 4 < first.payload.length, 'much smaller the second time');
    const inflater = zlib.createInflateRaw();
    t.teardown(() => inflater.destroy());
    const chunks: Buffer[] = [];
    inflater.on('data', (chunk: Buffer) => chunks.push(chunk));
    for (const f of [first, second]) {
      inflater.write(Buffer.concat([f.payload, TAIL]));
      await new Promise<void>((resolve) => inflater.flush(() => resolve()));
    }
    t.equal(Buffer.concat(chunks).toString(), text + text, 'one inflater reads both');
  });

  t.test('garbage compressed data closes with 1007', async (t) => {
    const client = await openRaw(t, port, PMD);
    client.send({ opcode: OP.text, rsv: RSV1, payload: Buffer.from([0xff, 0xff, 0xff, 0xff]) });
    t.equal((await client.closeFrame()).code, 1007);
  });

  t.test('text that is not UTF-8 once inflated closes with 1007', async (t) => {
    const client = await openRaw(t, port, PMD);
    client.send({ opcode: OP.text, rsv: RSV1, payload: compress(Buffer.from([0xc0, 0xaf])) });
    t.equal((await client.closeFrame()).code, 1007);
  });

  t.test('empty messages, compressed both ways (RFC 7692 §7.2.3.6)', async (t) => {
    const { port: eager } = await startServer(t, {
      '/': echoRoute({ perMessageDeflate: { threshold: 0 } }),
    });
    const client = await openRaw(t, eager, `${PMD}; server_no_context_takeover`);
    // A single 0x00 is an empty stored block once the tail is appended.
    client.send({ opcode: OP.text, rsv: RSV1, payload: Buffer.from([0x00]) });
    client.send({ opcode: OP.binary, rsv: RSV1, payload: compress('') });
    for (const opcode of [OP.text, OP.binary]) {
      const echoed = await client.frame();
      t.same([echoed.opcode, echoed.rsv], [opcode, RSV1]);
      t.ok(echoed.payload.length > 0, 'never an empty compressed payload');
      t.equal(inflate(echoed.payload).length, 0, 'inflates to nothing');
    }
  });

  t.test('a message ending in a final DEFLATE block, then the next message', async (t) => {
    const client = await openRaw(t, port, `${PMD}; server_no_context_takeover`);
    // BFINAL ends the DEFLATE stream: the tail is then ignored and the next message starts a
    // new stream, even with context takeover.
    client.send({ opcode: OP.text, rsv: RSV1, payload: zlib.deflateRawSync('final block') });
    client.send({ opcode: OP.text, rsv: RSV1, payload: compress('next') });
    t.equal((await client.frame()).payload.toString(), 'final block');
    t.equal((await client.frame()).payload.toString(), 'next');
  });

  t.test('data after a final DEFLATE block closes with 1007', async (t) => {
    const client = await openRaw(t, port, PMD);
    const payload = Buffer.concat([zlib.deflateRawSync('x'), Buffer.from([1, 2, 3])]);
    client.send({ opcode: OP.text, rsv: RSV1, payload });
    t.equal((await client.closeFrame()).code, 1007);
  });
});

t.test('RSV1 rules', async (t) => {
  const { port } = await startServer(t, {
    '/': echoRoute(),
    '/plain': echoRoute({ perMessageDeflate: false }),
  });

  t.test('RSV1 on the first frame of a data message is accepted when negotiated', async (t) => {
    const client = await openRaw(t, port, PMD);
    client.send({ opcode: OP.text, rsv: RSV1, payload: compress('ok') });
    t.same((await client.frame()).payload.toString(), 'ok');
  });

  t.test('RSV1 on a control frame closes with 1002', async (t) => {
    for (const opcode of [OP.ping, OP.pong, OP.close]) {
      const client = await openRaw(t, port, PMD);
      const payload = opcode === OP.close ? closePayload(1000) : 'x';
      client.send({ opcode, rsv: RSV1, payload });
      t.equal((await client.closeFrame()).code, 1002, `opcode ${opcode}`);
      await client.ended();
    }
  });

  t.test('RSV1 on a continuation frame closes with 1002', async (t) => {
    for (const isFirstCompressed of [false, true]) {
      const client = await openRaw(t, port, PMD);
      const first = isFirstCompressed
        ? zlib.deflateRawSync('abc', { finishFlush: zlib.constants.Z_SYNC_FLUSH })
        : Buffer.from('abc');
      client.send({
        opcode: OP.text,
        fin: false,
        rsv: isFirstCompressed ? RSV1 : 0,
        payload: first,
      });
      client.send({ opcode: OP.continuation, rsv: RSV1, payload: compress('def') });
      const close = await client.closeFrame();
      t.equal(close.code, 1002, `first frame compressed: ${isFirstCompressed}`);
      t.same(close.before, [], 'no message delivered');
    }
  });

  t.test('RSV1 when permessage-deflate was not negotiated closes with 1002', async (t) => {
    const cases = [
      { path: '/', offer: undefined, why: 'no offer' },
      { path: '/', offer: 'x-other', why: 'no acceptable offer' },
      { path: '/plain', offer: PMD, why: 'route without perMessageDeflate' },
    ];
    for (const { path, offer, why } of cases) {
      const client = await openRaw(t, port, offer, path);
      client.send({ opcode: OP.text, rsv: RSV1, payload: compress('hello') });
      t.equal((await client.closeFrame()).code, 1002, why);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Limits and resources

/** `size` bytes of zeros as one compressed message (tail removed), never holding `size` bytes. */
async function compressedZeros(size: number): Promise<Buffer> {
  const deflater = zlib.createDeflateRaw({ level: 9 });
  const chunks: Buffer[] = [];
  deflater.on('data', (chunk: Buffer) => chunks.push(chunk));
  const block = Buffer.alloc(MiB);
  for (let written = 0; written < size; written += block.length) {
    if (!deflater.write(block)) await waitForEvent(deflater, 'drain');
  }
  await new Promise<void>((resolve) => deflater.flush(zlib.constants.Z_SYNC_FLUSH, resolve));
  deflater.destroy();
  const out = Buffer.concat(chunks);
  return out.subarray(0, out.length - TAIL.length);
}

/** Records the highest rss and external memory until stopped; sampling is not waiting. */
function sampleMemory(): { stop(): { rss: number; external: number } } {
  const base = process.memoryUsage();
  const peak = { rss: 0, external: 0 };
  const sample = (): void => {
    const now = process.memoryUsage();
    peak.rss = Math.max(peak.rss, now.rss - base.rss);
    peak.external = Math.max(peak.external, now.external - base.external);
  };
  const timer = setInterval(sample, 1);
  return {
    stop() {
      clearInterval(timer);
      sample();
      return peak;
    },
  };
}

t.test('a decompression bomb closes with 1009 without inflating it', async (t) => {
  const errors: unknown[] = [];
  const { port } = await startServer(t, {
    '/': echoRoute({
      maxPayload: MiB,
      defaultProtocol: {
        onMessage(connection, message) {
          connection.send(message);
        },
        onError: (_connection, error) => errors.push(error),
      },
    }),
  });
  const inflatedSize = 200 * MiB;
  const bomb = await compressedZeros(inflatedSize);
  t.ok(bomb.length < MiB / 2, `${inflatedSize} B of zeros compress to ${bomb.length} B`);

  t.test('in one frame, memory grows far less than the inflated size', async (t) => {
    const client = await openRaw(t, port, PMD);
    const memory = sampleMemory();
    client.send({ opcode: OP.binary, rsv: RSV1, payload: bomb });
    const close = await client.closeFrame(30_000);
    const peak = memory.stop();
    t.equal(close.code, 1009);
    t.same(close.before, [], 'nothing echoed');
    await client.ended();
    t.match(errors.at(-1), { code: 'WS_MESSAGE_TOO_BIG' });
    const limit = 64 * MiB;
    t.ok(peak.rss < limit, `rss grew ${(peak.rss / MiB).toFixed(1)} MiB`);
    t.ok(peak.external < limit, `external grew ${(peak.external / MiB).toFixed(1)} MiB`);
  });

  t.test('split over many frames, the limit holds for the whole message', async (t) => {
    const client = await openRaw(t, port, PMD);
    const parts = 16;
    const step = Math.ceil(bomb.length / parts);
    for (let i = 0; i < parts; i++) {
      client.send({
        opcode: i === 0 ? OP.binary : OP.continuation,
        rsv: i === 0 ? RSV1 : 0,
        fin: i === parts - 1,
        payload: bomb.subarray(i * step, (i + 1) * step),
      });
    }
    t.equal((await client.closeFrame(30_000)).code, 1009);
  });

  t.test('a message just below maxPayload still inflates', async (t) => {
    const client = await openRaw(t, port, `${PMD}; server_no_context_takeover`);
    const bytes = Buffer.alloc(MiB, 1);
    client.send({ opcode: OP.binary, rsv: RSV1, payload: compress(bytes) });
    const echoed = await client.frame();
    t.ok(inflate(echoed.payload).equals(bytes), '1 MiB echoed');
  });
});

type RawZlibStream = zlib.InflateRaw | zlib.DeflateRaw;

/**
 * Records every raw zlib stream created in this process until teardown. The connection does
 * not expose its PerMessageDeflate (whose `zlibStreams` would tell), so the streams are
 * counted where zlib makes them; `syncBuiltinESMExports` covers named imports of node:zlib.
 */
function spyOnRawZlibStreams(t: Test): { live(): number; created(): number } {
  const streams: RawZlibStream[] = [];
  const names = ['createInflateRaw', 'createDeflateRaw'] as const;
  for (const name of names) {
    // node:zlib defines its factories read-only but configurable.
    const descriptor = Object.getOwnPropertyDescriptor(zlib, name) as PropertyDescriptor;
    const create = descriptor.value as (options?: zlib.ZlibOptions) => RawZlibStream;
    const spy = (options?: zlib.ZlibOptions): RawZlibStream => {
      const stream = create(options);
      streams.push(stream);
      return stream;
    };
    Object.defineProperty(zlib, name, { ...descriptor, value: spy });
    t.teardown(() => {
      Object.defineProperty(zlib, name, descriptor);
      syncBuiltinESMExports();
    });
  }
  syncBuiltinESMExports();
  return {
    live: () => streams.filter((stream) => !stream.destroyed).length,
    created: () => streams.length,
  };
}

t.test('closing connections releases their zlib streams', async (t) => {
  let closed = 0;
  let onClosed: (() => void) | undefined;
  const { port, wss } = await startServer(t, {
    '/': echoRoute({
      defaultProtocol: {
        onMessage(connection, message) {
          connection.send(message);
        },
        onClose: () => {
          closed++;
          onClosed?.();
        },
      },
    }),
  });
  const spy = spyOnRawZlibStreams(t);
  const count = 50;
  const rounds = 5;
  const rssAfterRound: number[] = [];

  for (let round = 0; round < rounds; round++) {
    // Context takeover both ways: each connection keeps an inflater and a deflater.
    const clients = await Promise.all(Array.from({ length: count }, () => openRaw(t, port, PMD)));
    const text = randomBytes(2000).toString('hex');
    for (const client of clients)
      client.send({ opcode: OP.text, rsv: RSV1, payload: compress(text) });
    for (const client of clients) {
      const echoed = await client.frame();
      if (echoed.rsv !== RSV1 || inflate(echoed.payload).toString() !== text) {
        t.fail('echo not compressed or not intact');
      }
    }
    t.equal(spy.live(), 2 * count, `round ${round}: one inflater and one deflater each`);

    closed = 0;
    const allClosed = withTimeout(
      new Promise<void>((resolve) => {
        onClosed = () => {
          if (closed === count) resolve();
        };
      }),
      'server-side closes',
    );
    for (const client of clients) client.finishClose(1000);
    await allClosed;
    t.equal(wss.connections.size, 0, 'no connection left');
    t.equal(spy.live(), 0, `round ${round}: every zlib stream released`);
    collectGarbage();
    rssAfterRound.push(process.memoryUsage().rss);
  }
  t.equal(spy.created(), 2 * count * rounds, 'the spy saw the server create its streams');
  // Memory, with generous bounds: the streams of the last four rounds (200 compressor pairs)
  // hold about 40 MiB of native memory if leaked; released ones are reused by the allocator
  // round after round (a few MiB of growth at most). Small messages keep the noise low.
  const growth = (rssAfterRound.at(-1) as number) - (rssAfterRound[0] as number);
  t.ok(growth < 24 * MiB, `rss grew ${(growth / MiB).toFixed(1)} MiB over ${rounds - 1} rounds`);
});
