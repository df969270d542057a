#!/usr/bin/env node
// Topics fan-out server for load tools and for trying topics across processes.
//
//   node examples/broadcast/server.mjs --port N [--host H] [--adapter node|fastify|express|koa]
//                                      [--redis redis://HOST:PORT]
//
// A client connecting to /topics/NAME subscribes to topic NAME; every message it sends (text
// stays text, binary stays binary, up to 1 MiB) goes to every other subscriber of NAME, and with
// --redis to every process attached to the same Redis. No subprotocol is required.
import { parseArgs } from 'node:util';
import { startBroadcastServer } from './broadcast.mjs';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '9301' },
    host: { type: 'string', default: '127.0.0.1' },
    adapter: { type: 'string', default: 'node' },
    redis: { type: 'string' },
  },
});

const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  process.stderr.write(`invalid --port ${values.port}\n`);
  process.exit(2);
}

const server = await startBroadcastServer({
  port,
  host: values.host,
  adapter: values.adapter,
  ...(values.redis ? { redis: values.redis } : {}),
});
const via = values.redis ? ` via ${values.redis}` : '';
process.stdout.write(
  `broadcast server (${values.adapter}) listening on ws://${values.host}:${server.port}${via}\n`,
);

const stop = () => {
  server.close().then(() => process.exit(0));
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
