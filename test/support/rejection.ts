import { expect } from 'vitest';
import { RefresherError } from '../../lambdas/core/errors.ts';

/** The RefresherError a promise rejects with; fails the test if it resolves or rejects with anything else. */
export async function rejection(p: Promise<unknown>): Promise<RefresherError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(RefresherError);
    return e as RefresherError;
  }
  throw new Error('expected a rejection');
}
