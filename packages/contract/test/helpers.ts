/**
 * Hand-written Standard Schemas for the tests: one synchronous, one that answers after a delay
 * chosen per value (so validations of consecutive messages settle out of order).
 */
import type { StandardSchemaV1 } from '@standard-schema/spec';

/** Accepts even numbers, synchronously. */
export const evenNumber: StandardSchemaV1<unknown, number> = {
  '~standard': {
    version: 1,
    vendor: 'test',
    validate: (value) =>
      typeof value === 'number' && value % 2 === 0
        ? { value }
        : { issues: [{ message: 'expected an even number', path: [] }] },
  },
};

/**
 * Accepts `{ n: number, delay: number }` after `delay` ms; rejects a negative `n`.
 * @returns a Standard Schema whose `validate` always returns a Promise
 */
export function slowSchema(): StandardSchemaV1<unknown, { n: number; delay: number }> {
  return {
    '~standard': {
      version: 1,
      vendor: 'test',
      validate: (value) => {
        const { n, delay } = value as { n: number; delay: number };
        return new Promise((resolve) => {
          setTimeout(() => {
            resolve(
              n < 0 ? { issues: [{ message: 'negative', path: ['n'] }] } : { value: { n, delay } },
            );
          }, delay);
        });
      },
    },
  };
}
