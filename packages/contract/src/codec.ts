/**
 * Codecs: how a protocol's messages become WebSocket frames and back. They are
 * direction-neutral, so the server and the client share one object: a server hands `decode` a
 * `Buffer` for a binary message, a browser a `Uint8Array` (a `Buffer` is one).
 * @module
 */

/** What a received message is before decoding: text frames give a string, binary frames bytes. */
export type WireData = string | Uint8Array;

/**
 * Turns received messages into values and values into frames, in either direction. Structurally
 * the same as `@wsroute/core`'s `Codec<TIn, TOut>`, so one codec serves both sides.
 * `decode` may throw: the receiver then treats the message as undecodable (the server closes
 * with 1007; the client as its README says).
 * @typeParam TIn - what `decode` produces
 * @typeParam TOut - what `encode` accepts
 */
export interface Codec<TIn = unknown, TOut = unknown> {
  /**
   * @param data - the received message: a string for a text message, bytes for a binary one
   * @param isBinary - whether it arrived as a binary message
   * @returns the decoded value
   * @throws when the message is not of this codec's format
   */
  decode(data: WireData, isBinary: boolean): TIn;
  /**
   * @param message - the value to send
   * @returns a string (sent as a text message) or bytes (sent as a binary message)
   */
  encode(message: TOut): WireData;
}

/**
 * JSON over text messages. A binary message or invalid JSON fails decoding. The type parameters
 * are a claim, not a check: a contract's schemas do the checking.
 * @typeParam TIn - what decoded messages are taken to be
 * @typeParam TOut - what may be encoded
 * @returns a codec
 */
export function jsonCodec<TIn = unknown, TOut = unknown>(): Codec<TIn, TOut> {
  return {
    decode(data, isBinary) {
      if (isBinary || typeof data !== 'string') throw new TypeError('expected a text message');
      return JSON.parse(data) as TIn;
    },
    encode(message) {
      return JSON.stringify(message);
    },
  };
}

/**
 * Text messages as strings, in both directions. A binary message fails decoding.
 * @returns a codec of strings
 */
export function textCodec(): Codec<string, string> {
  return {
    decode(data, isBinary) {
      if (isBinary || typeof data !== 'string') throw new TypeError('expected a text message');
      return data;
    },
    encode(message) {
      return message;
    },
  };
}
