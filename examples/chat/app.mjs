// @ts-check
// A Fastify chat for the browser. One websocket route, `/chat`, speaks the two subprotocols
// of contract.mjs (chat.v2: typed JSON; chat: plain text), which the page imports too.
// Every message is published to one topic that every connection joins; each protocol encodes it
// once for all its subscribers.
// The page (public/) offers ['chat.v2', 'chat'] through @wsroute/client, or only `?protocol=chat`;
// it loads the contract and the client as ES modules, served from their packages' dist.
//
//   createChatServer({ port, host }) resolves to { app, port, close() }.
import { readFile } from 'node:fs/promises';
import { defineProtocol, topic } from '@wsroute/core';
import { defineWebSocketRoute, upgradeRequired, wsroute } from '@wsroute/fastify';
import Fastify from 'fastify';
import { chat as chatContract, chatV2 as chatV2Contract, MAX_TEXT } from './contract.mjs';

/** @typedef {{ readonly name: string }} ChatData */
/** @typedef {import('./contract.mjs').ChatIn} ChatIn */
/** @typedef {import('./contract.mjs').ChatOut} ChatOut */

/** Longest name, in characters. */
const MAX_NAME = 32;

/**
 * The name a client asked for in `?name=`, or a guest name.
 * @param {unknown} name
 * @returns {string}
 */
function nameOf(name) {
  if (typeof name !== 'string') return 'guest';
  const trimmed = name.trim().slice(0, MAX_NAME);
  return trimmed === '' ? 'guest' : trimmed;
}

/**
 * The room every connection joins, whatever its protocol: the lines published to it are
 * encoded once per protocol (JSON for chat.v2, "from: text" for chat).
 * @type {import('@wsroute/core').Topic<ChatOut>}
 */
const room = topic('chat');

/**
 * The chat route: chat.v2 is bound to its contract (codec, and the schema that checks what
 * clients send); chat renders the room's lines as text.
 */
function chatRoute() {
  /** @type {import('@wsroute/core').WebSocketHandler<ChatData, ChatIn, ChatOut>} */
  const chatV2Handler = {
    onOpen(connection) {
      connection.subscribe(room);
    },
    onMessage(connection, message) {
      const line = {
        type: /** @type {const} */ ('message'),
        from: connection.data.name,
        text: message.text,
      };
      connection.publish(room, line, { includeSelf: true });
    },
  };
  const chatV2 = defineProtocol(chatV2Contract, chatV2Handler);

  /** Raw text in; the room's lines out as "from: text" (what the contract's page expects). */
  /** @type {import('@wsroute/core').Codec<string | Buffer, ChatOut | string>} */
  const textLines = {
    decode: (data) => data,
    encode: (line) => (typeof line === 'string' ? line : `${line.from}: ${line.text}`),
  };
  const chat = defineProtocol({
    codec: textLines,
    /** @type {import('@wsroute/core').WebSocketHandler<ChatData, string | Buffer, ChatOut | string>} */
    handler: {
      onOpen(connection) {
        connection.subscribe(room);
      },
      onMessage(connection, message) {
        if (typeof message !== 'string' || message.length > MAX_TEXT) {
          connection.close(1003, 'text messages only');
          return;
        }
        const line = {
          type: /** @type {const} */ ('message'),
          from: connection.data.name,
          text: message,
        };
        connection.publish(room, line, { includeSelf: true });
      },
    },
  });

  return defineWebSocketRoute({
    /** @param {import('fastify').FastifyRequest<{ Querystring: { name?: string } }>} request */
    data: (request) => ({ name: nameOf(request.query.name) }),
    protocols: { [chatV2Contract.name]: chatV2, [chatContract.name]: chat },
    heartbeatInterval: 30_000,
  });
}

/** The page's ES modules besides its own: the packages' dist folders, by URL prefix. */
const MODULES = {
  contract: new URL('./', import.meta.resolve('@wsroute/contract')),
  client: new URL('./', import.meta.resolve('@wsroute/client')),
};

/**
 * Builds the app: the page, its scripts, the modules it imports, and the websocket route.
 * @returns {Promise<import('fastify').FastifyInstance>}
 */
export async function createChatApp() {
  const [page, script, contract] = await Promise.all([
    readFile(new URL('./public/index.html', import.meta.url), 'utf8'),
    readFile(new URL('./public/chat.js', import.meta.url), 'utf8'),
    readFile(new URL('./contract.mjs', import.meta.url), 'utf8'),
  ]);
  const app = Fastify();
  await app.register(wsroute);
  app.get('/', (_request, reply) => reply.type('text/html; charset=utf-8').send(page));
  app.get('/chat.js', (_request, reply) =>
    reply.type('text/javascript; charset=utf-8').send(script),
  );
  app.get('/contract.mjs', (_request, reply) =>
    reply.type('text/javascript; charset=utf-8').send(contract),
  );
  app.get(
    '/modules/:pkg/:file',
    /** @param {import('fastify').FastifyRequest<{ Params: { pkg: string, file: string } }>} request */
    async (request, reply) => {
      const { pkg, file } = request.params;
      const dir = pkg === 'contract' || pkg === 'client' ? MODULES[pkg] : undefined;
      if (!dir || !/^[a-z-]+\.js$/.test(file)) return reply.code(404).send('Not Found');
      const source = await readFile(new URL(file, dir), 'utf8').catch(() => undefined);
      if (source === undefined) return reply.code(404).send('Not Found');
      return reply.type('text/javascript; charset=utf-8').send(source);
    },
  );
  app.get('/chat', { websocket: chatRoute() }, upgradeRequired);
  return app;
}

/**
 * Starts the chat.
 * @param {{ port: number, host?: string }} options
 * @returns {Promise<{ app: import('fastify').FastifyInstance, port: number, close(): Promise<void> }>}
 */
export async function createChatServer({ port, host = '127.0.0.1' }) {
  const app = await createChatApp();
  await app.listen({ port, host });
  const address = app.server.address();
  return {
    app,
    port: typeof address === 'object' && address ? address.port : port,
    close: () => app.close(),
  };
}
