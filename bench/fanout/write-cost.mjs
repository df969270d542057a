// What one bare `socket.write` costs on this machine: the floor under a Node fan-out server's
// cost per write. This process (pinned to CPU 1) accepts `--sockets` loopback connections from
// a sink process (CPU 0) that reads and discards, then writes one `--bytes` buffer to every
// socket, round after round, for `--seconds`, and reports CPU µs per write (user + system),
// write(2) calls per socket.write (from /proc/self/io) and writes per second.
//
//   node bench/fanout/write-cost.mjs [--sockets 1000] [--bytes 528] [--seconds 3] [--no-pin]
// --bytes 528 is 8 frames of 64 B, what one subscriber is sent per batch at window 8.
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    sockets: { type: 'string', default: '1000' },
    bytes: { type: 'string', default: '528' },
    seconds: { type: 'string', default: '3' },
    'no-pin': { type: 'boolean', default: false },
    sink: { type: 'string' },
  },
});
const count = Number(values.sockets);

if (values.sink) {
  // The sink: connects and discards, reading into one shared buffer.
  const buffer = Buffer.allocUnsafe(256 * 1024);
  for (let i = 0; i < count; i++) {
    const socket = net.connect({
      port: Number(values.sink),
      host: '127.0.0.1',
      onread: { buffer, callback: () => true },
    });
    socket.on('error', () => process.exit(0));
  }
  process.on('disconnect', () => process.exit(0));
} else {
  await measure();
}

function syscw() {
  const match = /syscw:\s*(\d+)/.exec(readFileSync('/proc/self/io', 'latin1'));
  return match ? Number(match[1]) : Number.NaN;
}

async function measure() {
  const canPin = !values['no-pin'] && hasTaskset();
  if (canPin) execFileSync('taskset', ['-p', '-c', '1', String(process.pid)], { stdio: 'ignore' });
  /** @type {net.Socket[]} */
  const sockets = [];
  const server = net.createServer((socket) => {
    socket.setNoDelay(true);
    socket.on('error', () => {});
    sockets.push(socket);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(undefined)));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const self = fileURLToPath(import.meta.url);
  const argv = [process.execPath, self, '--sink', String(port), '--sockets', String(count)];
  const [command, ...args] = canPin ? ['taskset', '-c', '0', ...argv] : argv;
  const sink = spawn(command, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const deadline = Date.now() + 30_000;
  while (sockets.length < count && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  if (sockets.length < count) throw new Error(`only ${sockets.length} connections`);

  const payload = Buffer.alloc(Number(values.bytes), 0x61);
  const end = Date.now() + Number(values.seconds) * 1000;
  const cpu0 = process.cpuUsage();
  const writes0 = syscw();
  const t0 = performance.now();
  let writes = 0;
  while (Date.now() < end) {
    for (const socket of sockets) socket.write(payload);
    writes += sockets.length;
    // One event-loop turn per round, as a server gets: write completions and drains run.
    await new Promise((resolve) => setImmediate(resolve));
    // Keep the sockets' send buffers from growing without bound when the sink falls behind.
    if (sockets[0] && sockets[0].writableLength > 1 << 20) {
      await new Promise((resolve) => sockets[0]?.once('drain', resolve));
    }
  }
  const elapsed = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const syscalls = syscw() - writes0;
  const result = {
    tool: 'write-cost',
    sockets: count,
    bytes: payload.length,
    writes_per_s: Math.round(writes / elapsed),
    cpu_us_per_write: Number(((cpu.user + cpu.system) / writes).toFixed(2)),
    user_us_per_write: Number((cpu.user / writes).toFixed(2)),
    system_us_per_write: Number((cpu.system / writes).toFixed(2)),
    syscalls_per_write: Number((syscalls / writes).toFixed(2)),
    cpu_pct: Math.round(((cpu.user + cpu.system) / 1e6 / elapsed) * 100),
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
  sink.kill();
  for (const socket of sockets) socket.destroy();
  server.close();
}

function hasTaskset() {
  try {
    execFileSync('sh', ['-c', 'command -v taskset'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
