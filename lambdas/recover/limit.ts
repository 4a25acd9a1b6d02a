import { isRefresherError } from '../core/errors.ts';
import type { StateStore } from '../store/state-store.ts';

const WINDOW_MS = 24 * 3_600_000;

/**
 * The per-credential bound on sign-ins started from links: at most `max` in 24 hours, counted in the credential's state.
 * Returns false (and counts nothing) when the bound is reached. A lost write race is read again, twice at most; after
 * that the use is refused rather than uncounted.
 */
export async function takeLinkUse(
  store: Pick<StateStore, 'getState' | 'putState'>,
  credentialId: string,
  max: number,
  now: Date,
): Promise<boolean> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const read = await store.getState(credentialId);
    const state = read?.state ?? { v: 1 as const };
    const current =
      state.recovery && now.getTime() - Date.parse(state.recovery.windowStart) < WINDOW_MS
        ? state.recovery
        : { windowStart: now.toISOString(), uses: 0 };
    if (current.uses >= max) return false;
    try {
      await store.putState(
        credentialId,
        { ...state, recovery: { windowStart: current.windowStart, uses: current.uses + 1 } },
        read?.rev,
      );
      return true;
    } catch (e) {
      if (!(isRefresherError(e) && e.class === 'conflict')) throw e;
    }
  }
  return false;
}
