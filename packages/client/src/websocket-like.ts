/**
 * The part of the WHATWG `WebSocket` the client uses, declared here so that browsers' and
 * undici's implementations both fit without the DOM's types.
 * @module
 */

/** What the client reads from `open`, `message`, `error` and `close` events. */
export interface WebSocketEventLike {
  readonly type: string;
  /** `message`: a string for a text message, an `ArrayBuffer` for a binary one. */
  readonly data?: unknown;
  /** `close`: the close code. */
  readonly code?: number;
  /** `close`: the close reason. */
  readonly reason?: string;
  /** `close`: whether the closing handshake completed. */
  readonly wasClean?: boolean;
  /** `error` (undici, Node): the underlying error. */
  readonly error?: unknown;
}

/** A WHATWG `WebSocket` as the client sees it. */
export interface WebSocketLike {
  readonly protocol: string;
  readonly readyState: number;
  readonly bufferedAmount: number;
  binaryType: string;
  send(data: string | Uint8Array): void;
  close(code?: number, reason?: string): void;
  addEventListener(
    type: 'open' | 'message' | 'error' | 'close',
    listener: (event: WebSocketEventLike) => void,
  ): void;
}

/**
 * A WHATWG `WebSocket` constructor: the browser's, or undici's `WebSocket` on Node 20 (whose
 * global one sits behind `--experimental-websocket` and fires no `close` after a failed
 * handshake).
 */
export type WebSocketConstructor = new (url: string, protocols: string[]) => WebSocketLike;
