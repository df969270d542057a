#!/usr/bin/env node
// Express chat with token authentication before the 101.
//
//   node examples/express-auth/server.mjs --port 3000 [--host 127.0.0.1]
//
// Try it (demo tokens: token-alice, token-bob):
//   npx wscat -c ws://127.0.0.1:3000/chat/lobby -s chat.v1 -H 'Authorization: Bearer token-alice'
//   > {"type":"say","text":"hello"}
// Without a token the upgrade is refused with HTTP 401. The page at http://127.0.0.1:3000/
// carries the token as a subprotocol next to chat.v1 (base64url.bearer.<base64url(token)>).
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
process.stdout.write(`chat listening on ws://${values.host}:${chat.port}/chat/<room>\n`);

const stop = () => {
  chat.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
