/**
 * Where a connection's incoming messages go once the frame parser has them whole: decoded by
 * the protocol's codec, checked by its validator and its contract's schema (in arrival order,
 * see `validation-queue.ts`), then handed to `onMessage`, or held in an inbox while an async
 * `onOpen` runs or while `messages()` reads. Reading pauses while too many `onMessage` promises
 * and validations are pending, and while the inbox is full (STYLE §5).
 *
 * ```
 *   message ─▶ decode ─▶ validate ─▶ schema, in order ─┬─▶ onMessage
 *              (1007)    (1008)      (1008)             ├─▶ inbox until an async onOpen settles
 *                                                       └─▶ inbox read by messages()
 * ```
 * @module
 */
import type { ValidationIssue } from '@wsroute/contract';
import { PauseReason, type ReadGate } from './backpressure.js';
import type { ConnectionOptions, RawMessage } from './connection-types.js';
import { ProtocolErrorCode } from './errors.js';
import { HELD_FRAME_COST } from './frame-parser.js';
import type { HandlerCalls } from './handler-calls.js';
import { Inbox } from './inbox.js';
import type { ErasedProtocol, WebSocketHandler } from './protocol.js';
import { ValidationQueue, type ValidationTarget } from './validation-queue.js';

/** Where incoming messages go. */
const ReadMode = {
  /** To `onMessage`. */
  Dispatch: 0,
  /** Into the inbox until an async `onOpen` settles, then to `onMessage`. */
  Hold: 1,
  /** Into the inbox, read by `messages()`. */
  Iterate: 2,
} as const;
type ReadMode = (typeof ReadMode)[keyof typeof ReadMode];

/** What a {@link MessageReader} asks of its connection. Internal. */
export interface MessageReaderHost {
  /** Whether the connection is open: messages that finish validating later are dropped if not. */
  readonly isOpen: boolean;
  /**
   * Closes the connection (leaving a `messages()` loop early does, with 1000).
   * @param code - the close code
   */
  close(code: number): void;
  /**
   * Fails the connection: a close frame with `closeCode`, the error to `onError`.
   * @param closeCode - 1007 for a message that cannot be decoded, 1008 for an invalid one
   * @param code - the error's stable code
   * @param message - the error's message
   * @param cause - what the codec threw
   * @param issues - what the schema found
   */
  fail(
    closeCode: number,
    code: ProtocolErrorCode,
    message: string,
    cause?: unknown,
    issues?: readonly ValidationIssue[],
  ): void;
}

/** The incoming side of one connection, after the frame parser. Internal, one per connection. */
export class MessageReader<TData> implements ValidationTarget {
  readonly #host: MessageReaderHost;
  readonly #protocol: ErasedProtocol<TData>;
  readonly #handler: WebSocketHandler<TData, unknown, unknown>;
  readonly #calls: HandlerCalls<TData>;
  readonly #gate: ReadGate;
  readonly #options: ConnectionOptions;
  #mode: ReadMode = ReadMode.Dispatch;
  #inbox: Inbox<unknown> | undefined;
  #pendingHandlers = 0;
  #settle: readonly [() => void, (error: unknown) => void] | undefined;
  #validation: ValidationQueue | undefined;
  #isClosed = false;

  /**
   * @param host - the connection
   * @param protocol - its codec, validator, schema and handlers
   * @param calls - runs the handlers
   * @param gate - pauses reading from the socket
   * @param options - `maxPendingMessages` and `inboxHighWaterMark`
   */
  constructor(
    host: MessageReaderHost,
    protocol: ErasedProtocol<TData>,
    calls: HandlerCalls<TData>,
    gate: ReadGate,
    options: ConnectionOptions,
  ) {
    this.#host = host;
    this.#protocol = protocol;
    this.#handler = protocol.handler;
    this.#calls = calls;
    this.#gate = gate;
    this.#options = options;
  }

  /** Bytes of the messages held in the inbox, counted against `maxBufferedBytes`. */
  get heldBytes(): number {
    return this.#inbox?.bytes ?? 0;
  }

  /**
   * A whole message from the parser, while the connection is open.
   * @param data - its payload
   * @param isBinary - whether it arrived as a binary message
   */
  read(data: Buffer, isBinary: boolean): void {
    const raw: RawMessage = isBinary ? data : data.toString();
    let message: unknown = raw;
    const { decode, validate } = this.#protocol;
    if (decode) {
      try {
        message = decode(raw, isBinary);
      } catch (error) {
        this.#host.fail(
          1007,
          ProtocolErrorCode.DecodeFailed,
          'message could not be decoded',
          error,
        );
        return;
      }
    }
    if (validate) {
      let isValid = false;
      try {
        isValid = validate(message);
      } catch (error) {
        this.#calls.handleFailure(error);
        return;
      }
      if (!isValid) {
        this.#host.fail(1008, ProtocolErrorCode.ValidationFailed, 'message failed validation');
        return;
      }
    }
    const check = this.#protocol.check;
    if (check) {
      this.#validation ??= new ValidationQueue(this);
      this.#validation.push(() => check(message), data.length);
      return;
    }
    this.#accept(message, data.length);
  }

  /**
   * Switches to reading through an async iterator (`connection.messages()`).
   * @returns an iterator over decoded messages; leaving it early closes the connection (1000)
   */
  messages(): AsyncIterableIterator<unknown> {
    this.#mode = ReadMode.Iterate;
    // Iterating (inside an async onOpen too) means reading: the inbox paces it from now on.
    this.#gate.resume(PauseReason.Opening);
    const inbox = this.#inbox ?? new Inbox<unknown>();
    this.#inbox = inbox;
    if (this.#isClosed) inbox.end();
    const iterator: AsyncIterableIterator<unknown> = {
      next: async () => {
        const result = await inbox.next();
        this.#resumeIfInboxLow();
        return result;
      },
      // An early exit ends the connection, as leaving a loop over a Node stream destroys it.
      return: async () => {
        this.#inbox = undefined;
        inbox.end();
        this.#host.close(1000);
        this.#gate.resume(PauseReason.Inbox);
        return { value: undefined, done: true };
      },
      [Symbol.asyncIterator]: () => iterator,
    };
    return iterator;
  }

  /**
   * Holds messages in the inbox until an async `onOpen` settles, then hands them on in order. A
   * rejection drops them and fails the connection (1011).
   * @param opening - what `onOpen` returned
   */
  holdUntil(opening: PromiseLike<unknown>): void {
    // onOpen may have started reading with messages() already: then it keeps that mode.
    if (this.#mode === ReadMode.Dispatch) {
      this.#mode = ReadMode.Hold;
      this.#inbox = new Inbox<unknown>();
      this.#gate.pause(PauseReason.Opening);
    }
    opening.then(
      () => this.#onOpened(),
      (error: unknown) => {
        // The held messages are dropped: the connection fails with 1011.
        if (this.#mode === ReadMode.Hold) this.#inbox = undefined;
        this.#onOpened();
        this.#calls.handleFailure(error);
      },
    );
  }

  /** Drops the validations still pending: the connection is closing. */
  stop(): void {
    this.#validation?.stop();
  }

  /** The connection closed: `messages()` ends once the inbox is read, nothing more is dispatched. */
  end(): void {
    this.#isClosed = true;
    this.#inbox?.end();
  }

  /**
   * A message passed its schema.
   * @param value - the schema's output
   * @param size - the message's size in bytes
   */
  onValidated(value: unknown, size: number): void {
    if (this.#host.isOpen) this.#accept(value, size);
  }

  /**
   * A message failed its schema: the connection fails with 1008.
   * @param issues - what the schema found
   */
  onInvalid(issues: readonly ValidationIssue[]): void {
    const message = 'message failed its schema';
    this.#host.fail(1008, ProtocolErrorCode.ValidationFailed, message, undefined, issues);
  }

  /**
   * The schema threw or rejected: handled as a handler failure (1011).
   * @param error - what it threw
   */
  onValidatorError(error: unknown): void {
    this.#calls.handleFailure(error);
  }

  /** The number of pending validations changed. */
  onPendingChange(): void {
    this.#updatePendingPause();
  }

  #onOpened(): void {
    this.#gate.resume(PauseReason.Opening);
    if (this.#mode !== ReadMode.Hold) return;
    this.#mode = ReadMode.Dispatch;
    const inbox = this.#inbox;
    this.#inbox = undefined;
    for (let entry = inbox?.shift(); entry; entry = inbox?.shift()) this.#dispatch(entry.item);
    // The held messages were handed out: a pause for a full inbox no longer applies.
    this.#gate.resume(PauseReason.Inbox);
  }

  /** A message that passed every check goes to `onMessage` or waits in the inbox. */
  #accept(message: unknown, size: number): void {
    const inbox = this.#inbox;
    if (this.#mode === ReadMode.Dispatch || !inbox) {
      this.#dispatch(message);
      return;
    }
    // A held message costs its bookkeeping too, whatever its size.
    inbox.push(message, size + HELD_FRAME_COST);
    if (inbox.bytes >= this.#options.inboxHighWaterMark) this.#gate.pause(PauseReason.Inbox);
  }

  #resumeIfInboxLow(): void {
    if ((this.#inbox?.bytes ?? 0) < this.#options.inboxHighWaterMark) {
      this.#gate.resume(PauseReason.Inbox);
    }
  }

  #dispatch(message: unknown): void {
    const onMessage = this.#handler.onMessage;
    if (!onMessage || this.#isClosed) return;
    const result = this.#calls.callWith(onMessage, message);
    if (!result) return;
    this.#pendingHandlers++;
    this.#updatePendingPause();
    this.#settle ??= [
      () => this.#onHandlerSettled(),
      (error) => {
        this.#onHandlerSettled();
        this.#calls.handleFailure(error);
      },
    ];
    result.then(...this.#settle);
  }

  #onHandlerSettled(): void {
    this.#pendingHandlers--;
    this.#updatePendingPause();
  }

  /** Pending async handlers and validations together hold reading at `maxPendingMessages`. */
  #updatePendingPause(): void {
    const pending = this.#pendingHandlers + (this.#validation?.pending ?? 0);
    if (pending >= this.#options.maxPendingMessages) this.#gate.pause(PauseReason.PendingHandlers);
    else this.#gate.resume(PauseReason.PendingHandlers);
  }
}
