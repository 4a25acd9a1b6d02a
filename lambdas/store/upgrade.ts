import { isRefresherError } from '../core/errors.ts';
import type { SecretStore } from '../core/types.ts';
import { parseState, parseTokenRecord, type CredentialState } from './records.ts';
import type { DeliveryRecord, StateStore } from './state-store.ts';

/**
 * In-place upgrade from the layout before the state table: per credential a state secret (`<prefix>/<id>/state`, its
 * lease inside it) and, on the token secret, one `TR_PUSHED_<targetKey>` staging label per target on the version that
 * target holds. Secrets Manager allows 20 staging labels across all versions of a secret
 * (https://docs.aws.amazon.com/secretsmanager/latest/userguide/reference_limits.html), which capped a credential at
 * 17 targets; the table has no such cap.
 *
 * Order makes it crash-safe and idempotent without a sign-in (the token versions are never touched):
 *   1. one delivery record per label (create-if-absent: a record a newer run wrote is kept);
 *   2. the labels are removed (each removal is idempotent);
 *   3. the credential state is written last: its presence in the table is what "upgraded" means, so a run stopped
 *      before it repeats 1-2, which find their work done.
 */
export const OLD_PUSHED_PREFIX = 'TR_PUSHED_';

export interface UpgradeInput {
  secrets: SecretStore;
  state: StateStore;
  credentialId: string;
  /** The credential's token secret (secretIds(config, credential).token). */
  tokenSecretId: string;
  /** The old state secret (secretIds(config, credential).state); absent or already deleted: alert history starts afresh. */
  stateSecretId?: string;
}

export interface UpgradeResult {
  /** false: the table already had state for the credential; nothing was read or written. */
  upgraded: boolean;
  state: { state: CredentialState; rev: number };
  /** The delivery records now in the table (those written now and those an earlier, stopped upgrade wrote). */
  deliveries: DeliveryRecord[];
  labelsRemoved: number;
  stateSecretFound: boolean;
}

export async function upgradeCredentialState(i: UpgradeInput): Promise<UpgradeResult> {
  const existing = await i.state.getState(i.credentialId);
  if (existing)
    return {
      upgraded: false,
      state: existing,
      deliveries: await i.state.listDeliveries(i.credentialId),
      labelsRemoved: 0,
      stateSecretFound: false,
    };

  const [versions, oldState, recorded] = await Promise.all([
    i.secrets.listVersions(i.tokenSecretId),
    readOldState(i),
    i.state.listDeliveries(i.credentialId),
  ]);

  // Which target holds which version; the version's own record says when its token was issued (one read per version,
  // through one of its labels: the store reads by label).
  const labels = versions.flatMap((v) =>
    v.stages.filter((s) => s.startsWith(OLD_PUSHED_PREFIX)).map((label) => ({ label, versionId: v.versionId })),
  );
  const issuedAt = new Map<string, string | undefined>();
  await Promise.all(
    [...new Map(labels.map((l) => [l.versionId, l.label])).entries()].map(async ([versionId, label]) => {
      const v = await i.secrets.getValue(i.tokenSecretId, label);
      issuedAt.set(
        versionId,
        v && v.versionId === versionId ? parseTokenRecord(v.value, i.tokenSecretId).obtainedAt : undefined,
      );
    }),
  );

  const have = new Set(recorded.map((r) => r.targetKey));
  for (const l of labels) {
    const targetKey = l.label.slice(OLD_PUSHED_PREFIX.length);
    if (have.has(targetKey)) continue;
    try {
      await i.state.putDelivery({
        credentialId: i.credentialId,
        targetKey,
        versionId: l.versionId,
        issuedAt: issuedAt.get(l.versionId),
        pushReason: 'upgrade',
      });
    } catch (e) {
      // Written meanwhile (a concurrent upgrade): that record stands.
      if (!(isRefresherError(e) && e.class === 'conflict')) throw e;
    }
    have.add(targetKey);
  }

  for (const l of labels) await i.secrets.removeStage(i.tokenSecretId, l.label, l.versionId);

  let state: { state: CredentialState; rev: number };
  try {
    state = { state: oldState.state, rev: await i.state.putState(i.credentialId, oldState.state, undefined) };
  } catch (e) {
    if (!(isRefresherError(e) && e.class === 'conflict')) throw e;
    state = (await i.state.getState(i.credentialId)) ?? { state: oldState.state, rev: 1 };
  }
  return {
    upgraded: true,
    state,
    deliveries: await i.state.listDeliveries(i.credentialId),
    labelsRemoved: labels.length,
    stateSecretFound: oldState.found,
  };
}

async function readOldState(i: UpgradeInput): Promise<{ state: CredentialState; found: boolean }> {
  if (!i.stateSecretId) return { state: { v: 1 }, found: false };
  let raw: string | undefined;
  try {
    raw = (await i.secrets.getValue(i.stateSecretId, 'AWSCURRENT'))?.value;
  } catch (e) {
    // The new stack no longer has the state secret; a deployment that already removed it loses only alert history.
    if (isRefresherError(e) && (e.code === 'SECRET_NOT_FOUND' || e.code === 'SECRET_ACCESS_DENIED'))
      return { state: { v: 1 }, found: false };
    throw e;
  }
  // The lease lives in the table now; an old run's lease in the secret means nothing to the new layout.
  const { lease: _lease, ...state } = parseState(raw);
  return { state, found: raw !== undefined };
}
