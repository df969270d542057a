import { readFile } from 'node:fs/promises';
import http from 'node:http';
import { type NodeRouteOptions, type WebSocketHandler, WebSocketServer } from '@wsroute/core';
import { launchChromium } from '@wsroute/test-utils';
import t from 'tap';
import { listenAttached } from '../helpers/listen.js';
import { withTimeout } from '../helpers/raw-client.js';

const PAGE_URL = new URL('./deflate-page.html', import.meta.url);
const MiB = 1024 * 1024;

/** What `deflateRoundTrip` in the page resolves with. */
interface RoundTrip {
  readonly extensions: string;
  readonly sizes: number[];
  readonly matches: boolean[];
  readonly closeCode: number;
}

/** The page's API as seen from `page.evaluate` (the test compiles without the DOM types). */
interface PageApi {
  deflateRoundTrip(path: string, size: number, count: number): Promise<RoundTrip>;
}

/** Echoes every message and records the size of each JSON document it could parse. */
function echoJson(received: number[]): WebSocketHandler<unknown> {
  return {
    onMessage(connection, message) {
      const text = String(message);
      received.push((JSON.parse(text) as unknown[]).length);
      connection.send(message);
    },
  };
}

t.test('permessage-deflate with headless Chromium', async (t) => {
  const page = await readFile(PAGE_URL);
  const offers: Array<string | undefined> = [];
  const received: number[] = [];
  const route = (overrides: Partial<NodeRouteOptions<unknown>>): NodeRouteOptions<unknown> => ({
    defaultProtocol: echoJson(received),
    maxPayload: 16 * MiB,
    heartbeatInterval: 0,
    upgrade(request) {
      offers.push(request.headers['sec-websocket-extensions']);
      return undefined;
    },
    ...overrides,
  });
  const wss = new WebSocketServer()
    .route('/ws', route({ perMessageDeflate: true }))
    .route(
      '/ws-tuned',
      route({
        perMessageDeflate: {
          serverNoContextTakeover: true,
          clientNoContextTakeover: true,
          serverMaxWindowBits: 10,
          clientMaxWindowBits: 11,
          threshold: 0,
        },
      }),
    )
    .route('/ws-plain', route({ perMessageDeflate: false }));

  // Our own 'request' listener first: attach() then leaves plain HTTP to it.
  const server = http.createServer((request, response) => {
    if (request.url === '/') {
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(page);
    } else if (!wss.handleRequest(request, response)) {
      response.writeHead(404).end();
    }
  });
  wss.attach(server);
  const origin = `http://127.0.0.1:${await listenAttached(t, wss, server)}`;

  const context = await launchChromium(t, 'wsroute-deflate');
  const tab = context.pages()[0] ?? (await context.newPage());
  await tab.goto(`${origin}/`);

  const roundTrip = (path: string, size: number, count: number): Promise<RoundTrip> =>
    withTimeout(
      tab.evaluate(([p, s, c]) => (globalThis as unknown as PageApi).deflateRoundTrip(p, s, c), [
        path,
        size,
        count,
      ] as const),
      `round trip on ${path}`,
      30_000,
    );

  t.test('negotiates permessage-deflate and round-trips a large JSON message', async (t) => {
    received.length = 0;
    const result = await roundTrip('/ws', 2 * MiB, 1);
    t.match(offers.at(-1), /^permessage-deflate\b/, 'Chromium offers permessage-deflate');
    t.equal(result.extensions, 'permessage-deflate', 'ws.extensions in the page');
    t.ok(result.sizes[0]! >= 2 * MiB, `${result.sizes[0]} characters sent`);
    t.same(result.matches, [true], 'the echo equals what was sent');
    t.equal(received.length, 1, 'the server parsed the inflated JSON');
    t.equal(result.closeCode, 1000);
  });

  t.test('no context takeover and smaller windows, several messages in a row', async (t) => {
    received.length = 0;
    const result = await roundTrip('/ws-tuned', 300_000, 5);
    t.equal(
      result.extensions,
      'permessage-deflate; server_no_context_takeover; client_no_context_takeover; ' +
        'server_max_window_bits=10; client_max_window_bits=11',
    );
    t.same(result.matches, [true, true, true, true, true], 'every echo equals what was sent');
    t.equal(received.length, 5);
  });

  t.test('a route without perMessageDeflate works uncompressed', async (t) => {
    const result = await roundTrip('/ws-plain', MiB, 1);
    t.equal(result.extensions, '', 'nothing negotiated');
    t.same(result.matches, [true]);
  });
});
