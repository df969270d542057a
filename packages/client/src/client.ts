/**
 * `connect()`: offers the contracts' names as subprotocols, checks the server's choice, and
 * hands back a client typed by the negotiated contract.
 *
 * ```
 *   connecting ──open, protocol offered──► open ──drop──► reconnecting ──open──► open
 *       │                                   │                  │ attempts used up
 *       └──failed: connect() rejects        └──close()──► closing ──► closed ◄──┘
 * ```
 * @module
 */
import {
  type AnyContract,
  checkMessage,
  type ValidationResult,
  type WireData,
} from '@wsroute/contract';
import type {
  Client,
  ClientEvents,
  ClientState,
  ClosedInfo,
  ConnectOptions,
  ReconnectInfo,
} from './client-types.js';
import { ClientCloseCode, type CloseInfo, closeInfo } from './close-info.js';
import { ClientError } from './errors.js';
import { callSafely, Inbox, type Outcome } from './inbox.js';
import { backoffDelay, type ReconnectPolicy, resolveReconnect } from './reconnect.js';
import { encodeTokenProtocol } from './token.js';
import type { WebSocketConstructor, WebSocketEventLike, WebSocketLike } from './websocket-like.js';

const REASONS: Record<string, string> = {
  [ClientCloseCode.UNEXPECTED_PROTOCOL]: 'unexpected protocol',
  [ClientCloseCode.DECODE_FAILED]: 'undecodable message',
  [ClientCloseCode.INVALID_MESSAGE]: 'invalid message',
  [ClientCloseCode.VALIDATOR_FAILED]: 'validator failed',
};

/** Decodes and validates one message: a settled outcome, or a promise that never rejects. */
function evaluate(
  contract: AnyContract,
  data: WireData,
  isBinary: boolean,
): Outcome | Promise<Outcome> {
  const { name, codec, server } = contract;
  let decoded: unknown;
  try {
    decoded = codec ? codec.decode(data, isBinary) : data;
  } catch (cause) {
    return { error: new ClientError('DECODE_FAILED', `${name}: undecodable message`, { cause }) };
  }
  const settle = (result: ValidationResult<unknown>): Outcome =>
    result.ok
      ? { value: result.value }
      : {
          error: new ClientError(
            'INVALID_MESSAGE',
            `${name}: invalid message: ${result.issues[0]?.message}`,
            { issues: result.issues, data: decoded },
          ),
        };
  const broken = (cause: unknown): Outcome => ({
    error: new ClientError('VALIDATOR_FAILED', `${name}: the schema threw`, { cause }),
  });
  try {
    const result = checkMessage(server, decoded);
    return result instanceof Promise ? result.then(settle, broken) : settle(result);
  } catch (cause) {
    return broken(cause);
  }
}

/** The one runtime class behind every {@link ContractClient} view. */
class WebSocketClient {
  readonly url: string;
  readonly offered: readonly string[];
  readonly closed: Promise<ClosedInfo>;
  readonly #contracts: readonly AnyContract[];
  readonly #options: ConnectOptions;
  readonly #WebSocket: WebSocketConstructor;
  readonly #policy: ReconnectPolicy | undefined;
  readonly #inbox = new Inbox((error) => this.#onInvalid(error));
  readonly #listeners = new Map<keyof ClientEvents, Set<(event: never) => void>>();
  #resolveClosed!: (info: ClosedInfo) => void;
  #settle!: { resolve(): void; reject(error: ClientError): void };
  #ws: WebSocketLike | undefined;
  #contract: AnyContract | undefined;
  #state: ClientState = 'connecting';
  #hasOpened = false;
  /** No reconnect after the current connection: close() was called or the client failed it. */
  #isStopping = false;
  /** The client failed the connection: later messages are dropped. */
  #isDiscarding = false;
  #cause: unknown;
  #attempt = 0;
  #reconnecting: ReconnectInfo | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    url: string,
    contracts: readonly AnyContract[],
    WebSocket: WebSocketConstructor,
    options: ConnectOptions,
  ) {
    this.url = url;
    this.#contracts = contracts;
    this.offered = contracts.map((contract) => contract.name);
    this.#WebSocket = WebSocket;
    this.#options = options;
    this.#policy = resolveReconnect(options.reconnect);
    this.closed = new Promise((resolve) => {
      this.#resolveClosed = resolve;
    });
  }

  get protocol(): string | undefined {
    return this.#contract?.name;
  }

  get contract(): AnyContract | undefined {
    return this.#contract;
  }

  get state(): ClientState {
    return this.#state;
  }

  get reconnecting(): ReconnectInfo | undefined {
    return this.#reconnecting;
  }

  get bufferedAmount(): number {
    return this.#ws?.bufferedAmount ?? 0;
  }

  /** Opens the first connection; settles once it is open and checked, or has failed. */
  start(): Promise<this> {
    return new Promise((resolve, reject) => {
      this.#settle = { resolve: () => resolve(this), reject };
      void this.#open();
    });
  }

  on<E extends keyof ClientEvents>(
    type: E,
    listener: (event: ClientEvents[E]) => void,
  ): () => void {
    let listeners = this.#listeners.get(type);
    if (!listeners) {
      listeners = new Set();
      this.#listeners.set(type, listeners);
    }
    listeners.add(listener);
    return () => {
      listeners.delete(listener);
    };
  }

  send(message: unknown): boolean {
    const ws = this.#ws;
    const codec = this.#contract?.codec;
    if (this.#state !== 'open' || !ws || ws.readyState !== 1) return false;
    const data = codec ? codec.encode(message) : message;
    if (typeof data !== 'string' && !(data instanceof Uint8Array)) {
      throw new TypeError('a raw message must be a string or a Uint8Array');
    }
    ws.send(data);
    return true;
  }

  onMessage(listener: (message: unknown) => void): () => void {
    return this.#inbox.listen(listener);
  }

  messages(): AsyncIterableIterator<unknown, undefined, undefined> {
    return this.#inbox.iterate();
  }

  close(code = 1000, reason = ''): Promise<ClosedInfo> {
    if (code !== 1000 && !(Number.isInteger(code) && code >= 3000 && code <= 4999)) {
      throw new RangeError(`close code ${code} may not be sent: use 1000 or 3000–4999`);
    }
    if (new TextEncoder().encode(reason).length > 123) {
      throw new RangeError('close reason is over 123 UTF-8 bytes');
    }
    if (this.#state === 'closed') return this.closed;
    this.#isStopping = true;
    clearTimeout(this.#timer);
    const ws = this.#ws;
    if (ws && this.#state === 'open') {
      this.#state = 'closing';
      ws.close(code, reason);
    } else if (this.#state === 'reconnecting') {
      // Between attempts, or during one: nothing open to close, so the client ends now.
      this.#ws = undefined;
      ws?.close();
      this.#finish(closeInfo(code, reason, true));
    }
    return this.closed;
  }

  async #open(): Promise<void> {
    let ws: WebSocketLike;
    try {
      const { token, tokenPrefix } = this.#options;
      const credential = typeof token === 'function' ? await token() : token;
      if (this.#isStopping) return;
      // A reconnect offers only the negotiated protocol, so the client's type stays true.
      const protocols = this.#contract ? [this.#contract.name] : [...this.offered];
      if (credential !== undefined) protocols.push(encodeTokenProtocol(credential, tokenPrefix));
      ws = new this.#WebSocket(this.url, protocols);
    } catch (error) {
      this.#cause = error;
      this.#onClose(closeInfo(1006, '', false));
      return;
    }
    ws.binaryType = 'arraybuffer';
    this.#ws = ws;
    this.#cause = undefined;
    ws.addEventListener('open', () => {
      if (ws === this.#ws) this.#onOpen(ws);
    });
    ws.addEventListener('message', ({ data }) => {
      if (ws !== this.#ws || this.#isDiscarding || !this.#contract) return;
      const isBinary = typeof data !== 'string';
      const message = isBinary ? new Uint8Array(data as ArrayBuffer) : data;
      this.#inbox.push(evaluate(this.#contract, message, isBinary));
    });
    ws.addEventListener('error', (event: WebSocketEventLike) => {
      if (ws === this.#ws) this.#cause = event.error ?? event;
    });
    ws.addEventListener('close', ({ code = 1006, reason = '', wasClean = false }) => {
      if (ws !== this.#ws) return;
      this.#ws = undefined;
      this.#onClose(closeInfo(code, reason, wasClean));
    });
  }

  #onOpen(ws: WebSocketLike): void {
    const contract = this.#contracts.find((candidate) => candidate.name === ws.protocol);
    if (!contract || (this.#contract && contract !== this.#contract)) {
      const error = ws.protocol
        ? new ClientError('UNEXPECTED_PROTOCOL', `the server selected ${ws.protocol}`, {
            protocol: ws.protocol,
          })
        : new ClientError('NO_PROTOCOL', 'the server selected no protocol');
      this.#fail(error, ClientCloseCode.UNEXPECTED_PROTOCOL);
      return;
    }
    const reconnected = this.#hasOpened;
    this.#contract = contract;
    this.#state = 'open';
    this.#hasOpened = true;
    this.#attempt = 0;
    this.#reconnecting = undefined;
    if (reconnected) this.#emit('open', { protocol: contract.name, reconnected });
    else this.#settle.resolve();
  }

  #onClose(close: CloseInfo): void {
    const wasOpen = this.#state === 'open' || this.#state === 'closing';
    const policy = this.#policy;
    if (!this.#hasOpened) {
      this.#finish(close);
      this.#settle.reject(
        new ClientError(
          'HANDSHAKE_FAILED',
          `the connection closed before it opened (${close.code})`,
          {
            close,
            cause: this.#cause,
          },
        ),
      );
      return;
    }
    // A drop of an open connection asks the policy; a failed attempt always tries again.
    if (
      !this.#isStopping &&
      policy &&
      this.#attempt < policy.attempts &&
      (!wasOpen || policy.shouldReconnect(close))
    ) {
      if (wasOpen) this.#emit('close', { ...close, willReconnect: true });
      const attempt = ++this.#attempt;
      const delay = backoffDelay(policy, attempt, Math.random());
      this.#state = 'reconnecting';
      this.#reconnecting = { attempt, attempts: policy.attempts, delay, close };
      this.#timer = setTimeout(() => void this.#open(), delay);
      this.#emit('reconnecting', this.#reconnecting);
      return;
    }
    this.#finish(close);
  }

  /** Fails the connection: reports `error`, drops queued messages, closes with `code`. */
  #fail(error: ClientError, code: number): void {
    this.#isStopping = true;
    this.#isDiscarding = true;
    this.#inbox.clear();
    // connect() rejects now rather than after the closing handshake.
    if (this.#hasOpened) this.#emit('error', error);
    else this.#settle.reject(error);
    if (this.#state !== 'reconnecting') this.#state = 'closing';
    this.#ws?.close(code, REASONS[code]);
  }

  #onInvalid(error: ClientError): void {
    if (this.#options.invalidMessage === 'skip') {
      this.#emit('error', error);
      return;
    }
    const code = ClientCloseCode[error.code as keyof typeof ClientCloseCode];
    this.#fail(error, code);
  }

  #finish(close: CloseInfo): void {
    const closed: ClosedInfo = { ...close, willReconnect: false };
    this.#state = 'closed';
    this.#reconnecting = undefined;
    this.#inbox.end();
    if (this.#hasOpened) this.#emit('close', closed);
    this.#resolveClosed(closed);
  }

  #emit<E extends keyof ClientEvents>(type: E, event: ClientEvents[E]): void {
    const listeners = [...(this.#listeners.get(type) ?? [])];
    for (const listener of listeners)
      callSafely(listener as (event: ClientEvents[E]) => void, event);
  }
}

/**
 * Connects to `url` offering the contracts' names, in order, as subprotocols (plus the token
 * carrier, last). Resolves once the connection is open and the server's choice is one of the
 * contracts; narrow the result by `protocol` to send and receive that contract's messages.
 * @example
 * ```ts
 * const client = await connect('wss://example.com/chat', [chatV2, chat], { reconnect: true });
 * if (client.protocol === 'chat.v2') client.send({ type: 'say', text: 'hi' });
 * ```
 * @param url - a `ws:` or `wss:` URL (browsers also take one relative to the page)
 * @param contracts - the contracts to offer, most preferred first
 * @param options - WebSocket implementation, token, reconnect policy, invalid-message policy
 * @returns the open client
 * @throws TypeError (synchronously) for no contracts, duplicate names, no WebSocket
 *   implementation, an empty token or a token prefix that is not a token; RangeError for
 *   reconnect options out of bounds. Rejects with a {@link ClientError}: `HANDSHAKE_FAILED`,
 *   `UNEXPECTED_PROTOCOL` or `NO_PROTOCOL`.
 */
export function connect<const Cs extends readonly [AnyContract, ...AnyContract[]]>(
  url: string | URL,
  contracts: Cs,
  options: ConnectOptions = {},
): Promise<Client<Cs>> {
  const names = contracts.map((contract) => contract.name);
  if (names.length === 0) throw new TypeError('connect() needs at least one contract');
  if (new Set(names).size !== names.length) {
    throw new TypeError(`two contracts share a name: ${names.join(', ')}`);
  }
  const WebSocket =
    options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (typeof WebSocket !== 'function') {
    throw new TypeError('no WebSocket implementation: pass options.WebSocket');
  }
  if (typeof options.token === 'string') encodeTokenProtocol(options.token, options.tokenPrefix);
  const client = new WebSocketClient(String(url), contracts, WebSocket, options);
  return client.start() as Promise<unknown> as Promise<Client<Cs>>;
}
