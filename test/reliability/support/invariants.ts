import { secretIds } from '../../../lambdas/config/load.ts';
import type { Config, Credential } from '../../../lambdas/config/schema.ts';
import type { SecretStore, VersionInfo } from '../../../lambdas/core/types.ts';
import { parseTokenRecord, type TokenRecord } from '../../../lambdas/store/records.ts';
import { xoauth2InitialResponse } from '../../../lambdas/validate/smtp-validator.ts';
import { DEFAULT_CLIENT_SECRET, type AllStandins } from '../../../standins/index.ts';
import { scanForSecrets } from '../../support/leaks.ts';

/** What the invariants need of a local world; a Harness (moto) and a FileStore LocalEnv both have it. */
export interface World {
  standins: AllStandins;
  store: SecretStore;
  config: Config;
}

export interface TokenView {
  versions: VersionInfo[];
  current?: TokenRecord;
  currentVersionId?: string;
  pending?: TokenRecord;
  pendingVersionId?: string;
}

export async function tokenView(w: Pick<World, 'store' | 'config'>, c: Credential): Promise<TokenView> {
  const ids = secretIds(w.config, c);
  const [versions, current, pending] = await Promise.all([
    w.store.listVersions(ids.token),
    w.store.getValue(ids.token, 'AWSCURRENT'),
    w.store.getValue(ids.token, 'AWSPENDING'),
  ]);
  return {
    versions,
    current: current && parseTokenRecord(current.value, ids.token),
    currentVersionId: current?.versionId,
    pending: pending && parseTokenRecord(pending.value, ids.token),
    pendingVersionId: pending?.versionId,
  };
}

/** A version list reduced to what a partial write would change: ids and labels. */
export function versionFingerprint(v: VersionInfo[]): string {
  return JSON.stringify(v.map((x) => [x.versionId, [...x.stages].sort()]).sort());
}

export interface Invariant1 {
  ok: boolean;
  /** The newest token was lost in flight (documented window) and the stored one is still valid at the provider. */
  inWindow: boolean;
  detail: string;
}

/**
 * Invariant 1: the newest refresh token the provider issued for this credential's account is in the store, as current
 * or pending. With `windowAllowed` (the process died, or the answer was lost, between the provider's answer and the
 * write) it may be missing, but then the token the store holds must still be valid at the provider, so nothing is lost.
 */
export async function checkNewestStored(
  w: World,
  c: Credential,
  windowAllowed: boolean,
  newestOverride?: string,
): Promise<Invariant1> {
  const view = await tokenView(w, c);
  const { entra } = w.standins;
  const newest = newestOverride ?? newestIssuedFor(w, c.mailbox);
  const stored = [view.current?.refreshToken, view.pending?.refreshToken].filter((t): t is string => !!t);
  if (newest && stored.includes(newest)) {
    return {
      ok: true,
      inWindow: false,
      detail: view.current?.refreshToken === newest ? 'newest token is current' : 'newest token is pending',
    };
  }
  const held = view.current?.refreshToken;
  const info = held ? entra.refreshTokenInfo(held) : undefined;
  const stillValid = !!info && !info.revoked && info.deadCode === undefined && info.expiresAt > entra.clock.now();
  if (windowAllowed && stillValid) {
    return {
      ok: true,
      inWindow: true,
      detail: 'newest token lost in flight; the stored one is still valid at the provider',
    };
  }
  return {
    ok: false,
    inWindow: false,
    detail: `newest issued token is not in the store (stored: ${stored.length} token(s), stored current valid at provider: ${stillValid})`,
  };
}

/** The newest refresh token Entra issued for one account (the load test has many credentials on one account). */
export function newestIssuedFor(w: Pick<World, 'standins'>, account: string): string | undefined {
  const { entra } = w.standins;
  const all = entra.issuedRefreshTokens();
  for (let i = all.length - 1; i >= 0; i--) {
    const t = all[i] as string;
    if (entra.refreshTokenInfo(t)?.account === account) return t;
  }
  return undefined;
}

/** Invariant 2: every Cloud Manager target of the credential holds `token`. */
export function checkTargets(w: World, c: Credential, token: string | undefined): { ok: boolean; detail: string } {
  const values = c.targets.map((t) =>
    w.standins.cloudManager.valueOf(t.programId, t.environmentId, t.refreshTokenVariable, t.service),
  );
  const current = values.filter((v) => v !== undefined && v === token).length;
  return {
    ok: !!token && current === values.length,
    detail: `${current}/${values.length} targets hold the current token`,
  };
}

/**
 * Every secret value a run could have touched: the refresh and access tokens the Entra stand-in issued, both client
 * secrets, the IMS tokens Cloud Manager received, and the XOAUTH2 initial responses that embed the access tokens.
 */
export function secretsOf(w: Pick<World, 'standins' | 'config'>): string[] {
  const { entra, ims, cloudManager } = w.standins;
  const access = entra.issuedAccessTokens();
  const imsTokens = new Set<string>();
  for (const r of cloudManager.requests) {
    const m = /^Bearer\s+(\S+)$/i.exec(String(r.headers.authorization ?? ''));
    if (m?.[1]) imsTokens.add(m[1]);
  }
  const mailboxes = new Set(w.config.credentials.map((c) => c.mailbox));
  const xoauth2 = [...mailboxes].flatMap((m) => access.map((t) => xoauth2InitialResponse(m, t)));
  return [...entra.issuedRefreshTokens(), ...access, DEFAULT_CLIENT_SECRET, ims.clientSecret, ...imsTokens, ...xoauth2];
}

/** Where a secret leaked (whole, a piece of 24 characters, its first or last 16, or encoded), never the secret itself. */
export function findLeaks(haystacks: Record<string, string>, secrets: string[]): string[] {
  return scanForSecrets(haystacks, secrets);
}
