/**
 * The broadcast example's command line, as outside load tools run it: on every adapter, and
 * across two processes on different adapters sharing a real Redis.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { startRedisServer, withTimeout } from '@wsroute/test-utils';
import t, { type Test } from 'tap';
import WebSocket from 'ws';

const SERVER = fileURLToPath(new URL('../server.mjs', import.meta.url));

/** Starts `server.mjs` with `args` and waits for its "listening on ws://…" line. */
async function startExample(
  t: Test,
  args: string[],
): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, [SERVER, '--port', '0', ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.teardown(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    await withTimeout(exited, 'exit', 10_000).catch(() => child.kill('SIGKILL'));
  });
  let output = '';
  const stdout = child.stdout;
  if (!stdout) throw new Error('no stdout');
  const url = await withTimeout(
    new Promise<string>((resolve, reject) => {
      stdout.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        const match = /listening on (ws:\/\/[\d.]+:\d+)/.exec(output);
        if (match?.[1]) resolve(match[1]);
      });
      child.once('exit', (code) => reject(new Error(`exited with ${code}: ${output}`)));
    }),
    'listening',
    15_000,
  );
  return { url, child };
}

interface Received {
  readonly text: string;
  readonly isBinary: boolean;
}

/** An open client recording every message; terminated on teardown. */
async function subscriber(t: Test, url: string) {
  const ws = new WebSocket(url);
  const messages: Received[] = [];
  let wake: (() => void) | undefined;
  ws.on('message', (data: Buffer, isBinary) => {
    messages.push({ text: isBinary ? data.toString('hex') : data.toString(), isBinary });
    wake?.();
  });
  ws.on('error', () => {});
  t.teardown(() => ws.terminate());
  await withTimeout(once(ws, 'open'), `open ${url}`);
  const count = async (n: number, ms = 20_000): Promise<Received[]> => {
    const deadline = Date.now() + ms;
    while (messages.length < n) {
      if (Date.now() > deadline) throw new Error(`${messages.length} of ${n} messages`);
      await withTimeout(new Promise<void>((resolve) => (wake = resolve)), 'a message', ms);
    }
    return messages;
  };
  return { ws, messages, count };
}

for (const adapter of ['node', 'fastify', 'express', 'koa']) {
  t.test(`--adapter ${adapter}: every other subscriber of the topic, and only them`, async (t) => {
    const { url } = await startExample(t, ['--adapter', adapter]);
    const sender = await subscriber(t, `${url}/topics/room`);
    const others = [
      await subscriber(t, `${url}/topics/room`),
      await subscriber(t, `${url}/topics/room`),
    ];
    const elsewhere = await subscriber(t, `${url}/topics/lobby`);
    const big = Buffer.alloc(1024 * 1024, 0xab);
    // Give the server a moment to register the last subscriptions (they happen on open).
    await new Promise((resolve) => setTimeout(resolve, 50));
    sender.ws.send('hello');
    sender.ws.send(Buffer.from([1, 2, 255]), { binary: true });
    sender.ws.send(big, { binary: true });
    for (const other of others) {
      const [text, bytes, large] = await other.count(3);
      t.same(text, { text: 'hello', isBinary: false }, 'text stays text');
      t.same(bytes, { text: '0102ff', isBinary: true }, 'binary stays binary');
      t.equal(large?.text.length, 2 * big.length, 'a 1 MiB message passes');
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
    t.same(sender.messages, [], 'not back to the sender');
    t.same(elsewhere.messages, [], 'not to another topic');

    // Above 1 MiB the sender is closed with 1009.
    const closed = once(sender.ws, 'close');
    sender.ws.send(Buffer.alloc(1024 * 1024 + 1));
    const [code] = (await withTimeout(closed, 'close')) as [number];
    t.equal(code, 1009);
  });
}

t.test('two processes on different adapters share a topic through Redis', async (t) => {
  const redis = await startRedisServer(t);
  const a = await startExample(t, ['--adapter', 'fastify', '--redis', redis.url]);
  const b = await startExample(t, ['--adapter', 'koa', '--redis', redis.url]);
  const onB = await subscriber(t, `${b.url}/topics/shared`);
  const onA = await subscriber(t, `${a.url}/topics/shared`);
  const publisher = await subscriber(t, `${a.url}/topics/shared`);
  // The subscription reaches Redis asynchronously: probe until a message crosses.
  const deadline = Date.now() + 10_000;
  while (onB.messages.length === 0) {
    if (Date.now() > deadline) throw new Error('no message crossed processes');
    publisher.ws.send('probe');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const probes = onB.messages.length;
  const count = 10_000;
  for (let i = 0; i < count; i++) publisher.ws.send(`m${i}`);
  await onB.count(probes + count, 30_000);
  const received = onB.messages.slice(probes).map((m) => m.text);
  t.same(
    received,
    Array.from({ length: count }, (_, i) => `m${i}`),
    'in order, exactly once',
  );
  const local = await onA.count(onA.messages.length >= probes + count ? 0 : probes + count);
  t.equal(
    local.filter((m) => m.text.startsWith('m')).length,
    count,
    'the publishing process delivers its own publications once, not again from Redis',
  );
});
