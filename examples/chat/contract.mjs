// @ts-check
// The chat's contracts, imported by the server (app.mjs) and by the page (public/chat.js, through
// the import map in public/index.html). No server code and no Node imports here.
//   chat.v2  typed JSON: the client sends {type:'message', text}, receives {type:'message', from, text}
//   chat     plain text: the client sends text, receives "from: text"
import { defineContract, jsonCodec, textCodec } from '@wsroute/contract';

/** @typedef {{ readonly type: 'message', readonly text: string }} ChatIn */
/** @typedef {{ readonly type: 'message', readonly from: string, readonly text: string }} ChatOut */

/** Longest message, in characters. */
export const MAX_TEXT = 2000;

/**
 * @param {unknown} message
 * @returns {message is ChatIn}
 */
export function isChatIn(message) {
  return (
    typeof message === 'object' &&
    message !== null &&
    'type' in message &&
    message.type === 'message' &&
    'text' in message &&
    typeof message.text === 'string' &&
    message.text.length <= MAX_TEXT
  );
}

/**
 * @param {unknown} message
 * @returns {message is ChatOut}
 */
function isChatOut(message) {
  return (
    typeof message === 'object' &&
    message !== null &&
    'type' in message &&
    message.type === 'message' &&
    'from' in message &&
    typeof message.from === 'string' &&
    'text' in message &&
    typeof message.text === 'string'
  );
}

/**
 * A Standard Schema made from a type guard, so the page needs no schema library.
 * @template T
 * @param {(value: unknown) => value is T} guard
 * @param {string} issue
 * @returns {import('@wsroute/contract').StandardSchemaV1<unknown, T>}
 */
function schemaOf(guard, issue) {
  return {
    '~standard': {
      version: 1,
      vendor: 'wsroute-chat',
      validate: (value) => (guard(value) ? { value } : { issues: [{ message: issue }] }),
    },
  };
}

export const chatV2 = defineContract({
  name: 'chat.v2',
  codec: jsonCodec(),
  client: schemaOf(isChatIn, `expected {type:'message', text} with at most ${MAX_TEXT} characters`),
  server: schemaOf(isChatOut, "expected {type:'message', from, text}"),
});

export const chat = defineContract({ name: 'chat', codec: textCodec() });
