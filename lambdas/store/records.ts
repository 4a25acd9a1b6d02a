import { z } from 'zod';
import { RefresherError } from '../core/errors.ts';
import { registerSecret } from '../core/redact.ts';
import type { FailureState } from '../report/alert-policy.ts';

/**
 * The token secret's value. The access token rides along with a pending version so that a run resumed within the
 * hour can validate without redeeming again; once current it is no longer needed but harmless (it expires).
 */
const tokenRecordSchema = z.object({
  v: z.literal(1),
  refreshToken: z.string().min(1),
  obtainedAt: z.string(),
  runId: z.string(),
  source: z.enum(['rotate', 'regenerate', 'import']),
  scope: z.string().optional(),
  account: z.string().optional(),
  accessToken: z.string().optional(),
  accessTokenExpiresAt: z.string().optional(),
});
export type TokenRecord = z.infer<typeof tokenRecordSchema>;

export function serializeTokenRecord(r: TokenRecord): string {
  return JSON.stringify(r);
}

/** A value someone put by hand (the bare refresh token) is accepted, with an unknown age so it is rotated at once. */
export function parseTokenRecord(value: string, secretId: string): TokenRecord {
  const trimmed = value.trim();
  if (!trimmed.startsWith('{')) {
    registerSecret(trimmed);
    return { v: 1, refreshToken: trimmed, obtainedAt: new Date(0).toISOString(), runId: 'manual', source: 'import' };
  }
  let doc: unknown;
  try {
    doc = JSON.parse(trimmed);
  } catch {
    doc = undefined;
  }
  const r = tokenRecordSchema.safeParse(doc);
  if (!r.success) {
    throw new RefresherError({
      class: 'configuration',
      code: 'TOKEN_RECORD_INVALID',
      remote: 'secretsmanager',
      message: `the value of ${secretId} is neither a token record nor a bare refresh token (${r.error.issues.map((i) => i.path.join('.') || 'value').join(', ')})`,
      fix: 'Run `token-refresher regenerate` to put a fresh token record.',
    });
  }
  registerSecret(r.data.refreshToken);
  registerSecret(r.data.accessToken);
  return r.data;
}

export function tokenAgeDays(r: TokenRecord, now: Date): number {
  return (now.getTime() - Date.parse(r.obtainedAt)) / 86_400_000;
}

/** The state secret's value: no secret in it, only what runs must know of each other. */
const stateSchema = z.object({
  v: z.literal(1),
  lease: z.object({ runId: z.string(), until: z.string() }).optional(),
  lastRun: z.object({ runId: z.string(), at: z.string(), outcome: z.string() }).optional(),
  lastSuccess: z.object({ runId: z.string(), at: z.string(), versionId: z.string() }).optional(),
  /** The token version that is current and when it was issued: the delivery runs plan from the table alone. */
  current: z.object({ versionId: z.string(), issuedAt: z.string() }).optional(),
  /** Set when the last failure was a dead token family (reauthorize): the next sign-in marks every older copy dead. */
  familyDeadSince: z.string().optional(),
  lastValidation: z
    .object({ at: z.string(), ok: z.boolean(), response: z.string().optional(), code: z.string().optional() })
    .optional(),
  /** Per expiring secret ("client-secret", "adobe"): the smallest alert threshold (days) already mailed for that expiry date. */
  secretExpiry: z
    .record(z.string(), z.object({ expiresAt: z.string(), threshold: z.number(), alertedAt: z.string() }))
    .optional(),
  /** Sign-ins started from recovery links in the current 24-hour window (lambdas/recover/limit.ts). */
  recovery: z.object({ windowStart: z.string(), uses: z.number() }).optional(),
  failure: z
    .object({
      fingerprint: z.string(),
      class: z.enum(['reauthorize', 'configuration', 'transient', 'conflict', 'input']),
      code: z.string(),
      stage: z.string(),
      since: z.string(),
      lastAlertAt: z.string().optional(),
      runs: z.number(),
      message: z.string().optional(),
      fix: z.string().optional(),
    })
    .optional(),
});
export type CredentialState = z.infer<typeof stateSchema> & {
  failure?: FailureState & { message?: string; fix?: string };
};

export function emptyState(): CredentialState {
  return { v: 1 };
}

/** A state record read from the table, checked: a record we cannot read is reported, not silently replaced. */
export function checkState(doc: unknown): { state: CredentialState; problem?: string } {
  if (doc === undefined) return { state: emptyState() };
  const r = stateSchema.safeParse(doc);
  if (r.success) return { state: r.data };
  return { state: emptyState(), problem: r.error.issues.map((i) => i.path.join('.') || 'record').join(', ') };
}

/** A state record as stored (JSON text), checked: what checkState says, for a store's getState. */
export function readStateRecord(value: string | undefined): { state: CredentialState; problem?: string } {
  if (value === undefined) return { state: emptyState() };
  try {
    return checkState(JSON.parse(value));
  } catch {
    return { state: emptyState(), problem: 'not JSON' };
  }
}

export function parseState(value: string | undefined): CredentialState {
  if (!value) return emptyState();
  try {
    const r = stateSchema.safeParse(JSON.parse(value));
    // A state document we cannot read only costs us alert de-duplication: start afresh rather than block rotation.
    return r.success ? r.data : emptyState();
  } catch {
    return emptyState();
  }
}

/** The client secret as stored: the bare value, or a JSON document {"clientSecret": "..."} (a shape some teams use). */
export function clientSecretValue(raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  const t = raw.trim();
  if (t.startsWith('{')) {
    try {
      const v = (JSON.parse(t) as { clientSecret?: unknown }).clientSecret;
      if (typeof v === 'string') return v;
    } catch {
      // not JSON: the raw value is the secret
    }
  }
  return t;
}
