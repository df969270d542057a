/**
 * The routes every adapter serves for the shared contract suite (test/contract/suite.ts).
 * Each adapter's `<adapter>.test.ts` mounts exactly these, using its framework's own way of
 * authenticating for `/auth`, and hands `runContract` a factory.
 */
import {
  defineProtocol,
  type EntryOptions,
  jsonCodec,
  type RouteOptions,
  type WebSocketHub,
} from '@wsroute/core';

/** What the `/auth` route's framework hook attaches after checking the header. */
export interface AuthData {
  readonly user: string;
}

/** `/auth` accepts exactly this `Authorization` header; anything else gets a plain HTTP 401. */
export const GOOD_TOKEN = 'Bearer good';
/** The user name attached for {@link GOOD_TOKEN}. */
export const AUTH_USER = 'alice';

/** JSON messages of `chat.v2` on `/echo`. */
export interface ChatIn {
  readonly text: string;
}
export interface ChatOut {
  readonly echo: string;
  readonly protocol: 'chat.v2';
}

function isChatIn(message: unknown): message is ChatIn {
  return typeof (message as Partial<ChatIn> | null)?.text === 'string';
}

const rawEcho = {
  onMessage(connection: { send(message: string | Uint8Array): boolean }, message: string | Buffer) {
    connection.send(message);
  },
};

/** Routes by path. Mount each at its path (`/echo`, `/strict`, …). */
export const contractRoutes = {
  /** chat.v2 (JSON, typed, validated), chat (raw echo), and a raw echo for clients offering none. */
  '/echo': {
    protocols: {
      'chat.v2': defineProtocol({
        codec: jsonCodec<ChatIn, ChatOut>(),
        validate: isChatIn,
        handler: {
          onMessage(connection, message) {
            connection.send({ echo: message.text, protocol: 'chat.v2' });
          },
        },
      }),
      chat: defineProtocol({
        handler: {
          onMessage(connection, message) {
            connection.send(typeof message === 'string' ? `chat:${message}` : message);
          },
        },
      }),
    },
    defaultProtocol: rawEcho,
    heartbeatInterval: 0,
  },
  /** Only `a` and `b`; no default: offering none or only others is refused. */
  '/strict': {
    protocols: { a: rawEcho, b: rawEcho },
    heartbeatInterval: 0,
  },
  /** Supports `a`; accepts clients offering only unsupported protocols, without the header. */
  '/lenient': {
    protocols: { a: rawEcho },
    defaultProtocol: rawEcho,
    unsupportedProtocol: 'accept',
    heartbeatInterval: 0,
  },
  /** Every message throws in the handler: the connection closes with 1011. */
  '/throws': {
    defaultProtocol: {
      onMessage() {
        throw new Error('handler failure');
      },
    },
    heartbeatInterval: 0,
  },
  /** Messages above 1 KiB close with 1009. */
  '/limits': {
    defaultProtocol: rawEcho,
    maxPayload: 1024,
    heartbeatInterval: 0,
  },
  /** Only `https://app.example` may connect (and clients sending no `Origin`). */
  '/origin-list': {
    defaultProtocol: rawEcho,
    origins: ['https://app.example'],
    heartbeatInterval: 0,
  },
  /** The request's own origin, or any subdomain of partner.example. */
  '/origin-predicate': {
    defaultProtocol: rawEcho,
    origins: (origin, { isSameOrigin }) => isSameOrigin || origin.endsWith('.partner.example'),
    heartbeatInterval: 0,
  },
  /** Every origin (`'*'`). */
  '/origin-any': { defaultProtocol: rawEcho, origins: '*', heartbeatInterval: 0 },
  /** Two handshakes per client per minute: the third gets 429 with `Retry-After: 30`. */
  '/rate': {
    defaultProtocol: rawEcho,
    handshakesPerClient: { limit: 2, windowMs: 60_000 },
    heartbeatInterval: 0,
  },
  /** One connection at a time: a second gets 503 until the first closes. */
  '/capped': { defaultProtocol: rawEcho, maxConnections: 1, heartbeatInterval: 0 },
  /** One connection per client: a second from the same client gets 429. */
  '/per-client': { defaultProtocol: rawEcho, maxConnectionsPerClient: 1, heartbeatInterval: 0 },
  /** The client sends "close:<code>" and the server closes with that code. */
  '/close': {
    defaultProtocol: {
      onMessage(connection, message) {
        if (typeof message === 'string' && message.startsWith('close:')) {
          connection.close(Number(message.slice(6)), 'requested');
        }
      },
    },
    heartbeatInterval: 0,
  },
} satisfies Record<string, RouteOptions<undefined>>;

/**
 * `/auth` (mounted behind the framework's auth hook/middleware): answers "user:<name>" to
 * any message, from the data the hook attached.
 */
export const authRoute: RouteOptions<AuthData> = {
  defaultProtocol: {
    onMessage(connection) {
      connection.send(`user:${connection.data.user}`);
    },
  },
  heartbeatInterval: 0,
};

/**
 * The credential `/token` accepts when carried in `Sec-WebSocket-Protocol`; the framework's own
 * auth step (a Fastify hook, Express or Koa middleware, the node `upgrade` hook) compares the
 * decoded token with it and answers a plain 401 otherwise.
 */
export const GOOD_WS_TOKEN = 'good-ws-token';
/** The user attached for {@link GOOD_WS_TOKEN}. */
export const TOKEN_USER = 'carol';

/**
 * `/token`: takes the credential carrier (`tokenCarrier`), speaks `chat`, and answers
 * "user:<name>" to any message, from the data the framework's auth step attached.
 */
export const tokenRoute: RouteOptions<AuthData> = {
  protocols: {
    chat: {
      onMessage(connection) {
        connection.send(`user:${connection.data.user}`);
      },
    },
  },
  tokenCarrier: true,
  heartbeatInterval: 0,
};

/**
 * `/http-only`: a plain HTTP GET route answering 200 "ok"; an upgrade request to it must not
 * be upgraded (the suite expects a non-101 answer).
 */
export const HTTP_ONLY_PATH = '/http-only';

/** A running app under test. */
export interface ContractApp {
  /** Base URL, e.g. `ws://127.0.0.1:12345` (no trailing slash). */
  readonly url: string;
  /** TCP port. */
  readonly port: number;
  /** The entry point's hub (`connections`, `shed()`, `close()`). */
  readonly hub: WebSocketHub;
  /** What the framework logged (and the process warnings the library emitted), as text. */
  readonly logs: readonly string[];
  /** Graceful shutdown: must close every open connection with 1001, then stop listening. */
  close(): Promise<void>;
}

/** Entry point options a case starts its app with (admission limits, `trustProxy`…). */
export type ContractOptions = Omit<EntryOptions, 'onError'>;

/**
 * Starts a fresh app on 127.0.0.1, port 0, serving every route above, with `options` given to
 * the entry point (the plugin, middleware or server).
 */
export type ContractFactory = (options?: ContractOptions) => Promise<ContractApp>;
