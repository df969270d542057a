import { randomBytes } from 'node:crypto';
import zlib from 'node:zlib';
import fc from 'fast-check';
import t, { type Test } from 'tap';
import type { PerMessageDeflateOptions } from '../src/deflate-options.js';
import { isHandshakeError, type WebSocketError } from '../src/errors.js';
import { parseExtensionHeader } from '../src/extension-header.js';
import type { MessageInflater } from '../src/frame-parser-types.js';
import {
  type NegotiatedDeflateParams,
  negotiatePerMessageDeflate,
  PerMessageDeflate,
  type PerMessageDeflateInit,
} from '../src/permessage-deflate.js';
import { getSharedZlibLimiter, ZlibLimiter } from '../src/zlib-limiter.js';

const TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);
const MiB = 1024 * 1024;
const DEFAULT_PARAMS: NegotiatedDeflateParams = {
  serverNoContextTakeover: false,
  clientNoContextTakeover: false,
  serverMaxWindowBits: 15,
  clientMaxWindowBits: 15,
};
const NO_CONTEXT_TAKEOVER: NegotiatedDeflateParams = {
  ...DEFAULT_PARAMS,
  serverNoContextTakeover: true,
  clientNoContextTakeover: true,
};

/** Creates a server/client pair released at the end of the test. */
function pair(
  t: Test,
  params: NegotiatedDeflateParams = DEFAULT_PARAMS,
  init: Omit<PerMessageDeflateInit, 'params' | 'role'> = {},
): { server: PerMessageDeflate; client: PerMessageDeflate } {
  const server = new PerMessageDeflate({ ...init, params });
  const client = new PerMessageDeflate({ ...init, params, role: 'client' });
  t.teardown(() => {
    server.close();
    client.close();
  });
  return { server, client };
}

function deflate(pmd: PerMessageDeflate, data: Buffer, fin = true): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    pmd.deflate(data, fin, (err, out) => (err ? reject(err) : resolve(out ?? Buffer.alloc(0))));
  });
}

function inflate(pmd: MessageInflater, data: Buffer, fin = true, maxBytes = 64 * MiB) {
  return new Promise<Buffer>((resolve, reject) => {
    pmd.inflate(data, fin, maxBytes, (err, out) =>
      err ? reject(err) : resolve(out ?? Buffer.alloc(0)),
    );
  });
}

/** Inflates and returns the error, failing the test when inflation succeeds. */
async function inflateError(
  pmd: PerMessageDeflate,
  data: Buffer,
  fin = true,
  maxBytes = 64 * MiB,
): Promise<WebSocketError> {
  try {
    await inflate(pmd, data, fin, maxBytes);
  } catch (err) {
    return err as WebSocketError;
  }
  throw new Error('inflate unexpectedly succeeded');
}

/** Splits `buf` at `count - 1` random points (pieces may be empty). */
function split(buf: Buffer, count: number): Buffer[] {
  const cuts = Array.from({ length: count - 1 }, () => Math.floor(Math.random() * buf.length));
  cuts.sort((a, b) => a - b);
  const pieces: Buffer[] = [];
  let start = 0;
  for (const cut of [...cuts, buf.length]) {
    pieces.push(buf.subarray(start, cut));
    start = cut;
  }
  return pieces;
}

/** Inflates pieces of one message in order and concatenates the output. */
async function inflatePieces(pmd: PerMessageDeflate, pieces: Buffer[]): Promise<Buffer> {
  const out: Buffer[] = [];
  for (let i = 0; i < pieces.length; i++) {
    out.push(await inflate(pmd, pieces[i] ?? Buffer.alloc(0), i === pieces.length - 1));
  }
  return Buffer.concat(out);
}

function jsonMessage(i: number, size = 1024): Buffer {
  const items = Array.from({ length: 40 }, (_, k) => ({ sku: `SKU-${(i * 31 + k) % 997}`, k }));
  return Buffer.from(JSON.stringify({ type: 'update', id: i, items }).slice(0, size));
}

/** Compresses a message with Node's zlib directly, as another implementation would. */
function zlibCompress(data: Buffer, windowBits = 15): Buffer {
  const out = zlib.deflateRawSync(data, { finishFlush: zlib.constants.Z_SYNC_FLUSH, windowBits });
  return out.subarray(0, out.length - 4);
}

/** Inflates one message with Node's zlib directly, appending the tail. */
function zlibInflate(data: Buffer, windowBits = 15): Buffer {
  const finishFlush = zlib.constants.Z_SYNC_FLUSH;
  return zlib.inflateRawSync(Buffer.concat([data, TAIL]), { finishFlush, windowBits });
}

/** Runs a zlib round trip on another instance: once it is done, earlier zlib work is too. */
async function zlibBarrier(): Promise<void> {
  const other = new PerMessageDeflate({ params: DEFAULT_PARAMS, limiter: new ZlibLimiter(1) });
  await deflate(other, Buffer.from('barrier'));
  await deflate(other, Buffer.from('barrier'));
  other.close();
}

/** Answer for a request header: the response, undefined (declined) or '400'. */
function answer(header: string, options?: PerMessageDeflateOptions): string | undefined {
  const offers = parseExtensionHeader([header]);
  if (isHandshakeError(offers)) return String(offers.output.statusCode);
  return negotiatePerMessageDeflate(offers, options)?.response;
}

t.test('negotiatePerMessageDeflate', async (t) => {
  const pmd = 'permessage-deflate';
  const table: Array<[string, PerMessageDeflateOptions, string | undefined]> = [
    // What browsers and common clients offer.
    [pmd, {}, pmd],
    [`${pmd}; client_max_window_bits`, {}, pmd],
    [
      `${pmd}; client_max_window_bits=12; server_max_window_bits=12`,
      {},
      `${pmd}; server_max_window_bits=12; client_max_window_bits=12`,
    ],
    // server_no_context_takeover: answered when asked or configured.
    [`${pmd}; server_no_context_takeover`, {}, `${pmd}; server_no_context_takeover`],
    [pmd, { serverNoContextTakeover: true }, `${pmd}; server_no_context_takeover`],
    // client_no_context_takeover: answered when configured, echoed when the client offers it.
    [pmd, { clientNoContextTakeover: true }, `${pmd}; client_no_context_takeover`],
    [`${pmd}; client_no_context_takeover`, {}, `${pmd}; client_no_context_takeover`],
    // server_max_window_bits: never above the client's cap; may be announced unasked.
    [`${pmd}; server_max_window_bits=10`, {}, `${pmd}; server_max_window_bits=10`],
    [
      `${pmd}; server_max_window_bits=10`,
      { serverMaxWindowBits: 9 },
      `${pmd}; server_max_window_bits=9`,
    ],
    [
      `${pmd}; server_max_window_bits=10`,
      { serverMaxWindowBits: 12 },
      `${pmd}; server_max_window_bits=10`,
    ],
    [`${pmd}; server_max_window_bits=8`, {}, `${pmd}; server_max_window_bits=8`],
    [pmd, { serverMaxWindowBits: 11 }, `${pmd}; server_max_window_bits=11`],
    // client_max_window_bits: only when offered, never above the client's own value.
    [pmd, { clientMaxWindowBits: 10 }, pmd],
    [
      `${pmd}; client_max_window_bits`,
      { clientMaxWindowBits: 10 },
      `${pmd}; client_max_window_bits=10`,
    ],
    [
      `${pmd}; client_max_window_bits=12`,
      { clientMaxWindowBits: 10 },
      `${pmd}; client_max_window_bits=10`,
    ],
    [
      `${pmd}; client_max_window_bits=9`,
      { clientMaxWindowBits: 10 },
      `${pmd}; client_max_window_bits=9`,
    ],
    [`${pmd}; client_max_window_bits=8`, {}, `${pmd}; client_max_window_bits=8`],
    [`${pmd}; client_max_window_bits="10"`, {}, `${pmd}; client_max_window_bits=10`],
    // Everything at once.
    [
      `${pmd}; client_no_context_takeover; server_no_context_takeover; server_max_window_bits=12; client_max_window_bits`,
      { serverMaxWindowBits: 10, clientMaxWindowBits: 11 },
      `${pmd}; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=11`,
    ],
    // Declined offers: unknown, repeated or invalid parameters.
    [`${pmd}; foo`, {}, undefined],
    [`${pmd}; foo=1`, {}, undefined],
    [`${pmd}; server_no_context_takeover; server_no_context_takeover`, {}, undefined],
    [`${pmd}; client_max_window_bits; client_max_window_bits=10`, {}, undefined],
    [`${pmd}; server_no_context_takeover=1`, {}, undefined],
    [`${pmd}; client_no_context_takeover="x"`, {}, undefined],
    [`${pmd}; server_max_window_bits`, {}, undefined],
    [`${pmd}; server_max_window_bits=7`, {}, undefined],
    [`${pmd}; server_max_window_bits=16`, {}, undefined],
    [`${pmd}; server_max_window_bits=08`, {}, undefined],
    [`${pmd}; server_max_window_bits=1a`, {}, undefined],
    [`${pmd}; client_max_window_bits=0`, {}, undefined],
    [`${pmd}; client_max_window_bits=+9`, {}, undefined],
    // The first acceptable offer wins; other extensions are ignored.
    [`${pmd}; foo, ${pmd}; client_max_window_bits=9`, {}, `${pmd}; client_max_window_bits=9`],
    [`${pmd}; server_max_window_bits=10, ${pmd}`, {}, `${pmd}; server_max_window_bits=10`],
    [`x-webkit-deflate-frame, ${pmd}`, {}, pmd],
    ['x-webkit-deflate-frame', {}, undefined],
    ['Permessage-Deflate', {}, undefined],
    // Malformed headers are a 400 before negotiation.
    [`${pmd};`, {}, '400'],
    [`${pmd}; server_max_window_bits=`, {}, '400'],
    [`${pmd}; client_max_window_bits="1 0"`, {}, '400'],
  ];

  t.test('answers offers as the table says', async (t) => {
    for (const [header, options, expected] of table) {
      t.equal(answer(header, options), expected, `${header} with ${JSON.stringify(options)}`);
    }
  });

  t.test('returns the agreed parameters', async (t) => {
    t.same(negotiatePerMessageDeflate([{ name: pmd, params: [] }])?.params, DEFAULT_PARAMS);
    const offers = parseExtensionHeader([
      `${pmd}; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits`,
    ]);
    if (isHandshakeError(offers)) throw offers;
    t.same(negotiatePerMessageDeflate(offers, { clientMaxWindowBits: 12 })?.params, {
      serverNoContextTakeover: false,
      clientNoContextTakeover: true,
      serverMaxWindowBits: 10,
      clientMaxWindowBits: 12,
    });
  });

  t.test('declines when nothing is offered', async (t) => {
    t.equal(negotiatePerMessageDeflate([]), undefined);
  });

  t.test('throws on invalid options', async (t) => {
    t.throws(() => negotiatePerMessageDeflate([], { serverMaxWindowBits: 16 }), RangeError);
  });

  t.test('never answers a parameter the client did not allow (property)', async (t) => {
    const bits = fc.integer({ min: 8, max: 15 });
    const param = fc.oneof(
      fc.constant<[string, string | true]>(['server_no_context_takeover', true]),
      fc.constant<[string, string | true]>(['client_no_context_takeover', true]),
      bits.map((b): [string, string | true] => ['server_max_window_bits', String(b)]),
      fc.constant<[string, string | true]>(['client_max_window_bits', true]),
      bits.map((b): [string, string | true] => ['client_max_window_bits', String(b)]),
    );
    const options = fc.record({
      serverNoContextTakeover: fc.boolean(),
      clientNoContextTakeover: fc.boolean(),
      serverMaxWindowBits: bits,
      clientMaxWindowBits: bits,
    });
    fc.assert(
      fc.property(fc.array(param, { maxLength: 4 }), options, (params, opts) => {
        const result = negotiatePerMessageDeflate([{ name: pmd, params }], opts);
        const keys = params.map(([k]) => k);
        if (new Set(keys).size !== keys.length) return result === undefined;
        if (!result) return false;
        const answered = parseExtensionHeader([result.response]);
        if (isHandshakeError(answered) || answered.length !== 1) return false;
        const offered = new Map(params);
        for (const [key, value] of answered[0]?.params ?? []) {
          if (key === 'client_max_window_bits') {
            const cap = offered.get(key);
            if (cap === undefined || (cap !== true && Number(value) > Number(cap))) return false;
            if (Number(value) > opts.clientMaxWindowBits) return false;
          }
          if (key === 'server_max_window_bits') {
            const cap = offered.get(key);
            if (cap !== undefined && Number(value) > Number(cap)) return false;
            if (Number(value) > opts.serverMaxWindowBits) return false;
          }
        }
        return true;
      }),
      { numRuns: 500 },
    );
    t.pass('every answer stayed within what the client allowed');
  });
});

t.test('PerMessageDeflate round trips', async (t) => {
  t.test('is structurally a frame parser MessageInflater', async (t) => {
    const { server } = pair(t);
    const inflater: MessageInflater = server;
    t.ok(inflater);
  });

  t.test('round-trips small and large, text and binary messages', async (t) => {
    const { server, client } = pair(t);
    const messages = [
      Buffer.from('hello'),
      jsonMessage(1),
      Buffer.alloc(0),
      randomBytes(3000),
      Buffer.from('abc'.repeat(2 * MiB)),
      randomBytes(MiB),
      jsonMessage(2),
    ];
    for (const message of messages) {
      const compressed = await deflate(server, message);
      t.same(await inflate(client, compressed), message, `server→client ${message.length}`);
      const back = await deflate(client, message);
      t.same(await inflate(server, back), message, `client→server ${message.length}`);
    }
  });

  t.test('inflates compressed bytes split across several frames', async (t) => {
    const { server, client } = pair(t);
    for (const message of [
      jsonMessage(3),
      Buffer.from('xyz'.repeat(200_000)),
      randomBytes(70_000),
    ]) {
      for (const count of [1, 2, 7, 50]) {
        const compressed = await deflate(client, message);
        t.same(await inflatePieces(server, split(compressed, count)), message, `${count} frames`);
      }
      const compressed = await deflate(client, message);
      const pieces = [Buffer.alloc(0), compressed, Buffer.alloc(0)];
      t.same(await inflatePieces(server, pieces), message, 'empty first and last frames');
    }
  });

  t.test('deflates fragments (fin=false) that inflate as one message', async (t) => {
    const { server, client } = pair(t);
    const parts = [Buffer.from('first part, '), Buffer.alloc(0), jsonMessage(4), Buffer.from('!')];
    const frames: Buffer[] = [];
    for (let i = 0; i < parts.length; i++) {
      frames.push(await deflate(server, parts[i] ?? Buffer.alloc(0), i === parts.length - 1));
    }
    t.same(await inflatePieces(client, frames), Buffer.concat(parts));
    t.same(await inflate(client, await deflate(server, jsonMessage(5))), jsonMessage(5));
  });

  t.test('sends an empty message as a single 0x00 byte (RFC 7692 §7.2.3.6)', async (t) => {
    const { server, client } = pair(t);
    t.same(await deflate(server, Buffer.alloc(0)), Buffer.from([0x00]));
    t.same(await deflate(server, Buffer.alloc(0)), Buffer.from([0x00]));
    t.same(await inflate(client, Buffer.from([0x00])), Buffer.alloc(0));
    t.same(await inflate(client, await deflate(server, jsonMessage(6))), jsonMessage(6));
  });

  t.test('round-trips random message sequences and frame splits (property)', async (t) => {
    const message = fc.oneof(
      fc.uint8Array({ maxLength: 5000 }),
      fc.string({ maxLength: 2000 }).map((s) => new TextEncoder().encode(s.repeat(3))),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(message, fc.integer({ min: 1, max: 5 })), { minLength: 1, maxLength: 6 }),
        fc.boolean(),
        async (messages, isNoContextTakeover) => {
          const server = new PerMessageDeflate({
            params: isNoContextTakeover ? NO_CONTEXT_TAKEOVER : DEFAULT_PARAMS,
          });
          const client = new PerMessageDeflate({
            params: isNoContextTakeover ? NO_CONTEXT_TAKEOVER : DEFAULT_PARAMS,
            role: 'client',
          });
          try {
            for (const [bytes, frames] of messages) {
              const data = Buffer.from(bytes);
              const out = await inflatePieces(server, split(await deflate(client, data), frames));
              if (!out.equals(data)) return false;
            }
            return true;
          } finally {
            server.close();
            client.close();
          }
        },
      ),
      { numRuns: 40 },
    );
    t.pass('round trips held');
  });
});

t.test('context takeover', async (t) => {
  t.test('with takeover, a repeated message compresses against the previous one', async (t) => {
    const { server, client } = pair(t);
    const message = jsonMessage(7, 2048);
    const first = await deflate(server, message);
    const second = await deflate(server, message);
    t.ok(second.length < first.length / 4, `${second.length} < ${first.length} / 4`);
    t.same(await inflate(client, first), message);
    t.same(await inflate(client, second), message);
    t.throws(() => zlibInflate(second), 'needs the earlier window');
    t.equal(server.zlibStreams, 1, 'the compressor is kept between messages');
    t.equal(client.zlibStreams, 1, 'the decompressor is kept between messages');
  });

  t.test('server_no_context_takeover makes every message decodable on its own', async (t) => {
    const { server } = pair(t, { ...DEFAULT_PARAMS, serverNoContextTakeover: true });
    const message = jsonMessage(8, 2048);
    const first = await deflate(server, message);
    const second = await deflate(server, message);
    t.same(second, first);
    t.same(zlibInflate(second), message);
  });

  t.test('resets rather than recreates the compressor between messages', async (t) => {
    const { server } = pair(t, { ...DEFAULT_PARAMS, serverNoContextTakeover: true });
    const message = jsonMessage(9, 2048);
    const outputs = await Promise.all(Array.from({ length: 8 }, () => deflate(server, message)));
    for (const out of outputs) t.same(zlibInflate(out), message);
    t.equal(server.zlibStreams, 1, 'kept (reset) until the connection closes');
    server.close();
    t.equal(server.zlibStreams, 0, 'released on close');
  });

  t.test('resets both zlib streams between messages with no_context_takeover', async (t) => {
    const { server, client } = pair(t, NO_CONTEXT_TAKEOVER);
    for (let i = 0; i < 3; i++) {
      const message = jsonMessage(i, 2048);
      t.same(await inflate(client, await deflate(server, message)), message);
      t.same(await inflate(server, await deflate(client, message)), message);
      t.equal(server.zlibStreams, 2);
      t.equal(client.zlibStreams, 2);
    }
  });

  t.test('keeps the inflater across the frames of one message', async (t) => {
    const { server, client } = pair(t, NO_CONTEXT_TAKEOVER);
    const message = Buffer.from('frame '.repeat(10_000));
    const compressed = await deflate(client, message);
    const half = Math.floor(compressed.length / 2);
    const head = await inflate(server, compressed.subarray(0, half), false);
    t.equal(server.zlibStreams, 1, 'kept in the middle of a message');
    const rest = await inflate(server, compressed.subarray(half), true);
    t.same(Buffer.concat([head, rest]), message);
    t.equal(server.zlibStreams, 1, 'kept, reset, after it');
  });
});

t.test('interoperates with plain zlib', async (t) => {
  t.test('inflates messages compressed by zlib with the tail stripped', async (t) => {
    const { server } = pair(t);
    for (let i = 0; i < 5; i++) {
      const message = jsonMessage(i, 900 + i * 500);
      t.same(await inflate(server, zlibCompress(message)), message);
    }
  });

  t.test('inflates a zlib stream that keeps its context across messages', async (t) => {
    const { server } = pair(t);
    const deflater = zlib.createDeflateRaw();
    t.teardown(() => deflater.close());
    for (let i = 0; i < 5; i++) {
      const message = jsonMessage(i, 2000);
      const chunks: Buffer[] = [];
      const onData = (chunk: Buffer): number => chunks.push(chunk);
      deflater.on('data', onData);
      deflater.write(message);
      await new Promise<void>((resolve) => deflater.flush(zlib.constants.Z_SYNC_FLUSH, resolve));
      deflater.off('data', onData);
      const out = Buffer.concat(chunks);
      t.same(out.subarray(-4), TAIL);
      t.same(await inflate(server, out.subarray(0, -4)), message);
    }
  });

  t.test(
    'inflates messages ending with a final block (BFINAL) and continues after them',
    async (t) => {
      const { server } = pair(t);
      for (let i = 0; i < 3; i++) {
        const message = jsonMessage(i, 1500);
        t.same(await inflate(server, zlib.deflateRawSync(message)), message);
      }
      t.same(await inflate(server, zlibCompress(jsonMessage(9))), jsonMessage(9));
    },
  );

  t.test(
    'detects a final block after the inflater was reset between queued messages',
    async (t) => {
      const { server } = pair(t, NO_CONTEXT_TAKEOVER);
      const messages = Array.from({ length: 6 }, (_, i) => jsonMessage(i, 1500));
      const wire = messages.map((m, i) => (i % 3 === 1 ? zlib.deflateRawSync(m) : zlibCompress(m)));
      t.same(await Promise.all(wire.map((w) => inflate(server, w))), messages);
    },
  );

  t.test('produces output that zlib inflates, message after message', async (t) => {
    const { server } = pair(t);
    const messages = Array.from({ length: 6 }, (_, i) => jsonMessage(i, 700 * (i + 1)));
    const wire: Buffer[] = [];
    for (const message of messages) {
      const out = await deflate(server, message);
      t.notSame(out.subarray(-4), TAIL, 'tail removed');
      wire.push(out, TAIL);
    }
    const inflated = zlib.inflateRawSync(Buffer.concat(wire), {
      finishFlush: zlib.constants.Z_SYNC_FLUSH,
    });
    t.same(inflated, Buffer.concat(messages));
  });

  t.test('honours an 8-bit window: output decodes with a 256-byte window', async (t) => {
    // No context takeover: each message must decode alone, without the previous ones' history.
    const params = { ...DEFAULT_PARAMS, serverMaxWindowBits: 8, serverNoContextTakeover: true };
    const { server } = pair(t, params);
    for (const period of [100, 200, 250, 260, 300, 400]) {
      const message = Buffer.concat(Array.from({ length: 40 }, () => randomBytes(period)));
      const single = randomBytes(period);
      const periodic = Buffer.concat(Array.from({ length: 40 }, () => single));
      for (const data of [message, periodic]) {
        const out = await deflate(server, data);
        t.same(zlibInflate(out, 8), data, `period ${period}`);
      }
    }
  });

  t.test('inflates a peer that compresses with an 8-bit window', async (t) => {
    const { server } = pair(t, { ...DEFAULT_PARAMS, clientMaxWindowBits: 8 });
    const single = randomBytes(200);
    const message = Buffer.concat(Array.from({ length: 40 }, () => single));
    t.same(await inflate(server, zlibCompress(message, 8)), message);
  });
});

/** Compresses `size` zero bytes without ever holding them: a decompression bomb. */
async function makeBomb(size: number): Promise<Buffer> {
  const deflater = zlib.createDeflateRaw({ level: 9 });
  const chunks: Buffer[] = [];
  deflater.on('data', (chunk: Buffer) => chunks.push(chunk));
  const zeros = Buffer.alloc(MiB);
  for (let written = 0; written < size; written += MiB) {
    if (!deflater.write(zeros)) await new Promise((resolve) => deflater.once('drain', resolve));
  }
  await new Promise<void>((resolve) => deflater.flush(zlib.constants.Z_SYNC_FLUSH, resolve));
  deflater.close();
  const out = Buffer.concat(chunks);
  return out.subarray(0, out.length - 4);
}

t.test('limits and failures', async (t) => {
  t.test('accepts a message of exactly maxBytes and fails one byte more with 1009', async (t) => {
    const message = jsonMessage(10, 1000);
    const exact = pair(t);
    t.same(await inflate(exact.server, zlibCompress(message), true, 1000), message);
    const over = pair(t);
    const err = await inflateError(over.server, zlibCompress(message), true, 999);
    t.equal(err.closeCode, 1009);
    t.equal(err.code, 'WS_MESSAGE_TOO_BIG');
  });

  t.test('fails closed when maxBytes is not a number', async (t) => {
    const { server } = pair(t);
    const err = await inflateError(server, zlibCompress(jsonMessage(1)), true, Number.NaN);
    t.equal(err.code, 'WS_MESSAGE_TOO_BIG');
    const empty = pair(t).server;
    t.same(await inflate(empty, Buffer.from([0x00]), true, 0), Buffer.alloc(0), 'empty fits in 0');
  });

  t.test('stops a 200 MiB bomb at maxBytes without allocating the inflated size', async (t) => {
    const bomb = await makeBomb(200 * MiB);
    t.ok(bomb.length < 256 * 1024, `bomb is ${bomb.length} bytes`);
    const { server } = pair(t);
    const before = process.memoryUsage();
    let during: NodeJS.MemoryUsage | undefined;
    const err = await new Promise<WebSocketError | null>((resolve) => {
      server.inflate(bomb, true, MiB, (e) => {
        during = process.memoryUsage();
        resolve(e);
      });
    });
    t.equal(err?.closeCode, 1009);
    t.equal(err?.code, 'WS_MESSAGE_TOO_BIG');
    const grew = (key: 'rss' | 'external' | 'arrayBuffers'): number =>
      ((during?.[key] ?? 0) - before[key]) / MiB;
    t.ok(grew('arrayBuffers') < 8, `arrayBuffers grew ${grew('arrayBuffers').toFixed(1)} MiB`);
    t.ok(grew('external') < 8, `external grew ${grew('external').toFixed(1)} MiB`);
    t.ok(grew('rss') < 48, `rss grew ${grew('rss').toFixed(1)} MiB`);
    t.equal(server.zlibStreams, 0, 'the inflater was destroyed');
  });

  t.test('enforces maxPayload across the frames of one message', async (t) => {
    const { server, client } = pair(t, DEFAULT_PARAMS, { maxPayload: 100_000 });
    const small = Buffer.from('s'.repeat(100_000));
    t.same(await inflatePieces(server, split(await deflate(client, small), 4)), small);
    const big = Buffer.from('b'.repeat(150_000));
    const pieces = split(await deflate(client, big), 3);
    const errors: Array<number | undefined> = [];
    for (let i = 0; i < pieces.length; i++) {
      await inflate(server, pieces[i] ?? Buffer.alloc(0), i === pieces.length - 1).catch(
        (err: WebSocketError) => errors.push(err.closeCode),
      );
    }
    t.same(errors[0], 1009);
  });

  t.test('fails corrupt data with 1007 and every later inflate with the same error', async (t) => {
    const { server } = pair(t);
    const err = await inflateError(server, Buffer.from([0xff, 0xff, 0xff, 0xff]));
    t.equal(err.closeCode, 1007);
    t.equal(err.code, 'WS_INFLATE_FAILED');
    t.equal(await inflateError(server, zlibCompress(jsonMessage(1))), err);
    t.same(
      zlibInflate(await deflate(server, jsonMessage(2))),
      jsonMessage(2),
      'deflate unaffected',
    );
  });

  t.test('fails data after a final DEFLATE block with 1007', async (t) => {
    const { server } = pair(t);
    const trailing = Buffer.concat([zlib.deflateRawSync(jsonMessage(1)), Buffer.from('junk')]);
    t.equal((await inflateError(server, trailing)).code, 'WS_INFLATE_FAILED');
    const other = pair(t).server;
    await inflate(other, zlib.deflateRawSync(jsonMessage(1)), false);
    t.equal((await inflateError(other, Buffer.from('more'))).code, 'WS_INFLATE_FAILED');
  });

  t.test('rejects invalid parameters and maxPayload at construction', async (t) => {
    const params = { ...DEFAULT_PARAMS, clientMaxWindowBits: 16 };
    t.throws(() => new PerMessageDeflate({ params }), RangeError);
    t.throws(() => new PerMessageDeflate({ params: DEFAULT_PARAMS, maxPayload: 0 }), RangeError);
    t.throws(() => new PerMessageDeflate({ params: DEFAULT_PARAMS, options: { level: 12 } }));
  });

  t.test('compresses from `threshold` bytes on', async (t) => {
    const byDefault = pair(t).server;
    t.equal(byDefault.shouldCompress(1023), false);
    t.equal(byDefault.shouldCompress(1024), true);
    const always = pair(t, DEFAULT_PARAMS, { options: { threshold: 0 } }).server;
    t.equal(always.shouldCompress(0), true);
  });
});

t.test('ordering and concurrency', async (t) => {
  t.test('returns results in call order on one connection', async (t) => {
    const { server, client } = pair(t);
    const messages = Array.from({ length: 50 }, (_, i) => jsonMessage(i, 200 + 97 * i));
    const order: number[] = [];
    const compressed = await Promise.all(
      messages.map((m, i) => deflate(server, m).finally(() => order.push(i))),
    );
    t.same(
      order,
      messages.map((_, i) => i),
    );
    const inflated = await Promise.all(compressed.map((c) => inflate(client, c)));
    t.same(inflated, messages);
  });

  t.test('never runs more zlib operations than the limiter allows', async (t) => {
    const limiter = new ZlibLimiter(3);
    let maxSeen = 0;
    const observe = (): void => {
      maxSeen = Math.max(maxSeen, limiter.active);
    };
    const pairs = Array.from({ length: 20 }, () => pair(t, DEFAULT_PARAMS, { limiter }));
    await Promise.all(
      pairs.map(async ({ server, client }, n) => {
        for (let i = 0; i < 5; i++) {
          const message = jsonMessage(n * 10 + i, 4096);
          const c = await deflate(server, message).finally(observe);
          observe();
          t.same(await inflate(client, c).finally(observe), message);
        }
      }),
    );
    t.equal(limiter.peakActive, 3, 'the cap was reached and never exceeded');
    t.ok(maxSeen <= 3);
    t.equal(limiter.active, 0);
    t.equal(limiter.pending, 0);
  });

  t.test('shares the process-wide limiter of the configured concurrency', async (t) => {
    const shared = getSharedZlibLimiter(2);
    const pairs = Array.from({ length: 10 }, () =>
      pair(t, DEFAULT_PARAMS, { options: { concurrency: 2 } }),
    );
    await Promise.all(pairs.map(({ server }) => deflate(server, jsonMessage(1))));
    t.equal(shared.peakActive, 2);
    t.equal(shared.active, 0);
  });
});

t.test('close()', async (t) => {
  t.test('fails pending deflates with WS_DEFLATE_CLOSED, asynchronously', async (t) => {
    const { server } = pair(t);
    const results: Array<Promise<unknown>> = [];
    let isSync = true;
    for (let i = 0; i < 5; i++) {
      results.push(
        deflate(server, jsonMessage(i)).catch((err: { code?: string }) => {
          t.notOk(isSync, 'not called from close()');
          return err.code;
        }),
      );
    }
    server.close();
    isSync = false;
    t.same(await Promise.all(results), Array(5).fill('WS_DEFLATE_CLOSED'));
    t.equal(
      await deflate(server, Buffer.from('late')).catch((e: { code?: string }) => e.code),
      'WS_DEFLATE_CLOSED',
    );
  });

  t.test('drops pending inflate callbacks and releases everything', async (t) => {
    const limiter = new ZlibLimiter(2);
    const { server, client } = pair(t, DEFAULT_PARAMS, { limiter });
    const compressed = await deflate(client, Buffer.from('x'.repeat(MiB)));
    let calls = 0;
    for (let i = 0; i < 3; i++) server.inflate(compressed, true, 64 * MiB, () => calls++);
    t.equal(server.zlibStreams, 1);
    t.doesNotThrow(() => server.close());
    t.doesNotThrow(() => server.close(), 'idempotent');
    server.inflate(compressed, true, 64 * MiB, () => calls++);
    await zlibBarrier();
    await zlibBarrier();
    t.equal(calls, 0, 'no inflate callback after close()');
    t.equal(server.zlibStreams, 0);
    t.ok(server.isClosed);
    t.equal(limiter.active, 0);
    t.equal(limiter.pending, 0);
  });

  t.test('releases a limiter slot it was still waiting for', async (t) => {
    const limiter = new ZlibLimiter(1);
    const busy = pair(t, DEFAULT_PARAMS, { limiter });
    const waiting = pair(t, DEFAULT_PARAMS, { limiter });
    const busyWork = deflate(busy.server, randomBytes(4 * MiB));
    const dropped = deflate(waiting.server, jsonMessage(1)).catch((e: { code?: string }) => e.code);
    t.equal(limiter.pending, 1);
    waiting.server.close();
    t.equal(await dropped, 'WS_DEFLATE_CLOSED');
    await busyWork;
    t.equal(limiter.active, 0);
    t.equal(limiter.pending, 0);
    t.same(await inflate(busy.client, await deflate(busy.server, jsonMessage(2))), jsonMessage(2));
  });

  t.test('can be called while zlib is inflating a bomb', async (t) => {
    const bomb = await makeBomb(64 * MiB);
    const limiter = new ZlibLimiter(1);
    const { server } = pair(t, DEFAULT_PARAMS, { limiter });
    let calls = 0;
    server.inflate(bomb, true, 64 * MiB, () => calls++);
    await new Promise((resolve) => setImmediate(resolve));
    t.doesNotThrow(() => server.close());
    await zlibBarrier();
    t.equal(calls, 0);
    t.equal(limiter.active, 0);
  });
});
