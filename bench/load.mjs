// Load client, run in its own process: raw TCP sockets with pre-built masked frames, so the
// client costs little and the server is what is measured. Prints one JSON line.
//
//   node bench/load.mjs --port P --scenario binary64|binary16k|binary1m|text1k|json1k|handshake
//                       [--seconds 2] [--connections N]
import net from 'node:net';
import { parseArgs } from 'node:util';
import zlib from 'node:zlib';

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    scenario: { type: 'string', default: 'binary64' },
    seconds: { type: 'string', default: '2' },
    connections: { type: 'string', default: '8' },
    deflate: { type: 'boolean', default: false },
  },
});
const port = Number(values.port);
const seconds = Number(values.seconds);
const connections = Number(values.connections);

const SCENARIOS = {
  binary64: { opcode: 2, size: 64, window: 256 },
  binary16k: { opcode: 2, size: 16 * 1024, window: 16 },
  binary1m: { opcode: 2, size: 1024 * 1024, window: 4 },
  text1k: { opcode: 1, size: 1024, window: 64 },
  json1k: { opcode: 1, size: 1024, window: 64, json: true },
};

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
function upgradeRequest(extensions) {
  return Buffer.from(
    `GET /bench HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n` +
      // client_no_context_takeover: every message is compressed alone, so one pre-built
      // compressed frame can be sent again and again.
      (extensions
        ? 'Sec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover\r\n'
        : '') +
      '\r\n',
  );
}

function headerSize(length) {
  return length < 126 ? 2 : length < 65536 ? 4 : 10;
}

function maskedFrame(opcode, payload, rsv1 = false) {
  const length = payload.length;
  const h = headerSize(length);
  const frame = Buffer.allocUnsafe(h + 4 + length);
  frame[0] = 0x80 | (rsv1 ? 0x40 : 0) | opcode;
  if (length < 126) frame[1] = 0x80 | length;
  else if (length < 65536) {
    frame[1] = 0x80 | 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 0x80 | 127;
    frame.writeUInt32BE(0, 2);
    frame.writeUInt32BE(length, 6);
  }
  const mask = [0x12, 0x34, 0x56, 0x78];
  for (let i = 0; i < 4; i++) frame[h + i] = mask[i];
  for (let i = 0; i < length; i++) frame[h + 4 + i] = payload[i] ^ mask[i & 3];
  return frame;
}

function payloadFor(scenario) {
  if (scenario.json) {
    // JSON-like chat traffic: repetitive keys, varying values.
    const items = [];
    let i = 0;
    while (JSON.stringify(items).length < scenario.size - 80) {
      items.push({
        id: i,
        user: `user${i % 7}`,
        text: `message number ${i}`,
        ts: 1700000000000 + i,
      });
      i++;
    }
    const text = JSON.stringify({ type: 'batch', items }).padEnd(scenario.size, ' ');
    return Buffer.from(text);
  }
  if (scenario.opcode === 1) return Buffer.from('x'.repeat(scenario.size));
  const payload = Buffer.allocUnsafe(scenario.size);
  for (let i = 0; i < payload.length; i++) payload[i] = (i * 31) & 0xff;
  return payload;
}

/** A message compressed alone (RFC 7692 §7.2.1: sync flush, trailing 00 00 ff ff removed). */
function compress(payload) {
  const out = zlib.deflateRawSync(payload, { finishFlush: zlib.constants.Z_SYNC_FLUSH });
  return out.subarray(0, out.length - 4);
}

/** Opens a websocket with a raw socket; resolves with the socket and the bytes after the 101. */
function open(extensions) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.setNoDelay(true);
    let buffered = Buffer.alloc(0);
    const onData = (chunk) => {
      buffered = Buffer.concat([buffered, chunk]);
      const end = buffered.indexOf('\r\n\r\n');
      if (end === -1) return;
      socket.off('data', onData);
      const head = buffered.subarray(0, end).toString();
      if (!head.startsWith('HTTP/1.1 101')) return reject(new Error(head.split('\r\n')[0]));
      resolve({ socket, rest: buffered.subarray(end + 4), head });
    };
    socket.on('data', onData);
    socket.once('error', reject);
    socket.write(upgradeRequest(extensions));
  });
}

async function echoLoad(scenario) {
  const payload = payloadFor(scenario);
  const frame = values.deflate
    ? maskedFrame(scenario.opcode, compress(payload), true)
    : maskedFrame(scenario.opcode, payload);
  const batch = Buffer.concat(Array.from({ length: scenario.window }, () => frame));
  const echoSize = headerSize(payload.length) + payload.length;
  let messages = 0;
  let isRunning = true;
  const sockets = [];
  for (let c = 0; c < connections; c++) {
    const { socket, rest, head } = await open(values.deflate);
    if (values.deflate && !/permessage-deflate/i.test(head))
      throw new Error('deflate not negotiated');
    sockets.push(socket);
    let pendingBytes = rest.length;
    // With compression, echoes are smaller than sent frames: count frames by parsing headers.
    let parseBuffer = values.deflate ? rest : undefined;
    socket.on('data', (chunk) => {
      let done = 0;
      if (parseBuffer) {
        parseBuffer = parseBuffer.length ? Buffer.concat([parseBuffer, chunk]) : chunk;
        let offset = 0;
        for (;;) {
          if (parseBuffer.length - offset < 2) break;
          let len = parseBuffer[offset + 1] & 0x7f;
          let h = 2;
          if (len === 126) {
            if (parseBuffer.length - offset < 4) break;
            len = parseBuffer.readUInt16BE(offset + 2);
            h = 4;
          } else if (len === 127) {
            if (parseBuffer.length - offset < 10) break;
            len = parseBuffer.readUInt32BE(offset + 6);
            h = 10;
          }
          if (parseBuffer.length - offset < h + len) break;
          offset += h + len;
          done++;
        }
        parseBuffer = parseBuffer.subarray(offset);
      } else {
        pendingBytes += chunk.length;
        done = Math.floor(pendingBytes / echoSize);
        pendingBytes -= done * echoSize;
      }
      if (done === 0) return;
      messages += done;
      if (!isRunning) return;
      let left = done;
      while (left > 0) {
        const n = Math.min(left, scenario.window);
        socket.write(n === scenario.window ? batch : batch.subarray(0, n * frame.length));
        left -= n;
      }
    });
    socket.on('error', () => {});
  }
  const started = process.hrtime.bigint();
  for (const socket of sockets) socket.write(batch);
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  isRunning = false;
  const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
  for (const socket of sockets) socket.destroy();
  return {
    messagesPerSecond: messages / elapsed,
    mibPerSecond: (messages * payload.length) / elapsed / (1024 * 1024),
  };
}

async function handshakeLoad() {
  let count = 0;
  let isRunning = true;
  const started = process.hrtime.bigint();
  const worker = async () => {
    while (isRunning) {
      const { socket } = await open(false);
      count++;
      socket.destroy();
    }
  };
  const timer = setTimeout(() => {
    isRunning = false;
  }, seconds * 1000);
  await Promise.all(Array.from({ length: connections }, worker));
  clearTimeout(timer);
  const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
  return { handshakesPerSecond: count / elapsed };
}

/** Opens `connections` idle websockets and keeps them until told to close (over IPC). */
async function idle() {
  const sockets = [];
  for (let i = 0; i < connections; i++) {
    const { socket } = await open(values.deflate);
    socket.on('error', () => {});
    sockets.push(socket);
  }
  process.send?.({ type: 'idle-ready' });
  await new Promise((resolve) => process.once('message', resolve));
  for (const socket of sockets) socket.destroy();
  return { connections: sockets.length };
}

const scenario = values.scenario;
const result =
  scenario === 'handshake'
    ? await handshakeLoad()
    : scenario === 'idle'
      ? await idle()
      : await echoLoad(SCENARIOS[scenario]);
process.stdout.write(`${JSON.stringify(result)}\n`);
process.exit(0);
