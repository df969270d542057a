#!/usr/bin/env node
// Echo server for conformance tools and benchmarks.
//
//   node examples/echo/server.mjs --port 9001 [--host 127.0.0.1] [--deflate] [--adapter node]
//                                 [--heartbeat MS]
//
// Echoes every message on any path with the same type, speaks the subprotocols `chat.v2` and
// `chat`, also accepts clients that offer none, allows messages up to 64 MiB and any number
// of fragments per message (conformance suites send 16 MiB in 64-byte fragments). It accepts
// every origin and has no admission limits: it is a target for conformance and load tools. The
// heartbeat is off unless --heartbeat gives its interval in ms (30000 is the library's default),
// e.g. to measure idle memory per connection with it on.
import { parseArgs } from 'node:util';
import { startEchoServer } from './echo.mjs';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '9001' },
    host: { type: 'string', default: '127.0.0.1' },
    deflate: { type: 'boolean', default: false },
    adapter: { type: 'string', default: 'node' },
    heartbeat: { type: 'string', default: '0' },
  },
});

const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  process.stderr.write(`invalid --port ${values.port}\n`);
  process.exit(2);
}

const heartbeat = Number(values.heartbeat);
if (!Number.isInteger(heartbeat) || heartbeat < 0 || heartbeat > 0x7fffffff) {
  process.stderr.write(`invalid --heartbeat ${values.heartbeat}\n`);
  process.exit(2);
}

const server = await startEchoServer({
  port,
  host: values.host,
  deflate: values.deflate,
  adapter: values.adapter,
  heartbeat,
});
process.stdout.write(
  `echo server (${values.adapter}) listening on ws://${values.host}:${server.port}\n`,
);

const stop = () => {
  server.close().then(() => process.exit(0));
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
