/**
 * Runs `server.mjs` as a child process, as a user would, and talks to it over real sockets.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import WebSocket from 'ws';

const SERVER = fileURLToPath(new URL('../server.mjs', import.meta.url));

interface Running {
  readonly child: ChildProcess;
  readonly http: string;
  readonly ws: string;
}

/** Starts the example on port 0 and waits for its "listening on" line. */
async function startExample(t: Test): Promise<Running> {
  const child = spawn(process.execPath, [SERVER, '--port', '0'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
  });
  let output = '';
  for await (const chunk of child.stdout ?? []) {
    output += String(chunk);
    const match = /listening on http:\/\/([\d.]+:\d+)/.exec(output);
    if (match) return { child, http: `http://${match[1]}`, ws: `ws://${match[1]}` };
  }
  throw new Error(`the example exited without listening: ${output}`);
}

type Outcome =
  | { readonly kind: 'open'; readonly socket: WebSocket; readonly messages: unknown[] }
  | {
      readonly kind: 'refused';
      readonly status: number;
      readonly headers: Record<string, unknown>;
    };

/** Connects a client that records every JSON message from the start. */
async function connect(
  t: Test,
  url: string,
  options: { protocols?: string[]; token?: string } = {},
): Promise<Outcome> {
  const headers: Record<string, string> = options.token
    ? { authorization: `Bearer ${options.token}` }
    : {};
  const socket = new WebSocket(url, options.protocols ?? ['chat.v1'], { headers });
  const messages: unknown[] = [];
  socket.on('message', (data: Buffer) => messages.push(JSON.parse(data.toString('utf8'))));
  t.teardown(() => {
    socket.on('error', () => {});
    socket.terminate();
  });
  return new Promise((resolve, reject) => {
    socket.once('open', () => resolve({ kind: 'open', socket, messages }));
    socket.once('unexpected-response', (_request, response) => {
      response.resume();
      resolve({ kind: 'refused', status: response.statusCode ?? 0, headers: response.headers });
    });
    socket.once('error', reject);
  });
}

async function open(
  t: Test,
  url: string,
  token: string,
): Promise<{ socket: WebSocket; messages: unknown[] }> {
  const outcome = await connect(t, url, { token });
  if (outcome.kind !== 'open') throw new Error(`refused with ${outcome.status}`);
  return outcome;
}

/** Waits until `messages` holds at least `count` entries. */
async function waitFor(socket: WebSocket, messages: unknown[], count: number): Promise<unknown[]> {
  while (messages.length < count) await once(socket, 'message');
  return messages;
}

t.test('the koa-auth example', async (t) => {
  const server = await startExample(t);

  t.test('answers plain HTTP routes', async (t) => {
    const health = await fetch(`${server.http}/health`);
    t.equal(health.status, 200);
    t.equal(await health.text(), 'ok');
    const me = await fetch(`${server.http}/me`, { headers: { authorization: 'Bearer bob-token' } });
    t.same(await me.json(), { id: 'u2', name: 'bob' });
  });

  t.test('refuses a client without token with a plain 401 and WWW-Authenticate', async (t) => {
    const outcome = await connect(t, `${server.ws}/rooms/lobby`);
    t.equal(outcome.kind, 'refused');
    if (outcome.kind !== 'refused') return;
    t.equal(outcome.status, 401);
    t.equal(outcome.headers['www-authenticate'], 'Bearer');
  });

  t.test('refuses a wrong token with 401', async (t) => {
    const outcome = await connect(t, `${server.ws}/rooms/lobby`, { token: 'mallory' });
    t.equal(outcome.kind === 'refused' && outcome.status, 401);
  });

  t.test('refuses a client that does not speak chat.v1 with 400', async (t) => {
    const outcome = await connect(t, `${server.ws}/rooms/lobby`, {
      token: 'alice-token',
      protocols: ['chat.v0'],
    });
    t.equal(outcome.kind === 'refused' && outcome.status, 400);
  });

  t.test('answers a plain GET on the websocket route with 426', async (t) => {
    const response = await fetch(`${server.http}/rooms/lobby`, {
      headers: { authorization: 'Bearer alice-token' },
    });
    t.equal(response.status, 426);
    t.equal(response.headers.get('upgrade'), 'websocket');
  });

  t.test('welcomes users and broadcasts within a room only', async (t) => {
    const alice = await open(t, `${server.ws}/rooms/lobby`, 'alice-token');
    t.equal(alice.socket.protocol, 'chat.v1');
    t.same(await waitFor(alice.socket, alice.messages, 1), [
      { type: 'welcome', room: 'lobby', user: { id: 'u1', name: 'alice' } },
    ]);
    const bob = await open(t, `${server.ws}/rooms/lobby?access_token=bob-token`, '');
    await waitFor(bob.socket, bob.messages, 1);
    const other = await open(t, `${server.ws}/rooms/kitchen`, 'bob-token');
    await waitFor(other.socket, other.messages, 1);

    alice.socket.send(JSON.stringify({ type: 'say', text: 'hi all' }));
    const said = { type: 'message', room: 'lobby', from: 'alice', text: 'hi all' };
    t.same((await waitFor(alice.socket, alice.messages, 2))[1], said);
    t.same((await waitFor(bob.socket, bob.messages, 2))[1], said);
    other.socket.send(JSON.stringify({ type: 'say', text: 'ping' }));
    t.same((await waitFor(other.socket, other.messages, 2))[1], {
      type: 'message',
      room: 'kitchen',
      from: 'bob',
      text: 'ping',
    });
    t.equal(alice.messages.length, 2, 'nothing from the other room');
  });

  t.test(
    'closes with 1008 on a message that is not chat.v1 and 1007 on invalid JSON',
    async (t) => {
      const wrong = await open(t, `${server.ws}/rooms/lobby`, 'alice-token');
      wrong.socket.send(JSON.stringify({ type: 'shout' }));
      const [code] = (await once(wrong.socket, 'close')) as [number];
      t.equal(code, 1008);
      const garbled = await open(t, `${server.ws}/rooms/lobby`, 'alice-token');
      garbled.socket.send('{not json');
      const [garbledCode] = (await once(garbled.socket, 'close')) as [number];
      t.equal(garbledCode, 1007);
    },
  );

  t.test('on SIGTERM closes every connection with 1001 and exits 0', async (t) => {
    const alice = await open(t, `${server.ws}/rooms/lobby`, 'alice-token');
    const closing = once(alice.socket, 'close');
    const exiting = once(server.child, 'exit');
    server.child.kill('SIGTERM');
    const [code] = (await closing) as [number];
    t.equal(code, 1001);
    const [exitCode] = (await exiting) as [number | null];
    t.equal(exitCode, 0);
  });
});
