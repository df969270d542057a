/**
 * A real, isolated `redis-server` for tests: its own free port on 127.0.0.1, no persistence, a
 * temporary working directory, no config file. It can be stopped and started again on the same
 * port mid-test, and it is stopped (by PID) and its directory removed on the test's teardown.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TeardownHost } from './exchange.js';
import { WAIT_MS, withTimeout } from './wait.js';

/** The binary used unless `REDIS_SERVER` names another one. */
export const REDIS_SERVER_BINARY = '/usr/bin/redis-server';

/** A running (or stopped) `redis-server` owned by one test. */
export interface RedisServer {
  /** The port, the same across restarts. */
  readonly port: number;
  /** `redis://127.0.0.1:<port>`. */
  readonly url: string;
  /** The PID of the current process, undefined while stopped. */
  readonly pid: number | undefined;
  /** Whether a process is running. */
  readonly isRunning: boolean;
  /**
   * Stops the process by PID and waits for its exit (SIGKILL after `ms` if needed).
   * @param signal - `SIGTERM` for a shutdown that closes client connections, `SIGKILL` for a crash
   */
  stop(signal?: 'SIGTERM' | 'SIGKILL'): Promise<void>;
  /** Starts the process again on the same port and waits until it answers `PING`. */
  start(): Promise<void>;
}

/** Options of {@link startRedisServer}. */
export interface RedisServerOptions {
  /** Extra `redis-server` arguments, e.g. `['--maxclients', '10']`. */
  readonly args?: readonly string[];
  /**
   * Bound of each start and stop, in ms.
   * @default WAIT_MS
   */
  readonly ms?: number;
}

/**
 * Starts `redis-server` (`REDIS_SERVER` or {@link REDIS_SERVER_BINARY}) on a free port and
 * waits until it answers `PING`; stops it on teardown.
 * @param t - the owning test
 * @param options - extra arguments and the bound of each wait
 * @returns the server
 * @throws Error when the binary is missing ("install redis-server") or does not answer in time
 */
export async function startRedisServer(
  t: TeardownHost,
  options: RedisServerOptions = {},
): Promise<RedisServer> {
  const binary = process.env.REDIS_SERVER ?? REDIS_SERVER_BINARY;
  const ms = options.ms ?? WAIT_MS;
  const dir = await mkdtemp(join(tmpdir(), 'wsroute-redis-'));
  const port = await findFreePort();
  let child: ChildProcess | undefined;

  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    'no',
    '--dir',
    dir,
    '--unixsocket',
    '',
    '--daemonize',
    'no',
    '--logfile',
    '',
    '--databases',
    '1',
    ...(options.args ?? []),
  ];

  async function start(): Promise<void> {
    if (child !== undefined) throw new Error(`redis-server already runs on port ${port}`);
    const started = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child = started;
    let output = '';
    const ready = new Promise<void>((resolve, reject) => {
      const onOutput = (chunk: Buffer): void => {
        output = (output + chunk.toString('latin1')).slice(-4_000);
        if (output.includes('Ready to accept connections')) resolve();
      };
      started.stdout?.on('data', onOutput);
      started.stderr?.on('data', onOutput);
      started.once('error', (error: NodeJS.ErrnoException) => {
        child = undefined;
        reject(
          error.code === 'ENOENT'
            ? new Error(`${binary} not found: install redis-server (apt-get install redis-server)`)
            : error,
        );
      });
      started.once('exit', (code, signal) => {
        if (child === started) child = undefined;
        reject(new Error(`redis-server exited (${code ?? signal}) while starting:\n${output}`));
      });
    });
    ready.catch(() => {});
    await withTimeout(ready, 'redis-server start', ms);
    if (!(await ping(port))) throw new Error(`redis-server on port ${port} does not answer PING`);
  }

  async function stop(signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> {
    const running = child;
    if (running === undefined) return;
    const pid = running.pid;
    if (running.exitCode !== null || running.signalCode !== null || pid === undefined) {
      child = undefined;
      return;
    }
    const exited = once(running, 'exit');
    process.kill(pid, signal);
    try {
      await withTimeout(exited, 'redis-server stop', ms);
    } catch {
      if (running.exitCode === null && running.signalCode === null) process.kill(pid, 'SIGKILL');
      await withTimeout(exited, 'redis-server kill', ms);
    }
    child = undefined;
  }

  t.teardown(async () => {
    await stop();
    await rm(dir, { recursive: true, force: true });
  });
  await start();

  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    get pid() {
      return child?.pid;
    },
    get isRunning() {
      return child !== undefined;
    },
    stop,
    start,
  };
}

/** A port that was free a moment ago: listen on port 0, read it, close. */
async function findFreePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  await once(server, 'close');
  if (address === null || typeof address === 'string') throw new Error('no TCP port');
  return address.port;
}

/** Whether `PING` on 127.0.0.1:`port` answers `+PONG` (within 1 s). */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' });
    let reply = '';
    const finish = (isPong: boolean): void => {
      socket.destroy();
      resolve(isPong);
    };
    socket.setTimeout(1_000, () => finish(false));
    socket.on('error', () => finish(false));
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString('latin1');
      if (reply.includes('\r\n')) finish(reply.startsWith('+PONG'));
    });
  });
}
