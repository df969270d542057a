/**
 * Protocol constants of RFC 6455 and the library's default limits.
 * @module
 */

/** The GUID appended to `Sec-WebSocket-Key` before hashing (RFC 6455 §1.3). */
export const WEBSOCKET_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** Frame opcodes (RFC 6455 §5.2). */
export const Opcode = {
  Continuation: 0x0,
  Text: 0x1,
  Binary: 0x2,
  Close: 0x8,
  Ping: 0x9,
  Pong: 0xa,
} as const;
export type Opcode = (typeof Opcode)[keyof typeof Opcode];

/** Largest payload of a control frame (RFC 6455 §5.5). */
export const MAX_CONTROL_PAYLOAD = 125;

/** Largest close reason in UTF-8 bytes: 125 minus the 2-byte close code (RFC 6455 §5.5.1). */
export const MAX_CLOSE_REASON_BYTES = 123;

/** The only protocol version this library speaks (RFC 6455 §4.1). */
export const WEBSOCKET_VERSION = '13';

/**
 * Default limits. They are deliberately conservative: each one bounds memory that a
 * single peer can make the server hold.
 */
export const DEFAULT_LIMITS = {
  /** Largest message (after reassembly and inflation), in bytes. */
  maxPayload: 16 * 1024 * 1024,
  /** Most frames one message may be split into. */
  maxFragments: 1024,
  /** Most bytes of incoming data buffered before a message is complete or the socket is paused. */
  maxBufferedBytes: 32 * 1024 * 1024,
  /** Time allowed for a complete upgrade request, in milliseconds. */
  handshakeTimeout: 10_000,
  /** Time to wait for the peer's close frame, then for the TCP end, in milliseconds. */
  closeTimeout: 5_000,
  /** Largest outgoing frame; bigger messages are fragmented. */
  maxFrameSize: 4 * 1024 * 1024,
  /** Most request header lines accepted on an upgrade. */
  maxHeaderCount: 100,
  /** Most bytes of request headers accepted on an upgrade. */
  maxHeaderBytes: 16 * 1024,
} as const;
