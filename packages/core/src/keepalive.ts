/**
 * The heartbeat and the idle timeout of a connection: a ping every `heartbeatInterval` ms, and
 * a verdict when the peer stayed silent for a whole interval or sent no message for
 * `idleTimeout` ms. The timers are unref'd: they never keep a process alive.
 * @module
 */

/** What the keep-alive asks of its connection. */
export interface KeepAliveTarget {
  /** Whether the peer can be blamed for silence (false while we hold reading back). */
  isReading(): boolean;
  /** Sends a ping. */
  ping(): void;
  /** The peer missed a whole heartbeat interval. */
  onDead(): void;
  /** No message for `idleTimeout` ms. */
  onIdle(timeout: number): void;
}

/** Heartbeat and idle timers of one connection. Internal. */
export class KeepAlive {
  readonly #target: KeepAliveTarget;
  readonly #idleTimeout: number;
  #isAlive = true;
  #lastMessageAt = 0;
  #heartbeatTimer: NodeJS.Timeout | undefined;
  #idleTimer: NodeJS.Timeout | undefined;

  /**
   * Starts the timers that are on.
   * @param target - the connection
   * @param heartbeatInterval - ping interval in ms, 0 for none
   * @param idleTimeout - idle timeout in ms, 0 for none
   */
  constructor(target: KeepAliveTarget, heartbeatInterval: number, idleTimeout: number) {
    this.#target = target;
    this.#idleTimeout = idleTimeout;
    if (heartbeatInterval > 0) {
      this.#heartbeatTimer = setInterval(() => this.#onHeartbeat(), heartbeatInterval);
      this.#heartbeatTimer.unref();
    }
    if (idleTimeout > 0) {
      this.#lastMessageAt = Date.now();
      this.#idleTimer = setTimeout(() => this.#onIdleCheck(), idleTimeout);
      this.#idleTimer.unref();
    }
  }

  /** Bytes arrived: the peer is alive. */
  markAlive(): void {
    this.#isAlive = true;
  }

  /** A data message arrived: the connection is not idle. */
  markMessage(): void {
    if (this.#idleTimeout > 0) this.#lastMessageAt = Date.now();
  }

  /** Stops both timers. */
  stop(): void {
    clearInterval(this.#heartbeatTimer);
    clearTimeout(this.#idleTimer);
  }

  #onHeartbeat(): void {
    // While we hold reading back, the peer's pongs wait unread in the socket: not its fault.
    if (!this.#isAlive && this.#target.isReading()) {
      this.stop();
      this.#target.onDead();
      return;
    }
    this.#isAlive = false;
    this.#target.ping();
  }

  #onIdleCheck(): void {
    const idleFor = Date.now() - this.#lastMessageAt;
    const timeout = this.#idleTimeout;
    if (idleFor < timeout) {
      this.#idleTimer = setTimeout(() => this.#onIdleCheck(), timeout - idleFor);
      this.#idleTimer.unref();
      return;
    }
    this.#target.onIdle(timeout);
  }
}
