/**
 * The promote step: AWSCURRENT moves to the new version by compare-and-swap from the version the run read, then
 * AWSPENDING is detached (the rotation protocol's last step), so a later run never resumes a token already promoted.
 */
import { isRefresherError } from '../core/errors.ts';
import type { SecretStore } from '../core/types.ts';
import { parseTokenRecord } from '../store/records.ts';
import { CURRENT, PENDING, type StoredToken } from './token-read.ts';

export type PromoteOutcome =
  { promoted: true; current: StoredToken } | { promoted: false; current: StoredToken; note: string };

export async function promote(
  store: SecretStore,
  secretId: string,
  from: StoredToken,
  candidate: StoredToken,
  timed: <T>(s: string, fn: () => Promise<T>) => Promise<T>,
): Promise<PromoteOutcome> {
  // The first version of a secret is current from the start.
  if (from.versionId !== '') {
    try {
      await timed('promote', () =>
        store.moveStage(secretId, CURRENT, { toVersionId: candidate.versionId, fromVersionId: from.versionId }),
      );
    } catch (e) {
      if (!(isRefresherError(e) && e.class === 'conflict')) throw e;
      const winner = await store.getValue(secretId, CURRENT);
      if (!winner) throw e;
      // Our own swap applied but its answer was lost: the retry found the label already moved — by us.
      if (winner.versionId !== candidate.versionId) {
        return {
          promoted: false,
          current: { versionId: winner.versionId, record: parseTokenRecord(winner.value, secretId) },
          note: 'another run promoted first; its version is delivered',
        };
      }
    }
  }
  await store.removeStage(secretId, PENDING, candidate.versionId);
  return { promoted: true, current: candidate };
}
