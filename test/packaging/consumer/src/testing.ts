// The testing subpaths: what a test file imports; they need ws and @types/ws.
import type { Server } from 'node:http';
import { InjectWSError, injectWebSocket } from '@wsroute/core/testing';
import { type InjectWSOptions, injectWS } from '@wsroute/fastify/testing';
import type { FastifyInstance } from 'fastify';
import type WebSocket from 'ws';

export async function openFastify(app: FastifyInstance, path: string): Promise<WebSocket> {
  const options: InjectWSOptions = {
    protocols: ['chat.v2'],
    headers: { authorization: 'Bearer s3cret' },
  };
  return injectWS(app, path, options);
}

export async function refusedStatus(server: Server, path: string): Promise<number> {
  try {
    (await injectWebSocket(server, path, { protocols: ['chat.v2'] })).terminate();
    return 101;
  } catch (error) {
    if (error instanceof InjectWSError) return error.statusCode;
    throw error;
  }
}
