import { expect } from 'vitest';
import { TspError } from '../../src';

/** The TspError `promise` rejects with; fails the test when it resolves or throws another. */
export async function rejection(promise: Promise<unknown>): Promise<TspError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(TspError);
  return error as TspError;
}
