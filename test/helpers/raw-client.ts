/**
 * A raw WebSocket client for conformance and contract tests: requests and frames are written
 * byte for byte (frames masked by hand, RFC 6455 §5.3), and what the server answers is read
 * as it arrives, so a test can assert the exact status, headers, frames and close code.
 *
 * Every wait is bounded: a test that would hang fails with a timeout instead. The frame and
 * HTTP helpers come from `@wsroute/test-utils`.
 */
import type { EventEmitter } from 'node:events';
import { connect, type Socket } from 'node:net';
import {
  clientFrame,
  closePayload,
  type FrameSpec,
  type HttpHead,
  OP,
  type RequestHeaders,
  upgradeRequest,
  WireReader,
  waitForEvent as waitForEventWithin,
  withTimeout as withTimeoutWithin,
} from '@wsroute/test-utils';
import type { Test } from 'tap';

export {
  clientFrame as frame,
  closePayload,
  type Frame,
  type FrameSpec,
  type HttpHead,
  headerValues,
  OP,
  type RequestHeaders,
  SAMPLE_ACCEPT,
  SAMPLE_KEY,
  type ServerClose,
  upgradeRequest,
} from '@wsroute/test-utils';

/** Default bound of every wait, in ms: longer than the core's, for browsers and big payloads. */
export const WAIT_MS = 10_000;

/**
 * Resolves with the event's arguments, or rejects after `ms`.
 * @param emitter - what emits the event
 * @param event - the event name
 * @param ms - the bound
 * @default ms WAIT_MS
 */
export function waitForEvent(
  emitter: EventEmitter,
  event: string,
  ms = WAIT_MS,
): Promise<unknown[]> {
  return waitForEventWithin(emitter, event, ms);
}

/**
 * Resolves with the value, or rejects after `ms`.
 * @param promise - what to wait for
 * @param what - named in the timeout error
 * @param ms - the bound
 * @default ms WAIT_MS
 */
export function withTimeout<T>(promise: Promise<T>, what: string, ms = WAIT_MS): Promise<T> {
  return withTimeoutWithin(promise, what, ms);
}

/**
 * A TCP connection to a WebSocket server, read as HTTP then frames (see {@link WireReader}),
 * with helpers to write requests and masked frames.
 */
export class RawClient extends WireReader {
  readonly socket: Socket;

  private constructor(socket: Socket) {
    super(socket, { waitMs: WAIT_MS });
    this.socket = socket;
  }

  /**
   * Connects to 127.0.0.1:`port`; the socket is destroyed on the test's teardown.
   * @param t - the owning test
   * @param port - the server port
   */
  static async connect(t: Test, port: number): Promise<RawClient> {
    const socket = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    t.teardown(() => {
      socket.destroy();
    });
    const client = new RawClient(socket);
    await waitForEvent(socket, 'connect');
    socket.setNoDelay(true);
    return client;
  }

  /**
   * Connects, sends an upgrade request (and `extra` bytes in the same write), reads the head.
   * @param t - the owning test
   * @param port - the server port
   * @param options - path, extra headers (null drops a default one), bytes after the request
   */
  static async open(
    t: Test,
    port: number,
    options: { path?: string; headers?: RequestHeaders; extra?: Buffer } = {},
  ): Promise<{ client: RawClient; head: HttpHead }> {
    const client = await RawClient.connect(t, port);
    const request = Buffer.from(upgradeRequest(options.path ?? '/', options.headers));
    client.write(options.extra ? Buffer.concat([request, options.extra]) : request);
    return { client, head: await client.head() };
  }

  /**
   * Like {@link RawClient.open} but fails the test unless the answer is a 101.
   */
  static async upgrade(
    t: Test,
    port: number,
    options: { path?: string; headers?: RequestHeaders; extra?: Buffer } = {},
  ): Promise<RawClient> {
    const { client, head } = await RawClient.open(t, port, options);
    if (head.status !== 101) throw new Error(`expected 101, got ${head.statusLine}`);
    return client;
  }

  /** Writes raw bytes. */
  write(bytes: Buffer | string): void {
    this.socket.write(bytes);
  }

  /** Writes one masked frame. */
  send(spec: FrameSpec): void {
    this.socket.write(clientFrame(spec));
  }

  /** Writes bytes one at a time, each in its own TCP segment where the OS allows. */
  async writeBytewise(bytes: Buffer): Promise<void> {
    for (let i = 0; i < bytes.length; i++) {
      if (!this.socket.write(bytes.subarray(i, i + 1))) await waitForEvent(this.socket, 'drain');
    }
  }

  /** Answers the server's close (echoing `code`) and ends our side, as a client should. */
  finishClose(code?: number): void {
    if (this.socket.destroyed) return;
    this.send({ opcode: OP.close, payload: code === undefined ? '' : closePayload(code) });
    this.socket.end();
  }
}
