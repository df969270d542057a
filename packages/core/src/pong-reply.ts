/**
 * Answering pings (RFC 6455 §5.5.2): a pong echoing the ping's payload, at once while the
 * socket keeps up. While it is backed up (it held unwritten bytes when the chunk being parsed
 * arrived), earlier pongs are still unsent: only the latest ping is answered, once the socket
 * has written what it holds (RFC 6455 §5.5.3 allows answering only the most recent ping), so a
 * ping flood from a peer that does not read costs a single pong's worth of memory.
 * @module
 */
import type { Duplex } from 'node:stream';
import { Opcode } from './constants.js';
import type { FrameWriter } from './frame-writer.js';

const EMPTY = Buffer.alloc(0);

/** The pongs of one connection. Internal, made on the connection's first ping. */
export class PongReply {
  readonly #socket: Duplex;
  readonly #writer: FrameWriter;
  readonly #connection: { readonly isOpen: boolean };
  /** The payload of the latest ping still to be answered while the socket is backed up. */
  #pending: Buffer | undefined;

  /**
   * @param socket - the upgraded socket
   * @param writer - the connection's frame writer
   * @param connection - a waiting pong is sent only while it is open
   */
  constructor(socket: Duplex, writer: FrameWriter, connection: { readonly isOpen: boolean }) {
    this.#socket = socket;
    this.#writer = writer;
    this.#connection = connection;
  }

  /**
   * Answers a ping received while the connection is open.
   * @param payload - the ping's payload
   * @param isBacklogged - whether the socket still held unwritten bytes when the chunk carrying
   *   the ping arrived (not because the connection's own batch corked it)
   */
  answer(payload: Buffer, isBacklogged: boolean): void {
    const socket = this.#socket;
    if (!isBacklogged && this.#pending === undefined) {
      this.#writer.writeMessage(Opcode.Pong, payload);
      return;
    }
    const isWaiting = this.#pending !== undefined;
    // A copy: the payload may be a view into a socket chunk.
    this.#pending = Buffer.from(payload);
    if (isWaiting || socket.destroyed || socket.writableEnded) return;
    socket.write(EMPTY, () => {
      const pong = this.#pending;
      this.#pending = undefined;
      if (pong && this.#connection.isOpen) this.#writer.writeMessage(Opcode.Pong, pong);
    });
  }

  /** Sends a pong still waiting for the socket: the close frame, the last frame we send, follows. */
  flush(): void {
    const pong = this.#pending;
    this.#pending = undefined;
    if (pong) this.#writer.writeMessage(Opcode.Pong, pong);
  }

  /** Drops a pong still waiting: the connection closed. */
  drop(): void {
    this.#pending = undefined;
  }
}
