/**
 * Type tests, checked by `tsc -b` (never run): typed protocols, the connection's data and
 * message types, route options and the node attachment's `upgrade` hook.
 */
import type { IncomingMessage } from 'node:http';
import type { AnyConnection, Connection } from '../../src/connection-types.js';
import { WebSocketServer } from '../../src/node-server.js';
import {
  defineProtocol,
  jsonCodec,
  type RawMessage,
  type RawOutgoing,
  textCodec,
  type WebSocketHandler,
} from '../../src/protocol.js';
import { createRoute, type RouteOptions } from '../../src/route.js';
import { topic } from '../../src/topics.js';

/** true when A and B are the same type (not merely assignable). */
type Equal<A, B> =
  (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function expectEqual<A, B>(isEqual: Equal<A, B>): void {
  void isEqual;
}

interface User {
  readonly name: string;
}
type ChatIn = { readonly type: 'say'; readonly text: string };
type ChatOut = { readonly type: 'message'; readonly from: string; readonly text: string };

/** A validator is a type guard over `unknown`: decoded JSON is whatever the peer sent. */
function isChatIn(message: unknown): message is ChatIn {
  return (
    typeof message === 'object' &&
    message !== null &&
    (message as { type?: unknown }).type === 'say' &&
    typeof (message as { text?: unknown }).text === 'string'
  );
}

// A typed JSON protocol: handlers receive ChatIn, send() takes only ChatOut, data is User.
export const chat = defineProtocol<User, ChatIn, ChatOut>({
  codec: jsonCodec(),
  validate: isChatIn,
  handler: {
    onMessage(connection, message) {
      expectEqual<typeof message, ChatIn>(true);
      expectEqual<typeof connection.data, User>(true);
      expectEqual<typeof connection, Connection<User, ChatIn, ChatOut>>(true);
      connection.send({ type: 'message', from: connection.data.name, text: message.text });
      // @ts-expect-error a string is not this protocol's outgoing type
      connection.send('hello');
      // @ts-expect-error a field of the wrong type
      connection.send({ type: 'message', from: 1, text: '' });
    },
    onClose(_connection, code, reason) {
      expectEqual<typeof code, number>(true);
      expectEqual<typeof reason, string>(true);
    },
  },
});

// Without a codec messages are raw: string for text, Buffer for binary.
export const raw = defineProtocol({
  handler: {
    onMessage(connection, message) {
      expectEqual<typeof message, RawMessage>(true);
      expectEqual<Parameters<typeof connection.send>[0], RawOutgoing>(true);
      connection.send(message);
    },
  },
});

// A text codec narrows both directions to string.
export const text = defineProtocol({
  codec: textCodec(),
  handler: {
    async onMessage(connection, message) {
      expectEqual<typeof message, string>(true);
      connection.send(message.toUpperCase());
      // @ts-expect-error bytes are not text
      connection.send(new Uint8Array(1));
      for await (const next of connection.messages()) expectEqual<typeof next, string>(true);
    },
  },
});

// Without type arguments, the guard types the handlers' messages; the codec types send().
export const inferred = defineProtocol({
  codec: jsonCodec<unknown, ChatOut>(),
  validate: isChatIn,
  handler: {
    onMessage(connection, message) {
      expectEqual<typeof message, ChatIn>(true);
      expectEqual<Parameters<typeof connection.send>[0], ChatOut>(true);
    },
  },
});

// A codec's claim without a validator types the messages too.
export const claimed = defineProtocol({
  codec: jsonCodec<ChatIn, ChatOut>(),
  handler: {
    onMessage(_connection, message) {
      expectEqual<typeof message, ChatIn>(true);
    },
  },
});

defineProtocol({
  codec: jsonCodec<ChatIn, ChatOut>(),
  // @ts-expect-error the validator receives `unknown`: it must not assume the codec's claim
  validate: (m: ChatIn) => m.text !== '',
  handler: {},
});

// Handlers may return anything: `send()`'s boolean, a promise, nothing.
export const echoes = defineProtocol({
  handler: { onMessage: (connection, message) => connection.send(message) },
});

// Any connection (e.g. of a hub's set) knows its path and protocol; sendRaw() sends frames
// as they are, send() goes through the connection's own codec.
export function broadcast(connections: ReadonlySet<AnyConnection>): void {
  for (const connection of connections) {
    expectEqual<typeof connection.path, string>(true);
    expectEqual<typeof connection.protocol, string | undefined>(true);
    connection.sendRaw('hello');
    connection.sendRaw(new Uint8Array(2));
    // @ts-expect-error sendRaw takes text or bytes only
    connection.sendRaw({ type: 'message' });
  }
}

// Protocols with different message types sit side by side in one route; a bare handler object
// is a raw protocol.
const bare: WebSocketHandler<User> = {
  onMessage(connection, message) {
    expectEqual<typeof message, RawMessage>(true);
    connection.send(`${connection.data.name}: ${typeof message}`);
  },
};
export const route: RouteOptions<User> = {
  protocols: { 'chat.v2': chat, chat: text, raw },
  defaultProtocol: bare,
  selectProtocol: async (offered) => offered[0],
};
createRoute(route);

// A protocol that needs more data than the route provides does not fit.
interface Admin extends User {
  readonly isAdmin: true;
}
const adminOnly = defineProtocol<Admin>({ handler: {} });
// @ts-expect-error the route's connections carry User, not Admin
export const wrongData: RouteOptions<User> = { protocols: { admin: adminOnly } };

// The node attachment's `upgrade` hook decides the data type.
new WebSocketServer().route('/chat', {
  upgrade: (request: IncomingMessage): User => ({ name: String(request.headers['x-user']) }),
  protocols: { 'chat.v2': chat },
  defaultProtocol: bare,
});
new WebSocketServer().route('/open', {
  defaultProtocol: {
    onMessage(connection) {
      expectEqual<typeof connection.data, undefined>(true);
    },
  },
});

// Topics: a typed topic fits only connections whose send() takes its values.
interface Line {
  readonly from: string;
  readonly text: string;
}
const lines = topic<Line>('lines');
export const lineReader = defineProtocol<User, unknown, Line>({
  codec: jsonCodec(),
  validate: isChatIn,
  handler: {
    onOpen(connection) {
      connection.subscribe(lines);
      connection.subscribe('any topic by name');
      const report = connection.publish(lines, { from: connection.data.name, text: 'hi' });
      expectEqual<typeof report.relay, 'sent' | 'failed' | 'none'>(true);
      // @ts-expect-error a Line topic carries Lines, not numbers
      connection.publish(lines, 42);
    },
  },
});
export const textOnly = defineProtocol({
  codec: textCodec(),
  handler: {
    onOpen(connection) {
      // @ts-expect-error this protocol sends strings: it cannot render a Line
      connection.subscribe(lines);
      connection.subscribe(topic<string>('notices'));
    },
  },
});
new WebSocketServer().publish(lines, { from: 'server', text: 'hello' });
// @ts-expect-error a field of the wrong type
new WebSocketServer().publish(lines, { from: 1, text: 'hello' });
