// Reference: Bun's built-in topics (uWebSockets' TopicTree, C++): `ws.subscribe` and
// `ws.publish`, which skips the sender. Same contract as examples/broadcast. Run with Bun:
//
//   bun bench/fanout/servers/bun-broadcast.ts --port N
// Bun is not a dependency of the project: bench/fanout/run.mjs uses it when it finds one.
const at = process.argv.indexOf('--port');
const port = Number(at > 0 ? process.argv[at + 1] : 9302);

// `Bun` is a global only under Bun; this file is never loaded by Node.
declare const Bun: {
  version: string;
  serve(options: unknown): { port: number };
};
interface TopicSocket {
  data: { topic: string };
  subscribe(topic: string): void;
  publish(topic: string, message: string | Uint8Array): number;
}
interface Upgrader {
  upgrade(request: Request, options: { data: { topic: string } }): boolean;
}

const server = Bun.serve({
  hostname: '127.0.0.1',
  port,
  fetch(request: Request, upgrader: Upgrader) {
    const match = /^\/topics\/([^/?]+)/.exec(new URL(request.url).pathname);
    if (match?.[1] && upgrader.upgrade(request, { data: { topic: match[1] } })) return undefined;
    return new Response('not found', { status: 404 });
  },
  websocket: {
    maxPayloadLength: 1024 * 1024,
    perMessageDeflate: false,
    idleTimeout: 0,
    sendPings: false,
    // As high as the other servers let their buffers grow: no subscriber is dropped.
    backpressureLimit: 64 * 1024 * 1024,
    open(ws: TopicSocket) {
      ws.subscribe(ws.data.topic);
    },
    message(ws: TopicSocket, message: string | Uint8Array) {
      ws.publish(ws.data.topic, message);
    },
  },
});
console.log(
  JSON.stringify({ server: 'bun-broadcast', ready: true, bun: Bun.version, port: server.port }),
);
