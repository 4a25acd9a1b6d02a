import { randomUUID } from 'node:crypto';
import { RefresherError } from '../core/errors.ts';
import type { SecretStore } from '../core/types.ts';
import { parseState, type CredentialState } from './records.ts';

export interface Lease {
  versionId: string;
  state: CredentialState;
}

const PROPOSED = 'TR_PROPOSED';

/**
 * Writes a new state version and makes it current only if the current one is still the version we read: Secrets
 * Manager's UpdateSecretVersionStage with RemoveFromVersionId is the compare-and-swap: it moves the label only if it is still on the version we read
 * (https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_UpdateSecretVersionStage.html).
 */
export async function casState(
  store: SecretStore,
  secretId: string,
  fromVersionId: string | undefined,
  next: CredentialState,
): Promise<string> {
  const token = randomUUID();
  const versionId = await store.putValue(secretId, JSON.stringify(next), {
    clientRequestToken: token,
    stages: [PROPOSED],
  });
  if (fromVersionId === undefined) {
    // The very first state version becomes current by itself; a concurrent first writer makes ours non-current.
    const now = await store.getValue(secretId, 'AWSCURRENT');
    if (now?.versionId !== versionId) {
      throw new RefresherError({
        class: 'conflict',
        code: 'STATE_RACE',
        remote: 'secretsmanager',
        message: `another run wrote ${secretId} first`,
        fix: 'Nothing to do.',
      });
    }
    return versionId;
  }
  await store.moveStage(secretId, 'AWSCURRENT', { toVersionId: versionId, fromVersionId });
  return versionId;
}

/**
 * Takes the per-credential lease so two invocations cannot both redeem. Returns undefined when another live run holds it.
 * An expired lease (its run died) is taken over.
 */
export async function acquireLease(
  store: SecretStore,
  secretId: string,
  runId: string,
  ttlMs: number,
  now: Date,
): Promise<Lease | { heldBy: string; until: string }> {
  const current = await store.getValue(secretId, 'AWSCURRENT');
  const state = parseState(current?.value);
  if (state.lease && state.lease.runId !== runId && Date.parse(state.lease.until) > now.getTime()) {
    return { heldBy: state.lease.runId, until: state.lease.until };
  }
  const next: CredentialState = { ...state, lease: { runId, until: new Date(now.getTime() + ttlMs).toISOString() } };
  try {
    const versionId = await casState(store, secretId, current?.versionId, next);
    return { versionId, state: next };
  } catch (e) {
    if (e instanceof RefresherError && e.class === 'conflict') {
      const winner = parseState((await store.getValue(secretId, 'AWSCURRENT'))?.value);
      return { heldBy: winner.lease?.runId ?? 'unknown', until: winner.lease?.until ?? now.toISOString() };
    }
    throw e;
  }
}

/** Writes the run's final state and drops the lease; if someone took the lease over meanwhile, their state wins. */
export async function releaseLease(
  store: SecretStore,
  secretId: string,
  lease: Lease,
  finalState: CredentialState,
): Promise<boolean> {
  const { lease: _drop, ...rest } = finalState;
  try {
    await casState(store, secretId, lease.versionId, rest);
    return true;
  } catch (e) {
    if (e instanceof RefresherError && e.class === 'conflict') return false;
    throw e;
  }
}
