import { secretIds } from '../../lambdas/config/load.ts';
import type { Config, Credential } from '../../lambdas/config/schema.ts';
import { isRefresherError } from '../../lambdas/core/errors.ts';
import type { SecretStore } from '../../lambdas/core/types.ts';
import type { StateStore } from '../../lambdas/store/state-store.ts';
import { targetKey, targetLabel } from '../../lambdas/push/cloud-manager-target.ts';
import { certificateSecretId } from '../../lambdas/refresh/client-assertion.ts';
import {
  clientSecretValue,
  parseTokenRecord,
  tokenAgeDays,
  type CredentialState,
  type TokenRecord,
} from '../../lambdas/store/records.ts';
import { bool, str } from '../args.ts';
import { fleetExit, fleetStatus, printFleet } from './fleet.ts';
import type { Command } from '../command.ts';
import { Exit, worstExit, type ExitCode } from '../errors.ts';
import {
  adobeSecretExpiry,
  clientSecretExpiry,
  describeExpiry,
  WARN_DAYS,
  type SecretExpiryInfo,
} from '../../lambdas/report/secret-expiry.ts';
import { readCertificate, type CertificateInfo } from '../certificate.ts';
import { nextRun } from '../../lambdas/config/schedule.ts';
import type { Ui } from '../ui.ts';

/** Microsoft refresh tokens die after 90 days without use (AADSTS700082); the others have no fixed lifetime. */
export function lifetimeDays(c: Pick<Credential, 'provider'>): number | undefined {
  return c.provider === 'microsoft' ? 90 : undefined;
}

export interface TargetStatus {
  target: string;
  variable: string;
  state: 'current' | 'stale' | 'never-pushed';
  versionId?: string;
  /** When the token this target holds was obtained. */
  since?: string;
}

export interface CredentialStatus {
  credential: string;
  provider: string;
  mailbox: string;
  token: {
    present: boolean;
    versionId?: string;
    obtainedAt?: string;
    source?: TokenRecord['source'];
    account?: string;
    ageDays?: number;
    limitDays?: number;
    daysLeft?: number;
    length?: number;
  };
  pending?: { versionId: string; obtainedAt: string };
  lastRun?: CredentialState['lastRun'];
  lastSuccess?: CredentialState['lastSuccess'];
  lastValidation?: CredentialState['lastValidation'];
  failure?: { class: string; code: string; stage: string; since: string; runs: number; message?: string; fix?: string };
  lease?: { runId: string; until: string };
  /** The app's client secret: stored or not, and when it expires if the configuration or the secret says. */
  clientSecret?: { stored: boolean; expiry?: SecretExpiryInfo };
  /** credentialType "certificate": the key document's certificate and its days left. */
  certificate?: CertificateInfo;
  targets: TargetStatus[];
  nextRun: { at?: string; schedule: string };
  error?: { code: string; message: string; fix: string };
}

const round = (n: number) => Math.round(n * 10) / 10;

export async function credentialStatus(
  config: Config,
  store: SecretStore,
  stateStore: StateStore,
  c: Credential,
  now: Date,
): Promise<CredentialStatus> {
  const ids = secretIds(config, c);
  const [current, pendingRaw, stateRead, deliveries, secretRaw] = await Promise.all([
    store.getValue(ids.token, 'AWSCURRENT'),
    store.getValue(ids.token, 'AWSPENDING'),
    stateStore.getState(c.id),
    stateStore.listDeliveries(c.id),
    store.getValue(ids.clientSecret, 'AWSCURRENT'),
  ]);
  const state: CredentialState = stateRead?.state ?? { v: 1 };
  const record = current ? parseTokenRecord(current.value, ids.token) : undefined;
  const known = record && Date.parse(record.obtainedAt) > 0;
  const limit = lifetimeDays(c);
  const age = known ? tokenAgeDays(record, now) : undefined;
  const out: CredentialStatus = {
    credential: c.id,
    provider: c.provider,
    mailbox: c.mailbox,
    token: {
      present: record !== undefined,
      versionId: current?.versionId,
      obtainedAt: known ? record.obtainedAt : undefined,
      source: record?.source,
      account: record?.account,
      ageDays: age === undefined ? undefined : round(age),
      limitDays: limit,
      daysLeft: age !== undefined && limit !== undefined ? round(limit - age) : undefined,
      length: record?.refreshToken.length,
    },
    targets: [],
    nextRun: { schedule: `${c.schedule.expression} ${c.schedule.timeZone}` },
  };
  if (pendingRaw && pendingRaw.versionId !== current?.versionId) {
    const p = parseTokenRecord(pendingRaw.value, ids.token);
    if (!record || Date.parse(p.obtainedAt) > Date.parse(record.obtainedAt))
      out.pending = { versionId: pendingRaw.versionId, obtainedAt: p.obtainedAt };
  }
  if (state.lastRun) out.lastRun = state.lastRun;
  if (state.lastSuccess) out.lastSuccess = state.lastSuccess;
  if (state.lastValidation) out.lastValidation = state.lastValidation;
  if (state.failure) {
    const f = state.failure;
    out.failure = {
      class: f.class,
      code: f.code,
      stage: f.stage,
      since: f.since,
      runs: f.runs,
      message: f.message,
      fix: f.fix,
    };
  }
  out.clientSecret = {
    stored: clientSecretValue(secretRaw?.value) !== undefined,
    expiry: clientSecretExpiry(c, secretRaw?.value, now),
  };
  if (c.credentialType === 'certificate') {
    try {
      out.certificate = await readCertificate(config, store, c, now);
    } catch (e) {
      // The key's secret unreadable (permissions): shown on its row, the rest of the status stands.
      if (!isRefresherError(e)) throw e;
      out.certificate = {
        secretId: certificateSecretId(config, c),
        stored: false,
        error: { code: e.code, message: e.message, fix: e.fix },
      };
    }
  }

  // Which version each target holds, and when that token was issued, is its delivery record in the state table.
  out.targets = c.targets.map((t): TargetStatus => {
    const r = deliveries.find((d) => d.targetKey === targetKey(t));
    const base = { target: targetLabel(t), variable: t.refreshTokenVariable };
    if (!r?.versionId) return { ...base, state: 'never-pushed' };
    return {
      ...base,
      state: r.versionId === current?.versionId ? 'current' : 'stale',
      versionId: r.versionId,
      since: r.issuedAt,
    };
  });
  const next = nextRun(c.schedule, state.lastRun?.at, now);
  if (next.kind === 'at') out.nextRun = { at: next.at.toISOString(), schedule: next.note ?? out.nextRun.schedule };
  else out.nextRun = { schedule: next.note };
  return out;
}

/** "2026-11-15 15:07 UTC (8 days ago)": absolute for the record, relative for the reader. */
function when(iso: string | undefined, now: Date): string {
  if (!iso) return 'unknown';
  const ms = now.getTime() - Date.parse(iso);
  const abs = Math.abs(ms);
  const rel =
    abs < 3_600_000
      ? `${Math.round(abs / 60_000)} min`
      : abs < 172_800_000
        ? `${round(abs / 3_600_000)} h`
        : `${round(abs / 86_400_000)} days`;
  return `${stamp(iso)} (${ms >= 0 ? `${rel} ago` : `in ${rel}`})`;
}

function stamp(iso: string): string {
  return `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`;
}

/** Days left, yellow under WARN_DAYS, red under 3 days or once past. */
function daysText(ui: Ui, iso: string, days: number): string {
  const text = describeExpiry(iso, days);
  if (days < 3) return ui.c('red', days <= 0 ? `EXPIRED ${text}` : text);
  return days < WARN_DAYS ? ui.c('yellow', text) : text;
}

function printSecrets(ui: Ui, s: CredentialStatus, row: (k: string, v: string) => void): void {
  const cs = s.clientSecret;
  if (cs) {
    const e = cs.expiry;
    const where = e
      ? `expires ${daysText(ui, e.expiresAt, e.daysLeft)}${e.source === 'secret' ? ' (date stored with the secret)' : ''}`
      : 'no expiry date recorded';
    const certificate = s.certificate !== undefined;
    row(
      'client secret',
      cs.stored
        ? `stored, ${where}${e?.warn ? `: replace it (\`token-refresher client-secret --credential ${s.credential}\`)` : ''}`
        : certificate
          ? `${ui.c('yellow', 'none stored')}: token-refresher uses the certificate, but AEM needs a client secret (SECRET_SMTP_OAUTH_CLIENT_SECRET)${e ? `; ${where}` : ''}`
          : s.provider === 'oauth2'
            ? 'none stored (a public client)'
            : `${ui.c('red', 'none stored')}: run \`token-refresher client-secret --credential ${s.credential}\``,
    );
  }
  const cert = s.certificate;
  if (cert) {
    const dates =
      cert.notAfter && cert.daysLeft !== undefined
        ? `expires ${daysText(ui, cert.notAfter, cert.daysLeft)}`
        : 'expiry unknown (only a thumbprint stored)';
    if (cert.kmsKeyId) {
      row(
        'certificate',
        `key in AWS KMS (${cert.kmsKeyId}); its certificate's expiry is not known here: watch it where the certificate was issued`,
      );
    } else if (cert.error) {
      row('certificate', `${ui.c('red', cert.error.code)}: ${cert.error.message}${cert.notAfter ? ` (${dates})` : ''}`);
      row('what to do', cert.error.fix);
    } else {
      row(
        'certificate',
        `${dates}${cert.thumbprint ? `, SHA-1 thumbprint ${cert.thumbprint}` : ''}${cert.warn ? ': upload a new certificate to the app and store its key' : ''}`,
      );
    }
  }
}

function printStatus(ui: Ui, s: CredentialStatus, now: Date): void {
  const row = (k: string, v: string) => ui.out(`  ${k.padEnd(13)} ${v}`);
  ui.out(`${ui.c('bold', s.credential)}  (${s.provider}, ${s.mailbox})`);
  if (s.error) {
    row('error', `${ui.c('red', s.error.code)}: ${s.error.message}`);
    row('what to do', s.error.fix);
    return;
  }
  const t = s.token;
  if (!t.present) {
    row('token', `${ui.c('red', 'none stored')}: run \`token-refresher regenerate --credential ${s.credential}\``);
  } else if (t.ageDays === undefined) {
    row('token', `age unknown (imported by hand); the next run rotates it`);
  } else {
    const left = t.daysLeft;
    const leftText =
      left === undefined
        ? 'no fixed lifetime'
        : `${left <= 0 ? ui.c('red', 'EXPIRED') : left < 14 ? ui.c(left < 3 ? 'red' : 'yellow', `${left} days left`) : `${left} days left`} before the ${t.limitDays}-day limit`;
    row(
      'token',
      `${t.ageDays} days old, ${leftText}; obtained ${t.obtainedAt ? stamp(t.obtainedAt) : '?'} by ${t.source}${t.account ? ` as ${t.account}` : ''}`,
    );
  }
  if (s.pending)
    row(
      'pending',
      `${ui.c('yellow', 'a newer token awaits validation')} (obtained ${when(s.pending.obtainedAt, now)}); the next run resumes it`,
    );
  if (s.lastValidation) {
    const v = s.lastValidation;
    row(
      'validation',
      `${v.ok ? ui.c('green', 'ok') : ui.c('red', 'failed')} ${when(v.at, now)}${v.response ? `: ${v.response}` : ''}${v.code ? ` (${v.code})` : ''}`,
    );
  } else row('validation', 'none recorded');
  if (s.lastRun) row('last run', `${when(s.lastRun.at, now)}: ${s.lastRun.outcome}`);
  if (s.failure) {
    const f = s.failure;
    const cls =
      f.class === 'reauthorize'
        ? ui.c('red', 'a person must sign in again')
        : f.class === 'configuration'
          ? ui.c('red', 'an administrator must fix configuration')
          : ui.c('yellow', f.class);
    row(
      'failure',
      `${cls}: ${f.code} at ${f.stage}, since ${when(f.since, now)}, ${f.runs} run${f.runs > 1 ? 's' : ''}`,
    );
    if (f.message) row('', f.message);
    if (f.fix) row('what to do', f.fix);
  } else row('failure', 'none');
  if (s.lease) row('running', `run ${s.lease.runId} holds the lease until ${s.lease.until}`);
  printSecrets(ui, s, row);
  for (const target of s.targets) {
    const text =
      target.state === 'current'
        ? `${ui.c('green', 'current')} token (obtained ${when(target.since, now)})`
        : target.state === 'stale'
          ? `${ui.c('yellow', 'STALE')}: holds the token obtained ${when(target.since, now)}, not the current one; the next run pushes it`
          : `${ui.c('yellow', 'never pushed')}: the next run pushes the current token`;
    row('target', `${target.target} ${target.variable}: ${text}`);
  }
  if (s.targets.length === 0) row('target', 'none configured');
  row('next run', s.nextRun.at ? `${when(s.nextRun.at, now)} (${s.nextRun.schedule})` : s.nextRun.schedule);
}

export const statusCommand: Command = {
  name: 'status',
  summary: 'per credential: token age and days left, last validation and failure, what each target holds, next run',
  options: {
    credential: { type: 'string' },
    fleet: { type: 'boolean' },
    program: { type: 'string' },
    failing: { type: 'boolean' },
    check: { type: 'boolean' },
  },
  help: `Usage: token-refresher status [--credential ID] [--json]
       token-refresher status --fleet [--credential ID] [--program ID] [--failing] [--check] [--json]

--fleet reads the state table once for the whole fleet (no secret, one paginated scan): a summary line (credentials,
targets, healthy / need action / failing), then per credential its last run and test send, and per target the age of
the copy in AEM, the day it dies (issued + 90 days for Microsoft), the last push and its confirmation. --program and
--failing filter the rows (--program, --failing and --check imply --fleet). --check exits 3 when a credential needs a
sign-in, 1 when anything else needs a person (a configuration failure, a dead or dying copy, a failed confirmation, a
failure persisting over 24 hours), else 0: for monitoring scripts.

Reads the store only (changes nothing, calls no remote). Per credential:
  token        age of the current refresh token and days left before the provider's limit (Microsoft: 90 days)
  client secret  stored or not, and its days left (clientSecretExpiresAt, or the date stored with it by
               \`client-secret --expires\`); flagged under ${WARN_DAYS} days
  certificate  credentialType "certificate": the key document's certificate, its days left (flagged under ${WARN_DAYS})
               and SHA-1 thumbprint, or why the function cannot use it
  validation   the last test send or SMTP AUTH and its reply
  failure      the failure the last runs ended with, its class (who must act) and what to do
  target       which token each Cloud Manager target holds and since when; STALE when it is not the current one
  next run     when the schedule fires next (computed for rate() and plain cron(), else the expression)
Exit codes: 0 every credential healthy, 1 a credential's last run failed (or the store could not be read), 2 usage or
configuration, 3 a credential needs a sign-in (run regenerate).`,

  async run(ctx) {
    const config = ctx.config();
    const id = str(ctx.values, 'credential');
    const program = str(ctx.values, 'program');
    if (bool(ctx.values, 'fleet') || program || bool(ctx.values, 'failing') || bool(ctx.values, 'check')) {
      if (id) ctx.credential(id);
      const now = ctx.io.now();
      const view = fleetStatus(config, await (await ctx.stateStore()).listFleet(), now, {
        credential: id,
        program,
        failing: bool(ctx.values, 'failing'),
      });
      if (ctx.ui.json) ctx.ui.emit({ at: now.toISOString(), ...view });
      else printFleet(ctx.ui, view);
      return bool(ctx.values, 'check') ? fleetExit(view.credentials) : Exit.ok;
    }
    const credentials = id ? [ctx.credential(id)] : config.credentials;
    const store = ctx.store();
    const now = ctx.io.now();
    let failed = false;
    const all = await Promise.all(
      credentials.map(async (c): Promise<CredentialStatus> => {
        try {
          return await credentialStatus(config, store, ctx.state(), c, now);
        } catch (e) {
          if (!isRefresherError(e)) throw e;
          failed = true;
          return {
            credential: c.id,
            provider: c.provider,
            mailbox: c.mailbox,
            token: { present: false },
            targets: [],
            nextRun: { schedule: c.schedule.expression },
            error: { code: e.code, message: e.message, fix: e.fix },
          };
        }
      }),
    );
    const adobe = adobeSecretExpiry(config, now);
    if (ctx.ui.json)
      ctx.ui.emit({
        at: now.toISOString(),
        credentials: all,
        ...(adobe ? { adobe: { clientSecret: { expiry: adobe } } } : {}),
      });
    else {
      all.forEach((s, i) => {
        if (i > 0) ctx.ui.out();
        printStatus(ctx.ui, s, now);
      });
      if (adobe) {
        ctx.ui.out();
        ctx.ui.out(`${ctx.ui.c('bold', 'Adobe')}  (OAuth Server-to-Server, Cloud Manager)`);
        ctx.ui.out(
          `  ${'client secret'.padEnd(13)} expires ${daysText(ctx.ui, adobe.expiresAt, adobe.daysLeft)}${adobe.warn ? ': replace it (`token-refresher client-secret --adobe`)' : ''}`,
        );
      }
    }
    // A credential whose last run failed makes status fail too, so a script or a monitor sees it: 3 when a person
    // must sign in again, 1 otherwise (the codes rotate uses).
    const failing = all.map((s): ExitCode =>
      s.failure ? (s.failure.class === 'reauthorize' ? Exit.reauthorize : Exit.failure) : Exit.ok,
    );
    return worstExit([failed ? Exit.failure : Exit.ok, ...failing]);
  },
};
