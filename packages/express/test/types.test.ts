/**
 * Type tests: `tsc -b` checks this file (the `@ts-expect-error` lines must stay errors); tap
 * only runs the registrations.
 */
import type { Connection } from '@wsroute/core';
import express, { type NextFunction, type Request, type Response } from 'express';
import t from 'tap';
import { type ExpressRouteOptions, type WebSocketRouteHandler, wsroute } from '../src/index.js';

interface User {
  readonly id: number;
}
interface AuthedRequest extends Request {
  user: User;
}

type Equals<A, B> =
  (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function assertType<T extends true>(_value?: T): void {}

const ws = wsroute();
wsroute({ origins: ['https://app.example'], trustProxy: 1, maxConnectionsPerClient: 10 });
assertType<Equals<ReturnType<typeof ws.shed>, number>>();
const app = express();
const router = express.Router();
const auth = (_req: Request, _res: Response, next: NextFunction): void => next();

// `data` types `connection.data` in inline handlers; the request type is the caller's claim.
const chat = ws.route({
  data: (req: AuthedRequest) => ({ user: req.user, room: String(req.params.room ?? 'lobby') }),
  defaultProtocol: {
    onMessage(connection, message) {
      assertType<Equals<typeof connection.data, { user: User; room: string }>>();
      assertType<Equals<typeof message, string | Buffer>>();
      connection.send(`${connection.data.user.id}`);
    },
  },
});
app.get('/rooms/:room', auth, chat);
router.get('/rooms/:room', auth, chat);
app.use('/any', chat);
router.all('/all', chat);

// Async `data` with the default request: params and query are Express's.
ws.route({
  tokenCarrier: true,
  data: async (req) => {
    assertType<Equals<typeof req.params, Request['params']>>();
    assertType<Equals<typeof req.websocketToken, string | undefined>>();
    return { token: String(req.query.token) };
  },
  defaultProtocol: {
    onOpen(connection: Connection<{ token: string }, string | Uint8Array, string | Buffer>) {
      connection.send(connection.data.token);
    },
  },
});

// Without `data`, the connection's data is undefined.
ws.route({
  defaultProtocol: {
    onOpen(connection) {
      assertType<Equals<typeof connection.data, undefined>>();
    },
  },
});

/** Declarations that must not compile; never called (they would throw at registration). */
export function mustNotCompile(): void {
  // @ts-expect-error `data` is required when the handlers need data
  ws.route<{ user: User }>({ defaultProtocol: { onOpen() {} } });

  ws.route({
    defaultProtocol: {},
    // @ts-expect-error `data` takes the request, not a value
    data: 'alice',
  });
}

// Route options can be declared apart and reused.
const declared: ExpressRouteOptions<{ user: User }, AuthedRequest> = {
  data: (req) => ({ user: req.user }),
  defaultProtocol: {},
};
const handler: WebSocketRouteHandler = ws.route(declared);
app.get('/declared', handler);

t.pass('route declarations type-check');
