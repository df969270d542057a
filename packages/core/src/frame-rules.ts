/**
 * The framing rules a peer can break (RFC 6455 §5, RFC 7692 §6), each as the close code, the
 * stable error code and a short message the frame parser fails with.
 * @module
 */
import { CloseCode, isValidCloseCode } from './close-codes.js';
import { MAX_CONTROL_PAYLOAD, Opcode } from './constants.js';
import type { ProtocolErrorCode } from './errors.js';
import { isValidUtf8 } from './utf8.js';

const { ProtocolError, InvalidPayload, MessageTooBig } = CloseCode;

/** A rule broken by the peer: the close code to send, the stable error code, a short message. */
export type Violation = readonly [closeCode: number, errorCode: ProtocolErrorCode, message: string];

/** Text that is not valid UTF-8 (RFC 6455 §8.1): 1007. */
export const INVALID_TEXT: Violation = [
  InvalidPayload,
  'WS_INVALID_UTF8',
  'text is not valid UTF-8',
];

/** The parser would hold more than its `maxBufferedBytes`: 1009. */
export const OVERFLOW: Violation = [
  MessageTooBig,
  'WS_BUFFER_OVERFLOW',
  'held data exceeds maxBufferedBytes',
];

/** The frame headers of a message announce more than `maxPayload` bytes: 1009. */
export const MESSAGE_TOO_BIG: Violation = [
  MessageTooBig,
  'WS_MESSAGE_TOO_BIG',
  'message exceeds maxPayload',
];

/** A compressed message inflates to more than `maxPayload` bytes: 1009. */
export const INFLATED_TOO_BIG: Violation = [
  MessageTooBig,
  'WS_MESSAGE_TOO_BIG',
  'inflated message exceeds maxPayload',
];

/** A message has more frames than `maxFragments`: 1009. */
export const TOO_MANY_FRAGMENTS: Violation = [
  MessageTooBig,
  'WS_TOO_MANY_FRAGMENTS',
  'too many fragments',
];

/**
 * The first rule a frame header's first two bytes break, given the message in progress. Size
 * limits are checked by the parser.
 * @param b0 - the header's first byte: fin, rsv1–3, opcode
 * @param b1 - the header's second byte: mask bit, 7-bit payload length
 * @param messageOpcode - opcode of the data message in progress, 0 when none
 * @param hasInflater - whether permessage-deflate was negotiated (RSV1 allowed)
 * @param expectMasked - whether frames must be masked (server side) or must not be (client side)
 * @returns the violation, or undefined when the header is valid
 */
export function checkHeader(
  b0: number,
  b1: number,
  messageOpcode: number,
  hasInflater: boolean,
  expectMasked: boolean,
): Violation | undefined {
  const opcode = b0 & 0x0f;
  const isRsv1 = (b0 & 0x40) !== 0;
  // RFC 6455 §5.2: RSV2/RSV3 have no negotiated meaning; RSV1 only with permessage-deflate.
  if ((b0 & 0x30) !== 0) return [ProtocolError, 'WS_RESERVED_BITS', 'RSV2/RSV3 set'];
  if (opcode === Opcode.Ping || opcode === Opcode.Pong || opcode === Opcode.Close) {
    // RFC 6455 §5.5: control frames are never fragmented and carry at most 125 bytes.
    if ((b0 & 0x80) === 0) return [ProtocolError, 'WS_CONTROL_FRAGMENTED', 'fragmented control'];
    if ((b1 & 0x7f) > MAX_CONTROL_PAYLOAD) {
      return [ProtocolError, 'WS_CONTROL_TOO_LONG', 'control frame over 125 bytes'];
    }
    if (isRsv1) return [ProtocolError, 'WS_RESERVED_BITS', 'RSV1 on a control frame'];
  } else if (opcode === Opcode.Continuation) {
    if (messageOpcode === 0) return [ProtocolError, 'WS_UNEXPECTED_CONTINUATION', 'no message'];
    // RFC 7692 §6.1: RSV1 marks the first frame of a compressed message only.
    if (isRsv1) return [ProtocolError, 'WS_RESERVED_BITS', 'RSV1 on a continuation frame'];
  } else if (opcode === Opcode.Text || opcode === Opcode.Binary) {
    // RFC 6455 §5.4: the frames of a fragmented message are not interleaved with other messages.
    if (messageOpcode !== 0) return [ProtocolError, 'WS_EXPECTED_CONTINUATION', 'message open'];
    if (isRsv1 && !hasInflater) return [ProtocolError, 'WS_RESERVED_BITS', 'RSV1 not negotiated'];
  } else {
    return [ProtocolError, 'WS_INVALID_OPCODE', `reserved opcode ${opcode}`];
  }
  // RFC 6455 §5.1: clients mask every frame, servers never do.
  if ((b1 & 0x80) !== (expectMasked ? 0x80 : 0)) {
    return expectMasked
      ? [ProtocolError, 'WS_UNMASKED_FRAME', 'frame from the client is not masked']
      : [ProtocolError, 'WS_MASKED_FRAME', 'frame from the server is masked'];
  }
  return undefined;
}

/**
 * The first rule the high 32 bits of a 64-bit payload length break (RFC 6455 §5.2).
 * @param high - the length's most significant 32 bits
 * @returns the violation, or undefined when the length is usable
 */
export function checkLength64(high: number): Violation | undefined {
  // RFC 6455 §5.2: the most significant bit must be 0 (1002).
  if (high > 0x7fffffff) {
    return [ProtocolError, 'WS_INVALID_LENGTH', '64-bit length has the top bit set'];
  }
  // A legal length beyond 2^53 - 1 is larger than any message we could hold: too big (1009).
  if (high > 0x1fffff) return [MessageTooBig, 'WS_MESSAGE_TOO_BIG', 'length over 2^53-1'];
  return undefined;
}

/**
 * The first rule a close frame's payload breaks (RFC 6455 §5.5.1, §7.4).
 * @param data - the unmasked payload: empty, or a close code and a UTF-8 reason
 * @returns the violation, or undefined when the payload is valid
 */
export function checkClosePayload(data: Buffer): Violation | undefined {
  if (data.length === 0) return undefined;
  if (data.length === 1) return [ProtocolError, 'WS_INVALID_CLOSE_PAYLOAD', '1-byte close payload'];
  const code = data.readUInt16BE(0);
  if (!isValidCloseCode(code))
    return [ProtocolError, 'WS_INVALID_CLOSE_CODE', `close code ${code}`];
  if (!isValidUtf8(data.subarray(2))) return [InvalidPayload, 'WS_INVALID_UTF8', 'close reason'];
  return undefined;
}
