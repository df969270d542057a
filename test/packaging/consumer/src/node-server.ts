// @wsroute/core on a bare node:http server: a typed JSON protocol and auth before the 101.
import { createServer, type Server } from 'node:http';
import Boom from '@hapi/boom';
import { type Connection, defineProtocol, jsonCodec, WebSocketServer } from '@wsroute/core';

export interface User {
  readonly name: string;
}
export interface SayMessage {
  readonly type: 'say';
  readonly text: string;
}
export interface SaidMessage {
  readonly type: 'said';
  readonly from: string;
  readonly text: string;
}

function isSay(message: unknown): message is SayMessage {
  const candidate = message as Partial<SayMessage> | null;
  return candidate?.type === 'say' && typeof candidate.text === 'string';
}

const chatV2 = defineProtocol<User, SayMessage, SaidMessage>({
  codec: jsonCodec<SayMessage, SaidMessage>(),
  validate: isSay,
  handler: {
    onMessage(connection, message) {
      connection.send({ type: 'said', from: connection.data.name, text: message.text });
    },
  },
});

/** Builds the server; the caller listens and closes. */
export function createChatServer(): { readonly wss: WebSocketServer; readonly server: Server } {
  const wss = new WebSocketServer({ handshakeTimeout: 5_000 });
  wss.route<User>('/chat', {
    protocols: { 'chat.v2': chatV2 },
    upgrade(request) {
      if (request.headers.authorization !== 'Bearer s3cret') {
        throw Boom.unauthorized('invalid token', 'Bearer');
      }
      return { name: 'alice' };
    },
    maxPayload: 64 * 1024,
  });
  return { wss, server: wss.attach(createServer()) };
}

export function greet(connection: Connection<User>): void {
  connection.send(`hello ${connection.data.name}`);
}
