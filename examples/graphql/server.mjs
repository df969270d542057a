#!/usr/bin/env node
// GraphQL over WebSocket (graphql-ws, subprotocol graphql-transport-ws) on ws://127.0.0.1:4000/graphql.
//
//   node examples/graphql/server.mjs --port 4000 [--host 127.0.0.1]
//
// SIGINT/SIGTERM close every websocket with 1001 (ending its subscriptions), then the process
// exits.
import { parseArgs } from 'node:util';
import { GRAPHQL_PATH, startGraphqlServer } from './app.mjs';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '4000' },
    host: { type: 'string', default: '127.0.0.1' },
  },
});

const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  process.stderr.write(`invalid --port ${values.port}\n`);
  process.exit(2);
}

const server = await startGraphqlServer({ port, host: values.host, logger: { level: 'warn' } });
process.stdout.write(`graphql listening on ws://${values.host}:${server.port}${GRAPHQL_PATH}\n`);

const stop = () => {
  server.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
