// `pnpm bench`: our echo server(s) and ws's, measured in the same run by a load client in a
// separate process, with the scenario shapes of the shared C kit (../shared/bench). Each
// scenario runs ROUNDS times per server, servers interleaved, and the median is reported with
// its ratio to ws, in messages per second and in messages per second of server CPU.
//
// The client must outpace the server it measures, and the output proves it or says otherwise:
// - each cell reports the server's and the client's CPU (in % of one CPU, over the measured
//   window); a cell is server-bound when the server was busy (85 % or more), client-bound when
//   the client was and the server was not, and marked `neither busy` otherwise (a loaded
//   machine, or a latency-bound scenario);
// - a capacity line: from its CPU per message, what the client can drive on its own CPU,
//   against the fastest server measured;
// - a calibration line: the same client against Node's raw TCP echo (no HTTP, no framing).
// Server and client are pinned to CPUs 1 and 0 when `taskset` exists and there are two CPUs.
//
//   node bench/run.mjs [--seconds 2] [--rounds 3] [--adapters node,fastify,express,koa]
//                      [--scenarios binary64,...] [--idle 1000] [--no-deflate]
//                      [--no-calibrate] [--no-pin] [--app-heap 16]
//                      [--fanout [--bun PATH] [--fanout-client C]]
// --app-heap MIB (default 16): long-lived objects every server process allocates first, the
// application around the server; without them the processes' heaps differ (a framework adds a
// few MiB) and V8's old-generation heuristics, not the libraries, decide the 16 KiB figures.
// --floor: each adapter's framework answering plain HTTP requests (connect, GET, response,
// close), to set the handshake figures against what the framework costs per request alone.
// --admission: handshakes/s of the node attachment with every admission check on against the
// same server with none, both receiving a browser's Origin and an X-Forwarded-For.
// --fanout then runs the topic fan-out bench (bench/fanout/run.mjs, see its README) with the
// same rounds and seconds, after the echo scenarios.
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = (file) => fileURLToPath(new URL(file, import.meta.url));
const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '2' },
    rounds: { type: 'string', default: '3' },
    adapters: { type: 'string', default: 'node' },
    scenarios: { type: 'string', default: 'binary64,binary16k,binary1m,text1k,handshake' },
    idle: { type: 'string', default: '1000' },
    'app-heap': { type: 'string', default: '16' },
    deflate: { type: 'boolean', default: true },
    'no-deflate': { type: 'boolean', default: false },
    'no-calibrate': { type: 'boolean', default: false },
    'no-pin': { type: 'boolean', default: false },
    fanout: { type: 'boolean', default: false },
    admission: { type: 'boolean', default: false },
    floor: { type: 'boolean', default: false },
    bun: { type: 'string' },
    'fanout-client': { type: 'string' },
    'fanout-scenarios': { type: 'string' },
  },
});
const rounds = Number(values.rounds);
const seconds = values.seconds;

/** `taskset -c CPU` when it exists and the machine has two CPUs or more, as the kit does. */
function pinning() {
  if (values['no-pin'] || os.availableParallelism() < 2) return undefined;
  try {
    execFileSync('taskset', ['-c', '0', 'true'], { stdio: 'ignore' });
    return (cpu, argv) => ['taskset', ['-c', String(cpu), ...argv]];
  } catch {
    return undefined;
  }
}
const pin = pinning();
const command = (cpu, argv) => (pin ? pin(cpu, argv) : [argv[0], argv.slice(1)]);

/** A server under test, in a child process with --expose-gc, talking over IPC. */
async function startServer(impl, adapter, deflate, admission) {
  const args = ['--expose-gc', here('./server.mjs'), '--impl', impl, '--adapter', adapter];
  args.push('--app-heap', values['app-heap']);
  if (deflate) args.push('--deflate');
  if (admission) args.push('--admission', admission);
  const [file, argv] = command(1, [process.execPath, ...args]);
  const child = spawn(file, argv, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const [message] = await once(child, 'message');
  if (message?.type !== 'ready') throw new Error(`${impl} did not start`);
  const ask = async (type) => {
    child.send({ type });
    for (;;) {
      const [reply] = await once(child, 'message');
      if (reply?.type === type) return reply.value;
    }
  };
  return {
    port: message.port,
    pid: message.pid,
    memory: () => ask('memory'),
    /** CPU seconds the server used so far. */
    cpu: () => ask('cpu'),
    stop() {
      child.kill();
      return once(child, 'exit');
    },
  };
}

function load(port, scenario, extra = []) {
  const [file, argv] = command(0, [
    process.execPath,
    here('./load.mjs'),
    '--port',
    String(port),
    '--scenario',
    scenario,
    '--seconds',
    seconds,
    ...extra,
  ]);
  const out = execFileSync(file, argv, {
    encoding: 'utf8',
    timeout: (Number(seconds) + 120) * 1000,
  });
  return JSON.parse(out.trim().split('\n').pop());
}

/**
 * Runs one scenario against a server. The server's CPU over the measured window comes from
 * /proc (the client reads it at the window's edges); elsewhere it is taken over the client's
 * whole run (connections and warm-up included), which understates the server's load.
 */
async function measureCell(server, scenario, extra) {
  const cpuBefore = await server.cpu();
  const started = process.hrtime.bigint();
  const result = load(server.port, scenario, [...extra, '--pid', String(server.pid)]);
  const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
  const wholeRun = (await server.cpu()) - cpuBefore;
  const windowed = result.serverCpuSeconds !== undefined && result.serverCpuSeconds !== null;
  const serverCpu = windowed ? result.serverCpuSeconds : wholeRun;
  const span = windowed ? result.windowSeconds : elapsed;
  return { ...result, serverCpuPercent: (100 * serverCpu) / span, serverCpuSeconds: serverCpu };
}

async function idleMemory(server, count, deflate) {
  const before = await server.memory();
  const args = [
    here('./load.mjs'),
    '--port',
    String(server.port),
    '--scenario',
    'idle',
    '--connections',
    String(count),
  ];
  if (deflate) args.push('--deflate');
  const child = spawn(process.execPath, args, { stdio: ['inherit', 'pipe', 'inherit', 'ipc'] });
  const [message] = await once(child, 'message');
  if (message?.type !== 'idle-ready') throw new Error('idle client failed');
  const after = await server.memory();
  child.send({ type: 'close' });
  await once(child, 'exit');
  const perConnection = (key) => (after[key] - before[key]) / count;
  return {
    heapPerConnection: perConnection('heapUsed') + perConnection('external'),
    rssPerConnection: perConnection('rss'),
  };
}

const median = (xs) => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

const METRIC = {
  binary64: ['messagesPerSecond', 'msg/s'],
  binary16k: ['mibPerSecond', 'MiB/s'],
  binary1m: ['mibPerSecond', 'MiB/s'],
  text1k: ['messagesPerSecond', 'msg/s'],
  json1k: ['messagesPerSecond', 'msg/s'],
  handshake: ['handshakesPerSecond', 'hs/s'],
};

const contenders = [
  { name: 'ws', impl: 'ws', adapter: 'node' },
  ...values.adapters
    .split(',')
    .map((adapter) => ({ name: `wsroute/${adapter}`, impl: 'wsroute', adapter })),
];

/** Per contender and scenario: the metric, the metric per server CPU-second, the CPU shares. */
async function measure(scenarios, deflate) {
  const results = new Map();
  for (const contender of contenders) results.set(contender.name, {});
  const extra = deflate ? ['--deflate'] : [];
  for (let round = 0; round < rounds; round++) {
    for (const scenario of scenarios) {
      for (const contender of contenders) {
        // A fresh server per cell, as the kit does: no cell inherits another's heap.
        const server = await startServer(contender.impl, contender.adapter, deflate);
        try {
          const cell = await measureCell(server, scenario, extra);
          const [key] = METRIC[scenario];
          const bucket = results.get(contender.name);
          bucket[scenario] ??= { value: [], perCpu: [], serverCpu: [], clientCpu: [] };
          const samples = bucket[scenario];
          samples.value.push(cell[key]);
          samples.perCpu.push((100 * cell[key]) / (cell.serverCpuPercent || Number.NaN));
          samples.serverCpu.push(cell.serverCpuPercent);
          samples.clientCpu.push(cell.clientCpuPercent);
        } finally {
          await server.stop();
        }
      }
    }
  }
  const idleCount = Number(values.idle);
  if (idleCount > 0) {
    for (const contender of contenders) {
      const server = await startServer(contender.impl, contender.adapter, deflate);
      try {
        const memory = await idleMemory(server, idleCount, deflate);
        results.get(contender.name).idle = { value: [memory.heapPerConnection] };
        results.get(contender.name).idleRss = { value: [memory.rssPerConnection] };
      } finally {
        await server.stop();
      }
    }
  }
  return results;
}

/** The same client against a raw TCP echo: what it can drive at least, per scenario. */
async function calibrate(scenarios) {
  const ceiling = {};
  const throughput = scenarios.filter((s) => s !== 'json1k');
  const server = await startServer('tcp-echo', 'node', false);
  try {
    for (const scenario of throughput) {
      const cell = await measureCell(server, scenario, ['--raw']);
      ceiling[scenario] = { value: cell[METRIC[scenario][0]], clientCpu: cell.clientCpuPercent };
    }
  } finally {
    await server.stop();
  }
  return ceiling;
}

/**
 * Each framework's plain HTTP request cycle (connect, GET with `Connection: close`, response,
 * close), the handshake cycle without websockets: rounds interleave the frameworks.
 */
async function measureFloor() {
  const adapters = values.adapters.split(',');
  const samples = Object.fromEntries(adapters.map((a) => [a, { value: [], perCpu: [] }]));
  for (let round = 0; round < rounds; round++) {
    for (const adapter of adapters) {
      const server = await startServer('http-floor', adapter, false);
      try {
        const cell = await measureCell(server, 'http', []);
        samples[adapter].value.push(cell.handshakesPerSecond);
        samples[adapter].perCpu.push((100 * cell.handshakesPerSecond) / cell.serverCpuPercent);
      } finally {
        await server.stop();
      }
    }
  }
  return samples;
}

/**
 * The floor next to the handshakes: server CPU µs per cycle of each framework's plain HTTP
 * request and of its websocket handshake, each over the node attachment's (plain `node:http`).
 * When the two differences match, the adapter adds nothing over what the framework costs.
 */
function printFloor(floor, echo) {
  const usPerCycle = (perCpu) => 1e6 / perCpu;
  const nodeHttp = usPerCycle(median(floor.node?.perCpu ?? [Number.NaN]));
  const nodeWs = usPerCycle(median(echo.get('wsroute/node')?.handshake?.perCpu ?? [Number.NaN]));
  let out =
    '\nFramework floor: plain HTTP cycles (connect, GET, response, close) against handshake cycles\n' +
    '| adapter | HTTP req/s | HTTP µs CPU/req | over node:http | handshake µs CPU | over node attachment |\n' +
    '| --- | --- | --- | --- | --- | --- |\n';
  for (const [adapter, s] of Object.entries(floor)) {
    const http = usPerCycle(median(s.perCpu));
    const hs = echo.get(`wsroute/${adapter}`)?.handshake;
    const ws = hs ? usPerCycle(median(hs.perCpu)) : Number.NaN;
    const sign = (n) => (Number.isNaN(n) ? '—' : `${n >= 0 ? '+' : ''}${n.toFixed(1)}`);
    out +=
      `| ${adapter} | ${fmt(median(s.value))} | ${http.toFixed(1)} | ${sign(http - nodeHttp)} | ` +
      `${Number.isNaN(ws) ? '—' : ws.toFixed(1)} | ${sign(ws - nodeWs)} |\n`;
  }
  process.stdout.write(
    `${out}(medians; "over": µs of server CPU per cycle above the plain node:http server, and above the node attachment)\n`,
  );
}

const fmt = (n) => (n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(1));

function print(title, scenarios, results, ceiling) {
  const rows = [];
  const ws = results.get('ws');
  const names = contenders.map((c) => c.name);
  const notes = [];
  const line = (label, unit, key, field, lowerIsBetter = false) => {
    const base = median(ws[key][field]);
    const cells = names.map((name) => {
      const samples = results.get(name)[key];
      const value = median(samples[field]);
      let cell =
        name === 'ws'
          ? fmt(value)
          : `${fmt(value)} (${(lowerIsBetter ? base / value : value / base).toFixed(2)}×)`;
      if (field === 'value' && samples.serverCpu) {
        const server = median(samples.serverCpu);
        const client = median(samples.clientCpu);
        cell += ` [srv ${Math.round(server)}% cli ${Math.round(client)}%]`;
        if (server < 85) {
          const verdict = client >= 85 ? 'client-bound' : 'neither busy';
          cell += ` ${verdict}`;
          notes.push(`${name} ${key} (${verdict})`);
        }
      }
      return cell;
    });
    rows.push([label, unit, ...cells]);
  };
  for (const scenario of scenarios) {
    line(scenario, METRIC[scenario][1], scenario, 'value');
    line(`${scenario} / server CPU-s`, METRIC[scenario][1], scenario, 'perCpu');
  }
  if (ws.idle) {
    line('idle conn heap+external', 'B/conn', 'idle', 'value', true);
    line('idle conn rss', 'B/conn', 'idleRss', 'value', true);
  }
  const header = ['scenario', 'unit', ...names];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const out = [header, widths.map((w) => '-'.repeat(w)), ...rows]
    .map((r) => `| ${r.map((c, i) => String(c).padEnd(widths[i])).join(' | ')} |`)
    .join('\n');
  process.stdout.write(`\n${title}\n${out}\n`);
  process.stdout.write(
    '(medians of the rounds; ratio = wsroute / ws, for memory ws / wsroute: above 1× is better;\n' +
      ' [srv/cli] = CPU of the server and of the load client, in % of one CPU)\n',
  );
  const capacity = scenarios.map((s) => {
    // What the client drives per second of its own CPU, at the fastest server's pace.
    let best = { name: '', value: 0, client: 100 };
    for (const name of names) {
      const samples = results.get(name)[s];
      const value = median(samples.value);
      if (value > best.value) best = { name, value, client: median(samples.clientCpu) };
    }
    const drivable = (100 * best.value) / best.client;
    return `${s} ${fmt(drivable)} ${METRIC[s][1]} (${(drivable / best.value).toFixed(2)}× ${best.name})`;
  });
  process.stdout.write(
    `load client capacity on its own CPU, from its CPU per message: ${capacity.join('; ')}\n`,
  );
  if (ceiling) {
    const parts = scenarios
      .filter((s) => ceiling[s])
      .map((s) => {
        const fastest = Math.max(...names.map((name) => median(results.get(name)[s].value)));
        return `${s} ${fmt(ceiling[s].value)} ${METRIC[s][1]} (fastest server here: ${Math.round((100 * fastest) / ceiling[s].value)}% of that)`;
      });
    process.stdout.write(
      `calibration, the same client against Node's raw TCP echo: ${parts.join('; ')}\n`,
    );
  }
  process.stdout.write(
    notes.length === 0
      ? 'every cell was server-bound: the load client outpaced each server it measured\n'
      : `cells not server-bound (their ratios are not the servers' alone): ${notes.join(', ')}\n`,
  );
}

const scenarios = values.scenarios.split(',');
process.stdout.write(
  `node ${process.version}, ${rounds} rounds × ${seconds}s per scenario (+0.5 s warm-up); ` +
    `ws with bufferutil + utf-8-validate; ${pin ? 'server on CPU 1, client on CPU 0' : 'not pinned'}; ` +
    `every server holds ${values['app-heap']} MiB of application heap (--app-heap)\n`,
);
const ceiling = values['no-calibrate'] ? undefined : await calibrate(scenarios);
const echo = await measure(scenarios, false);
print('Uncompressed echo', scenarios, echo, ceiling);
if (values.deflate && !values['no-deflate']) {
  const title = 'permessage-deflate, 1 KiB JSON-like text';
  print(title, ['json1k'], await measure(['json1k'], true), undefined);
}
if (values.admission) {
  // Rounds interleave the two servers; the ratio is the median of the per-round ratios.
  const rows = { off: { value: [], perCpu: [] }, on: { value: [], perCpu: [] } };
  const ratios = { value: [], perCpu: [] };
  for (let round = 0; round < rounds; round++) {
    const cells = {};
    for (const admission of ['off', 'on']) {
      const server = await startServer('wsroute', 'node', false, admission);
      try {
        const cell = await measureCell(server, 'handshake', ['--origin']);
        cells[admission] = {
          value: cell.handshakesPerSecond,
          perCpu: (100 * cell.handshakesPerSecond) / cell.serverCpuPercent,
        };
        rows[admission].value.push(cells[admission].value);
        rows[admission].perCpu.push(cells[admission].perCpu);
      } finally {
        await server.stop();
      }
    }
    ratios.value.push(cells.on.value / cells.off.value);
    ratios.perCpu.push(cells.on.perCpu / cells.off.perCpu);
  }
  process.stdout.write(
    '\nAdmission checks (node attachment, handshakes with Origin and X-Forwarded-For)\n' +
      `| admission | handshakes/s | per server CPU-s |\n| --- | --- | --- |\n` +
      `| off (origins '*', no limits) | ${fmt(median(rows.off.value))} | ${fmt(median(rows.off.perCpu))} |\n` +
      `| on (same-origin, trusted proxy, caps, budget) | ${fmt(median(rows.on.value))} | ${fmt(median(rows.on.perCpu))} |\n` +
      `on/off, median of per-round ratios: ${median(ratios.value).toFixed(3)}× handshakes/s, ` +
      `${median(ratios.perCpu).toFixed(3)}× per server CPU-s\n`,
  );
}
if (values.floor) printFloor(await measureFloor(), echo);
if (values.fanout) {
  const args = [here('./fanout/run.mjs'), '--rounds', String(rounds), '--seconds', seconds];
  if (values.bun) args.push('--bun', values.bun);
  if (values['fanout-client']) args.push('--client', values['fanout-client']);
  if (values['fanout-scenarios']) args.push('--scenarios', values['fanout-scenarios']);
  if (values['no-pin']) args.push('--no-pin');
  process.stdout.write('\nTopic fan-out (bench/fanout/run.mjs)\n');
  execFileSync(process.execPath, args, { stdio: 'inherit', timeout: 60 * 60 * 1000 });
}
