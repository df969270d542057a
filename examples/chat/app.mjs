// @ts-check
// A Fastify chat for the browser. One websocket route, `/chat`, speaks two subprotocols:
//   chat.v2  typed JSON: the client sends {type:'message', text}, receives {type:'message', from, text}
//   chat     plain text: the client sends text, receives "from: text"
// Every message is broadcast to every connection, encoded for that connection's protocol.
// The page (public/) offers ['chat.v2', 'chat'], or only `?protocol=chat`.
//
//   createChatServer({ port, host }) resolves to { app, port, close() }.
import { readFile } from 'node:fs/promises';
import { defineProtocol, jsonCodec } from '@wsroute/core';
import { defineWebSocketRoute, upgradeRequired, wsroute } from '@wsroute/fastify';
import Fastify from 'fastify';

/** @typedef {{ readonly name: string }} ChatData */
/** @typedef {{ readonly type: 'message', readonly text: string }} ChatIn */
/** @typedef {{ readonly type: 'message', readonly from: string, readonly text: string }} ChatOut */

/** Longest message and name, in characters. */
const MAX_TEXT = 2000;
const MAX_NAME = 32;

/**
 * Decoded JSON is whatever the peer sent: check it before trusting it.
 * @param {unknown} message
 * @returns {message is ChatIn}
 */
function isChatIn(message) {
  const candidate = /** @type {Partial<ChatIn> | null} */ (message);
  return (
    typeof candidate === 'object' &&
    candidate !== null &&
    candidate.type === 'message' &&
    typeof candidate.text === 'string' &&
    candidate.text.length <= MAX_TEXT
  );
}

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
 * The chat route: both protocols join the same set of members.
 * @param {Set<(from: string, text: string) => void>} members
 */
function chatRoute(members) {
  /** @param {string} from @param {string} text */
  const broadcast = (from, text) => {
    for (const deliver of members) deliver(from, text);
  };
  /** @type {WeakMap<object, (from: string, text: string) => void>} */
  const delivery = new WeakMap();

  /**
   * Joins a connection: `deliver` encodes for its protocol.
   * @param {object} connection
   * @param {(from: string, text: string) => void} deliver
   */
  const join = (connection, deliver) => {
    delivery.set(connection, deliver);
    members.add(deliver);
  };
  /** @param {object} connection */
  const leave = (connection) => {
    const deliver = delivery.get(connection);
    if (deliver) members.delete(deliver);
  };

  const chatV2 = defineProtocol({
    codec: jsonCodec(),
    validate: isChatIn,
    /** @type {import('@wsroute/core').WebSocketHandler<ChatData, ChatIn, ChatOut>} */
    handler: {
      onOpen(connection) {
        join(connection, (from, text) => connection.send({ type: 'message', from, text }));
      },
      onMessage(connection, message) {
        broadcast(connection.data.name, message.text);
      },
      onClose(connection) {
        leave(connection);
      },
    },
  });

  const chat = defineProtocol({
    /** @type {import('@wsroute/core').WebSocketHandler<ChatData>} */
    handler: {
      onOpen(connection) {
        join(connection, (from, text) => connection.send(`${from}: ${text}`));
      },
      onMessage(connection, message) {
        if (typeof message !== 'string' || message.length > MAX_TEXT) {
          connection.close(1003, 'text messages only');
          return;
        }
        broadcast(connection.data.name, message);
      },
      onClose(connection) {
        leave(connection);
      },
    },
  });

  return defineWebSocketRoute({
    /** @param {import('fastify').FastifyRequest<{ Querystring: { name?: string } }>} request */
    data: (request) => ({ name: nameOf(request.query.name) }),
    protocols: { 'chat.v2': chatV2, chat },
    heartbeatInterval: 30_000,
  });
}

/**
 * Builds the app: the page, its script, and the websocket route.
 * @returns {Promise<import('fastify').FastifyInstance>}
 */
export async function createChatApp() {
  const [page, script] = await Promise.all([
    readFile(new URL('./public/index.html', import.meta.url), 'utf8'),
    readFile(new URL('./public/chat.js', import.meta.url), 'utf8'),
  ]);
  const app = Fastify();
  await app.register(wsroute);
  /**
   * Whoever is connected, whatever their protocol: a function that delivers one message.
   * @type {Set<(from: string, text: string) => void>}
   */
  const members = new Set();
  app.get('/', (_request, reply) => reply.type('text/html; charset=utf-8').send(page));
  app.get('/chat.js', (_request, reply) =>
    reply.type('text/javascript; charset=utf-8').send(script),
  );
  app.get('/chat', { websocket: chatRoute(members) }, upgradeRequired);
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
