/**
 * Running a contract's spec against a received message: a Standard Schema's `validate` may
 * answer synchronously or with a Promise; a {@link TypeMarker} passes everything.
 * @module
 */
import type { StandardSchemaV1 } from '@standard-schema/spec';
import { type InferMessage, isStandardSchema, type MessageSpec } from './contract.js';

/** One problem a schema found: its message and, when the schema gives it, the path. */
export type ValidationIssue = StandardSchemaV1.Issue;

/**
 * The outcome of validating one message.
 * @typeParam T - the validated message type
 */
export type ValidationResult<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly issues: readonly ValidationIssue[] };

function isPromiseLike<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}

function toResult<T>(result: StandardSchemaV1.Result<T>): ValidationResult<T> {
  // Standard Schema: any truthy `issues` means failure, whatever `value` says.
  return result.issues ? { ok: false, issues: result.issues } : { ok: true, value: result.value };
}

/**
 * Validates `value` against `spec`, synchronously when the schema is synchronous: a receiver
 * that must keep messages in order can then deliver synchronous results without a microtask.
 * @param spec - a Standard Schema or a {@link TypeMarker} (which accepts `value` as it is)
 * @param value - a decoded message
 * @returns the result, or a Promise of it when the schema's `validate` returned one
 * @throws whatever the schema's `validate` throws (a rejection, when it is async): a broken
 *   validator is not an invalid message, and receivers tell the two apart
 */
export function checkMessage<S extends MessageSpec>(
  spec: S,
  value: unknown,
): ValidationResult<InferMessage<S>> | Promise<ValidationResult<InferMessage<S>>> {
  if (!isStandardSchema(spec)) return { ok: true, value: value as InferMessage<S> };
  const result = spec['~standard'].validate(value) as
    | StandardSchemaV1.Result<InferMessage<S>>
    | PromiseLike<StandardSchemaV1.Result<InferMessage<S>>>;
  return isPromiseLike(result) ? Promise.resolve(result).then(toResult) : toResult(result);
}

/**
 * Validates `value` against `spec` and awaits the schema when it is asynchronous.
 *
 * Ordering is the caller's job: when messages are validated as they arrive, a slow async
 * validation can settle after a later message's fast one. To deliver in arrival order, start
 * each validation on arrival, keep the pending results in a FIFO, and hand messages on from
 * its head only once the head has settled (the `@wsroute/client` inbox does this).
 * @param spec - a Standard Schema or a {@link TypeMarker}
 * @param value - a decoded message
 * @returns the result
 * @throws (rejects with) whatever the schema's `validate` throws or rejects with
 */
export async function validateMessage<S extends MessageSpec>(
  spec: S,
  value: unknown,
): Promise<ValidationResult<InferMessage<S>>> {
  return await checkMessage(spec, value);
}
