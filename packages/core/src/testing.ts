/**
 * `@wsroute/core/testing`: `injectWebSocket(server, path)`, a real `ws` client connected to a
 * `node:http` server through a loopback socket pair, so tests need not call `listen()`. The
 * server side of the pair is handed to the server as a new connection: Node parses the
 * request, emits `'upgrade'` and the entry point runs its hooks and middleware exactly as for a
 * remote client. Kept out of the main entry so production code does not load a client library;
 * needs `ws` (and `@types/ws` for TypeScript).
 * @module
 */
import { once } from 'node:events';
import type { IncomingHttpHeaders, IncomingMessage, Server } from 'node:http';
import { type AddressInfo, connect, createServer, type Socket } from 'node:net';
import type WebSocket from 'ws';

/** Options of {@link injectWebSocket}. */
export interface InjectWSOptions {
  /** Subprotocols to offer, in order of preference. @default [] */
  readonly protocols?: string | readonly string[];
  /** Extra request headers (e.g. `authorization`, `origin`). @default {} */
  readonly headers?: Readonly<Record<string, string>>;
  /** Whether to offer permessage-deflate. @default false */
  readonly perMessageDeflate?: boolean;
  /** Time allowed for the handshake, in ms. @default 5000 */
  readonly timeout?: number;
}

/** Default handshake timeout of the injected client, in ms. */
const INJECT_TIMEOUT_MS = 5_000;

/** Why `injectWebSocket()` failed: the server refused the upgrade with a plain HTTP answer. */
export class InjectWSError extends Error {
  /** The HTTP status of the answer (e.g. 401, 404, 426). */
  readonly statusCode: number;
  /** Its headers, as Node parsed them. */
  readonly headers: IncomingHttpHeaders;
  /** Its body, as text. */
  readonly body: string;
  constructor(statusCode: number, headers: IncomingHttpHeaders, body: string) {
    super(`Unexpected server response: ${statusCode}`);
    this.name = 'InjectWSError';
    this.statusCode = statusCode;
    this.headers = headers;
    this.body = body;
  }
}

/** Two connected loopback sockets: a throwaway listener accepts exactly one connection. */
async function socketPair(): Promise<{ client: Socket; server: Socket }> {
  const listener = createServer();
  listener.listen(0, '127.0.0.1');
  try {
    await once(listener, 'listening');
    const { port } = listener.address() as AddressInfo;
    const accepted = once(listener, 'connection') as Promise<[Socket]>;
    const client = connect(port, '127.0.0.1');
    client.on('error', () => {});
    const [[server]] = await Promise.all([accepted, once(client, 'connect')]);
    return { client, server };
  } finally {
    listener.close();
  }
}

async function loadWebSocket(): Promise<typeof WebSocket> {
  try {
    return (await import('ws')).default;
  } catch (cause) {
    throw new Error('injectWebSocket() needs the `ws` package: npm install --save-dev ws', {
      cause,
    });
  }
}

async function readBody(response: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  try {
    for await (const chunk of response) chunks.push(chunk as Buffer);
  } catch {
    // The server may reset the socket after the answer; keep what arrived.
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * Opens a real `ws` client to `path` over a loopback socket handed to `server` (which needs
 * not listen). Resolves once the 101 was received and checked: `ws` verifies the accept key
 * and that the answered subprotocol was offered (and that one was answered when some were
 * offered).
 * @example
 * ```ts
 * import { injectWebSocket } from '@wsroute/core/testing';
 * const ws = await injectWebSocket(server, '/chat', { protocols: ['chat.v2'] });
 * ```
 * @param server - the `node:http` server the entry point is attached to
 * @param path - request target, e.g. `/chat?room=1`
 * @param options - protocols, headers, compression, timeout
 * @returns the open client; close or terminate it when done
 * @throws InjectWSError when the server answers anything but a 101; the `ws` client's error
 *   when the 101 is wrong (accept key, subprotocol) or the handshake times out
 */
export async function injectWebSocket(
  server: Server,
  path: string,
  options: InjectWSOptions = {},
): Promise<WebSocket> {
  if (!path.startsWith('/')) throw new TypeError('injectWebSocket: the path starts with /');
  const Client = await loadWebSocket();
  const { client, server: serverSide } = await socketPair();
  server.emit('connection', serverSide);
  const protocols = typeof options.protocols === 'string' ? [options.protocols] : options.protocols;
  const ws = new Client(`ws://localhost${path}`, protocols ? [...protocols] : [], {
    headers: { ...options.headers },
    perMessageDeflate: options.perMessageDeflate ?? false,
    handshakeTimeout: options.timeout ?? INJECT_TIMEOUT_MS,
    createConnection: () => client,
  });
  try {
    await new Promise<void>((resolve, fail) => {
      ws.once('open', () => {
        // Messages sent in onOpen may ride with the 101: hold them until the caller, resumed
        // by this promise, has attached its listeners.
        ws.pause();
        setImmediate(() => ws.resume());
        resolve();
      });
      ws.once('error', fail);
      ws.once('unexpected-response', (_request, response) => {
        readBody(response).then((body) => {
          fail(new InjectWSError(response.statusCode ?? 0, response.headers, body));
        }, fail);
      });
    });
  } catch (error) {
    ws.terminate();
    client.destroy();
    throw error;
  }
  return ws;
}
