// Fan-out bench: our broadcast example against reference servers, measured in the same run.
//
//   node bench/fanout/run.mjs [--seconds 3] [--warmup 1] [--rounds 3] [--subs 1000] [--size 64]
//        [--scenarios w8,w256,rate50,x-w256,x-rate50,x-rate200] [--servers wsroute,ws-broadcast,bun-broadcast,calibrate]
//        [--x-servers wsroute-redis,socketio-redis] [--client node | --client kit:PATH/fanout]
//        [--procs 1] [--bun PATH] [--nice N] [--no-pin] [--json FILE] [--out FILE]
//   node bench/fanout/run.mjs --report FILE.jsonl [--out FILE]   (the tables again, no measuring)
//
// A server is a name below or `label=COMMAND` (no commas; {PORT} and {REDIS} are replaced),
// e.g. 'before=node /tmp/old/examples/broadcast/server.mjs --port {PORT}' to compare builds.
//
// Scenarios: wN closed loop with N messages in flight, rateN open loop at N messages/s, both in
// one server process; x-wN and x-rateN across two server processes through a Redis this script
// starts (subscribers on one, the publisher on the other). Every (round, scenario, server)
// gets fresh server processes pinned to CPU 1; the client runs on CPU 0. Order: round, then
// scenario, then server, so the servers compared in one scenario run close together in time.
// Prints a markdown table of medians with ratios to ws-broadcast (to socketio-redis across
// processes), the calibration line and the targets of the topics issue.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '1' },
    rounds: { type: 'string', default: '3' },
    subs: { type: 'string', default: '1000' },
    size: { type: 'string', default: '64' },
    scenarios: { type: 'string', default: 'w8,w256,rate50,x-w256,x-rate50,x-rate200' },
    servers: { type: 'string', default: 'wsroute,ws-broadcast,bun-broadcast,calibrate' },
    'x-servers': { type: 'string', default: 'wsroute-redis,socketio-redis' },
    client: { type: 'string', default: 'node' },
    procs: { type: 'string', default: '1' },
    bun: { type: 'string' },
    nice: { type: 'string' },
    'no-pin': { type: 'boolean', default: false },
    json: { type: 'string' },
    out: { type: 'string' },
    report: { type: 'string' },
  },
});

const here = (file) => fileURLToPath(new URL(file, import.meta.url));
const node = process.execPath;
const example = here('../../examples/broadcast/server.mjs');
const rounds = Number(values.rounds);
const seconds = Number(values.seconds);
const warmup = Number(values.warmup);
const isPinned = !values['no-pin'] && os.availableParallelism() >= 2 && hasCommand('taskset');
/**
 * The load clients, each run against every server in turn: `node` (ours) and `kit:PATH` (the
 * shared kit's C client), so that two of them in one run show how far they agree.
 */
const clients = values.client
  .split(',')
  .filter(Boolean)
  .map((spec) =>
    spec.startsWith('kit:')
      ? { name: 'kit', path: spec.slice(4), label: `kit loadgen/fanout (${spec.slice(4)})` }
      : { name: 'node', path: here('client.mjs'), label: 'node bench/fanout/client.mjs' },
  );
const bun = findBun();

function hasCommand(name) {
  try {
    execFileSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Bun from --bun, $BUN or the PATH; Bun is optional and never installed by the project. */
function findBun() {
  const candidate = values.bun ?? process.env.BUN;
  if (candidate) return existsSync(candidate) ? candidate : undefined;
  if (!hasCommand('bun')) return undefined;
  return execFileSync('sh', ['-c', 'command -v bun'], { encoding: 'utf8' }).trim();
}

/** A command line pinned to one CPU (and niced when asked). */
function pinned(cpu, argv) {
  const prefix = [];
  if (values.nice) prefix.push('nice', '-n', values.nice);
  if (isPinned) prefix.push('taskset', '-c', String(cpu));
  return [...prefix, ...argv];
}

// --- servers ----------------------------------------------------------------------------------

/**
 * In one process: label → command for a port. Across processes: two such processes on one
 * Redis, and the protocol the client speaks.
 * @type {Record<string, { argv: (port: number, redis?: string) => string[], protocol?: 'ws' | 'socketio', crossProcess?: boolean }>}
 */
const SERVERS = {
  wsroute: { argv: (port) => [node, example, '--port', String(port)] },
  'wsroute-fastify': {
    argv: (port) => [node, example, '--port', String(port), '--adapter', 'fastify'],
  },
  'ws-broadcast': {
    argv: (port) => [node, here('servers/ws-broadcast.mjs'), '--port', String(port)],
  },
  'bun-broadcast': {
    argv: (port) => [bun ?? 'bun', here('servers/bun-broadcast.ts'), '--port', String(port)],
  },
  calibrate: { argv: (port) => [node, here('servers/calibrate.mjs'), '--port', String(port)] },
  'wsroute-redis': {
    crossProcess: true,
    argv: (port, redis) => [node, example, '--port', String(port), '--redis', redis ?? ''],
  },
  'socketio-redis': {
    crossProcess: true,
    protocol: 'socketio',
    argv: (port, redis) => [
      node,
      here('servers/socketio-broadcast.mjs'),
      '--port',
      String(port),
      '--redis',
      redis ?? '',
    ],
  },
};

/**
 * A server given as `label=COMMAND`: `x-` as the label's start marks it cross-process, and
 * `-socketio` at its end makes the client speak Socket.IO.
 * @param {string} spec
 */
function customServer(spec) {
  const at = spec.indexOf('=');
  const label = spec.slice(0, at);
  const template = spec
    .slice(at + 1)
    .split(' ')
    .filter(Boolean);
  SERVERS[label] = {
    crossProcess: label.startsWith('x-'),
    protocol: label.endsWith('-socketio') ? 'socketio' : 'ws',
    argv: (port, redis) =>
      template.map((part) =>
        part.replaceAll('{PORT}', String(port)).replaceAll('{REDIS}', redis ?? ''),
      ),
  };
  return label;
}

/** A free TCP port on 127.0.0.1 (another process could take it before us: rare, and loud). */
function freePort() {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/** Resolves once something accepts TCP connections on the port; gives up after `ms`. */
async function waitForPort(port, ms, child) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`exited with ${child.exitCode}`);
    const isOpen = await new Promise((resolve) => {
      const socket = net.connect({ port, host: '127.0.0.1' });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (isOpen) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`nothing listening on ${port} after ${ms} ms`);
}

/** Every process this script started and has not stopped yet, stopped on the way out. */
const running = new Set();

/** Starts a process (pinned to CPU 1) and waits until it listens on `port`. */
async function startProcess(argv, port, label) {
  const [command, ...args] = pinned(1, argv);
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  const keep = (chunk) => {
    log = (log + chunk).slice(-4000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  running.add(child);
  child.once('exit', () => running.delete(child));
  try {
    await waitForPort(port, 20_000, child);
  } catch (error) {
    stopProcess(child);
    throw new Error(`${label}: ${error.message}\n${log}`);
  }
  return child;
}

/** SIGTERM by PID, SIGKILL after 3 s. */
function stopProcess(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(undefined);
    });
    child.kill('SIGTERM');
  });
}

async function stopAll() {
  await Promise.all([...running].map(stopProcess));
}

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    stopAll().then(() => process.exit(130));
  });
}

// --- Redis for the cross-process scenarios ------------------------------------------------------

async function startRedis() {
  if (!hasCommand('redis-server')) {
    throw new Error('redis-server not found (Debian: apt-get install redis-server)');
  }
  const port = await freePort();
  const argv = ['redis-server', '--port', String(port), '--bind', '127.0.0.1'];
  argv.push('--save', '', '--appendonly', 'no', '--protected-mode', 'no');
  const child = await startProcess(argv, port, 'redis-server');
  return { url: `redis://127.0.0.1:${port}`, child };
}

// --- one measurement ----------------------------------------------------------------------------

/**
 * Scenario name → closed loop (window) or open loop (rate), in one process or across two, with
 * one publisher or `pN` of them (`w256p8`: window 256 spread over 8 publishers).
 */
function parseScenario(name) {
  const match = /^(x-)?(w|rate)(\d+)(?:p(\d+))?$/.exec(name);
  if (!match) throw new Error(`unknown scenario ${name} (wN, rateN, x-wN, x-rateN, ...pN)`);
  const amount = Number(match[3]);
  const crossProcess = Boolean(match[1]);
  const publishers = Number(match[4] ?? 1);
  return match[2] === 'w'
    ? { name, crossProcess, window: amount, rate: 0, publishers }
    : { name, crossProcess, window: 0, rate: amount, publishers };
}

/** Whether a client can drive a server in a scenario: the kit's speaks neither Socket.IO nor more than one publisher. */
function canDrive(client, scenario, label) {
  if (client.name !== 'kit') return true;
  return scenario.publishers === 1 && SERVERS[label]?.protocol !== 'socketio';
}

function clientArgv(client, scenario, protocol, port, pubPort, pids) {
  const load =
    scenario.rate > 0 ? ['--rate', String(scenario.rate)] : ['--window', String(scenario.window)];
  const common = ['--port', String(port), '--pub-port', String(pubPort), '--subs', values.subs];
  common.push('--size', values.size, '--warmup', String(warmup), ...load);
  if (client.name === 'kit') {
    // The kit's client takes one PID: the subscribers' server, where the fan-out happens.
    return [client.path, ...common, '-t', String(seconds), '--pid', String(pids[0])];
  }
  const args = [client.path, ...common, '--seconds', String(seconds)];
  args.push('--procs', values.procs, '--protocol', protocol, '--pid', pids.join(','));
  if (scenario.publishers > 1) args.push('--publishers', String(scenario.publishers));
  return [node, ...args];
}

function runClient(argv) {
  return new Promise((resolve, reject) => {
    const [command, ...args] = pinned(0, argv);
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(child);
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk) => {
      out += chunk;
    });
    child.stderr.on('data', (chunk) => {
      err = (err + chunk).slice(-4000);
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), (warmup + seconds + 120) * 1000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      running.delete(child);
      const line = out.trim().split('\n').pop() ?? '';
      if (code === 0 && line.startsWith('{')) resolve(JSON.parse(line));
      else reject(new Error(`client exited with ${code}: ${err.trim()}`));
    });
  });
}

async function measure(client, scenario, label, redis) {
  const server = SERVERS[label];
  const port = await freePort();
  const children = [await startProcess(server.argv(port, redis), port, label)];
  let pubPort = port;
  try {
    if (scenario.crossProcess) {
      pubPort = await freePort();
      children.push(await startProcess(server.argv(pubPort, redis), pubPort, `${label} (2)`));
    }
    const pids = children.map((child) => child.pid);
    const argv = clientArgv(client, scenario, server.protocol ?? 'ws', port, pubPort, pids);
    return await runClient(argv);
  } finally {
    await Promise.all(children.map(stopProcess));
  }
}

// --- report ---------------------------------------------------------------------------------------

function median(numbers) {
  const sorted = numbers.filter(Number.isFinite).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

const formatRate = (n) =>
  !Number.isFinite(n) ? '–' : n >= 1e6 ? `${(n / 1e6).toFixed(2)} M` : `${(n / 1e3).toFixed(1)} k`;
const formatMs = (us) => (Number.isFinite(us) ? (us / 1000).toFixed(us < 10_000 ? 2 : 1) : '–');
const formatRatio = (n) => (Number.isFinite(n) ? `${n.toFixed(2)}×` : '–');
const formatInt = (n) => (Number.isFinite(n) && n >= 0 ? String(Math.round(n)) : '–');

/**
 * Median over rounds of `label`'s delivered/s divided by `ref`'s in the same round: servers of
 * one round ran minutes apart, so a machine whose load drifts between rounds moves both alike.
 */
function pairedRatio(results, scenario, label, ref) {
  const ok = (r) => r.scenario === scenario && !r.failed && r.delivered_per_s > 0;
  const ratios = results
    .filter((r) => ok(r) && r.server === label)
    .map((r) => {
      const other = results.find((o) => ok(o) && o.server === ref && o.round === r.round);
      return other ? r.delivered_per_s / other.delivered_per_s : Number.NaN;
    });
  return median(ratios);
}

/** Medians per (scenario, server) of every numeric field, over the rounds that succeeded. */
function summarise(results, scenario, label) {
  const rows = results.filter((r) => r.scenario === scenario && r.server === label && !r.failed);
  const pick = (key) => median(rows.map((r) => r[key]));
  const delivered = rows.map((r) => r.delivered_per_s);
  const cpu = pick('server_cpu_pct');
  const writes = rows.map((r) =>
    r.server_writes_per_s > 0 ? r.delivered_per_s / r.server_writes_per_s : Number.NaN,
  );
  const perCpu = rows.map((r) =>
    r.server_cpu_pct > 0 ? r.delivered_per_s / (r.server_cpu_pct / 100) : Number.NaN,
  );
  return {
    n: rows.length,
    delivered: median(delivered),
    min: Math.min(...delivered),
    max: Math.max(...delivered),
    p50: pick('p50_us'),
    p99: pick('p99_us'),
    cpu,
    perCpu: median(perCpu),
    framesPerWrite: median(writes),
    clientCpu: pick('client_cpu_pct'),
    maxClientCpu: Math.max(...rows.map((r) => r.client_cpu_pct)),
    ownEcho: Math.max(0, ...rows.map((r) => r.own_echo_bytes)),
  };
}

function report(meta, results, scenarios, serversOf) {
  const lines = [];
  lines.push(`## Fan-out: ${meta.subs} subscribers, ${meta.size} B messages`);
  lines.push('');
  lines.push(
    `Client: ${meta.client}, procs ${meta.procs}; ${meta.rounds} rounds × ${meta.seconds} s ` +
      `(+${meta.warmup} s warm-up); servers ${meta.pinned ? 'on CPU 1, client on CPU 0' : 'not pinned'}` +
      `${meta.nice ? `, nice ${meta.nice}` : ''}; node ${meta.node}; load average ${meta.loadStart} at the ` +
      `start, ${meta.loadEnd ?? '?'} at the end${meta.bunNote}.`,
  );
  lines.push('');
  /** @type {Record<string, Record<string, ReturnType<typeof summarise>>>} */
  const table = {};
  for (const scenario of scenarios) {
    const ref = scenario.crossProcess ? 'socketio-redis' : 'ws-broadcast';
    const what =
      (scenario.rate > 0 ? `open loop ${scenario.rate} msg/s` : `window ${scenario.window}`) +
      (scenario.publishers > 1 ? `, ${scenario.publishers} publishers` : '');
    lines.push(
      `### ${scenario.name}: ${what}${scenario.crossProcess ? ', across 2 processes + Redis' : ''}`,
    );
    lines.push('');
    lines.push(
      `| server | delivered/s | × ${ref}¹ | min–max | p50 ms | p99 ms | server CPU % | delivered per server CPU-s | frames/write | client CPU % |`,
    );
    lines.push('|---|---:|---:|---|---:|---:|---:|---:|---:|---:|');
    table[scenario.name] = {};
    for (const label of serversOf(scenario)) {
      table[scenario.name][label] = summarise(results, scenario.name, label);
    }
    const refRow = table[scenario.name][ref];
    for (const label of serversOf(scenario)) {
      const row = table[scenario.name][label];
      if (row.n === 0) {
        lines.push(`| ${label} | failed | | | | | | | | |`);
        continue;
      }
      const ratio = refRow?.n ? pairedRatio(results, scenario.name, label, ref) : Number.NaN;
      lines.push(
        `| ${label} | ${formatRate(row.delivered)} | ${formatRatio(ratio)} | ${formatRate(row.min)}–${formatRate(row.max)} | ` +
          `${formatMs(row.p50)} | ${formatMs(row.p99)} | ${formatInt(row.cpu)} | ${formatRate(row.perCpu)} | ` +
          `${Number.isFinite(row.framesPerWrite) ? row.framesPerWrite.toFixed(1) : '–'} | ${formatInt(row.clientCpu)} |`,
      );
    }
    lines.push('');
  }
  lines.push('¹ median over rounds of the ratio measured within each round.', '');
  lines.push(...calibration(table, scenarios));
  lines.push(...targets(meta, results, table, scenarios));
  const echoes = Object.entries(table).flatMap(([s, rows]) =>
    Object.entries(rows)
      .filter(([, row]) => row.ownEcho > 0)
      .map(([label]) => `${label} in ${s}`),
  );
  if (echoes.length)
    lines.push(`**Contract broken** (the sender got its own message): ${echoes.join(', ')}`);
  return lines.join('\n');
}

/** Whether the client kept up: it must deliver more with the calibration server than anyone. */
function calibration(table, scenarios) {
  const lines = [];
  for (const scenario of scenarios.filter((s) => !s.crossProcess && s.window > 0)) {
    const rows = table[scenario.name];
    const cal = rows.calibrate;
    if (!cal?.n) continue;
    const others = Object.entries(rows).filter(([label, row]) => label !== 'calibrate' && row.n);
    const best = others.reduce(
      (a, b) => (b[1].delivered > (a?.[1].delivered ?? 0) ? b : a),
      undefined,
    );
    const busiest = Math.max(...Object.values(rows).map((row) => row.maxClientCpu));
    lines.push(
      `Calibration (${scenario.name}): the client took ${formatRate(cal.delivered)} deliveries/s from the ` +
        `calibration server (client CPU ${formatInt(cal.clientCpu)} %, server ${formatInt(cal.cpu)} %); ` +
        `the best server here delivered ${best ? `${formatRate(best[1].delivered)} (${best[0]})` : '–'}; ` +
        `client CPU at most ${formatInt(busiest)} % in this scenario.`,
    );
  }
  if (lines.length) lines.push('');
  return lines;
}

function targets(meta, results, table, scenarios) {
  const lines = ['### Targets (topics issue)', ''];
  const verdict = (ok) => (ok ? 'met' : 'NOT met');
  for (const scenario of scenarios) {
    const rows = table[scenario.name];
    if (!scenario.crossProcess && scenario.window > 0) {
      const ours = rows.wsroute;
      const ws = rows['ws-broadcast'];
      const bunRow = rows['bun-broadcast'];
      if (ours?.n && ws?.n) {
        const r = pairedRatio(results, scenario.name, 'wsroute', 'ws-broadcast');
        const perCpu = formatRatio(ours.perCpu / ws.perCpu);
        lines.push(
          `- ${scenario.name}: wsroute / ws-broadcast = ${formatRatio(r)} (≥ 10×: ${verdict(r >= 10)}); per server CPU-s ${perCpu}`,
        );
      }
      if (ours?.n && bunRow?.n) {
        const r = pairedRatio(results, scenario.name, 'wsroute', 'bun-broadcast');
        const perCpu = formatRatio(ours.perCpu / bunRow.perCpu);
        lines.push(
          `- ${scenario.name}: wsroute / bun-broadcast = ${formatRatio(r)} (≥ 0.5×: ${verdict(r >= 0.5)}); per server CPU-s ${perCpu}`,
        );
      }
    } else if (!scenario.crossProcess) {
      const ours = rows.wsroute;
      const ws = rows['ws-broadcast'];
      if (ours?.n && ws?.n) {
        const ok = ours.p50 <= ws.p50 && ours.p99 <= ws.p99;
        lines.push(
          `- ${scenario.name}: p50 ${formatMs(ours.p50)} vs ${formatMs(ws.p50)} ms, p99 ${formatMs(ours.p99)} vs ` +
            `${formatMs(ws.p99)} ms (no worse than ws-broadcast: ${verdict(ok)})`,
        );
      }
    } else {
      const ours = rows['wsroute-redis'];
      const io = rows['socketio-redis'];
      if (!ours?.n || !io?.n) continue;
      const r = pairedRatio(results, scenario.name, 'wsroute-redis', 'socketio-redis');
      const p99 = `p99 ${formatMs(ours.p99)} vs ${formatMs(io.p99)} ms (lower: ${verdict(ours.p99 < io.p99)})`;
      // Below both servers' capacity a fixed rate is delivered in full by both: only latency tells.
      const expected = scenario.rate * (meta.subs ?? 1000);
      if (scenario.rate > 0 && Math.min(ours.delivered, io.delivered) >= 0.95 * expected) {
        lines.push(`- ${scenario.name}: both deliver the whole rate; ${p99}`);
        continue;
      }
      lines.push(
        `- ${scenario.name}: wsroute-redis / socketio-redis delivered = ${formatRatio(r)} (≥ 2×: ${verdict(r >= 2)}); ${p99}`,
      );
    }
  }
  lines.push('');
  return lines;
}

// --- main -------------------------------------------------------------------------------------------

/**
 * One report per client, and with two clients a table of how far they agree: the node client's
 * figures over the kit's, per server, from cells of the same round.
 */
function reportAll(meta, results, scenarios, serversOf) {
  const names = [...new Set(results.map((r) => r.client))];
  const parts = names.map((name) => {
    const label = meta.clients?.[name] ?? meta.client;
    const mine = results.filter((r) => r.client === name);
    const serversHere = (scenario) =>
      serversOf(scenario).filter((server) => mine.some((r) => r.server === server));
    const driven = scenarios.filter((scenario) => mine.some((r) => r.scenario === scenario.name));
    return report({ ...meta, client: label }, mine, driven, serversHere);
  });
  if (names.includes('node') && names.includes('kit')) parts.push(agreement(results, scenarios));
  return parts.join('\n\n');
}

/** Node client over kit client, per (scenario, server): medians of per-round ratios. */
function agreement(results, scenarios) {
  const lines = ['## Agreement: node client / kit client (same servers, same rounds)', ''];
  lines.push(
    '| scenario | server | delivered/s node | delivered/s kit | node/kit¹ | p50 ms node / kit | p99 ms node / kit |',
  );
  lines.push('|---|---|---:|---:|---:|---|---|');
  const ok = (r) => !r.failed && r.delivered_per_s > 0;
  for (const scenario of scenarios) {
    const servers = [
      ...new Set(results.filter((r) => r.scenario === scenario.name).map((r) => r.server)),
    ];
    for (const server of servers) {
      const rows = (client) =>
        results.filter(
          (r) =>
            ok(r) && r.client === client && r.scenario === scenario.name && r.server === server,
        );
      const node = rows('node');
      const kit = rows('kit');
      if (node.length === 0 || kit.length === 0) continue;
      const ratio = median(
        node.map((r) => {
          const other = kit.find((k) => k.round === r.round);
          return other ? r.delivered_per_s / other.delivered_per_s : Number.NaN;
        }),
      );
      const med = (list, key) => median(list.map((r) => r[key]));
      lines.push(
        `| ${scenario.name} | ${server} | ${formatRate(med(node, 'delivered_per_s'))} | ${formatRate(med(kit, 'delivered_per_s'))} | ` +
          `${formatRatio(ratio)} | ${formatMs(med(node, 'p50_us'))} / ${formatMs(med(kit, 'p50_us'))} | ` +
          `${formatMs(med(node, 'p99_us'))} / ${formatMs(med(kit, 'p99_us'))} |`,
      );
    }
  }
  lines.push(
    '',
    '¹ median over rounds of node/kit delivered/s, the two clients measured back to back.',
  );
  return lines.join('\n');
}

/** What a run was: the first line of its JSON lines, and the heading of its report. */
function runMeta() {
  const hasBun = Boolean(bun) || values.servers.includes('bun-broadcast=');
  return {
    meta: true,
    client: clients.map((client) => client.label).join(' and '),
    clients: Object.fromEntries(clients.map((client) => [client.name, client.label])),
    procs: Number(values.procs),
    rounds,
    seconds,
    warmup,
    subs: Number(values.subs),
    size: Number(values.size),
    pinned: isPinned,
    nice: values.nice ?? '',
    node: process.version,
    loadStart: os
      .loadavg()
      .map((n) => n.toFixed(1))
      .join(' '),
    bunNote: hasBun ? '' : '; bun-broadcast skipped (no Bun: pass --bun PATH)',
  };
}

/** `--report FILE`: the tables again from a run's raw JSON lines, without measuring. */
function reportOnly(file) {
  const lines = readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line));
  const meta = lines.find((line) => line.meta) ?? { ...runMeta(), loadStart: '?' };
  // Runs before the client dimension have one client, named by their settings.
  const only = String(meta.client).startsWith('kit') ? 'kit' : 'node';
  const results = lines.filter((line) => !line.meta).map((line) => ({ client: only, ...line }));
  const names = [...new Set(results.map((r) => r.scenario))];
  const scenarios = names.map(parseScenario);
  const serversOf = (scenario) => [
    ...new Set(results.filter((r) => r.scenario === scenario.name).map((r) => r.server)),
  ];
  const markdown = reportAll(meta, results, scenarios, serversOf);
  process.stdout.write(`${markdown}\n`);
  if (values.out) writeFileSync(values.out, `${markdown}\n`);
}

async function main() {
  if (values.report) return reportOnly(values.report);
  const scenarios = values.scenarios.split(',').filter(Boolean).map(parseScenario);
  const named = (list) =>
    list
      .split(',')
      .filter(Boolean)
      .map((s) => (s.includes('=') ? customServer(s) : s));
  // The built-in bun-broadcast needs a Bun; one given as label=COMMAND brings its own.
  const needsBun = (s) => s === 'bun-broadcast' && !values.servers.includes('bun-broadcast=');
  const local = named(values.servers).filter((s) => !needsBun(s) || bun);
  const cross = named(values['x-servers']);
  for (const label of [...local, ...cross]) {
    if (!SERVERS[label])
      throw new Error(`unknown server ${label}: ${Object.keys(SERVERS).join(', ')}`);
  }
  const serversOf = (scenario) => (scenario.crossProcess ? cross : local);
  const redis = scenarios.some((s) => s.crossProcess) ? await startRedis() : undefined;
  const jsonFile = values.json ?? `${os.tmpdir()}/wsroute-fanout-${Date.now()}.jsonl`;
  const meta = runMeta();
  const results = [];
  const save = () =>
    writeFileSync(jsonFile, `${[meta, ...results].map((r) => JSON.stringify(r)).join('\n')}\n`);
  const cells = (scenario) =>
    serversOf(scenario).flatMap((label) =>
      clients
        .filter((client) => canDrive(client, scenario, label))
        .map((client) => ({ label, client })),
    );
  const total = rounds * scenarios.reduce((n, s) => n + cells(s).length, 0);
  let done = 0;
  try {
    for (let round = 1; round <= rounds; round++) {
      for (const scenario of scenarios) {
        for (const { label, client } of cells(scenario)) {
          done++;
          let result;
          try {
            result = await measure(client, scenario, label, redis?.url);
          } catch (error) {
            result = { failed: String(error.message).split('\n')[0] };
          }
          Object.assign(result, {
            scenario: scenario.name,
            server: label,
            round,
            client: client.name,
          });
          results.push(result);
          save();
          const summary = result.failed
            ? `FAILED ${result.failed}`
            : `${formatRate(result.delivered_per_s)}/s p50 ${formatMs(result.p50_us)} ms p99 ${formatMs(result.p99_us)} ms ` +
              `server ${result.server_cpu_pct}% client ${result.client_cpu_pct}%`;
          process.stderr.write(
            `[${done}/${total}] ${scenario.name} ${label} (${client.name}) round ${round}: ${summary}\n`,
          );
        }
      }
    }
  } finally {
    if (redis) await stopProcess(redis.child);
    await stopAll();
  }
  meta.loadEnd = os
    .loadavg()
    .map((n) => n.toFixed(1))
    .join(' ');
  save();
  const markdown = reportAll(meta, results, scenarios, serversOf);
  process.stdout.write(`${markdown}\nRaw results: ${jsonFile}\n`);
  if (values.out) writeFileSync(values.out, `${markdown}\n`);
}

main().catch(async (error) => {
  process.stderr.write(`fan-out bench: ${error.message}\n`);
  await stopAll();
  process.exit(1);
});
