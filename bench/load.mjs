// Load client, run in its own process (pinned to its own CPU by run.mjs when it can): raw TCP
// sockets with pre-built masked frames, so the client costs little and the server is what is
// measured. The scenarios have the shapes of the shared C kit's (connections x messages in
// flight), so their ratios compare. Prints one JSON line, with the client's own CPU time.
//
//   node bench/load.mjs --port P --scenario binary64|binary16k|binary1m|text1k|json1k|handshake|http
//                       [--seconds 2] [--warmup 0.5] [--raw] [--deflate] [--pid SERVER_PID]
//   node bench/load.mjs --port P --scenario idle --connections N   (holds them until told)
//
// --raw: no HTTP and no framing expected back: the frames are sent to a raw TCP echo, which
// returns exactly the bytes it got (the calibration of the client itself).
// http: the handshake scenario's cycles as plain HTTP requests (`Connection: close`), for
// the http-floor servers.
// --pid: the server's CPU time over the measured window is read from /proc (Linux).
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { parseArgs } from 'node:util';
import zlib from 'node:zlib';

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    scenario: { type: 'string', default: 'binary64' },
    seconds: { type: 'string', default: '2' },
    warmup: { type: 'string', default: '0.5' },
    connections: { type: 'string' },
    deflate: { type: 'boolean', default: false },
    raw: { type: 'boolean', default: false },
    pid: { type: 'string' },
    // Handshakes as a browser behind a proxy sends them: Origin (same-origin) and
    // X-Forwarded-For, rotating over 64 client addresses, so admission has real work to do.
    origin: { type: 'boolean', default: false },
  },
});
const port = Number(values.port);
const seconds = Number(values.seconds);
const warmup = Number(values.warmup);
const isRaw = values.raw;
const scenario = values.scenario;

/** Connections x messages in flight, as in the shared kit (../shared/bench/run.sh). */
const SCENARIOS = {
  binary64: { opcode: 2, size: 64, connections: 100, window: 8 },
  binary16k: { opcode: 2, size: 16 * 1024, connections: 50, window: 4 },
  binary1m: { opcode: 2, size: 1024 * 1024, connections: 8, window: 1 },
  text1k: { opcode: 1, size: 1024, connections: 100, window: 8 },
  json1k: { opcode: 1, size: 1024, connections: 100, window: 8, json: true },
};

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
let requestCount = 0;

function upgradeRequest(extensions) {
  const client = requestCount++ % 64;
  return Buffer.from(
    `GET /bench HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      (values.origin
        ? `Origin: http://127.0.0.1:${port}\r\nX-Forwarded-For: 10.0.0.${client + 1}\r\n`
        : '') +
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
      items.push({ id: i, user: `user${i % 7}`, text: `message number ${i}`, ts: 1.7e12 + i });
      i++;
    }
    return Buffer.from(JSON.stringify({ type: 'batch', items }).padEnd(scenario.size, ' '));
  }
  if (scenario.opcode === 1) {
    // Mixed 1-4 byte UTF-8 (as the kit's text1k), so validators leave their ASCII fast path.
    const units = ['a', 'é', '€', '😀', 'z', 'ß', '中', ' '];
    let text = '';
    for (let i = 0; Buffer.byteLength(text) <= scenario.size - 4; i++) text += units[i % 8];
    return Buffer.from(text + '.'.repeat(scenario.size - Buffer.byteLength(text)));
  }
  const payload = Buffer.allocUnsafe(scenario.size);
  for (let i = 0; i < payload.length; i++) payload[i] = (i * 31) & 0xff;
  return payload;
}

/** A message compressed alone (RFC 7692 §7.2.1: sync flush, trailing 00 00 ff ff removed). */
function compress(payload) {
  const out = zlib.deflateRawSync(payload, { finishFlush: zlib.constants.Z_SYNC_FLUSH });
  return out.subarray(0, out.length - 4);
}

/** Opens a websocket (or, raw, a TCP connection); resolves with the socket and early bytes. */
function open(extensions) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.setNoDelay(true);
    socket.once('error', reject);
    if (isRaw) {
      socket.once('connect', () => resolve({ socket, rest: Buffer.alloc(0), head: '' }));
      return;
    }
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
    socket.write(upgradeRequest(extensions));
  });
}

/** Counts whole frames in a stream of server frames (unmasked, any length form). */
function frameCounter(initial) {
  let pending = initial;
  return (chunk) => {
    pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    let offset = 0;
    let frames = 0;
    for (;;) {
      if (pending.length - offset < 2) break;
      let length = pending[offset + 1] & 0x7f;
      let h = 2;
      if (length === 126) {
        if (pending.length - offset < 4) break;
        length = pending.readUInt16BE(offset + 2);
        h = 4;
      } else if (length === 127) {
        if (pending.length - offset < 10) break;
        length = pending.readUInt32BE(offset + 6);
        h = 10;
      }
      if (pending.length - offset < h + length) break;
      offset += h + length;
      frames++;
    }
    pending = pending.subarray(offset);
    return frames;
  };
}

const cpuNow = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
};

/** The server's CPU seconds (utime + stime from /proc), or undefined where there is none. */
function serverCpuNow() {
  if (values.pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${values.pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start at state; utime is 14th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return undefined;
  }
}

/** Runs `tick` counters for warm-up then the measured window; returns counts and CPU time. */
async function measure(counter) {
  await new Promise((resolve) => setTimeout(resolve, warmup * 1000));
  const startCount = counter();
  const startCpu = cpuNow();
  const startServerCpu = serverCpuNow();
  const started = process.hrtime.bigint();
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
  const endServerCpu = serverCpuNow();
  const serverCpu =
    startServerCpu === undefined || endServerCpu === undefined
      ? undefined
      : endServerCpu - startServerCpu;
  return { count: counter() - startCount, elapsed, clientCpu: cpuNow() - startCpu, serverCpu };
}

async function echoLoad(scenario) {
  const payload = payloadFor(scenario);
  const frame = values.deflate
    ? maskedFrame(scenario.opcode, compress(payload), true)
    : maskedFrame(scenario.opcode, payload);
  const batch = Buffer.concat(Array.from({ length: scenario.window }, () => frame));
  // A raw echo returns the frame as sent; a websocket server returns it unmasked.
  const echoSize = isRaw ? frame.length : headerSize(payload.length) + payload.length;
  let messages = 0;
  const sockets = [];
  for (let c = 0; c < scenario.connections; c++) {
    const { socket, rest, head } = await open(values.deflate);
    if (values.deflate && !/permessage-deflate/i.test(head)) {
      throw new Error('deflate not negotiated');
    }
    sockets.push(socket);
    let pendingBytes = rest.length;
    // With compression, echoes are smaller than sent frames: count frames by their headers.
    const countFrames = values.deflate ? frameCounter(rest) : undefined;
    socket.on('data', (chunk) => {
      let done;
      if (countFrames) done = countFrames(chunk);
      else {
        pendingBytes += chunk.length;
        done = Math.floor(pendingBytes / echoSize);
        pendingBytes -= done * echoSize;
      }
      if (done === 0) return;
      messages += done;
      let left = done;
      while (left > 0) {
        const n = Math.min(left, scenario.window);
        socket.write(n === scenario.window ? batch : batch.subarray(0, n * frame.length));
        left -= n;
      }
    });
    socket.on('error', () => {});
  }
  for (const socket of sockets) socket.write(batch);
  const { count, elapsed, clientCpu, serverCpu } = await measure(() => messages);
  for (const socket of sockets) socket.destroy();
  return {
    messagesPerSecond: count / elapsed,
    mibPerSecond: (count * payload.length) / elapsed / (1024 * 1024),
    clientCpuPercent: (100 * clientCpu) / elapsed,
    serverCpuSeconds: serverCpu,
    windowSeconds: elapsed,
  };
}

/**
 * One cycle as in the shared kit: connect, upgrade, one 64 B echo, a close frame (1000), the
 * server's close frame, then the server's FIN; the client closes its socket after the FIN.
 * Raw: connect, 64 B echoed, FIN.
 */
function handshakeCycle(frame, close) {
  return new Promise((resolve, reject) => {
    open(false).then(({ socket, rest }) => {
      let received = rest.length;
      const echoSize = isRaw ? frame.length : 66;
      let isClosing = false;
      socket.on('data', (chunk) => {
        received += chunk.length;
        if (!isClosing && received >= echoSize) {
          isClosing = true;
          if (isRaw) socket.end();
          else socket.write(close);
        }
      });
      socket.once('end', () => {
        socket.destroy();
        resolve();
      });
      socket.once('error', reject);
      socket.write(frame);
    }, reject);
  });
}

/**
 * One plain HTTP cycle, the handshake cycle's counterpart without websockets: connect, a GET
 * with `Connection: close`, the whole response, the server's FIN, then the client closes.
 */
function httpCycle(request) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.setNoDelay(true);
    socket.on('data', () => {});
    socket.once('end', () => {
      socket.destroy();
      resolve();
    });
    socket.once('error', reject);
    socket.write(request);
  });
}

async function handshakeLoad() {
  const frame = maskedFrame(2, payloadFor({ opcode: 2, size: 64 }));
  const close = maskedFrame(8, Buffer.from([0x03, 0xe8]));
  const request = Buffer.from(
    `GET /bench HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`,
  );
  const cycle = scenario === 'http' ? () => httpCycle(request) : () => handshakeCycle(frame, close);
  let count = 0;
  let isRunning = true;
  const worker = async () => {
    while (isRunning) {
      await cycle();
      count++;
    }
  };
  const workers = Array.from({ length: 50 }, worker);
  const result = await measure(() => count);
  isRunning = false;
  await Promise.all(workers);
  return {
    handshakesPerSecond: result.count / result.elapsed,
    clientCpuPercent: (100 * result.clientCpu) / result.elapsed,
    serverCpuSeconds: result.serverCpu,
    windowSeconds: result.elapsed,
  };
}

/** Opens `connections` idle websockets and keeps them until told to close (over IPC). */
async function idle() {
  const sockets = [];
  for (let i = 0; i < Number(values.connections ?? 1000); i++) {
    const { socket } = await open(values.deflate);
    socket.on('error', () => {});
    sockets.push(socket);
  }
  process.send?.({ type: 'idle-ready' });
  await new Promise((resolve) => process.once('message', resolve));
  for (const socket of sockets) socket.destroy();
  return { connections: sockets.length };
}

const result =
  scenario === 'handshake' || scenario === 'http'
    ? await handshakeLoad()
    : scenario === 'idle'
      ? await idle()
      : await echoLoad(SCENARIOS[scenario]);
process.stdout.write(`${JSON.stringify(result)}\n`);
process.exit(0);
