/**
 * Raw HTTP exchanges over TCP with a server on 127.0.0.1, so tests see exactly what the server
 * wrote, 101 or not. Every socket is destroyed on the owning test's teardown.
 */
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { decodeFrame, type Frame } from './frames.js';
import { parseResponseHead, type ResponseHead } from './http.js';
import { WAIT_MS, waitForEvent, withTimeout } from './wait.js';

/** What releases resources when a test ends: a tap `Test`. */
export interface TeardownHost {
  teardown(fn: () => unknown): void;
}

/**
 * Opens a TCP connection to 127.0.0.1:`port`, destroyed on teardown.
 * @param t - the owning test
 * @param port - the server port
 * @returns the connected socket
 */
export async function connectRaw(t: TeardownHost, port: number): Promise<Socket> {
  const socket = connect({ port, host: '127.0.0.1' });
  t.teardown(() => {
    socket.destroy();
  });
  await waitForEvent(socket, 'connect');
  return socket;
}

/** An HTTP answer read off a raw socket. */
export interface RawAnswer extends ResponseHead {
  /** The body, until the server ended the socket (empty for a 101). */
  readonly body: string;
  /** Everything received, as latin1. */
  readonly raw: string;
  /** Whether the server ended the socket (always, unless the answer is a 101). */
  readonly isEnded: boolean;
  readonly socket: Socket;
}

/**
 * Writes `data` (a request, possibly followed by frames) in one write and reads the answer: a
 * 101 until the end of its head, anything else until the server ends the socket.
 * @param t - the owning test
 * @param port - the server port
 * @param data - the bytes to write
 * @param ms - the bound
 * @default ms WAIT_MS
 * @returns the answer and the socket
 */
export async function exchange(
  t: TeardownHost,
  port: number,
  data: string | Buffer,
  ms = WAIT_MS,
): Promise<RawAnswer> {
  const socket = connect({ port, host: '127.0.0.1' });
  t.teardown(() => {
    socket.destroy();
  });
  socket.on('error', () => {});
  const chunks: Buffer[] = [];
  const isEnded = await withTimeout(
    new Promise<boolean>((resolve) => {
      socket.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        const text = Buffer.concat(chunks).toString('latin1');
        if (text.startsWith('HTTP/1.1 101') && text.includes('\r\n\r\n')) resolve(false);
      });
      socket.once('end', () => resolve(true));
      socket.once('close', () => resolve(true));
      socket.write(data);
    }),
    'the answer',
    ms,
  );
  const raw = Buffer.concat(chunks).toString('latin1');
  const split = raw.indexOf('\r\n\r\n');
  const head = parseResponseHead(raw.slice(0, split));
  return { ...head, body: isEnded ? raw.slice(split + 4) : '', raw, isEnded, socket };
}

/**
 * Reads the first server frame after a 101 read by {@link exchange}.
 * @param answer - the 101 answer
 * @returns the frame
 */
export async function readAnswerFrame(answer: RawAnswer): Promise<Frame> {
  let buffer = Buffer.from(answer.raw.slice(answer.raw.indexOf('\r\n\r\n') + 4), 'latin1');
  for (;;) {
    const decoded = decodeFrame(buffer);
    if (decoded) return decoded.frame;
    const [chunk] = (await once(answer.socket, 'data')) as [Buffer];
    buffer = Buffer.concat([buffer, chunk]);
  }
}

/**
 * Reads bytes from `socket` until the response head is complete.
 * @param socket - a socket nothing else reads from
 * @returns the head and whatever arrived after it
 */
export async function readHead(socket: Socket): Promise<ResponseHead & { readonly rest: Buffer }> {
  let buffered = Buffer.alloc(0);
  for (;;) {
    const split = buffered.indexOf('\r\n\r\n');
    if (split !== -1) {
      const head = parseResponseHead(buffered.subarray(0, split).toString('latin1'));
      return { ...head, rest: buffered.subarray(split + 4) };
    }
    const [chunk] = (await once(socket, 'data')) as [Buffer];
    buffered = Buffer.concat([buffered, chunk]);
  }
}
