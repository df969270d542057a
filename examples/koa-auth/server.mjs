#!/usr/bin/env node
// @ts-check
// Chat rooms behind token auth on Koa.
//
//   node examples/koa-auth/server.mjs --port 3000 [--host 127.0.0.1]
//
// Try it (tokens: alice-token, bob-token):
//   curl -H 'Authorization: Bearer alice-token' http://127.0.0.1:3000/me
//   npx wscat -s chat.v1 -H 'Authorization: Bearer alice-token' -c ws://127.0.0.1:3000/rooms/lobby
//   > {"type":"say","text":"hello"}
import { parseArgs } from 'node:util';
import { createChatServer } from './app.mjs';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '3000' },
    host: { type: 'string', default: '127.0.0.1' },
  },
});

const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  process.stderr.write(`invalid --port ${values.port}\n`);
  process.exit(2);
}

const chat = createChatServer();
chat.server.listen(port, values.host, () => {
  const address = chat.server.address();
  const actual = typeof address === 'object' && address ? address.port : port;
  process.stdout.write(`koa-auth listening on http://${values.host}:${actual}\n`);
});

const stop = () => {
  chat.close().then(() => process.exit(0));
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
