// @wsroute/express: middleware before the 101, a route on a router.
import type { Server } from 'node:http';
import Boom from '@hapi/boom';
import { defineProtocol, jsonCodec } from '@wsroute/core';
import { wsroute } from '@wsroute/express';
import express, { type NextFunction, type Request, type Response } from 'express';

declare global {
  namespace Express {
    interface Request {
      user?: { readonly name: string };
    }
  }
}

type ChatIn = { readonly type: 'say'; readonly text: string };
type ChatOut = { readonly type: 'message'; readonly from: string; readonly text: string };
type ChatData = { readonly user: string; readonly room: string };

function requireUser(req: Request, _res: Response, next: NextFunction): void {
  if (req.headers.authorization !== 'Bearer s3cret') {
    next(Boom.unauthorized('missing or invalid token', 'Bearer'));
    return;
  }
  req.user = { name: 'alice' };
  next();
}

const chat = defineProtocol<ChatData, ChatIn, ChatOut>({
  codec: jsonCodec<ChatIn, ChatOut>(),
  validate: (m): m is ChatIn =>
    (m as Partial<ChatIn> | null)?.type === 'say' && typeof (m as ChatIn).text === 'string',
  handler: {
    onMessage(connection, message) {
      connection.send({ type: 'message', from: connection.data.user, text: message.text });
    },
  },
});

/** Listens on `port` (0: any free port). */
export function startExpress(port: number): Server {
  const app = express();
  const ws = wsroute();
  const rooms = express.Router({ mergeParams: true });
  rooms.get(
    '/:room',
    requireUser,
    ws.route({
      protocols: { 'chat.v1': chat },
      data: (req): ChatData => ({ user: req.user?.name ?? '', room: String(req.params.room) }),
    }),
  );
  app.use('/chat', rooms);
  return ws.attach(app.listen(port));
}
