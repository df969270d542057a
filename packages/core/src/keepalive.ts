/**
 * The heartbeat and the idle timeout of connections: a ping every `heartbeatInterval` ms, and a
 * verdict when the peer stayed silent for a whole interval or sent no message for
 * `idleTimeout` ms.
 *
 * The heartbeat costs a connection no timer: every connection with the same interval joins one
 * {@link HeartbeatSweep}, a single `setInterval` for the whole process that visits them in turn
 * (as applications built on `ws` do with one timer over `wss.clients`). An idle connection then
 * holds a set entry and two fields instead of a `Timeout`, its list node and a closure. The idle
 * timeout, off by default, keeps a timer of its own, re-armed lazily. Every timer is unref'd: none
 * keeps a process alive.
 * @module
 */

/** What the keep-alive asks of its connection. */
export interface KeepAliveTarget {
  /**
   * Whether the peer can be blamed for silence: false while the connection holds reading back
   * for its own reasons (the peer's pongs then sit unread in the socket).
   */
  isPeerAccountable(): boolean;
  /** Sends a ping. */
  ping(): void;
  /** The peer missed a whole heartbeat interval. */
  onDead(): void;
  /** No message for `idleTimeout` ms. */
  onIdle(timeout: number): void;
}

/**
 * One timer for every connection with the same heartbeat interval. Each tick, a connection that
 * showed no sign of life since the previous tick is dead; every other one is marked silent and
 * pinged. A peer is therefore dropped after one to two intervals of silence, as with a timer of
 * its own.
 */
class HeartbeatSweep {
  /** The sweep of each interval in use. */
  static readonly #sweeps = new Map<number, HeartbeatSweep>();

  readonly #interval: number;
  readonly #members = new Set<KeepAlive>();
  #timer: NodeJS.Timeout | undefined;

  private constructor(interval: number) {
    this.#interval = interval;
  }

  /**
   * The sweep for an interval, made on first use.
   * @param interval - the heartbeat interval in ms
   */
  static of(interval: number): HeartbeatSweep {
    let sweep = HeartbeatSweep.#sweeps.get(interval);
    if (!sweep) {
      sweep = new HeartbeatSweep(interval);
      HeartbeatSweep.#sweeps.set(interval, sweep);
    }
    return sweep;
  }

  add(member: KeepAlive): void {
    this.#members.add(member);
    if (this.#timer) return;
    this.#timer = setInterval(() => this.#tick(), this.#interval);
    this.#timer.unref();
  }

  delete(member: KeepAlive): void {
    if (!this.#members.delete(member) || this.#members.size > 0) return;
    clearInterval(this.#timer);
    this.#timer = undefined;
    HeartbeatSweep.#sweeps.delete(this.#interval);
  }

  #tick(): void {
    // A member that leaves during the tick (a dead peer, a close) is skipped by the iterator.
    for (const member of this.#members) member.onHeartbeat();
  }
}

/** Heartbeat and idle timeout of one connection. Internal. */
export class KeepAlive {
  readonly #target: KeepAliveTarget;
  readonly #idleTimeout: number;
  #sweep: HeartbeatSweep | undefined;
  #isAlive = true;
  #lastMessageAt = 0;
  #idleTimer: NodeJS.Timeout | undefined;

  /**
   * Starts what is on.
   * @param target - the connection
   * @param heartbeatInterval - ping interval in ms, 0 for none
   * @param idleTimeout - idle timeout in ms, 0 for none
   */
  constructor(target: KeepAliveTarget, heartbeatInterval: number, idleTimeout: number) {
    this.#target = target;
    this.#idleTimeout = idleTimeout;
    if (heartbeatInterval > 0) {
      this.#sweep = HeartbeatSweep.of(heartbeatInterval);
      this.#sweep.add(this);
    }
    if (idleTimeout > 0) {
      this.#lastMessageAt = Date.now();
      this.#idleTimer = setTimeout(() => this.#onIdleCheck(), idleTimeout);
      this.#idleTimer.unref();
    }
  }

  /** Bytes arrived, or the peer read what we wrote: the peer is alive. */
  markAlive(): void {
    this.#isAlive = true;
  }

  /** A data message arrived: the connection is not idle. */
  markMessage(): void {
    if (this.#idleTimeout > 0) this.#lastMessageAt = Date.now();
  }

  /** Stops the heartbeat and the idle timer. */
  stop(): void {
    this.#sweep?.delete(this);
    this.#sweep = undefined;
    clearTimeout(this.#idleTimer);
  }

  /** A tick of the heartbeat sweep. Internal to this module. */
  onHeartbeat(): void {
    if (!this.#isAlive && this.#target.isPeerAccountable()) {
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
