#!/usr/bin/env node
// Fastify chat for the browser: open http://127.0.0.1:3000/ in two tabs.
//
//   node examples/chat/server.mjs --port 3000 [--host 127.0.0.1]
//
// The page offers the subprotocols ['chat.v2', 'chat'] and shows which one was negotiated;
// http://127.0.0.1:3000/?protocol=chat offers only the plain-text `chat`. Both talk together.
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

const chat = await createChatServer({ port, host: values.host });
process.stdout.write(`chat listening on http://${values.host}:${chat.port}/\n`);

const stop = () => {
  chat.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
