// A benchmark server in its own process: `--impl wsroute|ws` (wsroute takes `--adapter`).
// It reports its port over IPC and answers { type: 'memory' } with its memory after a GC.
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    impl: { type: 'string', default: 'wsroute' },
    adapter: { type: 'string', default: 'node' },
    deflate: { type: 'boolean', default: false },
  },
});

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

async function startWsroute(adapter, deflate) {
  const { startEchoServer } = await import('../examples/echo/echo.mjs');
  return startEchoServer({ port: 0, host: '127.0.0.1', adapter, deflate });
}

const server =
  values.impl === 'ws'
    ? await startWs(values.deflate)
    : await startWsroute(values.adapter, values.deflate);

function memory() {
  for (let i = 0; i < 3; i++) globalThis.gc?.();
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, external: m.external };
}

process.on('message', (message) => {
  if (message?.type === 'memory') process.send({ type: 'memory', memory: memory() });
});
process.send({ type: 'ready', port: server.port });
