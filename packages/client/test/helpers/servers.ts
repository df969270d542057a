/**
 * Test servers for the client: core's `WebSocketServer` on 127.0.0.1:0 with handlers bound to
 * the contracts through today's `defineProtocol({ codec, validate, handler })`, and the token
 * carrier decoded in the `upgrade` hook.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  type AnyContract,
  type ClientMessage,
  checkMessage,
  type ServerMessageInput,
} from '@wsroute/contract';
import {
  type BoundProtocol,
  type Codec,
  defineProtocol,
  type NodeRouteOptions,
  type WebSocketHandler,
  WebSocketServer,
} from '@wsroute/core';
import type { Test } from 'tap';
import { chatText, chatV2, raw, slow } from '../fixtures/contracts.js';

/** What each connection carries: the user named by the token, or 'anonymous'. */
export interface ChatData {
  readonly user: string;
  /** Every subprotocol the client offered, in order. */
  readonly offered: readonly string[];
}

/**
 * Binds a contract's codec and its client schema to handlers, with today's `defineProtocol`
 * (its `validate` is synchronous, so the schema must be too).
 */
export function bindContract<TData, C extends AnyContract>(
  contract: C,
  handler: WebSocketHandler<TData, ClientMessage<C>, ServerMessageInput<C>>,
): BoundProtocol<TData> {
  return defineProtocol<TData, ClientMessage<C>, ServerMessageInput<C>>({
    ...(contract.codec
      ? { codec: contract.codec as Codec<ClientMessage<C>, ServerMessageInput<C>> }
      : {}),
    validate(message) {
      const result = checkMessage(contract.client, message);
      if (result instanceof Promise) throw new TypeError(`${contract.name}: async schema`);
      return result.ok;
    },
    handler,
  });
}

/** The offered subprotocols of an upgrade request, in order. */
export function offeredProtocols(header: string | undefined): string[] {
  return (header ?? '')
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '');
}

/** The user a `base64url.bearer.` protocol names, or 'anonymous'. */
export function chatData(header: string | undefined): ChatData {
  const offered = offeredProtocols(header);
  const carrier = offered.find((name) => name.startsWith('base64url.bearer.'));
  const user = carrier
    ? Buffer.from(carrier.slice('base64url.bearer.'.length), 'base64url').toString('utf8')
    : 'anonymous';
  return { user, offered };
}

/** The chat protocols: chat.v2 answers `said` from the user, chat answers `user: text`. */
export function chatProtocols(): Record<string, BoundProtocol<ChatData>> {
  return {
    'chat.v2': bindContract<ChatData, typeof chatV2>(chatV2, {
      onMessage(connection, message) {
        connection.send({ type: 'said', from: connection.data.user, text: message.text });
      },
    }),
    chat: bindContract<ChatData, typeof chatText>(chatText, {
      onMessage(connection, message) {
        connection.send(`${connection.data.user}: ${message}`);
      },
    }),
    slow: bindContract<ChatData, typeof slow>(slow, {
      onMessage(connection, message) {
        for (const item of message.send) connection.send(item);
      },
    }),
    raw: bindContract<ChatData, typeof raw>(raw, {
      onMessage(connection, message) {
        // Echoes and then tells what it received: 'text' or 'binary'.
        connection.send(message);
        connection.send(typeof message === 'string' ? 'text' : 'binary');
      },
    }),
  };
}

/** A running core server. */
export interface CoreServer {
  readonly wss: WebSocketServer;
  readonly server: Server;
  readonly port: number;
  readonly url: string;
  close(): Promise<void>;
}

/**
 * Starts core's `WebSocketServer` with the chat route at `/chat` (and `extra` routes).
 * @param t - released on its teardown
 * @param port - 0 for any
 * @param extra - more routes
 */
export async function startCoreServer(
  t: Test,
  port = 0,
  extra: Record<string, NodeRouteOptions<ChatData>> = {},
): Promise<CoreServer> {
  const wss = new WebSocketServer();
  wss.route<ChatData>('/chat', {
    protocols: chatProtocols(),
    upgrade: (request: IncomingMessage) => chatData(request.headers['sec-websocket-protocol']),
    heartbeatInterval: 0,
  });
  for (const [path, options] of Object.entries(extra)) wss.route<ChatData>(path, options);
  const server = wss.attach(createServer());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const actual = (server.address() as AddressInfo).port;
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      await wss.close({ timeout: 100 });
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    })();
    return closing;
  };
  t.teardown(close);
  return { wss, server, port: actual, url: `ws://127.0.0.1:${actual}/chat`, close };
}
