import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Router } from '@koa/router';
import { wsroute as expressWs } from '@wsroute/express';
import { defineWebSocketRoute, wsroute as fastifyWs, upgradeRequired } from '@wsroute/fastify';
import { wsroute as koaWs } from '@wsroute/koa';
import { launchChromium } from '@wsroute/test-utils';
import { build } from 'esbuild';
import express from 'express';
import Fastify from 'fastify';
import Koa from 'koa';
import t, { type Test } from 'tap';
import type { PageApi, RoundTrip } from './browser/page.js';
import { withTimeout } from './helpers/events.js';
import { type ChatData, chatData, chatProtocols, startCoreServer } from './helpers/servers.js';

const PAGE = fileURLToPath(new URL('./browser/page.ts', import.meta.url));

/** Serves the page and the bundled client on 127.0.0.1:0. */
async function servePage(t: Test): Promise<string> {
  const bundle = await build({
    entryPoints: [PAGE],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    write: false,
    logLevel: 'silent',
  });
  const script = bundle.outputFiles[0]?.text ?? '';
  const html =
    '<!doctype html><meta charset="utf-8"><title>client</title>' +
    '<script type="module" src="/page.js"></script>';
  const server = createServer((request, response) => {
    if (request.url === '/page.js') {
      response.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' }).end(script);
    } else if (request.url === '/') {
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(html);
    } else {
      response.writeHead(404).end();
    }
  });
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  t.teardown(() => {
    server.closeAllConnections();
    return new Promise((resolve) => server.close(resolve));
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
}

const dataOf = (header: string | string[] | undefined, token: string | undefined): ChatData =>
  chatData(Array.isArray(header) ? header.join(', ') : header, token);

/**
 * The page is served from its own origin: every server allows it explicitly (the default,
 * same-origin, would refuse it with 403), as an app whose page lives on another host does.
 */
const pageOrigins = (origin: string): { readonly origins: string[] } => ({
  origins: [new URL(origin).origin],
});

/** The chat route on Fastify. */
async function startFastify(t: Test, origin: string): Promise<string> {
  const app = Fastify();
  await app.register(fastifyWs, pageOrigins(origin));
  app.get(
    '/chat',
    {
      websocket: defineWebSocketRoute<ChatData>({
        protocols: chatProtocols(),
        tokenCarrier: true,
        heartbeatInterval: 0,
        data: (request) =>
          dataOf(request.headers['sec-websocket-protocol'], request.websocketToken),
      }),
    },
    upgradeRequired,
  );
  await app.listen({ port: 0, host: '127.0.0.1' });
  t.teardown(() => app.close());
  return `ws://127.0.0.1:${(app.server.address() as AddressInfo).port}/chat`;
}

/** The chat route on Express. */
async function startExpress(t: Test, origin: string): Promise<string> {
  const app = express();
  const ws = expressWs(pageOrigins(origin));
  app.get(
    '/chat',
    ws.route<ChatData>({
      protocols: chatProtocols(),
      tokenCarrier: true,
      heartbeatInterval: 0,
      data: (req) => dataOf(req.headers['sec-websocket-protocol'], req.websocketToken),
    }),
  );
  const server = ws.attach(app.listen(0, '127.0.0.1'));
  await new Promise((resolve) => server.once('listening', resolve));
  t.teardown(() => new Promise((resolve) => server.close(resolve)));
  return `ws://127.0.0.1:${(server.address() as AddressInfo).port}/chat`;
}

/** The chat route on Koa with @koa/router. */
async function startKoa(t: Test, origin: string): Promise<string> {
  const app = new Koa();
  const ws = koaWs(pageOrigins(origin));
  const router = new Router();
  router.get(
    '/chat',
    ws.route<ChatData>({
      protocols: chatProtocols(),
      tokenCarrier: true,
      heartbeatInterval: 0,
      data: (ctx) => dataOf(ctx.get('sec-websocket-protocol'), ctx.ws?.token),
    }),
  );
  app.use(ws.middleware());
  app.use(router.routes());
  const server = ws.attach(createServer(app.callback()), app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(async () => {
    await ws.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  return `ws://127.0.0.1:${(server.address() as AddressInfo).port}/chat`;
}

t.test('the client in headless Chromium', async (t) => {
  const origin = await servePage(t);
  const core = await startCoreServer(
    t,
    0,
    { '/other': { protocols: { other: {} } } },
    pageOrigins(origin),
  );
  const servers: Record<string, string> = {
    core: core.url,
    fastify: await startFastify(t, origin),
    express: await startExpress(t, origin),
    koa: await startKoa(t, origin),
  };

  const context = await launchChromium(t, 'wsroute-client');
  const tab = context.pages()[0] ?? (await context.newPage());
  const pageErrors: string[] = [];
  tab.on('pageerror', (error) => pageErrors.push(error.message));
  await tab.goto(origin);
  await tab.waitForFunction(() => 'clientTest' in globalThis);
  const api = <K extends keyof PageApi>(
    method: K,
    ...args: Parameters<PageApi[K]>
  ): Promise<Awaited<ReturnType<PageApi[K]>>> =>
    withTimeout(
      tab.evaluate(
        ([name, values]) => {
          const page = (globalThis as unknown as { clientTest: PageApi }).clientTest;
          return (page[name] as (...a: unknown[]) => Promise<unknown>)(...values);
        },
        [method, args] as const,
      ) as Promise<Awaited<ReturnType<PageApi[K]>>>,
      `${method} in the page`,
      15_000,
    );

  for (const [name, url] of Object.entries(servers)) {
    t.test(`${name}: chat.v2 negotiated, typed JSON both ways, token carried`, async (t) => {
      const trip: RoundTrip = await api('chat', url, `ann@${name}`, 'hello');
      t.equal(trip.protocol, 'chat.v2');
      t.same(trip.received, { type: 'said', from: `ann@${name}`, text: 'hello' });
      t.match(trip.close, { code: 1000, name: 'NORMAL_CLOSURE' });
    });

    t.test(`${name}: the other contract when only it is offered`, async (t) => {
      const trip = await api('plain', url, 'bo', 'hi');
      t.equal(trip.protocol, 'chat');
      t.equal(trip.received, 'bo: hi');
    });
  }

  t.test('a route that speaks neither contract refuses the handshake', async (t) => {
    // Core answers 400 WS_PROTOCOL_UNSUPPORTED; Chromium reports only a failed connection.
    t.equal(await api('refused', core.url.replace('/chat', '/other')), 'HANDSHAKE_FAILED');
  });

  t.test('no uncaught errors in the page', async (t) => {
    t.same(pageErrors, []);
  });
});
