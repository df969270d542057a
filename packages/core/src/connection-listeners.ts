/**
 * Socket listeners, the frame parser's sink and the heartbeat's member, shared by every
 * connection: each finds its connection on the socket (or holds one reference), so a connection
 * costs no closures.
 * @module
 */
import type { Duplex } from 'node:stream';
import type { WebSocketConnection } from './connection.js';
import type { ProtocolErrorCode } from './errors.js';
import type { FrameParserSink } from './frame-parser.js';
import type { HeartbeatMember } from './keepalive.js';

/** A connection whatever its data type, as the shared listeners see it. */
type Target = WebSocketConnection<unknown>;

/** Entry points into a connection's private state, set by its static block. */
export interface ConnectionInternals {
  socketData(connection: Target, chunk: Buffer): void;
  socketEnd(connection: Target): void;
  socketError(connection: Target, error: Error): void;
  socketDrain(connection: Target): void;
  socketClose(connection: Target): void;
  message(connection: Target, data: Buffer, isBinary: boolean): void;
  ping(connection: Target, payload: Buffer): void;
  pong(connection: Target, payload: Buffer): void;
  closeFrame(connection: Target, code: number | undefined, reason: string): void;
  fail(connection: Target, closeCode: number, errorCode: ProtocolErrorCode, message: string): void;
  pausedChange(connection: Target, paused: boolean): void;
  isPeerAccountable(connection: Target): boolean;
  heartbeat(connection: Target): void;
  dead(connection: Target): void;
}

// Set by the connection's static block, before any connection exists.
let internals: ConnectionInternals;

/**
 * Called once, by the connection's static block.
 * @param entryPoints - functions reaching a connection's private state
 */
export function setConnectionInternals(entryPoints: ConnectionInternals): void {
  internals = entryPoints;
}

const kConnection: unique symbol = Symbol('wsroute.connection');
type TaggedSocket = Duplex & { [kConnection]: Target };

function onSocketData(this: TaggedSocket, chunk: Buffer): void {
  internals.socketData(this[kConnection], chunk);
}
function onSocketEnd(this: TaggedSocket): void {
  internals.socketEnd(this[kConnection]);
}
function onSocketDrain(this: TaggedSocket): void {
  internals.socketDrain(this[kConnection]);
}
function onSocketClose(this: TaggedSocket): void {
  internals.socketClose(this[kConnection]);
}
function onSocketError(this: TaggedSocket, error: Error): void {
  internals.socketError(this[kConnection], error);
}

/**
 * The frame parser's sink and the connection's place in the heartbeat sweep: one small object
 * per connection, methods on the prototype.
 */
export class ConnectionSink implements FrameParserSink, HeartbeatMember {
  /** The peer showed life since the heartbeat's last tick. */
  isAlive = true;
  readonly #connection: Target;
  /** @param connection - the connection the parser reports to */
  constructor(connection: Target) {
    this.#connection = connection;
  }
  onMessage(data: Buffer, isBinary: boolean): void {
    internals.message(this.#connection, data, isBinary);
  }
  onPing(payload: Buffer): void {
    internals.ping(this.#connection, payload);
  }
  onPong(payload: Buffer): void {
    internals.pong(this.#connection, payload);
  }
  onClose(code: number | undefined, reason: string): void {
    internals.closeFrame(this.#connection, code, reason);
  }
  onFail(closeCode: number, errorCode: ProtocolErrorCode, message: string): void {
    internals.fail(this.#connection, closeCode, errorCode, message);
  }
  onPausedChange(paused: boolean): void {
    internals.pausedChange(this.#connection, paused);
  }
  isPeerAccountable(): boolean {
    return internals.isPeerAccountable(this.#connection);
  }
  ping(): void {
    internals.heartbeat(this.#connection);
  }
  onDead(): void {
    internals.dead(this.#connection);
  }
}

/**
 * Tags the socket with its connection and adds the shared listeners.
 * @param socket - the upgraded socket
 * @param connection - its connection
 */
export function listenToSocket(socket: Duplex, connection: Target): void {
  (socket as TaggedSocket)[kConnection] = connection;
  socket.on('data', onSocketData);
  socket.on('end', onSocketEnd);
  socket.on('close', onSocketClose);
  socket.on('drain', onSocketDrain);
  socket.on('error', onSocketError);
}
