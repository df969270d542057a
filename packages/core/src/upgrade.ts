/**
 * Completing a handshake on the raw socket: the 101 response and the connection.
 * @module
 */
import type { Duplex } from 'node:stream';
import { type ConnectionOwner, openConnection, type WebSocketConnection } from './connection.js';
import { PerMessageDeflate } from './permessage-deflate.js';
import type { AcceptedHandshake } from './route.js';

const HEAD_101 =
  'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n';

/**
 * Writes the 101 response and starts the connection. The bytes that arrived with the request
 * (`head`) are parsed right after `onOpen`, so no message is lost. Header values come from
 * negotiation, which only ever yields tokens (RFC 7230 §3.2.6): no CR or LF can reach them.
 * @param socket - the raw socket of the upgrade request
 * @param head - bytes received after the request headers
 * @param handshake - the result of `negotiate()`
 * @param data - per-connection data (e.g. the authenticated user)
 * @param path - the path of the upgrade request
 * @param owner - told when the connection closes and of unhandled handler errors
 * @returns the open connection, or undefined when the socket was already gone
 */
export function accept<TData>(
  socket: Duplex,
  head: Buffer,
  handshake: AcceptedHandshake<TData>,
  data: TData,
  path: string,
  owner: ConnectionOwner | undefined,
): WebSocketConnection<TData> | undefined {
  if (socket.destroyed || !socket.writable) {
    socket.destroy();
    return undefined;
  }
  let response = `${HEAD_101}Sec-WebSocket-Accept: ${handshake.acceptKey}\r\n`;
  if (handshake.protocol !== undefined) {
    response += `Sec-WebSocket-Protocol: ${handshake.protocol}\r\n`;
  }
  if (handshake.extensions) response += `Sec-WebSocket-Extensions: ${handshake.extensions}\r\n`;
  socket.write(`${response}\r\n`);
  const tcp = socket as Duplex & {
    setNoDelay?: (noDelay: boolean) => void;
    setTimeout?: (ms: number) => void;
  };
  tcp.setNoDelay?.(true);
  tcp.setTimeout?.(0);
  const deflate = handshake.deflate;
  return openConnection(
    {
      socket,
      data,
      path,
      protocol: handshake.protocol,
      extensions: handshake.extensions,
      handlers: handshake.handlers,
      options: handshake.connection,
      deflate: deflate
        ? new PerMessageDeflate({
            params: deflate.params,
            options: deflate.options,
            maxPayload: handshake.connection.maxPayload,
          })
        : undefined,
      owner,
    },
    head,
  );
}
