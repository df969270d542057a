// @ts-check
// A Koa + @koa/router app whose websocket chat rooms sit behind a token auth middleware.
// Refused clients get a plain HTTP 401 (never a 101 followed by a close); accepted ones speak
// `chat.v1`, a typed and validated JSON protocol, and see the user the middleware attached.
import http from 'node:http';
import Boom from '@hapi/boom';
import { Router } from '@koa/router';
import { defineProtocol, jsonCodec } from '@wsroute/core';
import { wsroute } from '@wsroute/koa';
import Koa from 'koa';

/** @typedef {{ readonly id: string, readonly name: string }} User */
/** @typedef {{ readonly user: User, readonly room: string }} ChatData */
/** @typedef {{ readonly type: 'say', readonly text: string }} ClientMessage */
/**
 * @typedef {{ readonly type: 'welcome', readonly room: string, readonly user: User }
 *   | { readonly type: 'message', readonly room: string, readonly from: string, readonly text: string }} ServerMessage
 */
/** @typedef {import('@wsroute/core').Connection<ChatData, ClientMessage, ServerMessage>} ChatConnection */

/** Demo tokens; a real app would verify a signed token or look up a session. */
export const TOKENS = new Map([
  ['alice-token', { id: 'u1', name: 'alice' }],
  ['bob-token', { id: 'u2', name: 'bob' }],
]);

/** Longest chat line accepted; longer ones close the connection with 1008. */
const MAX_TEXT = 1000;

/**
 * Decoded JSON is whatever the peer sent (`null` included): check it before trusting it.
 * @param {unknown} message
 * @returns {message is ClientMessage}
 */
function isClientMessage(message) {
  if (typeof message !== 'object' || message === null) return false;
  const { type, text } = /** @type {{ type?: unknown, text?: unknown }} */ (message);
  return type === 'say' && typeof text === 'string' && text.length > 0 && text.length <= MAX_TEXT;
}

/**
 * Reads the bearer token from `Authorization`, or from `?access_token=` for browsers, whose
 * WebSocket API cannot set headers. Refuses with 401 and `WWW-Authenticate: Bearer`.
 * @type {Koa.Middleware}
 */
async function authenticate(ctx, next) {
  const header = ctx.get('authorization');
  const query = ctx.query.access_token;
  const token = header.startsWith('Bearer ')
    ? header.slice(7)
    : typeof query === 'string'
      ? query
      : '';
  if (token === '') throw Boom.unauthorized(null, 'Bearer');
  const user = TOKENS.get(token);
  if (!user) throw Boom.unauthorized('invalid token', 'Bearer');
  ctx.state.user = user;
  await next();
}

/**
 * Builds the app, its routes and the websocket attachment.
 * @returns {{ app: Koa, server: http.Server, close(): Promise<void> }}
 */
export function createChatServer() {
  const app = new Koa();
  const ws = wsroute();
  /** @type {Map<string, Set<ChatConnection>>} */
  const rooms = new Map();

  const chat = defineProtocol({
    /** @type {import('@wsroute/core').Codec<ClientMessage, ServerMessage>} */
    codec: jsonCodec(),
    validate: isClientMessage,
    /** @type {import('@wsroute/core').WebSocketHandler<ChatData, ClientMessage, ServerMessage>} */
    handler: {
      onOpen(connection) {
        const { room, user } = connection.data;
        const members = rooms.get(room) ?? new Set();
        rooms.set(room, members);
        members.add(connection);
        connection.send({ type: 'welcome', room, user });
      },
      onMessage(connection, message) {
        const { room, user } = connection.data;
        for (const member of rooms.get(room) ?? []) {
          member.send({ type: 'message', room, from: user.name, text: message.text });
        }
      },
      onClose(connection) {
        const { room } = connection.data;
        const members = rooms.get(room);
        members?.delete(connection);
        if (members?.size === 0) rooms.delete(room);
      },
    },
  });

  const router = new Router();
  router.get('/health', (ctx) => {
    ctx.body = 'ok';
  });
  router.get('/me', authenticate, (ctx) => {
    ctx.body = ctx.state.user;
  });
  router.get(
    '/rooms/:room',
    authenticate,
    ws.route({
      protocols: { 'chat.v1': chat },
      /** @returns {ChatData} */
      data: (ctx) => ({ user: ctx.state.user, room: ctx.params.room ?? '' }),
      maxPayload: 64 * 1024,
    }),
  );

  // ws.middleware() first: it lets the auth middleware's Boom become a plain 401.
  app.use(ws.middleware());
  app.use(router.routes());
  app.use(router.allowedMethods());

  const server = ws.attach(http.createServer(app.callback()), app);
  return {
    app,
    server,
    async close() {
      await ws.close({ timeout: 2000 });
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
