/**
 * Completing or refusing a handshake on the raw socket: the 101 response, the connection, and
 * the guard that protects a socket while the framework's hooks decide.
 * @module
 */
import type { Duplex } from 'node:stream';
import { Connection } from './connection.js';
import { HandshakeErrorCode, handshakeError } from './errors.js';
import { reject } from './http-reject.js';
import { PerMessageDeflate } from './permessage-deflate.js';
import type { AnyConnection, ConnectionRegistry } from './registry.js';
import type { AcceptedHandshake } from './route.js';

/** Options of {@link accept}. */
export interface AcceptOptions {
  /** The registry the connection joins, for graceful shutdown. */
  readonly registry?: ConnectionRegistry;
  /** Extra response headers for the 101 (never `Sec-WebSocket-*`). */
  readonly headers?: Readonly<Record<string, string>>;
}

function headerLine(name: string, value: string): string {
  // Header values come from negotiation or the application: refuse CR/LF (response splitting).
  if (/[\r\n]/.test(name) || /[\r\n]/.test(value)) throw new TypeError('invalid header');
  return `${name}: ${value}\r\n`;
}

/**
 * Writes the 101 response and starts the connection. The bytes that arrived with the request
 * (`head`) are parsed right after `onOpen`, so no message is lost.
 * @param socket - the raw socket of the upgrade request
 * @param head - bytes received after the request headers
 * @param handshake - the result of `negotiate()`
 * @param data - per-connection data (e.g. the authenticated user)
 * @param options - registry and extra headers
 * @returns the open connection, or undefined when the socket was already gone
 */
export function accept<TData>(
  socket: Duplex,
  head: Buffer,
  handshake: AcceptedHandshake<TData>,
  data: TData,
  options: AcceptOptions = {},
): Connection<TData, never, unknown> | undefined {
  if (socket.destroyed || !socket.writable) {
    socket.destroy();
    return undefined;
  }
  let response =
    'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
    `Sec-WebSocket-Accept: ${handshake.acceptKey}\r\n`;
  if (handshake.protocol !== undefined) {
    response += headerLine('Sec-WebSocket-Protocol', handshake.protocol);
  }
  if (handshake.extensions)
    response += headerLine('Sec-WebSocket-Extensions', handshake.extensions);
  for (const [name, value] of Object.entries(options.headers ?? {})) {
    response += headerLine(name, value);
  }
  socket.write(`${response}\r\n`);
  const tcp = socket as Duplex & {
    setNoDelay?: (noDelay: boolean) => void;
    setTimeout?: (ms: number) => void;
  };
  tcp.setNoDelay?.(true);
  tcp.setTimeout?.(0);
  const registry = options.registry;
  const connection = new Connection<TData, never, unknown>({
    socket,
    data,
    protocol: handshake.protocol,
    extensions: handshake.extensions,
    handlers: handshake.handlers,
    options: handshake.connection,
    deflate: handshake.deflate
      ? new PerMessageDeflate({
          params: handshake.deflate.params,
          options: handshake.deflate.options,
          maxPayload: handshake.connection.maxPayload,
        })
      : undefined,
    onClosed: registry ? (closed) => registry.delete(closed as AnyConnection) : undefined,
  });
  registry?.add(connection as AnyConnection);
  connection.start(head);
  return connection;
}

/**
 * Protects an upgrade socket while hooks run before the 101: socket errors are swallowed (the
 * socket is destroyed instead of crashing the process) and a handshake that takes longer than
 * `timeout` is refused with 408.
 * @param socket - the raw socket of the upgrade request
 * @param timeout - handshake timeout in ms
 * @returns a function to call once the socket is accepted or rejected
 */
export function guardUpgradeSocket(socket: Duplex, timeout: number): () => void {
  const onError = (): void => {
    socket.destroy();
  };
  socket.on('error', onError);
  const timer = setTimeout(() => {
    reject(socket, handshakeError(408, HandshakeErrorCode.HandshakeTimeout, 'Handshake timed out'));
  }, timeout);
  timer.unref();
  return () => {
    clearTimeout(timer);
    socket.off('error', onError);
  };
}
