/**
 * Backpressure of one connection, both ways (STYLE §5).
 *
 * - Inbound, {@link ReadGate}: reading from the socket pauses while any reason holds it (an
 *   async `onOpen`, too many pending `onMessage` promises, a full inbox, the inflater, output
 *   the peer does not read) and resumes when none is left.
 * - Outbound, {@link DrainSignal}: once `bufferedAmount` reaches `sendHighWaterMark`, `send()`
 *   returns false; `drained()` waiters and `onDrain` are told when it falls below again. Past
 *   `outputHighWaterMark` the connection also stops reading (`PauseReason.Output`), whatever the
 *   handler does with `send()`'s result, until half of that has been written: TCP then pushes
 *   back on a peer that sends without reading, and its connection's memory stays bounded.
 * @module
 */
import type { Duplex } from 'node:stream';

/** Why reading is paused; a bit each, so that several can hold at once. */
export const PauseReason = {
  /** An async `onOpen` has not settled: messages are held. */
  Opening: 1,
  /** `maxPendingMessages` async `onMessage` calls are pending. */
  PendingHandlers: 2,
  /** The inbox of `messages()` (or of an async `onOpen`) holds `inboxHighWaterMark` bytes. */
  Inbox: 4,
  /** The parser waits for the inflater. */
  Parser: 8,
  /** What waits to be written has passed the output limit: the peer does not read. */
  Output: 16,
} as const;
export type PauseReason = (typeof PauseReason)[keyof typeof PauseReason];

/** Pauses and resumes reading from a socket for any number of reasons at once. */
export class ReadGate {
  readonly #socket: Duplex;
  #reasons = 0;

  /** @param socket - the upgraded socket */
  constructor(socket: Duplex) {
    this.#socket = socket;
  }

  /** Whether the socket is being read (no reason holds it). */
  get isReading(): boolean {
    return this.#reasons === 0;
  }

  /**
   * Whether a reason holds reading.
   * @param reason - the reason
   * @returns true while it holds
   */
  holds(reason: PauseReason): boolean {
    return (this.#reasons & reason) !== 0;
  }

  /**
   * Adds a reason to pause.
   * @param reason - the reason
   */
  pause(reason: PauseReason): void {
    if (this.#reasons === 0) this.#socket.pause();
    this.#reasons |= reason;
  }

  /**
   * Lifts a reason; reading resumes when none is left.
   * @param reason - the reason
   */
  resume(reason: PauseReason): void {
    if ((this.#reasons & reason) === 0) return;
    this.#reasons &= ~reason;
    if (this.#reasons === 0 && !this.#socket.destroyed) this.#socket.resume();
  }

  /**
   * Whether `reason` is the only one holding reading.
   * @param reason - the reason
   * @returns true when reading is paused for that reason alone
   */
  isHeldOnlyBy(reason: PauseReason): boolean {
    return this.#reasons === reason;
  }

  /** Lifts every reason: the peer's close frame and FIN must be read while closing. */
  resumeAll(): void {
    if (this.#reasons === 0) return;
    this.#reasons = 0;
    if (!this.#socket.destroyed) this.#socket.resume();
  }
}

/** What a {@link DrainSignal} measures and tells. */
export interface DrainTarget {
  /** Bytes accepted by `send()` and not yet handed to the operating system. */
  readonly bufferedAmount: number;
  /** Bytes gathered by the frame writer and not yet handed to the socket. */
  readonly pendingWriterBytes: number;
  /** Hands what the frame writer gathered to the socket. */
  flushWriter(): void;
  /** The buffer fell below the high-water mark after a `send()` returned false. */
  onDrained(): void;
  /** The buffer fell below the resume mark while reading was held for output. */
  onOutputDrained(): void;
}

const EMPTY = Buffer.alloc(0);

/**
 * Outbound backpressure: whether a drain is owed, who waits for it, whether reading is held
 * until output drains, and the probe that finds out when the socket flushed. Made on the first
 * `send()` (or chunk) that crosses a mark, so a connection that never fills its buffer costs
 * nothing here.
 */
export class DrainSignal {
  readonly #socket: Duplex;
  readonly #target: DrainTarget;
  readonly #highWaterMark: number;
  readonly #resumeMark: number;
  #isOwed = false;
  #isReadingHeld = false;
  #isProbeArmed = false;
  #waiters: Array<() => void> | undefined;

  /**
   * @param socket - the upgraded socket
   * @param target - the connection
   * @param highWaterMark - `sendHighWaterMark`
   * @param resumeMark - reading held for output resumes below this many buffered bytes
   */
  constructor(socket: Duplex, target: DrainTarget, highWaterMark: number, resumeMark: number) {
    this.#socket = socket;
    this.#target = target;
    this.#highWaterMark = highWaterMark;
    this.#resumeMark = resumeMark;
  }

  /** Records that reading was paused for output: the target is told once it has drained. */
  holdReading(): void {
    this.#isReadingHeld = true;
    this.#armProbe();
  }

  /**
   * Records that a sender was told to wait.
   * @param isListened - whether an `onDrain` handler listens: then the probe is armed now (for
   *   `drained()` it is armed on demand; arming it on every send would split the batch of one
   *   chunk's replies)
   */
  owe(isListened: boolean): void {
    this.#isOwed = true;
    if (isListened) this.#armProbe();
  }

  /**
   * A promise for `drained()`.
   * @returns resolves once the buffer fell below the high-water mark or the connection closed
   */
  wait(): Promise<void> {
    this.#isOwed = true;
    this.#armProbe();
    return new Promise((resolve) => {
      this.#waiters ??= [];
      this.#waiters.push(resolve);
    });
  }

  /** The socket (or the compression queue) flushed: tell whoever waits, if below the mark now. */
  check(): void {
    if (!this.#isOwed && !this.#isReadingHeld) return;
    const buffered = this.#target.bufferedAmount;
    if (this.#isReadingHeld && buffered < this.#resumeMark) {
      this.#isReadingHeld = false;
      this.#target.onOutputDrained();
    }
    if (this.#isOwed && buffered < this.#highWaterMark) {
      this.#isOwed = false;
      this.release();
      this.#target.onDrained();
    }
    if (this.#isOwed || this.#isReadingHeld) this.#armProbe();
  }

  /** Resolves every waiter (the buffer drained, or the connection closed). */
  release(): void {
    const waiters = this.#waiters;
    if (!waiters) return;
    this.#waiters = undefined;
    for (const resolve of waiters) resolve();
  }

  /**
   * The socket emits 'drain' only after a write returned false, i.e. above its own high-water
   * mark. When `sendHighWaterMark` is lower, an empty write's callback tells when the bytes
   * before it have been flushed.
   */
  #armProbe(): void {
    const socket = this.#socket;
    if (this.#isProbeArmed || socket.writableNeedDrain) return;
    if (socket.destroyed || socket.writableEnded) return;
    // Bytes still waiting for compression are not the socket's: the sender reports their
    // flush itself. Probing an empty socket would only spin.
    if (socket.writableLength + this.#target.pendingWriterBytes === 0) return;
    this.#isProbeArmed = true;
    this.#target.flushWriter();
    socket.write(EMPTY, () => {
      this.#isProbeArmed = false;
      this.check();
    });
  }
}
