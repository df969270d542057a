/**
 * Incoming messages waiting for their Standard Schema validation, in arrival order.
 *
 * A schema may validate synchronously or with a Promise, and async validations may settle out
 * of order. Every message is validated as it arrives; while any validation is pending, later
 * messages (even synchronously valid ones) wait behind it, and messages leave from the head
 * only once the head has settled. The first invalid message fails the connection (1008): the
 * ones before it were delivered, the ones after it are dropped.
 * @module
 */
import type { ValidationIssue, ValidationResult } from '@wsroute/contract';

/** What the queue tells its connection. */
export interface ValidationTarget {
  /** A message passed its schema: deliver the schema's output. */
  onValidated(value: unknown, size: number): void;
  /** A message failed its schema. */
  onInvalid(issues: readonly ValidationIssue[]): void;
  /** The schema threw or rejected: a broken validator, not an invalid message. */
  onValidatorError(error: unknown): void;
  /** The number of pending validations changed. */
  onPendingChange(pending: number): void;
}

interface Entry {
  readonly size: number;
  result: ValidationResult<unknown> | undefined;
  error: { readonly thrown: unknown } | undefined;
}

/** The arrival-ordered validation of one connection. Internal. */
export class ValidationQueue {
  readonly #target: ValidationTarget;
  readonly #entries: Entry[] = [];
  #isStopped = false;

  /** @param target - the connection */
  constructor(target: ValidationTarget) {
    this.#target = target;
  }

  /** Validations started and not yet handed on. */
  get pending(): number {
    return this.#entries.length;
  }

  /**
   * Adds a message's validation, started by the caller on arrival.
   * @param run - runs the schema; may throw, return a result or a Promise of one
   * @param size - the message's size in bytes, handed back with it
   */
  push(
    run: () => ValidationResult<unknown> | Promise<ValidationResult<unknown>>,
    size: number,
  ): void {
    if (this.#isStopped) return;
    const entry: Entry = { size, result: undefined, error: undefined };
    let outcome: ValidationResult<unknown> | Promise<ValidationResult<unknown>>;
    try {
      outcome = run();
    } catch (thrown) {
      outcome = Promise.reject(thrown);
    }
    if (!(outcome instanceof Promise)) {
      entry.result = outcome;
      // Nothing ahead: hand it on at once, without a turn of the event loop.
      if (this.#entries.length === 0) {
        this.#settle(entry);
        return;
      }
      this.#entries.push(entry);
      this.#target.onPendingChange(this.#entries.length);
      return;
    }
    this.#entries.push(entry);
    this.#target.onPendingChange(this.#entries.length);
    outcome.then(
      (result) => {
        entry.result = result;
        this.#drain();
      },
      (thrown: unknown) => {
        entry.error = { thrown };
        this.#drain();
      },
    );
  }

  /** Drops what waits: the connection is closing. */
  stop(): void {
    this.#isStopped = true;
    this.#entries.length = 0;
  }

  #drain(): void {
    const entries = this.#entries;
    while (!this.#isStopped && entries.length > 0) {
      const head = entries[0] as Entry;
      if (!head.result && !head.error) break;
      entries.shift();
      this.#settle(head);
    }
    this.#target.onPendingChange(entries.length);
  }

  #settle(entry: Entry): void {
    if (entry.error) {
      this.stop();
      this.#target.onValidatorError(entry.error.thrown);
      return;
    }
    const result = entry.result as ValidationResult<unknown>;
    if (result.ok) {
      this.#target.onValidated(result.value, entry.size);
      return;
    }
    this.stop();
    this.#target.onInvalid(result.issues);
  }
}
