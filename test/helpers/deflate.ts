/**
 * Shared pieces of the permessage-deflate tests (test/e2e/deflate*.test.ts): an echo server
 * with compression on, and raw-client compression as RFC 7692 §7.2 describes it.
 *
 * Raw clients compress with `deflateRawSync` (a fresh compressor per message is valid with or
 * without context takeover) and {@link inflate} each server message on its own, so they offer
 * `server_no_context_takeover` when they inflate more than one server message, unless the test
 * is about context takeover itself.
 */
import http from 'node:http';
import zlib from 'node:zlib';
import { type NodeRouteOptions, type WebSocketHandler, WebSocketServer } from '@wsroute/core';
import type { Test } from 'tap';
import { listenAttached } from './listen.js';
import { RawClient, type RequestHeaders } from './raw-client.js';

export const MiB = 1024 * 1024;
/** The server's default threshold: smaller messages are sent uncompressed. */
export const THRESHOLD = 1024;
/** RSV1 as the raw client's 3-bit `rsv` field. */
export const RSV1 = 4;
/** RFC 7692 §7.2.1: the sync-flush tail a sender removes and a receiver appends. */
export const TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);

export const echo: WebSocketHandler<unknown> = {
  onMessage(connection, message) {
    connection.send(message);
  },
};

/** An echo route with compression on, big limits and no heartbeat. */
export function echoRoute(
  overrides: Partial<NodeRouteOptions<unknown>> = {},
): NodeRouteOptions<unknown> {
  return {
    defaultProtocol: echo,
    perMessageDeflate: true,
    maxPayload: 64 * MiB,
    maxFragments: Number.POSITIVE_INFINITY,
    heartbeatInterval: 0,
    ...overrides,
  };
}

/** Starts a server with these routes on 127.0.0.1:0; everything is released on teardown. */
export async function startServer(
  t: Test,
  routes: Readonly<Record<string, NodeRouteOptions<unknown>>>,
): Promise<{ port: number; wss: WebSocketServer }> {
  const wss = new WebSocketServer();
  for (const [path, options] of Object.entries(routes)) wss.route(path, options);
  const server = wss.attach(http.createServer());
  return { port: await listenAttached(t, wss, server), wss };
}

/** One message compressed as a fresh compressor does it, tail removed (RFC 7692 §7.2.1). */
export function compress(data: Buffer | string): Buffer {
  const out = zlib.deflateRawSync(data, { finishFlush: zlib.constants.Z_SYNC_FLUSH });
  return out.subarray(0, out.length - TAIL.length);
}

/** Inflates one message's payload on its own (RFC 7692 §7.2.2). */
export function inflate(payload: Buffer): Buffer {
  // The message ends in a sync flush, not a final block: finishing would report a truncation.
  const finishFlush = zlib.constants.Z_SYNC_FLUSH;
  return zlib.inflateRawSync(Buffer.concat([payload, TAIL]), { finishFlush });
}

/** Opens a raw client that offered `offer` and got a 101. */
export function openRaw(t: Test, port: number, offer?: string, path = '/'): Promise<RawClient> {
  const headers: RequestHeaders = offer === undefined ? {} : { 'Sec-WebSocket-Extensions': offer };
  return RawClient.upgrade(t, port, { path, headers });
}

/** Highly compressible text of about `size` bytes that still differs between `seed`s. */
export function jsonText(size: number, seed = 0): string {
  const rows: string[] = [];
  let length = 2;
  for (let i = 0; length < size; i++) {
    const row = JSON.stringify({ id: i, seed, name: `user-${i % 97}`, tags: ['a', 'b'] });
    rows.push(row);
    length += row.length + 1;
  }
  return `[${rows.join(',')}]`;
}

/** The extension name (RFC 7692 §6). */
export const PMD = 'permessage-deflate';
