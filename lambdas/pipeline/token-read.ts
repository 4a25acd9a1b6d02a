/**
 * The read step: which token version is current, and whether a pending one is worth resuming. Follows the Secrets
 * Manager rotation protocol (https://docs.aws.amazon.com/secretsmanager/latest/userguide/rotate-secrets_how.html): a
 * pending version is resumed only when it is newer than current; an older one (a person put a new token by hand after
 * a failed run) is stale, and is detached so it can never overwrite the newer token.
 */
import type { SecretStore, SecretVersion, VersionInfo } from '../core/types.ts';
import type { Log } from '../report/logger.ts';
import { parseTokenRecord, tokenAgeDays, type TokenRecord } from '../store/records.ts';

export const CURRENT = 'AWSCURRENT';
export const PENDING = 'AWSPENDING';

export interface StoredToken {
  versionId: string;
  record: TokenRecord;
}

export interface TokenView {
  /** versionId '' when the secret is still empty (a first sign-in). */
  current: StoredToken;
  resumable?: StoredToken;
  /** Days since the current token was obtained; undefined when it cannot be computed (treated as due). */
  ageDays?: number;
}

const EMPTY: StoredToken = {
  versionId: '',
  record: { v: 1, refreshToken: '', obtainedAt: new Date(0).toISOString(), runId: 'none', source: 'import' },
};

function createdAt(versions: VersionInfo[], id: string): number | undefined {
  const t = versions.find((v) => v.versionId === id)?.createdAt?.getTime();
  return t !== undefined && Number.isFinite(t) ? t : undefined;
}

/**
 * Which of current and pending is newer. A version written later wins (the store's creation time); when the store
 * cannot tell (same second), the token's own obtainedAt decides. A bare token a person put by hand has no obtainedAt,
 * which is why creation time comes first.
 */
function pendingIsNewer(current: StoredToken, pending: StoredToken, versions: VersionInfo[]): boolean {
  const c = createdAt(versions, current.versionId);
  const p = createdAt(versions, pending.versionId);
  if (c !== undefined && p !== undefined && Math.floor(c / 1000) !== Math.floor(p / 1000)) return p > c;
  const pc = Date.parse(current.record.obtainedAt);
  const pp = Date.parse(pending.record.obtainedAt);
  return Number.isFinite(pp) && (!Number.isFinite(pc) || pp > pc);
}

export async function viewTokens(
  p: {
    store: SecretStore;
    secretId: string;
    currentRaw?: SecretVersion;
    pendingRaw?: SecretVersion;
    versions: VersionInfo[];
    ignorePending: boolean;
    now: Date;
    /** The current version the last run saw (credential state): another current now means it was put outside the tool. */
    lastSeenCurrent?: string;
  },
  log: Log['info'],
): Promise<TokenView> {
  const current = p.currentRaw
    ? { versionId: p.currentRaw.versionId, record: parseTokenRecord(p.currentRaw.value, p.secretId) }
    : EMPTY;
  let resumable: StoredToken | undefined;
  if (p.pendingRaw && p.pendingRaw.versionId !== current.versionId) {
    const pending = { versionId: p.pendingRaw.versionId, record: parseTokenRecord(p.pendingRaw.value, p.secretId) };
    // A current version the last run did not see was put outside the tool (console, CLI, another deployment) after any
    // pending version that run left: the person's token wins. Creation times alone cannot tell (moto gives every version
    // the secret's), and a bare token put by hand has no obtainedAt.
    const putOutside =
      p.lastSeenCurrent !== undefined && p.currentRaw !== undefined && p.currentRaw.versionId !== p.lastSeenCurrent;
    if (p.ignorePending || !p.currentRaw || (!putOutside && pendingIsNewer(current, pending, p.versions))) {
      if (!p.ignorePending) resumable = pending;
    } else {
      // Stale: older than current. Resuming it could overwrite a newer token or retry a revoked one forever.
      await p.store.removeStage(p.secretId, PENDING, pending.versionId);
      log('a pending version older than the current one was detached (a newer token was put since)', {
        staleVersion: pending.versionId,
        currentVersion: current.versionId,
      });
    }
  }
  const age = p.currentRaw ? tokenAgeDays(current.record, p.now) : undefined;
  return { current, resumable, ageDays: age !== undefined && Number.isFinite(age) ? age : undefined };
}
