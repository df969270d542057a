import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import WebSocket from 'ws';

/** What the test uses of app.mjs (JavaScript, checked through its JSDoc by ../tsconfig.json). */
interface ChatModule {
  createChatServer(options: { port: number }): Promise<{ port: number; close(): Promise<void> }>;
}
// A computed specifier: tap's TypeScript loader does not read JavaScript types (allowJs is off).
const APP: string = '../app.mjs';
const { createChatServer } = (await import(APP)) as ChatModule;

const PROTOCOL = 'chat.v1';

async function startChat(t: Test): Promise<{ port: number; url: string }> {
  const chat = await createChatServer({ port: 0 });
  t.teardown(() => chat.close());
  return { port: chat.port, url: `ws://127.0.0.1:${chat.port}` };
}

/** A client whose messages (parsed JSON) are queued from the start. */
interface Client {
  readonly socket: WebSocket;
  next(): Promise<Record<string, unknown>>;
}

async function join(t: Test, url: string, headers: Record<string, string>): Promise<Client> {
  const socket = new WebSocket(url, PROTOCOL, { headers });
  t.teardown(() => {
    socket.terminate();
  });
  const queue: Record<string, unknown>[] = [];
  const waiters: ((message: Record<string, unknown>) => void)[] = [];
  socket.on('message', (data: Buffer) => {
    const message = JSON.parse(data.toString()) as Record<string, unknown>;
    const waiter = waiters.shift();
    if (waiter) waiter(message);
    else queue.push(message);
  });
  await once(socket, 'open');
  return {
    socket,
    next() {
      const queued = queue.shift();
      return queued ? Promise.resolve(queued) : new Promise((resolve) => waiters.push(resolve));
    },
  };
}

/** The status of a refused handshake, read by the `ws` client. */
async function refusal(
  url: string,
  headers: Record<string, string> = {},
  protocols: string[] = [PROTOCOL],
): Promise<number> {
  const socket = new WebSocket(url, protocols, { headers });
  socket.on('error', () => {});
  const [, response] = (await once(socket, 'unexpected-response')) as [
    unknown,
    { statusCode: number },
  ];
  socket.terminate();
  return response.statusCode;
}

t.test('an upgrade without credentials gets HTTP 401, never a 101', async (t) => {
  const { port, url } = await startChat(t);
  t.equal(await refusal(`${url}/chat/lobby`), 401);
  t.equal(await refusal(`${url}/chat/lobby`, { authorization: 'Bearer wrong' }), 401);

  const socket = connect(port, '127.0.0.1');
  t.teardown(() => {
    socket.destroy();
  });
  socket.write(
    'GET /chat/lobby HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n' +
      'Sec-WebSocket-Protocol: chat.v1\r\n\r\n',
  );
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  await once(socket, 'end');
  const raw = Buffer.concat(chunks).toString();
  t.match(raw, /^HTTP\/1\.1 401 Unauthorized\r\n/);
  t.match(raw, /\r\nWWW-Authenticate: Bearer/);
  t.notMatch(raw, /101/);
});

t.test('the same middleware guards plain HTTP', async (t) => {
  const { port } = await startChat(t);
  const anonymous = await fetch(`http://127.0.0.1:${port}/me`);
  t.equal(anonymous.status, 401);
  const alice = await fetch(`http://127.0.0.1:${port}/me`, {
    headers: { authorization: 'Bearer token-alice' },
  });
  t.same(await alice.json(), { user: 'alice' });
});

t.test('with a bearer token or a cookie, users chat in a room', async (t) => {
  const { url } = await startChat(t);
  const alice = await join(t, `${url}/chat/lobby`, { authorization: 'Bearer token-alice' });
  t.equal(alice.socket.protocol, PROTOCOL);
  t.same(await alice.next(), { type: 'welcome', user: 'alice', room: 'lobby', present: [] });

  const bob = await join(t, `${url}/chat/lobby`, { cookie: 'theme=dark; token=token-bob' });
  t.same(await bob.next(), { type: 'welcome', user: 'bob', room: 'lobby', present: ['alice'] });
  t.same(await alice.next(), { type: 'joined', user: 'bob' });

  bob.socket.send(JSON.stringify({ type: 'say', text: 'hi alice' }));
  const expected = { type: 'message', from: 'bob', text: 'hi alice' };
  t.same(await alice.next(), expected);
  t.same(await bob.next(), expected);

  bob.socket.close(1000);
  t.same(await alice.next(), { type: 'left', user: 'bob' });
});

/** The credential carrier for a token, as a browser page offers it. */
const carrier = (token: string): string =>
  `base64url.bearer.${Buffer.from(token).toString('base64url')}`;

t.test('a token carried as a subprotocol next to chat.v1 logs the client in', async (t) => {
  const { url } = await startChat(t);
  const socket = new WebSocket(`${url}/chat/lobby`, [PROTOCOL, carrier('token-alice')]);
  t.teardown(() => socket.terminate());
  const [welcome] = (await once(socket, 'message')) as [Buffer];
  t.equal(socket.protocol, PROTOCOL, 'only chat.v1 is answered, never the token');
  t.same(JSON.parse(welcome.toString()), {
    type: 'welcome',
    user: 'alice',
    room: 'lobby',
    present: [],
  });
  t.equal(await refusal(`${url}/chat/lobby`, {}, [PROTOCOL, carrier('token-eve')]), 401);
  t.equal(await refusal(`${url}/chat/lobby`, {}, [carrier('token-alice')]), 400, 'token alone');
});

t.test('handshakes from another origin are refused, even with the cookie', async (t) => {
  const { port, url } = await startChat(t);
  const cookie = { cookie: 'token=token-alice' };
  const foreign = { ...cookie, origin: 'https://evil.example', host: `127.0.0.1:${port}` };
  t.equal(await refusal(`${url}/chat/lobby`, foreign), 403);
  const own = { ...cookie, origin: `http://127.0.0.1:${port}` };
  const alice = await join(t, `${url}/chat/lobby`, own);
  t.equal(alice.socket.protocol, PROTOCOL);
});

t.test('messages outside the protocol close the connection', async (t) => {
  const { url } = await startChat(t);
  const alice = await join(t, `${url}/chat/lobby`, { authorization: 'Bearer token-alice' });
  await alice.next();
  alice.socket.send('not json');
  const [code] = (await once(alice.socket, 'close')) as [number];
  t.equal(code, 1007, 'invalid JSON fails decoding');

  const bob = await join(t, `${url}/chat/lobby`, { authorization: 'Bearer token-bob' });
  await bob.next();
  bob.socket.send(JSON.stringify({ type: 'shout', text: 'HI' }));
  const [bobCode] = (await once(bob.socket, 'close')) as [number];
  t.equal(bobCode, 1008, 'a message failing validation');
});

t.test('a client without chat.v1 gets 400', async (t) => {
  const { url } = await startChat(t);
  const socket = new WebSocket(`${url}/chat/lobby`, 'chat.v2', {
    headers: { authorization: 'Bearer token-alice' },
  });
  socket.on('error', () => {});
  const [, response] = (await once(socket, 'unexpected-response')) as [
    unknown,
    { statusCode: number },
  ];
  socket.terminate();
  t.equal(response.statusCode, 400);
});

t.test('server.mjs starts on --port and closes websockets with 1001 on SIGTERM', async (t) => {
  const script = fileURLToPath(new URL('../server.mjs', import.meta.url));
  const child: ChildProcess = spawn(process.execPath, [script, '--port', '0'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.teardown(() => {
    child.kill('SIGKILL');
  });
  let output = '';
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /listening on ws:\/\/[^:]+:(\d+)/.exec(output);
      if (match) resolve(Number(match[1]));
    });
    child.once('exit', (code) => reject(new Error(`exited with ${code}: ${output}`)));
  });
  const alice = await join(t, `ws://127.0.0.1:${port}/chat/lobby`, {
    authorization: 'Bearer token-alice',
  });
  await alice.next();
  const closed = once(alice.socket, 'close');
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const [code] = (await closed) as [number];
  t.equal(code, 1001);
  const [exitCode] = (await exited) as [number];
  t.equal(exitCode, 0);
});
