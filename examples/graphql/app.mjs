// @ts-check
// GraphQL subscriptions over a wsroute Fastify route, served by graphql-ws: its transport-neutral
// `makeServer()` runs the graphql-transport-ws protocol, and `graphqlSocket()` below gives it
// the small `WebSocket` interface it needs on top of our `Connection`.
//
//   GET /graphql  websocket route with the single subprotocol `graphql-transport-ws`: a client
//                 offering none or another gets 400 before any 101, so graphql-ws's own
//                 4406 close never has to happen. A plain GET gets 426.
//
//   startGraphqlServer({ port, host }) resolves to { port, pubsub, close() }.
import { defineProtocol, MAX_CLOSE_REASON_BYTES, textCodec } from '@wsroute/core';
import { defineWebSocketRoute, upgradeRequired, wsroute } from '@wsroute/fastify';
import Fastify from 'fastify';
import { CloseCode, GRAPHQL_TRANSPORT_WS_PROTOCOL, makeServer } from 'graphql-ws';
import { authorOf, createSchema, PubSub } from './schema.mjs';

/** @typedef {{ readonly request: import('fastify').FastifyRequest }} GraphqlData */
/** @typedef {import('@wsroute/core').Connection<GraphqlData, string, string>} GraphqlConnection */
/**
 * What graphql-ws hands its hooks as `ctx.extra`.
 * @typedef {{ readonly connection: GraphqlConnection, readonly request: import('fastify').FastifyRequest }} GraphqlExtra
 */
/**
 * What `graphqlSocket()` needs of a connection: a structural subset of `Connection`.
 * @typedef {Pick<GraphqlConnection, 'protocol' | 'send' | 'drained' | 'close'>} SocketLike
 */
/**
 * One connection's graphql-ws session.
 * @typedef {{ deliver(data: string): Promise<void>, closed(code?: number, reason?: string): Promise<void> }} Session
 */

/** The websocket route's path. */
export const GRAPHQL_PATH = '/graphql';

/**
 * Shortens a close reason to the 123 UTF-8 bytes a close frame can carry (RFC 6455 §5.5.1).
 * graphql-ws limits reasons by string length, and some carry a client-chosen id
 * (`Subscriber for <id> already exists`); our `close()` throws on an over-long reason.
 * @param {string} reason
 * @returns {string}
 */
export function fitCloseReason(reason) {
  if (Buffer.byteLength(reason) <= MAX_CLOSE_REASON_BYTES) return reason;
  let bytes = 0;
  let end = 0;
  // By code point, so a multi-byte character or a surrogate pair is never cut in half.
  for (const char of reason) {
    bytes += Buffer.byteLength(char);
    if (bytes > MAX_CLOSE_REASON_BYTES) break;
    end += char.length;
  }
  return reason.slice(0, end);
}

/**
 * graphql-ws's transport interface (`WebSocket` of `makeServer().opened()`) over a connection:
 *
 * | graphql-ws         | our connection                                                     |
 * | ------------------ | ------------------------------------------------------------------ |
 * | `protocol`         | `connection.protocol` (the negotiated subprotocol)                 |
 * | `send(data)`       | `connection.send(data)`; when it returns false, the promise of     |
 * |                    | `connection.drained()`, which graphql-ws awaits before the next    |
 * |                    | result of that operation (backpressure per subscription)           |
 * | `close(code, why)` | `connection.close(code, why)`, the reason shortened to 123 bytes   |
 * | `onMessage(cb)`    | keeps `cb`; the route's `onMessage` hands each text to `deliver()` |
 *
 * @param {SocketLike} connection
 * @returns {{ socket: import('graphql-ws').WebSocket, deliver(data: string): Promise<void> }}
 */
export function graphqlSocket(connection) {
  /** @type {((data: string) => Promise<void>) | undefined} */
  let receive;
  return {
    socket: {
      protocol: connection.protocol ?? '',
      send: (data) => (connection.send(data) ? undefined : connection.drained()),
      close: (code, reason = '') => connection.close(code, fitCloseReason(reason)),
      onMessage(cb) {
        receive = cb;
      },
    },
    deliver: (data) => (receive ? receive(data) : Promise.resolve()),
  };
}

/**
 * The `graphql-transport-ws` protocol of the route: one graphql-ws session per connection.
 * @param {import('graphql-ws').Server<GraphqlExtra>} server - from graphql-ws's `makeServer()`
 * @returns {import('@wsroute/core').BoundProtocol<GraphqlData>}
 */
export function graphqlTransportWs(server) {
  /** @type {WeakMap<object, Session>} */
  const sessions = new WeakMap();

  /**
   * graphql-ws failed internally (a hook or a resolver setup threw): close as its `ws`
   * integration does, with 4500.
   * @param {GraphqlConnection} connection
   * @param {unknown} error
   */
  const onInternalError = (connection, error) => {
    connection.data.request.log.error({ err: error }, 'graphql-ws failed');
    if (connection.isOpen) connection.close(CloseCode.InternalServerError, 'Internal server error');
  };

  return defineProtocol({
    // graphql-transport-ws messages are JSON text; a binary message closes with 1007.
    codec: textCodec(),
    /** @type {import('@wsroute/core').WebSocketHandler<GraphqlData, string, string>} */
    handler: {
      onOpen(connection) {
        const { socket, deliver } = graphqlSocket(connection);
        // opened() registers its message listener synchronously: no message can be missed.
        const closed = server.opened(socket, { connection, request: connection.data.request });
        sessions.set(connection, { deliver, closed });
      },
      onMessage(connection, message) {
        const session = sessions.get(connection);
        if (!session) return;
        // Not returned on purpose: graphql-ws settles this promise only when the operation
        // ends, i.e. a subscription's promise lives as long as the subscription. Returned, it
        // would count as a pending onMessage, and 64 open subscriptions would pause reading
        // (maxPendingMessages), so the client's `complete` messages could never arrive.
        session.deliver(message).catch((error) => onInternalError(connection, error));
      },
      onError(connection, error) {
        connection.data.request.log.warn({ err: error }, 'graphql websocket failed');
      },
      onClose(connection, code, reason) {
        const session = sessions.get(connection);
        if (!session) return;
        sessions.delete(connection);
        // Ends every subscription of the connection (their iterators' return()), then
        // graphql-ws's onDisconnect/onClose hooks. The connection does not watch a promise
        // returned from onClose, so failures are caught here.
        session.closed(code, reason).catch((error) => {
          connection.data.request.log.error({ err: error }, 'graphql-ws cleanup failed');
        });
      },
    },
  });
}

/**
 * Builds the Fastify app and its PubSub.
 * @param {{ countdownInterval?: number, logger?: import('fastify').FastifyServerOptions['logger'] }} [options]
 *   `countdownInterval`: ms between countdown values (default 1000);
 *   `logger`: Fastify's logger option (default off)
 * @returns {Promise<{ app: import('fastify').FastifyInstance, pubsub: PubSub }>}
 */
export async function createGraphqlApp({ countdownInterval, logger = false } = {}) {
  const pubsub = new PubSub();
  const schema = createSchema({
    pubsub,
    ...(countdownInterval === undefined ? {} : { countdownInterval }),
  });
  /** @type {import('graphql-ws').Server<GraphqlExtra>} */
  const server = makeServer({
    schema,
    // The author of posted messages: the `name` a client sent in `connection_init`.
    context: (ctx) => ({ author: authorOf(ctx.connectionParams) }),
  });

  const app = Fastify({ logger });
  await app.register(wsroute);
  app.get(
    GRAPHQL_PATH,
    {
      websocket: defineWebSocketRoute({
        /** @param {import('fastify').FastifyRequest} request */
        data: (request) => ({ request }),
        protocols: { [GRAPHQL_TRANSPORT_WS_PROTOCOL]: graphqlTransportWs(server) },
        // GraphQL documents and variables are small; the default 16 MiB is generous.
        maxPayload: 1024 * 1024,
      }),
    },
    upgradeRequired,
  );
  return { app, pubsub };
}

/**
 * Starts the server.
 * @param {{ port: number, host?: string, countdownInterval?: number, logger?: import('fastify').FastifyServerOptions['logger'] }} options
 * @returns {Promise<{ port: number, pubsub: PubSub, close(): Promise<void> }>}
 *   `close()` closes every websocket with 1001 (ending its subscriptions), then the server
 */
export async function startGraphqlServer({ port, host = '127.0.0.1', ...options }) {
  const { app, pubsub } = await createGraphqlApp(options);
  await app.listen({ port, host });
  const address = app.server.address();
  return {
    port: typeof address === 'object' && address ? address.port : port,
    pubsub,
    close: () => app.close(),
  };
}
