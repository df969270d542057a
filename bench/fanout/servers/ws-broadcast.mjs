// Reference: what users write today for topics with `ws` — a Set per topic and a loop that
// sends every message to each other subscriber (one frame and one write per subscriber per
// message). Same contract as examples/broadcast.
//
//   node bench/fanout/servers/ws-broadcast.mjs --port N [--host 127.0.0.1]
import http from 'node:http';
import { parseArgs } from 'node:util';
import { WebSocketServer } from 'ws';

const { values } = parseArgs({
  options: { port: { type: 'string' }, host: { type: 'string', default: '127.0.0.1' } },
});
/** @type {Map<string, Set<import('ws').WebSocket>>} */
const topics = new Map();
const server = http.createServer((_request, response) => {
  response.writeHead(404);
  response.end();
});
const wss = new WebSocketServer({ server, perMessageDeflate: false, maxPayload: 1024 * 1024 });
wss.on('connection', (ws, request) => {
  const match = /^\/topics\/([^/?]+)/.exec(request.url ?? '');
  if (!match?.[1]) {
    ws.close(1008);
    return;
  }
  const name = match[1];
  let subscribers = topics.get(name);
  if (!subscribers) {
    subscribers = new Set();
    topics.set(name, subscribers);
  }
  const group = subscribers;
  group.add(ws);
  ws.on('error', () => {});
  ws.on('message', (data, isBinary) => {
    for (const subscriber of group)
      if (subscriber !== ws) subscriber.send(data, { binary: isBinary });
  });
  ws.on('close', () => {
    group.delete(ws);
    if (group.size === 0) topics.delete(name);
  });
});
server.listen({ port: Number(values.port), host: values.host, backlog: 4096 }, () => {
  process.stdout.write(
    `${JSON.stringify({ server: 'ws-broadcast', ready: true, pid: process.pid })}\n`,
  );
});
process.once('SIGTERM', () => process.exit(0));
