import t from 'tap';
import { checkClosePayload, checkHeader, checkLength64 } from '../src/frame-rules.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

/** The error code of the first rule a header breaks (server side unless `expectMasked` is false). */
function headerError(
  b0: number,
  b1: number,
  { messageOpcode = 0, hasInflater = false, expectMasked = true } = {},
): string | undefined {
  return checkHeader(b0, b1, messageOpcode, hasInflater, expectMasked)?.[1];
}

t.test('accepts valid data and control frame headers', async (t) => {
  t.equal(headerError(0x81, 0x85), undefined, 'masked final text');
  t.equal(headerError(0x02, 0xfe), undefined, 'first frame of a binary message, 16-bit length');
  t.equal(headerError(0x80, 0x85, { messageOpcode: 1 }), undefined, 'final continuation');
  t.equal(headerError(0x89, 0xfd), undefined, 'ping of 125 bytes');
  t.equal(headerError(0xc1, 0x85, { hasInflater: true }), undefined, 'RSV1 with deflate');
  t.equal(headerError(0x81, 0x05, { expectMasked: false }), undefined, 'unmasked, client side');
});

t.test('reports the RSV, opcode and fragmentation rules of RFC 6455 §5.2–5.5', async (t) => {
  t.equal(headerError(0xa1, 0x85), 'WS_RESERVED_BITS', 'RSV2');
  t.equal(headerError(0x91, 0x85), 'WS_RESERVED_BITS', 'RSV3');
  t.equal(headerError(0xc1, 0x85), 'WS_RESERVED_BITS', 'RSV1 without deflate');
  t.equal(headerError(0xc9, 0x80, { hasInflater: true }), 'WS_RESERVED_BITS', 'RSV1 on a ping');
  const rsv1Continuation = headerError(0xc0, 0x80, { messageOpcode: 1, hasInflater: true });
  t.equal(rsv1Continuation, 'WS_RESERVED_BITS', 'RSV1 on a continuation');
  t.equal(headerError(0x83, 0x80), 'WS_INVALID_OPCODE');
  t.equal(headerError(0x8b, 0x80), 'WS_INVALID_OPCODE');
  t.equal(headerError(0x09, 0x80), 'WS_CONTROL_FRAGMENTED');
  t.equal(headerError(0x88, 0xfe), 'WS_CONTROL_TOO_LONG');
  t.equal(headerError(0x80, 0x80), 'WS_UNEXPECTED_CONTINUATION');
  t.equal(headerError(0x82, 0x80, { messageOpcode: 1 }), 'WS_EXPECTED_CONTINUATION');
  t.equal(headerError(0x89, 0x80, { messageOpcode: 1 }), undefined, 'control frames interleave');
});

t.test('checks masking last, in the direction of the side (RFC 6455 §5.1)', async (t) => {
  t.equal(headerError(0x81, 0x05), 'WS_UNMASKED_FRAME');
  t.equal(headerError(0x81, 0x85, { expectMasked: false }), 'WS_MASKED_FRAME');
  t.equal(headerError(0x83, 0x05), 'WS_INVALID_OPCODE', 'an earlier rule wins');
  t.equal(checkHeader(0x81, 0x05, 0, false, true)?.[0], 1002);
});

t.test('rejects 64-bit lengths with the top bit set (1002) or over 2^53 - 1 (1009)', async (t) => {
  t.equal(checkLength64(0), undefined);
  t.equal(checkLength64(0x1fffff), undefined, 'up to 2^53 - 1');
  t.same(checkLength64(0x200000)?.slice(0, 2), [1009, 'WS_MESSAGE_TOO_BIG']);
  t.same(checkLength64(0x80000000)?.slice(0, 2), [1002, 'WS_INVALID_LENGTH']);
});

t.test(
  'checks close payloads: code, length and UTF-8 reason (RFC 6455 §5.5.1, §7.4)',
  async (t) => {
    t.equal(checkClosePayload(Buffer.alloc(0)), undefined, 'no payload');
    t.equal(checkClosePayload(hex('03e8')), undefined, '1000');
    t.equal(checkClosePayload(Buffer.concat([hex('0fa0'), Buffer.from('bye é')])), undefined);
    t.same(checkClosePayload(hex('03'))?.slice(0, 2), [1002, 'WS_INVALID_CLOSE_PAYLOAD']);
    t.same(checkClosePayload(hex('03ed'))?.slice(0, 2), [1002, 'WS_INVALID_CLOSE_CODE'], '1005');
    t.same(checkClosePayload(hex('03e8 ff'))?.slice(0, 2), [1007, 'WS_INVALID_UTF8']);
  },
);
