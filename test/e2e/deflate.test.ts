/**
 * permessage-deflate (RFC 7692) end to end over real sockets on 127.0.0.1: the negotiation as
 * the 101 answers it, and round trips with independent clients (`ws`, undici) in every
 * context-takeover combination. Frames, RSV1 rules, limits and resources are in
 * deflate-frames.test.ts.
 */

import { randomBytes } from 'node:crypto';
import type http from 'node:http';
import type { NodeRouteOptions, PerMessageDeflateOptions, WebSocketHandler } from '@wsroute/core';
import t, { type Test } from 'tap';
import { type MessageEvent as UndiciMessageEvent, WebSocket as UndiciWebSocket } from 'undici';
import WebSocket from 'ws';
import { echoRoute, jsonText, MiB, PMD, startServer, THRESHOLD } from '../helpers/deflate.js';
import {
  headerValues,
  RawClient,
  type RequestHeaders,
  waitForEvent,
  withTimeout,
} from '../helpers/raw-client.js';

interface Received {
  readonly data: Buffer;
  readonly isBinary: boolean;
}

/** Opens a `ws` client; it is terminated on teardown. */
async function openWs(
  t: Test,
  url: string,
  perMessageDeflate: boolean | WebSocket.PerMessageDeflateOptions,
): Promise<WebSocket> {
  const ws = new WebSocket(url, { perMessageDeflate });
  ws.on('error', () => {});
  t.teardown(() => ws.terminate());
  await waitForEvent(ws, 'open');
  return ws;
}

/** The next `count` messages a `ws` client receives, in arrival order. */
function nextMessages(ws: WebSocket, count: number, ms = 30_000): Promise<Received[]> {
  const received: Received[] = [];
  return withTimeout(
    new Promise((resolve, reject) => {
      const onMessage = (data: Buffer, isBinary: boolean): void => {
        received.push({ data, isBinary });
        if (received.length < count) return;
        ws.off('message', onMessage);
        resolve(received);
      };
      ws.on('message', onMessage);
      ws.once('close', (code: number) => reject(new Error(`closed with ${code} first`)));
    }),
    `${count} ws messages`,
    ms,
  );
}

/** A mix of text and binary messages around the threshold, each recognisable by its index. */
function mixedMessage(i: number): string | Buffer {
  const sizes = [3, THRESHOLD - 1, THRESHOLD, 5000, 70_000, 0, 200];
  const size = sizes[i % sizes.length] as number;
  const label = `#${i};`;
  if (i % 2 === 0) return label + 'x'.repeat(Math.max(0, size - label.length));
  const bytes = Buffer.alloc(Math.max(size, 4), i & 0xff);
  bytes.writeUInt32BE(i, 0);
  return bytes;
}

/** Fails on the first message that is not {@link mixedMessage} of its position. */
function checkInOrder(t: Test, received: readonly Received[], count: number): void {
  t.equal(received.length, count, 'every message arrived');
  for (let i = 0; i < count; i++) {
    const sent = mixedMessage(i);
    const got = received[i];
    const isSame =
      got !== undefined &&
      got.isBinary === Buffer.isBuffer(sent) &&
      got.data.equals(Buffer.from(sent));
    if (!isSame) {
      t.fail(`message ${i} is not the one sent at that position`);
      return;
    }
  }
  t.pass(`${count} messages in the order sent`);
}

// ---------------------------------------------------------------------------------------------
// Negotiation over the wire

interface NegotiationCase {
  readonly name: string;
  readonly offer: string | readonly string[];
  readonly options?: PerMessageDeflateOptions;
  /** The exact `Sec-WebSocket-Extensions` of the 101, undefined for none. */
  readonly answer: string | undefined;
}

const NEGOTIATION_CASES: readonly NegotiationCase[] = [
  { name: 'a bare offer', offer: PMD, answer: PMD },
  {
    name: 'client_max_window_bits without a value needs no answer at 15',
    offer: `${PMD}; client_max_window_bits`,
    answer: PMD,
  },
  {
    name: 'client_max_window_bits with a value is answered with it',
    offer: `${PMD}; client_max_window_bits=10`,
    answer: `${PMD}; client_max_window_bits=10`,
  },
  {
    name: 'server_no_context_takeover is accepted',
    offer: `${PMD}; server_no_context_takeover`,
    answer: `${PMD}; server_no_context_takeover`,
  },
  {
    name: 'client_no_context_takeover is echoed',
    offer: `${PMD}; client_no_context_takeover`,
    answer: `${PMD}; client_no_context_takeover`,
  },
  {
    name: 'server_max_window_bits is accepted',
    offer: `${PMD}; server_max_window_bits=10`,
    answer: `${PMD}; server_max_window_bits=10`,
  },
  {
    name: 'quoted values are unquoted',
    offer: `${PMD}; server_max_window_bits="10"; client_max_window_bits="12"`,
    answer: `${PMD}; server_max_window_bits=10; client_max_window_bits=12`,
  },
  {
    name: 'whitespace around separators',
    offer: `${PMD} ;server_max_window_bits = 11 ,\tx-other`,
    answer: `${PMD}; server_max_window_bits=11`,
  },
  {
    name: 'the first acceptable of several offers wins',
    offer: `${PMD}; server_max_window_bits=7, ${PMD}; client_no_context_takeover, ${PMD}`,
    answer: `${PMD}; client_no_context_takeover`,
  },
  {
    name: 'offers on several header lines form one list',
    offer: ['x-webkit-deflate-frame', `${PMD}; unknown`, `${PMD}; server_no_context_takeover`],
    answer: `${PMD}; server_no_context_takeover`,
  },
  { name: 'only an unknown extension', offer: 'x-custom; a=1', answer: undefined },
  { name: 'an unknown parameter', offer: `${PMD}; foo=bar`, answer: undefined },
  {
    name: 'a repeated parameter',
    offer: `${PMD}; client_max_window_bits; client_max_window_bits=10`,
    answer: undefined,
  },
  { name: 'a value on a flag', offer: `${PMD}; server_no_context_takeover=1`, answer: undefined },
  {
    name: 'window bits out of range, with a leading zero, or missing',
    offer: [
      `${PMD}; server_max_window_bits=16`,
      `${PMD}; client_max_window_bits=08`,
      `${PMD}; server_max_window_bits`,
    ],
    answer: undefined,
  },
  { name: 'the extension name is case-sensitive', offer: 'Permessage-Deflate', answer: undefined },
  {
    name: 'serverNoContextTakeover is answered unasked',
    options: { serverNoContextTakeover: true },
    offer: PMD,
    answer: `${PMD}; server_no_context_takeover`,
  },
  {
    name: 'clientNoContextTakeover is answered unasked',
    options: { clientNoContextTakeover: true },
    offer: PMD,
    answer: `${PMD}; client_no_context_takeover`,
  },
  {
    name: 'serverMaxWindowBits is answered unasked',
    options: { serverMaxWindowBits: 10 },
    offer: PMD,
    answer: `${PMD}; server_max_window_bits=10`,
  },
  {
    name: 'server_max_window_bits never exceeds the client cap',
    options: { serverMaxWindowBits: 12 },
    offer: `${PMD}; server_max_window_bits=9`,
    answer: `${PMD}; server_max_window_bits=9`,
  },
  {
    name: 'clientMaxWindowBits is not answered when the client did not offer it',
    options: { clientMaxWindowBits: 10 },
    offer: PMD,
    answer: PMD,
  },
  {
    name: 'clientMaxWindowBits answers a bare client_max_window_bits',
    options: { clientMaxWindowBits: 10 },
    offer: `${PMD}; client_max_window_bits`,
    answer: `${PMD}; client_max_window_bits=10`,
  },
  {
    name: 'client_max_window_bits never exceeds the client value',
    options: { clientMaxWindowBits: 12 },
    offer: `${PMD}; client_max_window_bits=9`,
    answer: `${PMD}; client_max_window_bits=9`,
  },
];

const MALFORMED_OFFERS: readonly (string | readonly string[])[] = [
  `${PMD};`,
  `${PMD}; client_max_window_bits=`,
  `${PMD}; server_max_window_bits="10`,
  `${PMD}; server_max_window_bits="1 0"`,
  `${PMD} client_max_window_bits`,
  `"${PMD}"`,
  `${PMD},;`,
  [PMD, `${PMD}; a==b`],
];

/** Sends an upgrade with these offer lines; returns the status and every extensions line. */
async function handshake(
  t: Test,
  port: number,
  path: string,
  offer: string | readonly string[] | undefined,
): Promise<{ status: number; extensions: string[] }> {
  const headers: RequestHeaders = offer === undefined ? {} : { 'Sec-WebSocket-Extensions': offer };
  const { client, head } = await RawClient.open(t, port, { path, headers });
  client.socket.destroy();
  return { status: head.status, extensions: headerValues(head, 'sec-websocket-extensions') };
}

/** Parses an answer the simple way: `name; a; b=v` with no quoting (we never quote). */
function parseAnswer(answer: string): Map<string, string | true> {
  const [name, ...params] = answer.split(';').map((part) => part.trim());
  const parsed = new Map<string, string | true>([['', name ?? '']]);
  for (const param of params) {
    const [key = '', value] = param.split('=');
    parsed.set(key, value ?? true);
  }
  return parsed;
}

t.test('negotiation over the wire', async (t) => {
  const routes: Record<string, NodeRouteOptions<unknown>> = {
    '/plain': echoRoute({ perMessageDeflate: false }),
  };
  NEGOTIATION_CASES.forEach((c, i) => {
    routes[`/case/${i}`] = echoRoute({ perMessageDeflate: c.options ?? true });
  });
  const { port } = await startServer(t, routes);

  NEGOTIATION_CASES.forEach((c, i) => {
    t.test(`${c.name}: ${c.answer ?? 'no extension'}`, async (t) => {
      const { status, extensions } = await handshake(t, port, `/case/${i}`, c.offer);
      t.equal(status, 101);
      t.same(extensions, c.answer === undefined ? [] : [c.answer], 'exact answer, one line');
    });
  });

  t.test('a malformed Sec-WebSocket-Extensions header is refused with 400', async (t) => {
    for (const offer of MALFORMED_OFFERS) {
      const { client, head } = await RawClient.open(t, port, {
        path: '/case/0',
        headers: { 'Sec-WebSocket-Extensions': offer },
      });
      t.equal(head.status, 400, JSON.stringify(offer));
      t.same(headerValues(head, 'sec-websocket-accept'), [], 'no handshake');
      await client.ended();
    }
  });

  t.test('a route without perMessageDeflate answers no extension', async (t) => {
    for (const offer of [PMD, `${PMD}; client_max_window_bits`, ['x-a', PMD]]) {
      const { status, extensions } = await handshake(t, port, '/plain', offer);
      t.same({ status, extensions }, { status: 101, extensions: [] }, JSON.stringify(offer));
    }
    const ws = await openWs(t, `ws://127.0.0.1:${port}/plain`, { threshold: 0 });
    t.equal(ws.extensions, '', 'ws sees no extension');
  });

  t.test('no offer, no answer', async (t) => {
    const { status, extensions } = await handshake(t, port, '/case/0', undefined);
    t.same({ status, extensions }, { status: 101, extensions: [] });
  });

  t.test('the answer never holds a parameter the client did not allow', async (t) => {
    // Every combination of offered parameters against three server configurations.
    const configs = ['/case/0', `/case/${NEGOTIATION_CASES.length - 1}`, '/strict'];
    const { port: strictPort } = await startServer(t, {
      '/strict': echoRoute({
        perMessageDeflate: { serverMaxWindowBits: 9, clientMaxWindowBits: 8 },
      }),
    });
    let checked = 0;
    for (const snct of [false, true]) {
      for (const cnct of [false, true]) {
        for (const smwb of [undefined, 8, 12, 15]) {
          for (const cmwb of [undefined, true, 8, 12] as const) {
            const params: string[] = [];
            if (snct) params.push('server_no_context_takeover');
            if (cnct) params.push('client_no_context_takeover');
            if (smwb !== undefined) params.push(`server_max_window_bits=${smwb}`);
            if (cmwb === true) params.push('client_max_window_bits');
            else if (cmwb !== undefined) params.push(`client_max_window_bits=${cmwb}`);
            const offer = [PMD, ...params].join('; ');
            for (const path of configs) {
              const target = path === '/strict' ? strictPort : port;
              const { status, extensions } = await handshake(t, target, path, offer);
              const [answer] = extensions;
              if (status !== 101 || extensions.length !== 1 || answer === undefined) {
                t.fail(`${offer} on ${path}: ${status} ${JSON.stringify(extensions)}`);
                continue;
              }
              const parsed = parseAnswer(answer);
              const problems: string[] = [];
              if (parsed.get('') !== PMD) problems.push('extension name');
              if (snct && !parsed.has('server_no_context_takeover')) {
                problems.push('server_no_context_takeover offered but not answered');
              }
              const smwbAnswer = parsed.get('server_max_window_bits');
              if (smwb !== undefined && smwbAnswer === undefined) {
                problems.push('server_max_window_bits offered but not answered');
              }
              if (smwb !== undefined && Number(smwbAnswer) > smwb) {
                problems.push('server_max_window_bits above the client cap');
              }
              const cmwbAnswer = parsed.get('client_max_window_bits');
              if (cmwbAnswer !== undefined && cmwb === undefined) {
                problems.push('client_max_window_bits answered but not offered');
              }
              if (cmwbAnswer === true) problems.push('client_max_window_bits without a value');
              if (typeof cmwb === 'number' && Number(cmwbAnswer ?? 15) > cmwb) {
                problems.push('client_max_window_bits above the client value');
              }
              for (const key of parsed.keys()) {
                const known = [
                  '',
                  'server_no_context_takeover',
                  'client_no_context_takeover',
                  'server_max_window_bits',
                  'client_max_window_bits',
                ];
                if (!known.includes(key)) problems.push(`unknown parameter ${key}`);
              }
              if (problems.length > 0) t.fail(`${offer} on ${path} → ${answer}: ${problems}`);
              checked++;
            }
          }
        }
      }
    }
    t.equal(checked, 2 * 2 * 4 * 4 * configs.length, 'every combination answered and checked');
  });
});

// ---------------------------------------------------------------------------------------------
// Round trips

/** A route that answers `burst:N` with N mixed messages sent in one synchronous loop. */
const burst: WebSocketHandler<unknown> = {
  onMessage(connection, message) {
    const count = Number(String(message).slice('burst:'.length));
    for (let i = 0; i < count; i++) connection.send(mixedMessage(i));
  },
};

const WS_CLIENTS: ReadonlyArray<{
  readonly name: string;
  readonly options: WebSocket.PerMessageDeflateOptions;
  readonly extensions: string;
}> = [
  { name: 'context takeover both ways', options: { threshold: 0 }, extensions: PMD },
  {
    name: 'server_no_context_takeover',
    options: { threshold: 0, serverNoContextTakeover: true },
    extensions: `${PMD}; server_no_context_takeover`,
  },
  {
    name: 'client_no_context_takeover',
    options: { threshold: 0, clientNoContextTakeover: true },
    extensions: `${PMD}; client_no_context_takeover`,
  },
  {
    // zlib cannot make raw streams with 8 bits: both ends compress with 9, within 256 bytes.
    name: 'the smallest windows',
    options: { threshold: 0, serverMaxWindowBits: 8, clientMaxWindowBits: 8 },
    extensions: `${PMD}; server_max_window_bits=8; client_max_window_bits=8`,
  },
];

/** Sends 40 large messages, waiting for `drained()` whenever `send()` asks to, then `done`. */
const flood: WebSocketHandler<unknown> = {
  async onMessage(connection) {
    for (let i = 0; i < 40; i++) {
      if (!connection.send(floodMessage(i))) await connection.drained();
    }
    connection.send('done');
  },
};

/** Large and only half compressible: compression takes a while and the output stays large. */
function floodMessage(i: number): string {
  return `${i}:${randomBytes(150_000).toString('hex')}`;
}

/** Sends a large message and a small one, then closes at once. */
const sendThenClose: WebSocketHandler<unknown> = {
  onMessage(connection) {
    connection.send(floodMessage(0));
    connection.send('small');
    connection.close(4000, 'bye');
  },
};

t.test('ws client', async (t) => {
  const { port } = await startServer(t, {
    '/': echoRoute(),
    '/burst': echoRoute({ defaultProtocol: burst }),
    '/flood': echoRoute({ defaultProtocol: flood }),
    '/send-then-close': echoRoute({ defaultProtocol: sendThenClose }),
  });
  const url = `ws://127.0.0.1:${port}/`;

  t.test('send() asks to wait while compressing, and drained() lets it go on', async (t) => {
    const ws = await openWs(t, `ws://127.0.0.1:${port}/flood`, { threshold: 0 });
    const received = nextMessages(ws, 41);
    ws.send('go');
    const messages = (await received).map((m) => m.data.toString());
    t.equal(messages.pop(), 'done');
    const isInOrder = messages.every(
      (m, i) => m.length === `${i}:`.length + 300_000 && m.startsWith(`${i}:`),
    );
    t.ok(isInOrder && messages.length === 40, '40 whole messages in order');
  });

  t.test('a close right after compressed sends arrives after them', async (t) => {
    const ws = await openWs(t, `ws://127.0.0.1:${port}/send-then-close`, { threshold: 0 });
    const events: string[] = [];
    ws.on('message', (data: Buffer) => events.push(data.toString().split(':')[0] as string));
    const closed = waitForEvent(ws, 'close');
    ws.send('go');
    const [code, reason] = await closed;
    t.same([...events, code, String(reason)], ['0', 'small', 4000, 'bye']);
  });

  for (const client of WS_CLIENTS) {
    t.test(client.name, async (t) => {
      t.test('ws.extensions shows permessage-deflate with the agreed parameters', async (t) => {
        const ws = new WebSocket(url, { perMessageDeflate: client.options });
        ws.on('error', () => {});
        t.teardown(() => ws.terminate());
        const upgraded = waitForEvent(ws, 'upgrade');
        await waitForEvent(ws, 'open');
        const [response] = await upgraded;
        // ws.extensions lists names only; the parameters are in the 101.
        t.equal(ws.extensions, PMD);
        const { headers } = response as http.IncomingMessage;
        t.equal(headers['sec-websocket-extensions'], client.extensions);
      });

      t.test('small and large, text and binary, arrive intact and typed', async (t) => {
        const ws = await openWs(t, url, client.options);
        const messages: Array<string | Buffer> = [
          'hé',
          Buffer.from([0, 1, 2, 255]),
          '',
          jsonText(3 * MiB, 1),
          randomBytes(MiB + 17),
          jsonText(3 * MiB, 2),
          Buffer.from(jsonText(2 * MiB, 3)),
        ];
        for (const message of messages) ws.send(message);
        const received = await nextMessages(ws, messages.length);
        messages.forEach((sent, i) => {
          const got = received[i] as Received;
          t.equal(got.isBinary, Buffer.isBuffer(sent), `message ${i} keeps its type`);
          t.ok(got.data.equals(Buffer.from(sent)), `message ${i}: ${got.data.length} bytes intact`);
        });
      });

      t.test('fragmented sends arrive as one message', async (t) => {
        const ws = await openWs(t, url, client.options);
        ws.send('frag', { fin: false });
        ws.send('men', { fin: false });
        ws.send('ted', { fin: true });
        const large = [randomBytes(300_000), Buffer.from(jsonText(700_000)), Buffer.alloc(9, 7)];
        large.forEach((part, i) => {
          ws.send(part, { binary: true, fin: i === large.length - 1 });
        });
        const [text, binary] = await nextMessages(ws, 2);
        t.same([text?.isBinary, text?.data.toString()], [false, 'fragmented']);
        t.equal(binary?.isBinary, true);
        t.ok(binary?.data.equals(Buffer.concat(large)), 'fragments joined in order');
      });

      t.test('500 mixed messages are echoed in the order sent', async (t) => {
        const ws = await openWs(t, url, client.options);
        const count = 500;
        const received = nextMessages(ws, count);
        for (let i = 0; i < count; i++) ws.send(mixedMessage(i));
        checkInOrder(t, await received, count);
      });

      t.test('500 mixed messages sent in one loop by the server keep their order', async (t) => {
        const ws = await openWs(t, `ws://127.0.0.1:${port}/burst`, client.options);
        const received = nextMessages(ws, 500);
        ws.send('burst:500');
        checkInOrder(t, await received, 500);
      });
    });
  }
});

/** Opens an undici client; it is closed on teardown. */
async function openUndici(t: Test, url: string): Promise<UndiciWebSocket> {
  const ws = new UndiciWebSocket(url);
  ws.binaryType = 'arraybuffer';
  t.teardown(() => ws.close());
  await withTimeout(
    new Promise<void>((resolve, reject) => {
      ws.addEventListener('open', () => resolve(), { once: true });
      ws.addEventListener('error', () => reject(new Error('undici failed to open')), {
        once: true,
      });
    }),
    'undici open',
  );
  return ws;
}

/** The next `count` messages of an undici client. */
function nextUndiciMessages(ws: UndiciWebSocket, count: number): Promise<Received[]> {
  const received: Received[] = [];
  return withTimeout(
    new Promise((resolve) => {
      const onMessage = (event: UndiciMessageEvent): void => {
        const data: unknown = event.data;
        if (typeof data === 'string') received.push({ data: Buffer.from(data), isBinary: false });
        else received.push({ data: Buffer.from(data as ArrayBuffer), isBinary: true });
        if (received.length < count) return;
        ws.removeEventListener('message', onMessage);
        resolve(received);
      };
      ws.addEventListener('message', onMessage);
    }),
    `${count} undici messages`,
    30_000,
  );
}

t.test('undici WebSocket client', async (t) => {
  // undici 7 offers `permessage-deflate; client_max_window_bits` and inflates what the server
  // compresses, but never compresses its own messages (its sender sets no RSV1): the server
  // inflates nothing from it and must still compress what it sends back.
  const offers: Array<string | undefined> = [];
  const { port } = await startServer(t, {
    '/': echoRoute({
      upgrade(request) {
        offers.push(request.headers['sec-websocket-extensions']);
        return undefined;
      },
    }),
    '/burst': echoRoute({ defaultProtocol: burst }),
  });

  t.test('negotiates permessage-deflate', async (t) => {
    const ws = await openUndici(t, `ws://127.0.0.1:${port}/`);
    t.match(offers.at(-1), /^permessage-deflate\b/, 'undici offers it');
    t.equal(ws.extensions, PMD);
  });

  t.test('small and large, text and binary, arrive intact', async (t) => {
    const ws = await openUndici(t, `ws://127.0.0.1:${port}/`);
    const messages: Array<string | Buffer> = [
      'grüß',
      Buffer.from([9, 8, 7]),
      jsonText(2 * MiB),
      randomBytes(MiB + 1),
    ];
    const received = nextUndiciMessages(ws, messages.length);
    for (const message of messages) ws.send(message);
    const got = await received;
    messages.forEach((sent, i) => {
      t.equal(got[i]?.isBinary, Buffer.isBuffer(sent), `message ${i} keeps its type`);
      t.ok(got[i]?.data.equals(Buffer.from(sent)), `message ${i} intact`);
    });
  });

  t.test('500 mixed messages from the server keep their order', async (t) => {
    const ws = await openUndici(t, `ws://127.0.0.1:${port}/burst`);
    const received = nextUndiciMessages(ws, 500);
    ws.send('burst:500');
    checkInOrder(t, await received, 500);
  });
});
