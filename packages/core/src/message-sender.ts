/**
 * Outgoing messages in order: straight to the frame writer, or, with permessage-deflate,
 * through the compressor. While a compression is in flight every later message (compressed or
 * not, and the close frame) waits in a FIFO, so the peer receives messages in the order they
 * were sent (STYLE §4). Pings and pongs may overtake: control frames can go between messages.
 * @module
 */
import { Opcode } from './constants.js';
import type { FrameWriter } from './frame-writer.js';
import type { PerMessageDeflate } from './permessage-deflate.js';

/** What the sender tells its connection. */
export interface MessageSenderEvents {
  /** Compression failed (the connection then closes with 1011). */
  onError(error: Error): void;
  /** Every queued message was handed to the frame writer. */
  onQueueFlushed(): void;
}

interface Pending {
  readonly opcode: number;
  payload: Uint8Array;
  isCompressed: boolean;
  isReady: boolean;
}

/** Writes data messages and the close frame in call order. Internal to the connection. */
export class MessageSender {
  readonly #writer: FrameWriter;
  readonly #deflate: PerMessageDeflate | undefined;
  #queue: Pending[] = [];
  #queuedBytes = 0;
  #events: MessageSenderEvents | undefined;

  /**
   * @param writer - the connection's frame writer
   * @param deflate - the connection's compressor when permessage-deflate was negotiated
   * @param events - compression failures and queue flushes
   */
  constructor(
    writer: FrameWriter,
    deflate: PerMessageDeflate | undefined,
    events?: MessageSenderEvents,
  ) {
    this.#writer = writer;
    this.#deflate = deflate;
    this.#events = events;
  }

  /** Whether nothing waits: every message handed over so far reached the frame writer. */
  get isIdle(): boolean {
    return this.#queue.length === 0;
  }

  /** Bytes of messages waiting for compression or for an earlier message's compression. */
  get queuedBytes(): number {
    return this.#queuedBytes;
  }

  /**
   * Sends a text message.
   * @param text - the message
   */
  sendText(text: string): void {
    const deflate = this.#deflate;
    // text.length never exceeds the UTF-8 byte length: a cheap check before encoding.
    if (this.#queue.length === 0 && !deflate?.shouldCompress(text.length)) {
      this.#writer.writeText(text);
      return;
    }
    this.#send(Opcode.Text, Buffer.from(text, 'utf8'));
  }

  /**
   * Sends a binary message.
   * @param bytes - the message
   */
  sendBinary(bytes: Uint8Array): void {
    this.#send(Opcode.Binary, bytes);
  }

  /**
   * Sends a message whose frame was built elsewhere, after every message sent before it.
   * @param opcode - Text or Binary
   * @param payload - the message, for when it must wait in the queue
   * @param frame - its complete, uncompressed frame
   */
  sendFrame(opcode: number, payload: Uint8Array, frame: Uint8Array): void {
    if (this.#queue.length === 0) this.#writer.writeFrameBytes(frame);
    else this.#enqueue(opcode, payload, false);
  }

  /**
   * Whether a message of this size would be compressed.
   * @param byteLength - the message size
   * @returns true with permessage-deflate and a message over the threshold
   */
  compresses(byteLength: number): boolean {
    return this.#deflate?.shouldCompress(byteLength) ?? false;
  }

  /**
   * Sends a message as bytes of the given opcode (compressed when it should be).
   * @param opcode - Text or Binary
   * @param payload - the message
   */
  sendMessage(opcode: number, payload: Uint8Array): void {
    this.#send(opcode, payload);
  }

  /**
   * Sends the close frame after every message sent before it.
   * @param payload - code and reason
   */
  sendClose(payload: Uint8Array): void {
    if (this.#queue.length === 0) this.#writer.writeMessage(Opcode.Close, payload);
    else this.#enqueue(Opcode.Close, payload, false);
  }

  /** Drops what waits (the connection is closed) and releases the compressor. */
  close(): void {
    this.#queue = [];
    this.#queuedBytes = 0;
    this.#events = undefined;
    this.#deflate?.close();
  }

  #send(opcode: number, payload: Uint8Array): void {
    const deflate = this.#deflate;
    const shouldCompress = deflate?.shouldCompress(payload.byteLength) ?? false;
    if (!shouldCompress && this.#queue.length === 0) {
      this.#writer.writeMessage(opcode, payload);
      return;
    }
    const pending = this.#enqueue(opcode, payload, shouldCompress);
    if (!shouldCompress || !deflate) return;
    const input = Buffer.isBuffer(payload)
      ? payload
      : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
    deflate.deflate(input, true, (error, compressed) => {
      if (error || !compressed) {
        this.#events?.onError(error ?? new Error('compression failed'));
        return;
      }
      this.#queuedBytes += compressed.byteLength - pending.payload.byteLength;
      pending.payload = compressed;
      pending.isReady = true;
      this.#flushReady();
    });
  }

  #enqueue(opcode: number, payload: Uint8Array, isCompressed: boolean): Pending {
    const pending: Pending = { opcode, payload, isCompressed, isReady: !isCompressed };
    this.#queue.push(pending);
    this.#queuedBytes += payload.byteLength;
    return pending;
  }

  #flushReady(): void {
    const queue = this.#queue;
    let index = 0;
    const writer = this.#writer;
    writer.beginBatch();
    while (index < queue.length) {
      const head = queue[index] as Pending;
      if (!head.isReady) break;
      this.#queuedBytes -= head.payload.byteLength;
      writer.writeMessage(head.opcode, head.payload, head.isCompressed);
      index++;
    }
    writer.endBatch();
    if (index === 0) return;
    this.#queue = index === queue.length ? [] : queue.slice(index);
    if (this.#queue.length === 0) this.#events?.onQueueFlushed();
  }
}
