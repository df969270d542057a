/**
 * The heartbeat and the idle timeout of connections: a ping every `heartbeatInterval` ms, and a
 * verdict when the peer stayed silent for a whole interval or sent no message for
 * `idleTimeout` ms.
 *
 * The heartbeat costs a connection no timer and no object: every connection with the same
 * interval joins one {@link HeartbeatSweep}, a single `setInterval` for the whole process that
 * visits them in turn (as applications built on `ws` do with one timer over `wss.clients`). A
 * connection then holds a set entry and a flag instead of a `Timeout`, its list node and a
 * closure. The idle timeout, off by default, keeps a timer of its own, re-armed lazily. Every
 * timer is unref'd: none keeps a process alive.
 * @module
 */

/** A connection as the heartbeat sees it. */
export interface HeartbeatMember {
  /** Set by the connection whenever the peer shows life; cleared by each tick of the sweep. */
  isAlive: boolean;
  /**
   * Whether the peer can be blamed for silence: false while the connection holds reading back
   * for its own reasons (the peer's pongs then sit unread in the socket).
   */
  isPeerAccountable(): boolean;
  /** Sends a ping. */
  ping(): void;
  /** The peer missed a whole heartbeat interval; the member has left the sweep. */
  onDead(): void;
}

/**
 * One timer for every connection with the same heartbeat interval. Each tick, a member that
 * showed no sign of life since the previous tick is dead; every other one is marked silent and
 * pinged. A peer is therefore dropped after one to two intervals of silence, as with a timer of
 * its own.
 */
export class HeartbeatSweep {
  /** The sweep of each interval in use. */
  static readonly #sweeps = new Map<number, HeartbeatSweep>();

  readonly #interval: number;
  readonly #members = new Set<HeartbeatMember>();
  #timer: NodeJS.Timeout | undefined;

  /** @param interval - the heartbeat interval in ms */
  private constructor(interval: number) {
    this.#interval = interval;
  }

  /**
   * Adds a connection to the sweep of its interval, starting that sweep's timer if needed.
   * @param member - the connection
   * @param interval - its heartbeat interval in ms, > 0
   */
  static join(member: HeartbeatMember, interval: number): void {
    let sweep = HeartbeatSweep.#sweeps.get(interval);
    if (!sweep) {
      sweep = new HeartbeatSweep(interval);
      HeartbeatSweep.#sweeps.set(interval, sweep);
    }
    sweep.#add(member);
  }

  /**
   * Removes a connection; the last one out stops the timer. Does nothing for a non-member.
   * @param member - the connection
   * @param interval - its heartbeat interval in ms
   */
  static leave(member: HeartbeatMember, interval: number): void {
    const sweep = HeartbeatSweep.#sweeps.get(interval);
    if (sweep) sweep.#delete(member);
  }

  #add(member: HeartbeatMember): void {
    this.#members.add(member);
    if (this.#timer) return;
    this.#timer = setInterval(() => this.#tick(), this.#interval);
    this.#timer.unref();
  }

  #delete(member: HeartbeatMember): void {
    if (!this.#members.delete(member) || this.#members.size > 0) return;
    clearInterval(this.#timer);
    this.#timer = undefined;
    HeartbeatSweep.#sweeps.delete(this.#interval);
  }

  #tick(): void {
    // A member that leaves during the tick (a dead peer, a close) is not visited any more.
    for (const member of this.#members) {
      if (!member.isAlive && member.isPeerAccountable()) {
        this.#delete(member);
        member.onDead();
      } else {
        member.isAlive = false;
        member.ping();
      }
    }
  }
}

/** The idle timeout of one connection: made only when `idleTimeout` is on. Internal. */
export class IdleTimeout {
  readonly #timeout: number;
  readonly #onIdle: () => void;
  #lastMessageAt = Date.now();
  #timer: NodeJS.Timeout | undefined;

  /**
   * Starts the timer.
   * @param timeout - idle timeout in ms, > 0
   * @param onIdle - called once no message arrived for `timeout` ms
   */
  constructor(timeout: number, onIdle: () => void) {
    this.#timeout = timeout;
    this.#onIdle = onIdle;
    this.#arm(timeout);
  }

  /** A data message arrived: the connection is not idle. */
  markMessage(): void {
    this.#lastMessageAt = Date.now();
  }

  /** Stops the timer. */
  stop(): void {
    clearTimeout(this.#timer);
  }

  #arm(ms: number): void {
    this.#timer = setTimeout(() => this.#check(), ms);
    this.#timer.unref();
  }

  #check(): void {
    // Re-armed lazily: a message only records its time, the timer looks when it fires.
    const idleFor = Date.now() - this.#lastMessageAt;
    if (idleFor < this.#timeout) this.#arm(this.#timeout - idleFor);
    else this.#onIdle();
  }
}
