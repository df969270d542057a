// Fan-out load client for the broadcast contract (a connection to /topics/NAME subscribes to
// NAME; every message it sends goes to every other subscriber of NAME, in every process that
// shares a backplane), or for Socket.IO rooms over Engine.IO v4's WebSocket transport.
//
//   node bench/fanout/client.mjs --port P [--pub-port P2] [--subs 1000] [--size 64]
//        [--seconds 5] [--warmup 1] [--window 64 | --rate R] [--topic NAME] [--procs 1]
//        [--protocol ws|socketio] [--pid SERVER_PID[,PID...]] [--host 127.0.0.1] [--publishers 1]
//
// Layout, chosen so that the client outpaces the servers it measures:
// - `--procs` child processes (subscribers.mjs) hold the subscribers, which only count;
// - this process holds the publisher and one probe subscriber, subscribed last (a server that
//   walks its subscribers in order reaches it last, so its latency is the time to deliver to
//   everyone). The probe parses frames: its sequence numbers drive the closed loop (at most
//   `--window` messages in flight) and its timestamps give the latency.
// `--publishers P` spreads the messages over P publisher connections (message k on publisher
// k mod P), each topping up with one write: as many clients sending at once, whose messages a
// server can gather into one write per subscriber per event-loop turn. Publishers subscribe
// too, so each also receives the others' messages (never its own).
// Open loop (`--rate R`): message k is due at t0 + k/R and its latency counts from then, so a
// server that falls behind is not flattered (no coordinated omission).
// Payload: raw contract [u32 seq][u32 0][f64 due-or-send time, ms][pad 'a']; Socket.IO
// `42["m","<seq:8 base36><time:16><pad>"]`. Prints one JSON line (the fields of the shared
// kit's `loadgen/fanout` plus server write counts); diagnostics go to stderr.
import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  FrameReader,
  freshMask,
  maskedFrameSize,
  UpgradeReader,
  upgradePath,
  upgradeRequest,
  writeMaskedFrame,
} from './wire.mjs';

const { values } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string' },
    'pub-port': { type: 'string' },
    subs: { type: 'string', default: '1000' },
    size: { type: 'string', default: '64' },
    seconds: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '1' },
    window: { type: 'string', default: '64' },
    rate: { type: 'string', default: '0' },
    topic: { type: 'string' },
    procs: { type: 'string', default: '1' },
    protocol: { type: 'string', default: 'ws' },
    pid: { type: 'string', default: '' },
    publishers: { type: 'string', default: '1' },
  },
});

const host = values.host;
const port = Number(values.port);
const pubPort = Number(values['pub-port'] ?? values.port);
const subs = Number(values.subs);
const size = Math.max(24, Number(values.size));
const seconds = Number(values.seconds);
const warmup = Number(values.warmup);
const window = Number(values.window);
const rate = Number(values.rate);
const procs = Math.max(1, Math.min(Number(values.procs), subs - 1));
const protocol = values.protocol === 'socketio' ? 'socketio' : 'ws';
const topic = values.topic ?? `fan${process.pid}`;
const publisherCount = Math.max(1, Number(values.publishers));
const serverPids = values.pid ? values.pid.split(',').map(Number) : [];
if (!Number.isInteger(port) || port <= 0 || !(subs >= 2)) {
  process.stderr.write('usage: client.mjs --port P [--subs N>=2] ... (see the header)\n');
  process.exit(2);
}

/** Hard limits: a server that stops answering cannot keep this process alive. */
const CONNECT_TIMEOUT_MS = 60_000;
const RUN_TIMEOUT_MS = CONNECT_TIMEOUT_MS + (warmup + seconds + 30) * 1000;
setTimeout(() => fail('run timed out'), RUN_TIMEOUT_MS).unref();

const nowMs = () => performance.now();
const PAD = 'a'.repeat(size);

/** @param {string} message */
function fail(message) {
  process.stderr.write(`fanout client: ${message}\n`);
  for (const worker of workers) worker.kill();
  process.exit(1);
}

// --- subscriber processes -------------------------------------------------------------------

/** @type {import('node:child_process').ChildProcess[]} */
const workers = [];
let snapshotId = 0;
/** @type {Map<number, { left: number, replies: object[], resolve: (r: object[]) => void }>} */
const snapshotWaits = new Map();

function startWorkers(count) {
  const file = fileURLToPath(new URL('./subscribers.mjs', import.meta.url));
  const ready = [];
  for (let i = 0; i < procs; i++) {
    const share = Math.floor(count / procs) + (i < count % procs ? 1 : 0);
    const args = ['--host', host, '--port', String(port), '--topic', topic];
    args.push('--count', String(share), '--size', String(size), '--protocol', protocol);
    const worker = fork(file, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    workers.push(worker);
    ready.push(
      new Promise((resolve, reject) => {
        worker.on('message', (message) => {
          if (message.type === 'ready') resolve(undefined);
          else if (message.type === 'failed') reject(new Error(message.message));
          else if (message.type === 'snapshot') {
            const wait = snapshotWaits.get(message.id);
            if (!wait) return;
            wait.replies[i] = message;
            if (--wait.left === 0) {
              snapshotWaits.delete(message.id);
              wait.resolve(wait.replies);
            }
          }
        });
        worker.on('exit', (code) => reject(new Error(`subscriber process exited (${code})`)));
      }),
    );
  }
  return Promise.all(ready);
}

/** Counters of every subscriber process, each with its own clock reading. */
function snapshotWorkers() {
  const id = ++snapshotId;
  return new Promise((resolve) => {
    snapshotWaits.set(id, { left: workers.length, replies: [], resolve });
    for (const worker of workers) worker.send({ type: 'snapshot', id });
  });
}

// --- probe and publisher --------------------------------------------------------------------

let sent = 0;
let probeSeen = 0;
let ownEcho = 0;
let isCounting = false;
let isRunning = false;
/** @type {number[]} */
const latencies = [];
let probeCounted = 0;
let t0 = 0;

/** @type {net.Socket[]} */
const publishers = [];

/**
 * Opens a client connection with the full frame parser.
 * @param {number} toPort
 * @param {(opcode: number, payload: Buffer, socket: net.Socket) => void} onFrame
 * @param {() => void} [onChunk] - after the frames of one read were handled
 * @returns {Promise<net.Socket>} once subscribed (101; for Socket.IO the namespace's `40`)
 */
function openParsed(toPort, onFrame, onChunk) {
  return new Promise((resolve, reject) => {
    const { request, accept } = upgradeRequest(host, toPort, upgradePath(protocol, topic));
    const upgrade = new UpgradeReader(accept);
    let isUpgraded = false;
    const socket = net.connect({ host, port: toPort });
    socket.setNoDelay(true);
    const frames = new FrameReader((opcode, payload) => {
      if (protocol === 'socketio') {
        // Engine.IO v4: `0` open → connect the namespace; `40` connected; `2` ping → `3`.
        if (payload.length === 1 && payload[0] === 0x32) return void socket.write(textFrame('3'));
        if (payload[0] === 0x30) return void socket.write(textFrame('40'));
        if (payload[0] === 0x34 && payload[1] === 0x30) return void resolve(socket);
      }
      onFrame(opcode, payload, socket);
    });
    socket.on('connect', () => socket.write(request));
    socket.on('data', (chunk) => {
      if (isUpgraded) {
        frames.push(chunk);
        onChunk?.();
        return;
      }
      let rest;
      try {
        rest = upgrade.push(chunk);
      } catch (error) {
        return reject(error);
      }
      if (!rest) return;
      isUpgraded = true;
      if (protocol === 'ws') resolve(socket);
      if (rest.length > 0) frames.push(rest);
    });
    socket.on('error', (error) =>
      isRunning ? fail(`socket error ${error.message}`) : reject(error),
    );
    socket.on('close', () => {
      if (isRunning) fail('the server closed a probe or publisher connection');
    });
  });
}

/** @param {string} text */
function textFrame(text) {
  const payload = Buffer.from(text);
  const frame = Buffer.allocUnsafe(maskedFrameSize(payload.length));
  writeMaskedFrame(frame, 0, 1, payload, freshMask());
  return frame;
}

/** The probe: parses every frame for its sequence number and timestamp. */
function onProbeFrame(opcode, payload) {
  let at;
  if (protocol === 'ws') {
    if (opcode !== 2 || payload.length !== size) return;
    at = payload.readDoubleLE(8);
  } else {
    // 42["m","<seq:8><time:16>..."]
    if (payload.length !== size + 10 || payload[0] !== 0x34 || payload[1] !== 0x32) return;
    at = Number(payload.toString('latin1', 16, 32));
  }
  probeSeen++;
  if (isCounting) {
    probeCounted++;
    latencies.push(nowMs() - at);
  }
}

/**
 * A publisher must never get its own messages back (message k is publisher k mod P's); with
 * several publishers each does get the others'.
 * @param {number} index - the publisher
 */
function onPublisherFrame(index) {
  return (opcode, payload) => {
    if (opcode !== 1 && opcode !== 2) return;
    let seq;
    if (protocol === 'ws') seq = payload.length === size ? payload.readUInt32LE(0) : Number.NaN;
    else if (payload[0] === 0x34 && payload[1] === 0x32) {
      seq = Number.parseInt(payload.toString('latin1', 8, 16), 36);
    }
    if (seq === undefined) return;
    if (seq % publisherCount === index) ownEcho++;
  };
}

const framePayload = Buffer.alloc(size, 'a');
/** @type {Buffer} */
let sendBuffer = Buffer.alloc(0);

/**
 * Publishes the next `n` messages, one write per publisher (message k goes on publisher k mod P).
 * @param {number} n
 * @param {boolean} isScheduled - the timestamp is the due time (open loop), else the send time
 */
function publish(n, isScheduled) {
  const payloadSize = protocol === 'ws' ? size : size + 10;
  const frameSize = maskedFrameSize(payloadSize);
  if (sendBuffer.length < n * frameSize) sendBuffer = Buffer.allocUnsafe(n * frameSize * 2);
  const mask = freshMask();
  const now = nowMs();
  for (let index = 0; index < publisherCount; index++) {
    let at = 0;
    for (let seq = sent; seq < sent + n; seq++) {
      if (seq % publisherCount !== index) continue;
      const time = isScheduled ? t0 + (seq * 1000) / rate : now;
      let payload;
      if (protocol === 'ws') {
        framePayload.writeUInt32LE(seq >>> 0, 0);
        framePayload.writeUInt32LE(0, 4);
        framePayload.writeDoubleLE(time, 8);
        payload = framePayload;
      } else {
        const head = seq.toString(36).padStart(8, '0') + time.toFixed(3).padStart(16, '0');
        payload = Buffer.from(`42["m","${head}${PAD.slice(24)}"]`, 'latin1');
      }
      at = writeMaskedFrame(sendBuffer, at, protocol === 'ws' ? 2 : 1, payload, mask);
    }
    if (at > 0) publishers[index]?.write(Buffer.from(sendBuffer.subarray(0, at)));
  }
  sent += n;
}

/** Closed loop: keep `window` messages in flight as seen by the probe. */
function topUp() {
  if (!isRunning) return;
  const inFlight = sent - probeSeen;
  if (inFlight < window) publish(window - inFlight, false);
}

/** Open loop: message k at t0 + k/rate; timers wake ~1 ms early, then setImmediate polls. */
function tick() {
  if (!isRunning) return;
  const now = nowMs();
  const due = Math.floor(((now - t0) * rate) / 1000) + 1;
  if (due > sent) publish(Math.min(due - sent, 4096), true);
  const next = t0 + (sent * 1000) / rate;
  const delay = next - nowMs();
  if (delay > 2) setTimeout(tick, delay - 1.5);
  else setImmediate(tick);
}

// --- CPU and write counters of the servers ----------------------------------------------------

/** utime+stime of a process in ms, from /proc/PID/stat (fields 14 and 15). */
function processCpuMs(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] is field 3 (state): utime is field 14, stime field 15.
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch {
    return Number.NaN;
  }
}

/** write(2)-family syscalls of a process so far (`syscw` in /proc/PID/io; needs root or owner). */
function processWrites(pid) {
  try {
    const match = /syscw:\s*(\d+)/.exec(readFileSync(`/proc/${pid}/io`, 'latin1'));
    return match ? Number(match[1]) : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

function serverCounters() {
  let cpuMs = 0;
  let writes = 0;
  for (const pid of serverPids) {
    cpuMs += processCpuMs(pid);
    writes += processWrites(pid);
  }
  return { cpuMs, writes };
}

function quantile(sorted, q) {
  if (sorted.length === 0) return 0;
  return sorted[Math.floor(q * (sorted.length - 1))];
}

async function main() {
  // Everyone but the probe first, then the probe, then the publisher (maybe on another process).
  await startWorkers(subs - 1);
  // Closed loop: top up once per read, as a native client does once per event-loop turn, so
  // that a batch the server wrote at once comes back as one refill, not one write per frame.
  const probe = await openParsed(port, onProbeFrame, () => {
    if (rate === 0) topUp();
  });
  for (let index = 0; index < publisherCount; index++) {
    publishers.push(await openParsed(pubPort, onPublisherFrame(index)));
  }
  // Let subscriptions (and a backplane's SUBSCRIBE) settle.
  await new Promise((resolve) => setTimeout(resolve, 500));
  isRunning = true;
  t0 = nowMs();
  if (rate > 0) tick();
  else topUp();

  await new Promise((resolve) => setTimeout(resolve, warmup * 1000));
  const cpu0 = process.cpuUsage();
  const server0 = serverCounters();
  const start = await snapshotWorkers();
  const sent0 = sent;
  const wall0 = nowMs();
  isCounting = true;

  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  isCounting = false;
  const end = await snapshotWorkers();
  const wall1 = nowMs();
  const server1 = serverCounters();
  const cpu1 = process.cpuUsage();
  isRunning = false;
  const elapsed = (wall1 - wall0) / 1000;

  let delivered = probeCounted / elapsed;
  let workerCpuMs = 0;
  let closed = 0;
  let errors = 0;
  for (const [i, last] of end.entries()) {
    const first = start[i] ?? last;
    delivered += (last.messages - first.messages) / ((last.atMs - first.atMs) / 1000);
    workerCpuMs += (last.cpuUs - first.cpuUs) / 1000;
    closed += last.closed;
    errors += last.errors;
  }
  const ownCpuMs = (cpu1.user + cpu1.system - cpu0.user - cpu0.system) / 1000;
  const published = (sent - sent0) / elapsed;
  const sorted = latencies.sort((a, b) => a - b);
  const serverWrites = (server1.writes - server0.writes) / elapsed;
  const result = {
    tool: 'fanout-node',
    protocol,
    subs,
    size,
    window: rate > 0 ? 0 : window,
    rate,
    seconds: Number(elapsed.toFixed(2)),
    procs,
    publishers: publisherCount,
    published_per_s: Math.round(published),
    delivered_per_s: Math.round(delivered),
    expected_per_s: Math.round(published * subs),
    p50_us: Math.round(quantile(sorted, 0.5) * 1000),
    p99_us: Math.round(quantile(sorted, 0.99) * 1000),
    p999_us: Math.round(quantile(sorted, 0.999) * 1000),
    own_echo_bytes: ownEcho,
    errors,
    closed_during: closed,
    client_cpu_pct: Math.round(((ownCpuMs + workerCpuMs) / 1000 / elapsed) * 100),
    server_cpu_pct: serverPids.length
      ? Math.round(((server1.cpuMs - server0.cpuMs) / 1000 / elapsed) * 100)
      : -1,
    server_writes_per_s: Number.isFinite(serverWrites) ? Math.round(serverWrites) : -1,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
  for (const worker of workers) worker.send({ type: 'stop' });
  probe.destroy();
  for (const publisher of publishers) publisher.destroy();
  process.exit(0);
}

const connectTimer = setTimeout(() => {
  if (!isRunning) fail(`not every subscriber was up within ${CONNECT_TIMEOUT_MS / 1000} s`);
}, CONNECT_TIMEOUT_MS);
connectTimer.unref();
main().catch((error) => fail(String(error?.message ?? error)));
