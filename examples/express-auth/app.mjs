// @ts-check
// An Express 5 chat: one authentication middleware guards both a plain HTTP route (`GET /me`)
// and a websocket route (`/chat/:room`, subprotocol `chat.v1`, typed JSON messages). A client
// without a valid token gets a real HTTP 401 and never a 101. The token comes from
// `Authorization: Bearer`, the `token` cookie, or — for browsers, which cannot set headers on
// a WebSocket — a second subprotocol `base64url.bearer.<base64url(token)>` next to `chat.v1`.
// The page at `/` connects that way.
//
//   createChatServer({ port, host, tokens }) resolves to { port, server, ws, close() }.
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import Boom from '@hapi/boom';
import { defineProtocol, jsonCodec } from '@wsroute/core';
import { boomErrorHandler, wsroute } from '@wsroute/express';
import express from 'express';

/** @typedef {{ readonly name: string }} User */
/** @typedef {{ readonly user: User, readonly room: string }} ChatData */
/** @typedef {import('express').Request & { user?: User }} AuthedRequest */

/**
 * Messages a client sends.
 * @typedef {{ readonly type: 'say', readonly text: string }} ChatIn
 */

/**
 * Messages the server sends.
 * @typedef {{ readonly type: 'welcome', readonly user: string, readonly room: string, readonly present: readonly string[] }
 *   | { readonly type: 'message', readonly from: string, readonly text: string }
 *   | { readonly type: 'joined' | 'left', readonly user: string }} ChatOut
 */

/** @typedef {import('@wsroute/core').Connection<ChatData, ChatIn, ChatOut>} ChatConnection */

/** Demo credentials: token → user name. Pass your own `tokens` to createChatServer. */
export const DEMO_TOKENS = { 'token-alice': 'alice', 'token-bob': 'bob' };

/** Longest chat message, in characters. */
const MAX_TEXT = 2000;

/**
 * @param {unknown} message
 * @returns {message is ChatIn}
 */
function isChatIn(message) {
  if (typeof message !== 'object' || message === null) return false;
  const { type, text } = /** @type {{ type?: unknown, text?: unknown }} */ (message);
  return type === 'say' && typeof text === 'string' && text.length > 0 && text.length <= MAX_TEXT;
}

/**
 * The token: on a websocket upgrade, the one carried in `Sec-WebSocket-Protocol`
 * (`base64url.bearer.…`, decoded by @wsroute/express before any middleware runs); otherwise
 * `Authorization: Bearer <token>`, or the `token` cookie.
 * @param {import('express').Request} req
 * @returns {string | undefined}
 */
function readToken(req) {
  if (req.websocketToken !== undefined) return req.websocketToken;
  const authorization = req.headers.authorization;
  if (authorization?.startsWith('Bearer ')) return authorization.slice(7).trim();
  for (const pair of (req.headers.cookie ?? '').split(';')) {
    const [name, ...value] = pair.trim().split('=');
    if (name === 'token') return decodeURIComponent(value.join('='));
  }
  return undefined;
}

/**
 * Authentication middleware: sets `req.user`, or refuses with 401 and `WWW-Authenticate: Bearer`.
 * @param {Readonly<Record<string, string>>} tokens
 * @returns {import('express').RequestHandler}
 */
export function authenticate(tokens) {
  return (req, _res, next) => {
    const token = readToken(req);
    const name = token !== undefined && Object.hasOwn(tokens, token) ? tokens[token] : undefined;
    if (name === undefined) {
      next(Boom.unauthorized('missing or invalid token', 'Bearer'));
      return;
    }
    /** @type {AuthedRequest} */ (req).user = { name };
    next();
  };
}

/**
 * The open connections of each room.
 * @type {Map<string, Set<ChatConnection>>}
 */
const rooms = new Map();

/**
 * @param {string} room
 * @param {ChatOut} message
 */
function broadcast(room, message) {
  for (const member of rooms.get(room) ?? []) member.send(message);
}

/** `chat.v1`: JSON in and out, validated; anything else closes with 1007 or 1008. */
export const chatProtocol = defineProtocol({
  codec: /** @type {import('@wsroute/core').Codec<ChatIn, ChatOut>} */ (jsonCodec()),
  validate: isChatIn,
  handler: {
    /** @param {ChatConnection} connection */
    onOpen(connection) {
      const { user, room } = connection.data;
      const members = rooms.get(room) ?? new Set();
      rooms.set(room, members);
      const present = [...members].map((member) => member.data.user.name);
      broadcast(room, { type: 'joined', user: user.name });
      members.add(connection);
      connection.send({ type: 'welcome', user: user.name, room, present });
    },
    /**
     * @param {ChatConnection} connection
     * @param {ChatIn} message
     */
    onMessage(connection, message) {
      const { user, room } = connection.data;
      broadcast(room, { type: 'message', from: user.name, text: message.text });
    },
    /** @param {ChatConnection} connection */
    onClose(connection) {
      const { user, room } = connection.data;
      const members = rooms.get(room);
      members?.delete(connection);
      if (members?.size === 0) rooms.delete(room);
      else broadcast(room, { type: 'left', user: user.name });
    },
  },
});

/** The page and its script, served by the chat server itself (same origin as the websocket). */
const [PAGE, SCRIPT] = await Promise.all([
  readFile(new URL('./public/index.html', import.meta.url), 'utf8'),
  readFile(new URL('./public/chat.js', import.meta.url), 'utf8'),
]);

/**
 * Builds the app and its websocket middleware.
 * @param {{ tokens?: Readonly<Record<string, string>> }} [options]
 */
export function createChatApp({ tokens = DEMO_TOKENS } = {}) {
  const app = express();
  // Same-origin is the default; written out because this app logs browsers in with a cookie,
  // which a browser would also send with a handshake opened by any other site's page
  // (cross-site WebSocket hijacking). Handshakes from other origins get 403 before the 101.
  const ws = wsroute({ origins: 'same-origin' });
  const requireUser = authenticate(tokens);

  app.get('/', (_req, res) => {
    res.type('html').send(PAGE);
  });
  app.get('/chat.js', (_req, res) => {
    res.type('text/javascript').send(SCRIPT);
  });
  // The same middleware guards plain HTTP…
  app.get('/me', requireUser, (req, res) => {
    res.json({ user: /** @type {AuthedRequest} */ (req).user?.name });
  });
  // …and the websocket route: it runs before the 101, so a bad token is an HTTP 401.
  app.get(
    '/chat/:room',
    requireUser,
    ws.route({
      protocols: { 'chat.v1': chatProtocol },
      // Takes `base64url.bearer.<token>` next to chat.v1; it is never selected or echoed.
      tokenCarrier: true,
      /** @returns {ChatData} */
      data: (req) => {
        const user = /** @type {AuthedRequest} */ (req).user;
        if (!user) throw Boom.unauthorized('missing or invalid token', 'Bearer');
        return { user, room: String(req.params.room) };
      },
      maxPayload: 16 * 1024,
    }),
  );
  // Boom errors of plain HTTP routes answer like the websocket routes do (status + message).
  app.use(boomErrorHandler());
  return { app, ws };
}

/**
 * Starts the chat server.
 * @param {{ port?: number, host?: string, tokens?: Readonly<Record<string, string>> }} [options]
 */
export async function createChatServer({ port = 3000, host = '127.0.0.1', tokens } = {}) {
  const { app, ws } = createChatApp(tokens ? { tokens } : {});
  // attach() runs the app for upgrade requests; the server's close() now also closes every
  // websocket with 1001.
  const server = ws.attach(app.listen(port, host));
  await once(server, 'listening');
  const address = server.address();
  return {
    port: typeof address === 'object' && address !== null ? address.port : port,
    server,
    ws,
    /** Closes every websocket with 1001, then stops listening. */
    close() {
      return /** @type {Promise<void>} */ (
        new Promise((resolve, reject) =>
          server.close((error) => (error ? reject(error) : resolve())),
        )
      );
    },
  };
}
