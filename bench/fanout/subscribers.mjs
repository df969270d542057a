// Subscribers of the fan-out client, in a process of their own (forked by client.mjs), so that
// reading a thousand sockets never delays the probe's reads in the parent.
//
// Every socket reads into one shared buffer (net's `onread`: no allocation per read, no
// 'data' event) and only counts: bytes on the raw contract, where every server frame has the
// same size; for Socket.IO a walk over frame headers, because Engine.IO pings must be answered
// and control packets are not messages.
//
//   forked: subscribers.mjs --host H --port P --topic T --count N --size S --protocol ws|socketio
// Parent → child: { type: 'snapshot', id } | { type: 'stop' }.
// Child → parent: { type: 'ready' } | { type: 'snapshot', id, messages, bytes, atMs, cpuUs,
//                   closed, errors } | { type: 'failed', message }.
import net from 'node:net';
import { parseArgs } from 'node:util';
import {
  freshMask,
  headerSize,
  UpgradeReader,
  upgradePath,
  upgradeRequest,
  writeMaskedFrame,
} from './wire.mjs';

const { values } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string' },
    topic: { type: 'string' },
    count: { type: 'string' },
    size: { type: 'string', default: '64' },
    protocol: { type: 'string', default: 'ws' },
  },
});
const host = values.host;
const port = Number(values.port);
const topic = String(values.topic);
const count = Number(values.count);
const size = Number(values.size);
const isSocketIo = values.protocol === 'socketio';
/** Payload of one Socket.IO message frame: `42["m","<size chars>"]`. */
const ioPayload = size + 10;
const wsFrame = headerSize(size) + size;

const READ_BUFFER = Buffer.allocUnsafe(256 * 1024);
const PONG = pongFrame();
const CONNECT = textFrame('40');
let bytes = 0;
let messages = 0;
let closed = 0;
let errors = 0;
let isReady = false;

function textFrame(text) {
  const payload = Buffer.from(text);
  const frame = Buffer.allocUnsafe(payload.length + 6);
  writeMaskedFrame(frame, 0, 1, payload, freshMask());
  return frame;
}

function pongFrame() {
  return textFrame('3');
}

/**
 * Walks Socket.IO frames without copying: counts message frames by their length and looks
 * inside only the tiny control packets (open `0`, connected `40`, ping `2`), which always
 * arrive whole in one read.
 */
class PacketWalker {
  #skip = 0;
  #header = Buffer.alloc(10);
  #headerLength = 0;
  #socket;
  /** @type {() => void} */
  #onConnected;

  /** @param {net.Socket} socket @param {() => void} onConnected */
  constructor(socket, onConnected) {
    this.#socket = socket;
    this.#onConnected = onConnected;
  }

  /** @param {Buffer} buffer @param {number} start @param {number} end */
  walk(buffer, start, end) {
    let at = start;
    while (at < end) {
      if (this.#skip > 0) {
        const take = Math.min(this.#skip, end - at);
        this.#skip -= take;
        at += take;
        continue;
      }
      const header = this.#header;
      header[this.#headerLength++] = buffer[at++];
      if (this.#headerLength < 2) continue;
      const short = header[1] & 0x7f;
      const need = short === 126 ? 4 : short === 127 ? 10 : 2;
      if (this.#headerLength < need) continue;
      this.#headerLength = 0;
      const length =
        short === 126 ? header.readUInt16BE(2) : short === 127 ? header.readUInt32BE(6) : short;
      if (length === ioPayload) messages++;
      else if (length < 126 && at + length <= end) this.#control(buffer.subarray(at, at + length));
      this.#skip = length;
    }
  }

  /** @param {Buffer} payload */
  #control(payload) {
    if (payload.length === 1 && payload[0] === 0x32) this.#socket.write(PONG);
    else if (payload[0] === 0x30) this.#socket.write(CONNECT);
    else if (payload[0] === 0x34 && payload[1] === 0x30) this.#onConnected();
  }
}

/**
 * Opens one subscriber; resolves once it is subscribed (the 101 for the raw contract, the
 * namespace's `40` for Socket.IO).
 * @returns {Promise<void>}
 */
function subscribe() {
  return new Promise((resolve, reject) => {
    const { request, accept } = upgradeRequest(host, port, upgradePath(values.protocol, topic));
    const reader = new UpgradeReader(accept);
    let isUpgraded = false;
    /** @type {PacketWalker | undefined} */
    let walker;
    const socket = net.connect({
      host,
      port,
      onread: {
        buffer: READ_BUFFER,
        callback(nread, buffer) {
          if (isUpgraded) {
            bytes += nread;
            walker?.walk(buffer, 0, nread);
            return;
          }
          let rest;
          try {
            rest = reader.push(buffer.subarray(0, nread));
          } catch (error) {
            socket.destroy();
            reject(error);
            return;
          }
          if (!rest) return;
          isUpgraded = true;
          bytes += rest.length;
          if (isSocketIo) {
            walker = new PacketWalker(socket, resolve);
            walker.walk(rest, 0, rest.length);
          } else resolve();
        },
      },
    });
    socket.setNoDelay(true);
    socket.on('connect', () => socket.write(request));
    socket.on('error', (error) => {
      if (isReady) errors++;
      else reject(error);
    });
    socket.on('close', () => {
      if (isReady) closed++;
      else reject(new Error('closed before subscribing'));
    });
  });
}

function messageCount() {
  return isSocketIo ? messages : Math.floor(bytes / wsFrame);
}

async function main() {
  const batch = 100;
  for (let opened = 0; opened < count; opened += batch) {
    const n = Math.min(batch, count - opened);
    await Promise.all(Array.from({ length: n }, subscribe));
  }
  isReady = true;
  process.send?.({ type: 'ready' });
}

process.on('message', (message) => {
  if (message?.type === 'snapshot') {
    const cpu = process.cpuUsage();
    process.send?.({
      type: 'snapshot',
      id: message.id,
      messages: messageCount(),
      bytes,
      atMs: Number(process.hrtime.bigint()) / 1e6,
      cpuUs: cpu.user + cpu.system,
      closed,
      errors,
    });
  } else if (message?.type === 'stop') process.exit(0);
});
// The parent going away ends this process too: it never outlives a run.
process.on('disconnect', () => process.exit(0));
main().catch((error) => {
  process.send?.({ type: 'failed', message: String(error?.message ?? error) });
  process.exit(1);
});
