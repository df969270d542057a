export { CHROMIUM, launchChromium } from './browser.js';
export {
  connectRaw,
  exchange,
  type RawAnswer,
  readAnswerFrame,
  readHead,
  type TeardownHost,
} from './exchange.js';
export {
  clientFrame,
  closePayload,
  decodeFrame,
  type Frame,
  type FrameSpec,
  frameSize,
  hex,
  MASK_KEY,
  maskedFrame,
  OP,
} from './frames.js';
export {
  type HttpHead,
  headerValues,
  parseHttpHead,
  parseResponseHead,
  type RequestHeaders,
  type ResponseHead,
  SAMPLE_ACCEPT,
  SAMPLE_KEY,
  upgradeRequest,
} from './http.js';
export { type RedisServer, type RedisServerOptions, startRedisServer } from './redis.js';
export { deferred, WAIT_MS, waitForEvent, withTimeout } from './wait.js';
export { type ServerClose, WireReader, type WireReaderOptions } from './wire-reader.js';
