import { defaultAdobe } from '../config/adobe.ts';
import type { Config, Credential } from '../config/schema.ts';
import type { Alert } from '../core/types.ts';

/**
 * The cliff after the refresh token: the client secret itself expires (Entra ID: at most 24 months), and then every
 * redeem fails with AADSTS7000222 until someone creates a new one. Each run computes the days left and mails once per
 * threshold (30, 14, 3 days, and once more when it has expired), remembering the last threshold mailed in the state
 * secret per expiry date, so a new date (a replaced secret) starts over.
 *
 * The one expiry module: the function's run (lambdas/pipeline/expiry.ts, which only applies these decisions), the CLI
 * (status, doctor, client-secret) and the stack's dashboard read the dates, thresholds and days left from here.
 */

export const EXPIRY_THRESHOLDS_DAYS = [30, 14, 3] as const;
const DAY_MS = 86_400_000;

/** Below this many days the CLI flags a date (the function's first reminder mail goes out at the same point). */
export const WARN_DAYS: number = EXPIRY_THRESHOLDS_DAYS[0];

export type ExpiringKey = 'client-secret' | 'adobe';

export interface ExpiryMemory {
  expiresAt: string;
  threshold: number;
  alertedAt: string;
}

export interface SecretExpiry {
  key: ExpiringKey;
  /** ISO instant. */
  expiresAt: string;
  /** Where the date came from, for the alert and the summary. */
  source: 'configuration' | 'secret';
}

export interface ExpiryStatus extends SecretExpiry {
  daysLeft: number;
  /** The most urgent threshold reached (0 once expired), undefined while more than 30 days are left. */
  threshold: number | undefined;
  /** Whether this run mails (threshold reached and not yet mailed for this date). */
  alert: boolean;
}

/** A bare date is the start of that day in UTC: alerting hours early is harmless, late is not. */
export function expiryInstant(value: string): Date {
  return new Date(/^\d{4}-\d{2}-\d{2}$/.test(value) ? `${value}T00:00:00Z` : value);
}

/**
 * The expiry date of a stored client secret document {"clientSecret": "...", "expiresAt": "..."}: written together with
 * the value, it is newer than the configuration's and wins over it.
 */
export function expiresAtInSecret(raw: string | undefined): string | undefined {
  const t = raw?.trim();
  if (!t?.startsWith('{')) return undefined;
  try {
    const v = (JSON.parse(t) as { expiresAt?: unknown }).expiresAt;
    return typeof v === 'string' && !Number.isNaN(expiryInstant(v).getTime()) ? v : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The secrets whose expiry this credential's run watches: its own client secret, and the Adobe one on the run of the
 * first credential with Cloud Manager targets (one place, so a shared secret is not mailed about once per credential).
 */
export function watchedExpiries(config: Config, c: Credential, clientSecretRaw: string | undefined): SecretExpiry[] {
  const out: SecretExpiry[] = [];
  const own = ownExpiry(c, clientSecretRaw);
  if (own) out.push({ key: 'client-secret', expiresAt: expiryInstant(own.value).toISOString(), source: own.source });
  const adobeOwner = config.credentials.find((x) => x.targets.length > 0);
  const adobe = defaultAdobe(config);
  if (adobe?.clientSecretExpiresAt && adobeOwner?.id === c.id) {
    out.push({
      key: 'adobe',
      expiresAt: expiryInstant(adobe.clientSecretExpiresAt).toISOString(),
      source: 'configuration',
    });
  }
  return out;
}

export function daysLeft(expiresAt: string, now: Date): number {
  return (Date.parse(expiresAt) - now.getTime()) / DAY_MS;
}

/** The client secret's expiry as written and where it came from: the stored document's date wins over the configuration's. */
function ownExpiry(
  c: Pick<Credential, 'clientSecretExpiresAt'>,
  clientSecretRaw: string | undefined,
): { value: string; source: SecretExpiry['source'] } | undefined {
  const fromSecret = expiresAtInSecret(clientSecretRaw);
  if (fromSecret) return { value: fromSecret, source: 'secret' };
  return c.clientSecretExpiresAt ? { value: c.clientSecretExpiresAt, source: 'configuration' } : undefined;
}

/** What the CLI shows of an expiry date. */
export interface SecretExpiryInfo {
  /** ISO instant. */
  expiresAt: string;
  /** The client-secret document's own date wins over the configuration's, as in the function. */
  source: 'configuration' | 'secret';
  daysLeft: number;
  /** Under WARN_DAYS (or already past). */
  warn: boolean;
}

/** Days to one decimal, as the CLI shows them. */
export const roundDays = (n: number) => Math.round(n * 10) / 10;

function expiryInfo(value: string, source: SecretExpiryInfo['source'], now: Date): SecretExpiryInfo {
  const expiresAt = expiryInstant(value).toISOString();
  const days = roundDays(daysLeft(expiresAt, now));
  return { expiresAt, source, daysLeft: days, warn: days < WARN_DAYS };
}

/** The client secret's expiry, from `{"clientSecret","expiresAt"}` in the store or `clientSecretExpiresAt`; undefined when neither says. */
export function clientSecretExpiry(
  c: Pick<Credential, 'clientSecretExpiresAt'>,
  clientSecretRaw: string | undefined,
  now: Date,
): SecretExpiryInfo | undefined {
  const own = ownExpiry(c, clientSecretRaw);
  return own ? expiryInfo(own.value, own.source, now) : undefined;
}

/** The Adobe OAuth Server-to-Server secret's expiry (configuration only). */
export function adobeSecretExpiry(config: Config, now: Date): SecretExpiryInfo | undefined {
  const v = defaultAdobe(config)?.clientSecretExpiresAt;
  return v ? expiryInfo(v, 'configuration', now) : undefined;
}

/** "2027-06-30 (12 days left)", "2026-01-01 (expired 3 days ago)". */
export function describeExpiry(iso: string, days: number): string {
  const day = iso.slice(0, 10);
  if (days <= 0) {
    const ago = Math.floor(-days);
    return `${day} (expired${ago >= 1 ? ` ${ago} day${ago === 1 ? '' : 's'} ago` : ''})`;
  }
  const whole = Math.floor(days);
  return `${day} (${whole} day${whole === 1 ? '' : 's'} left)`;
}

export function thresholdFor(days: number): number | undefined {
  if (days <= 0) return 0;
  let reached: number | undefined;
  for (const t of EXPIRY_THRESHOLDS_DAYS) if (days <= t) reached = t;
  return reached;
}

/** Pure: what this run should do about one expiring secret, given what earlier runs mailed. */
export function decideExpiry(e: SecretExpiry, memory: ExpiryMemory | undefined, now: Date): ExpiryStatus {
  const days = daysLeft(e.expiresAt, now);
  const threshold = thresholdFor(days);
  const remembered = memory && memory.expiresAt === e.expiresAt ? memory.threshold : undefined;
  const alert = threshold !== undefined && (remembered === undefined || threshold < remembered);
  return { ...e, daysLeft: days, threshold, alert };
}

function day(iso: string): string {
  return iso.slice(0, 10);
}

/** The mail for one threshold: which app, which date, and the exact replacement steps. */
export function composeExpiryAlert(config: Config, c: Credential, s: ExpiryStatus): Alert {
  const expired = s.threshold === 0;
  const whole = Math.max(0, Math.floor(s.daysLeft));
  const when = expired
    ? `expired on ${day(s.expiresAt)}`
    : `expires on ${day(s.expiresAt)} (in ${whole} day${whole === 1 ? '' : 's'})`;
  const lines: string[] = [];
  let subject: string;
  if (s.key === 'adobe') {
    const adobe = defaultAdobe(config);
    subject = `[token-refresher] Adobe client secret ${expired ? 'has expired' : `expires in ${whole} day${whole === 1 ? '' : 's'}`} (${day(s.expiresAt)})`;
    lines.push(
      `The client secret of the Adobe OAuth Server-to-Server credential ${adobe?.clientId ?? ''} (IMS organization ${adobe?.imsOrgId ?? ''}) ${when}.`,
      expired
        ? 'Until it is replaced, no Cloud Manager target receives new refresh tokens: AEM keeps the token it has until that one dies.'
        : 'After that date no Cloud Manager target receives new refresh tokens.',
      '',
      'What to do:',
      '1. In the Adobe Developer Console, open the project of this credential > OAuth Server-to-Server > Retrieve client secret / Generate a new client secret.',
      '2. Store it: `token-refresher client-secret --adobe` (it checks the secret against Adobe IMS before storing it).',
      '3. Set adobe.clientSecretExpiresAt in the configuration to the new expiry date (or remove it if the new secret does not expire).',
      '4. Delete the old secret in the Developer Console once a rotation has succeeded.',
    );
  } else {
    const app =
      c.provider === 'microsoft'
        ? `Entra ID app ${c.clientId}${c.tenant ? ` (tenant ${c.tenant})` : ''}`
        : `${c.provider} OAuth client ${c.clientId}`;
    subject = `[token-refresher] ${c.id}: client secret ${expired ? 'has expired' : `expires in ${whole} day${whole === 1 ? '' : 's'}`} (${day(s.expiresAt)})`;
    const aemUses =
      c.targets.length > 0
        ? ' AEM redeems its refresh token with the same secret (SECRET_SMTP_OAUTH_CLIENT_SECRET), so mail from AEM stops then too.'
        : '';
    lines.push(
      `The client secret of ${app}, used by credential "${c.id}" (mailbox ${c.mailbox}), ${when}.${expired ? ' Every token refresh fails now (AADSTS7000222 on Entra ID).' : ''}${aemUses}`,
      '',
      'What to do:',
      c.provider === 'microsoft'
        ? `1. In Entra ID > App registrations > ${c.clientId} > Certificates & secrets > Client secrets, add a new client secret and copy its Value (not its Secret ID).`
        : `1. Create a new client secret for OAuth client ${c.clientId} at the provider${c.provider === 'google' ? ' (Google Cloud console > Google Auth Platform > Clients)' : ''}.`,
      `2. Store it: \`token-refresher client-secret --credential ${c.id}\` (add --push to deliver it to the Cloud Manager targets with pushClientSecret at once).`,
      s.source === 'secret'
        ? '3. Record the new expiry date with it, so these reminders follow the new secret.'
        : `3. Set clientSecretExpiresAt of credential "${c.id}" in the configuration to the new secret's expiry date.`,
      '4. Delete the old secret once the next rotation has succeeded. The refresh token stays valid throughout: no new sign-in is needed.',
    );
  }
  lines.push(
    '',
    `You get this mail at ${EXPIRY_THRESHOLDS_DAYS.join(', ')} days before the date and once when it has passed.`,
  );
  return {
    credentialId: c.id,
    // The Alert kinds are failure/reminder/recovered; an expiry notice is a reminder of work ahead.
    kind: 'reminder',
    stage: 'report',
    failureClass: 'configuration',
    code: expired ? 'CLIENT_SECRET_EXPIRED' : 'CLIENT_SECRET_EXPIRING',
    subject,
    text: lines.join('\n'),
  };
}
