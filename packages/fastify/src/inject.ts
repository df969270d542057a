/**
 * `app.injectWS()`: a real `ws` client connected to the app's HTTP server through a loopback
 * socket pair, so tests need not call `listen()`. The server side of the pair is handed to the
 * server as a new connection: Node parses the request, emits `'upgrade'` and the plugin runs
 * the route's hooks exactly as for a remote client.
 * @module
 */
import { once } from 'node:events';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { type AddressInfo, connect, createServer, type Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type WebSocket from 'ws';
import type { InjectWSOptions } from './types.js';

/** Default handshake timeout of the injected client, in ms. */
const INJECT_TIMEOUT_MS = 5_000;

/** Why `injectWS()` failed: the server refused the upgrade with a plain HTTP answer. */
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
    throw new Error('app.injectWS() needs the `ws` package: npm install --save-dev ws', { cause });
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
 * Opens a websocket client to a route of `app`. See `FastifyInstance.injectWS`.
 * @param app - the Fastify instance (made ready first)
 * @param path - request target, e.g. `/chat?room=1`
 * @param options - protocols, headers, compression, timeout
 * @returns the open client; close or terminate it when done
 * @throws InjectWSError when the server answers anything but a 101; the `ws` client's error
 *   when the 101 is wrong (accept key, subprotocol) or the handshake times out
 */
export async function injectWS(
  app: FastifyInstance,
  path: string,
  options: InjectWSOptions = {},
): Promise<WebSocket> {
  if (!path.startsWith('/')) throw new TypeError('injectWS: the path starts with /');
  const Client = await loadWebSocket();
  await app.ready();
  const { client, server } = await socketPair();
  app.server.emit('connection', server);
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
