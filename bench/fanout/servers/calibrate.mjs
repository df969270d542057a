// Calibration server: the least work a Node fan-out server can do, to show that the load
// client is not the bottleneck. No WebSocket library: a bare upgrade, and for every chunk a
// publisher sends, its complete frames are unmasked once into one pre-built batch that is
// written, the same Buffer, to every other subscriber — one write per subscriber per chunk,
// no per-frame or per-subscriber allocation. Not a server to copy: it checks nothing
// (control frames, fragmentation and closing are ignored).
//
//   node bench/fanout/servers/calibrate.mjs --port N [--host 127.0.0.1]
import { createHash } from 'node:crypto';
import net from 'node:net';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: { port: { type: 'string' }, host: { type: 'string', default: '127.0.0.1' } },
});
const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
/** @type {Map<string, net.Socket[]>} */
const topics = new Map();

/**
 * Unmasks the complete frames at the start of `data` into one unmasked batch.
 * @param {Buffer} data - masked client frames
 * @returns {{ batch: Buffer, used: number }}
 */
function unmaskFrames(data) {
  const batch = Buffer.allocUnsafe(data.length);
  let from = 0;
  let to = 0;
  while (data.length - from >= 6) {
    let length = data[from + 1] & 0x7f;
    let header = 2;
    if (length === 126) {
      if (data.length - from < 8) break;
      length = data.readUInt16BE(from + 2);
      header = 4;
    } else if (length === 127) {
      if (data.length - from < 14) break;
      length = data.readUInt32BE(from + 6);
      header = 10;
    }
    if (data.length - from < header + 4 + length) break;
    batch[to] = data[from];
    batch[to + 1] = data[from + 1] & 0x7f;
    data.copy(batch, to + 2, from + 2, from + header);
    const maskAt = from + header;
    const payloadAt = maskAt + 4;
    const outAt = to + header;
    for (let i = 0; i < length; i++)
      batch[outAt + i] = data[payloadAt + i] ^ data[maskAt + (i & 3)];
    from = payloadAt + length;
    to = outAt + length;
  }
  return { batch: batch.subarray(0, to), used: from };
}

const server = net.createServer((socket) => {
  socket.setNoDelay(true);
  let head = '';
  /** @type {Buffer} */
  let pending = Buffer.alloc(0);
  /** @type {net.Socket[] | undefined} */
  let group;
  socket.on('error', () => {});
  socket.on('data', (chunk) => {
    if (!group) {
      head += chunk.toString('latin1');
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      const name = /^GET \/topics\/([^/? ]+)/.exec(head)?.[1];
      const key = /\r\nsec-websocket-key:\s*(\S+)/i.exec(head)?.[1];
      if (!name || !key) return void socket.destroy();
      const accept = createHash('sha1')
        .update(key + GUID)
        .digest('base64');
      socket.write(
        'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
          `Sec-WebSocket-Accept: ${accept}\r\n\r\n`,
      );
      group = topics.get(name) ?? [];
      topics.set(name, group);
      group.push(socket);
      const members = group;
      socket.on('close', () => {
        const at = members.indexOf(socket);
        if (at >= 0) members.splice(at, 1);
      });
      return;
    }
    const data = pending.length > 0 ? Buffer.concat([pending, chunk]) : chunk;
    const { batch, used } = unmaskFrames(data);
    pending = used === data.length ? Buffer.alloc(0) : Buffer.from(data.subarray(used));
    if (batch.length === 0) return;
    for (const member of group) if (member !== socket) member.write(batch);
  });
});
server.listen({ port: Number(values.port), host: values.host, backlog: 4096 }, () => {
  process.stdout.write(
    `${JSON.stringify({ server: 'calibrate', ready: true, pid: process.pid })}\n`,
  );
});
process.once('SIGTERM', () => process.exit(0));
