// `pnpm bench`: our echo server(s) and ws's, measured in the same run by a load client in a
// separate process. Each scenario runs ROUNDS times per server, servers interleaved, and the
// median is reported with its ratio to ws.
//
//   node bench/run.mjs [--seconds 2] [--rounds 3] [--adapters node,fastify,express,koa]
//                      [--scenarios binary64,...] [--idle 1000] [--deflate]
import { execFileSync, fork, spawn } from 'node:child_process';
import { once } from 'node:events';
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
    deflate: { type: 'boolean', default: true },
    'no-deflate': { type: 'boolean', default: false },
  },
});
const rounds = Number(values.rounds);
const seconds = values.seconds;

/** A server under test, in a child process with --expose-gc. */
async function startServer(impl, adapter, deflate) {
  const args = ['--impl', impl, '--adapter', adapter];
  if (deflate) args.push('--deflate');
  const child = fork(here('./server.mjs'), args, { execArgv: ['--expose-gc'], stdio: 'inherit' });
  const [message] = await once(child, 'message');
  if (message?.type !== 'ready') throw new Error(`${impl} did not start`);
  return {
    port: message.port,
    async memory() {
      child.send({ type: 'memory' });
      for (;;) {
        const [reply] = await once(child, 'message');
        if (reply?.type === 'memory') return reply.memory;
      }
    },
    stop() {
      child.kill();
      return once(child, 'exit');
    },
  };
}

function load(port, scenario, extra = []) {
  const out = execFileSync(
    process.execPath,
    [
      here('./load.mjs'),
      '--port',
      String(port),
      '--scenario',
      scenario,
      '--seconds',
      seconds,
      ...extra,
    ],
    { encoding: 'utf8', timeout: (Number(seconds) + 60) * 1000 },
  );
  return JSON.parse(out.trim().split('\n').pop());
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

async function measure(scenarios, deflate) {
  const results = new Map();
  for (const contender of contenders) results.set(contender.name, {});
  for (let round = 0; round < rounds; round++) {
    for (const contender of contenders) {
      const server = await startServer(contender.impl, contender.adapter, deflate);
      try {
        for (const scenario of scenarios) {
          const result = load(server.port, scenario, deflate ? ['--deflate'] : []);
          const [key] = METRIC[scenario];
          const bucket = results.get(contender.name);
          bucket[scenario] ??= [];
          bucket[scenario].push(result[key]);
        }
      } finally {
        await server.stop();
      }
    }
  }
  const idleCount = Number(values.idle);
  if (idleCount > 0) {
    for (const contender of contenders) {
      const server = await startServer(contender.impl, contender.adapter, deflate);
      try {
        const memory = await idleMemory(server, idleCount, deflate);
        results.get(contender.name).idle = [memory.heapPerConnection];
        results.get(contender.name).idleRss = [memory.rssPerConnection];
      } finally {
        await server.stop();
      }
    }
  }
  return results;
}

function print(title, scenarios, results) {
  const rows = [];
  const ws = results.get('ws');
  const names = contenders.map((c) => c.name);
  const fmt = (n) => (n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(1));
  const line = (label, unit, key, lowerIsBetter = false) => {
    const base = median(ws[key]);
    const cells = names.map((name) => {
      const value = median(results.get(name)[key]);
      if (name === 'ws') return fmt(value);
      const ratio = lowerIsBetter ? base / value : value / base;
      return `${fmt(value)} (${ratio.toFixed(2)}×)`;
    });
    rows.push([label, unit, ...cells]);
  };
  for (const scenario of scenarios) line(scenario, METRIC[scenario][1], scenario);
  if (ws.idle) {
    line('idle conn heap+external', 'B/conn', 'idle', true);
    line('idle conn rss', 'B/conn', 'idleRss', true);
  }
  const header = ['scenario', 'unit', ...names];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const out = [header, widths.map((w) => '-'.repeat(w)), ...rows]
    .map((r) => `| ${r.map((c, i) => String(c).padEnd(widths[i])).join(' | ')} |`)
    .join('\n');
  process.stdout.write(`\n${title}\n${out}\n`);
  process.stdout.write(
    '(medians of the rounds; ratio = wsroute / ws, for memory ws / wsroute: above 1× is better)\n',
  );
}

const scenarios = values.scenarios.split(',');
process.stdout.write(
  `node ${process.version}, ${rounds} rounds × ${seconds}s per scenario; ws with bufferutil + utf-8-validate\n`,
);
print('Uncompressed echo', scenarios, await measure(scenarios, false));
if (values.deflate && !values['no-deflate']) {
  print('permessage-deflate, 1 KiB JSON-like text', ['json1k'], await measure(['json1k'], true));
}
