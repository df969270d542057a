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
  type WebSocketServerOptions,
} from '@wsroute/core';
import type { Test } from 'tap';
import { chatText, chatV2, raw, slow } from '../fixtures/contracts.js';

/** What each connection carries: the user named by the token, or 'anonymous'. */
export interface ChatData {
  readonly user: string;
  /**
   * The subprotocols the route saw offered, in order: the client's, without the token, which
   * the server takes out of the offer before anything reads it.
   */
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

/**
 * A connection's data: the user is the token (decoded by the server from the
 * `base64url.bearer.` protocol and handed to the framework's hook), or 'anonymous'.
 * @param header - `Sec-WebSocket-Protocol` as the route sees it
 * @param token - the token the entry point took out of the offer
 */
export function chatData(header: string | undefined, token: string | undefined): ChatData {
  return { user: token ?? 'anonymous', offered: offeredProtocols(header) };
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
 * @param options - the server's options (e.g. `origins` for a page served elsewhere)
 */
export async function startCoreServer(
  t: Test,
  port = 0,
  extra: Record<string, NodeRouteOptions<ChatData>> = {},
  options: WebSocketServerOptions = {},
): Promise<CoreServer> {
  const wss = new WebSocketServer(options);
  wss.route<ChatData>('/chat', {
    protocols: chatProtocols(),
    tokenCarrier: true,
    upgrade: (request: IncomingMessage, { token }) =>
      chatData(request.headers['sec-websocket-protocol'], token),
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
