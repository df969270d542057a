// A benchmark server in its own process: `--impl wsroute|ws|tcp-echo|http-floor` (wsroute and
// http-floor take `--adapter`; tcp-echo is Node's raw TCP echo, no HTTP, no framing: the load
// client's calibration; http-floor is the framework answering plain HTTP requests). It reports its port and pid over IPC, answers { type: 'memory' } with its
// memory after a GC and { type: 'cpu' } with the CPU seconds it used so far.
import net from 'node:net';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    impl: { type: 'string', default: 'wsroute' },
    adapter: { type: 'string', default: 'node' },
    deflate: { type: 'boolean', default: false },
    // --admission on | off: the node attachment with every admission check on (same-origin,
    // trusted loopback proxy, connection caps, a handshake budget, all too generous to refuse),
    // or the same server with none, to measure what the checks cost a handshake.
    admission: { type: 'string' },
    // --app-heap MIB: long-lived objects allocated before the server starts, standing for the
    // application around it (see bench/run.mjs).
    'app-heap': { type: 'string', default: '0' },
  },
});

/**
 * Allocates about `mib` MiB of long-lived plain objects (measured with gc() after each batch):
 * the heap of an application around the websocket server. Kept reachable for the process's life.
 */
function allocateAppHeap(mib) {
  const target = mib * 1024 * 1024;
  const usedNow = () => {
    globalThis.gc?.();
    return process.memoryUsage().heapUsed;
  };
  const start = usedNow();
  const heap = [];
  while (usedNow() - start < target) {
    const base = heap.length;
    for (let i = 0; i < 10_000; i++) {
      const id = base + i;
      heap.push({ id, name: `record-${id}`, tags: [id & 7, id & 15] });
    }
  }
  return heap;
}
globalThis.appHeap = allocateAppHeap(Number(values['app-heap']));

/** Listens on a free port of 127.0.0.1. */
async function listenLocally(server) {
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: server.address().port };
}

async function startWs(deflate) {
  const { WebSocketServer } = await import('ws');
  const wss = new WebSocketServer({
    host: '127.0.0.1',
    port: 0,
    maxPayload: 64 * 1024 * 1024,
    perMessageDeflate: deflate ? { threshold: 1024 } : false,
  });
  wss.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  });
  await new Promise((resolve) => wss.once('listening', resolve));
  return { port: wss.address().port };
}

async function startTcpEcho() {
  const server = net.createServer((socket) => {
    socket.setNoDelay(true);
    socket.on('error', () => {});
    socket.pipe(socket);
  });
  return listenLocally(server);
}

async function startWsroute(adapter, deflate) {
  const { startEchoServer } = await import('../examples/echo/echo.mjs');
  return startEchoServer({ port: 0, host: '127.0.0.1', adapter, deflate });
}

/**
 * The framework's plain HTTP floor: the same app shape as the echo example's (one catch-all
 * handler, no router beyond the framework's own), answering 200 `ok` to every request. What a
 * framework costs per request before any websocket work, for the handshake figures' context.
 */
async function startHttpFloor(adapter) {
  const http = await import('node:http');
  const ok = (res) => res.end('ok');
  if (adapter === 'fastify') {
    const { default: Fastify } = await import('fastify');
    const app = Fastify();
    app.get('*', (_request, reply) => reply.send('ok'));
    await app.listen({ port: 0, host: '127.0.0.1' });
    return { port: app.server.address().port };
  }
  let listener = (_req, res) => ok(res);
  if (adapter === 'express') {
    const { default: express } = await import('express');
    listener = express().use((_req, res) => ok(res));
  } else if (adapter === 'koa') {
    const { default: Koa } = await import('koa');
    const app = new Koa().use((ctx) => {
      ctx.body = 'ok';
    });
    listener = app.callback();
  }
  const server = http.createServer(listener);
  return listenLocally(server);
}

async function startAdmission(isOn) {
  const http = await import('node:http');
  const { WebSocketServer } = await import('@wsroute/core');
  const { echoRoute } = await import('../examples/echo/echo.mjs');
  const limits = isOn
    ? {
        trustProxy: ['loopback'],
        maxConnections: 1_000_000,
        maxConnectionsPerClient: 100_000,
        handshakesPerClient: { limit: 1_000_000_000, windowMs: 1000 },
      }
    : {};
  const wss = new WebSocketServer(limits).route('*', {
    ...echoRoute(false),
    origins: isOn ? 'same-origin' : '*',
  });
  const server = wss.attach(http.createServer());
  return listenLocally(server);
}

const server =
  values.admission !== undefined
    ? await startAdmission(values.admission === 'on')
    : values.impl === 'ws'
      ? await startWs(values.deflate)
      : values.impl === 'tcp-echo'
        ? await startTcpEcho()
        : values.impl === 'http-floor'
          ? await startHttpFloor(values.adapter)
          : await startWsroute(values.adapter, values.deflate);

function memory() {
  for (let i = 0; i < 3; i++) globalThis.gc?.();
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, external: m.external };
}

function cpuSeconds() {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
}

process.on('message', (message) => {
  if (message?.type === 'memory') process.send({ type: 'memory', value: memory() });
  if (message?.type === 'cpu') process.send({ type: 'cpu', value: cpuSeconds() });
});
process.send({ type: 'ready', port: server.port, pid: process.pid });
