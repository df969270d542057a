// Reference for the cross-process scenarios: Socket.IO rooms with @socket.io/redis-adapter,
// the usual way to fan out across Node processes. A client joins the room named by its
// `topic` query parameter; every `m` event it emits goes to every other member of that room
// in every process on the same Redis (`socket.to(room).emit`). WebSocket transport only, no
// compression, so the wire carries the same messages as the raw contract plus Socket.IO's
// `42["m",...]` framing.
//
//   node bench/fanout/servers/socketio-broadcast.mjs --port N [--host 127.0.0.1]
//        [--redis redis://HOST:PORT]
import http from 'node:http';
import { parseArgs } from 'node:util';
import { createAdapter } from '@socket.io/redis-adapter';
import { Redis } from 'ioredis';
import { Server } from 'socket.io';

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    host: { type: 'string', default: '127.0.0.1' },
    redis: { type: 'string' },
  },
});
const httpServer = http.createServer();
const io = new Server(httpServer, {
  transports: ['websocket'],
  perMessageDeflate: false,
  serveClient: false,
  maxHttpBufferSize: 1024 * 1024,
});
if (values.redis) {
  const publisher = new Redis(values.redis);
  const subscriber = publisher.duplicate();
  io.adapter(createAdapter(publisher, subscriber));
}
io.on('connection', (socket) => {
  const room = String(socket.handshake.query.topic ?? '');
  socket.join(room);
  socket.on('m', (data) => {
    socket.to(room).emit('m', data);
  });
});
httpServer.listen({ port: Number(values.port), host: values.host, backlog: 4096 }, () => {
  process.stdout.write(
    `${JSON.stringify({ server: 'socketio-broadcast', ready: true, pid: process.pid })}\n`,
  );
});
process.once('SIGTERM', () => process.exit(0));
