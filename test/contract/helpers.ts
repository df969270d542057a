/**
 * Helpers of the contract suite: starting an app per case, `ws` clients, raw upgrades and the
 * assertions on a refusal or a 101. Every socket and app is released on the case's teardown.
 */
import type { Test } from 'tap';
import WebSocket from 'ws';
import {
  type HttpHead,
  headerValues,
  RawClient,
  type RequestHeaders,
  SAMPLE_ACCEPT,
  waitForEvent,
  withTimeout,
} from '../helpers/raw-client.js';
import type { ContractApp, ContractFactory, ContractOptions } from './spec.js';

/** Starts an app for one case; its `close()` is idempotent and runs on teardown. */
export async function start(
  t: Test,
  factory: ContractFactory,
  options?: ContractOptions,
): Promise<ContractApp> {
  const app = await withTimeout(factory(options), 'factory');
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= app.close();
    return closing;
  };
  t.teardown(close);
  return { ...app, close };
}

/** Opens a `ws` client; it is terminated on teardown. */
export async function openWs(
  t: Test,
  url: string,
  protocols: string[] = [],
  headers: Record<string, string> = {},
): Promise<WebSocket> {
  const ws = new WebSocket(url, protocols, { headers });
  ws.on('error', () => {});
  t.teardown(() => ws.terminate());
  await waitForEvent(ws, 'open');
  return ws;
}

/** The next message of a `ws` client, as text or bytes. */
export async function nextMessage(ws: WebSocket): Promise<{ data: Buffer; isBinary: boolean }> {
  const [data, isBinary] = await waitForEvent(ws, 'message');
  return { data: data as Buffer, isBinary: isBinary as boolean };
}

/** Sends `message` and returns the answer as text. */
export async function ask(ws: WebSocket, message: string): Promise<string> {
  const answer = nextMessage(ws);
  ws.send(message);
  return (await answer).data.toString();
}

/** The code and reason of the close a `ws` client sees. */
export async function closeOf(ws: WebSocket): Promise<{ code: number; reason: string }> {
  const [code, reason] = await waitForEvent(ws, 'close');
  return { code: code as number, reason: String(reason) };
}

/** A raw upgrade: the head, and the body when it is not a 101. */
export async function rawUpgrade(
  t: Test,
  app: ContractApp,
  path: string,
  headers: RequestHeaders = {},
  extra?: Buffer,
): Promise<{ client: RawClient; head: HttpHead; body: string }> {
  const { client, head } = await RawClient.open(t, app.port, {
    path,
    headers,
    ...(extra ? { extra } : {}),
  });
  const body = head.status === 101 ? '' : await client.body(head);
  return { client, head, body };
}

/** Asserts a refusal before any 101: the status, and no 101 before or after it. */
export function expectRefused(
  t: Test,
  answer: { client: RawClient; head: HttpHead },
  status: number | ((status: number) => boolean),
): void {
  const { head, client } = answer;
  if (typeof status === 'number') t.equal(head.status, status, `answers ${status}`);
  else t.ok(status(head.status), `answers ${head.statusLine}`);
  t.not(head.status, 101, 'no 101');
  t.same(headerValues(head, 'sec-websocket-accept'), [], 'no accept key');
  t.equal(client.pendingBytes, 0, 'nothing follows the answer');
}

/** Asserts a 101 answering exactly one `Sec-WebSocket-Protocol` (or none). */
export function expectAccepted(t: Test, head: HttpHead, protocol: string | undefined): void {
  t.equal(head.status, 101);
  t.same(headerValues(head, 'sec-websocket-accept'), [SAMPLE_ACCEPT]);
  t.same(
    headerValues(head, 'sec-websocket-protocol'),
    protocol === undefined ? [] : [protocol],
    protocol === undefined ? 'no protocol header' : `exactly one protocol header: ${protocol}`,
  );
}

export const offer = (protocols: string): RequestHeaders => ({
  'Sec-WebSocket-Protocol': protocols,
});
