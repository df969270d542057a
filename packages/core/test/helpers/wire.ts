/**
 * Test helpers for the core: the shared wire helpers of `@wsroute/test-utils` (hand-masked
 * client frames, a reader for what the server writes, bounded waits), plus an in-memory duplex
 * pair and raw TCP connections.
 */
import { type AddressInfo, connect, type Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { WireReader, waitForEvent } from '@wsroute/test-utils';

export {
  clientFrame,
  closePayload,
  decodeFrame,
  deferred,
  type Frame,
  type FrameSpec,
  type HttpHead,
  headerValues,
  hex,
  SAMPLE_ACCEPT,
  SAMPLE_KEY,
  upgradeRequest,
  WireReader,
  waitForEvent,
  withTimeout,
} from '@wsroute/test-utils';

/**
 * Two connected in-memory duplex streams with real backpressure: a write on one side is
 * acknowledged only once the other side's reader has room (its `push()` returned true, or it
 * asked for more). Ending one side ends the other's readable side; destroying one side
 * destroys the other, like a reset TCP connection.
 * @param highWaterMark - both sides' buffer limits, in bytes
 */
export function duplexPair(highWaterMark = 16 * 1024): [server: Duplex, client: Duplex] {
  const sides: Duplex[] = [];
  const blocked: Array<(() => void) | undefined> = [undefined, undefined];
  const make = (i: number): Duplex =>
    new Duplex({
      highWaterMark,
      read() {
        const release = blocked[1 - i];
        blocked[1 - i] = undefined;
        release?.();
      },
      write(chunk: Buffer, _encoding, callback) {
        const peer = sides[1 - i]!;
        if (peer.destroyed) {
          callback();
          return;
        }
        if (peer.push(chunk)) callback();
        else blocked[i] = () => callback();
      },
      final(callback) {
        sides[1 - i]!.push(null);
        callback();
      },
      destroy(error, callback) {
        const peer = sides[1 - i]!;
        if (!peer.destroyed) peer.destroy();
        callback(error);
      },
    });
  sides.push(make(0), make(1));
  return [sides[0]!, sides[1]!];
}

/** A TCP connection to 127.0.0.1 and a reader of what the server answers. */
export interface RawConnection {
  readonly socket: Socket;
  readonly reader: WireReader;
}

/**
 * Connects to 127.0.0.1:`port` and writes `data` in one write (e.g. a handshake followed by
 * frames). The socket is destroyed by the caller's teardown.
 */
export async function rawConnect(port: number, data?: string | Buffer): Promise<RawConnection> {
  const socket = connect({ port, host: '127.0.0.1' });
  const reader = new WireReader(socket);
  await waitForEvent(socket, 'connect');
  if (data !== undefined) socket.write(data);
  return { socket, reader };
}

/** The port of a listening server. */
export function portOf(server: { address(): AddressInfo | string | null }): number {
  return (server.address() as AddressInfo).port;
}
