import { createHash, randomUUID } from 'node:crypto';
import type { Config, Credential } from '../config/schema.ts';
import { secretIds } from '../config/load.ts';
import { asRefresherError, isRefresherError, RefresherError, type FailureClass, type Stage } from '../core/errors.ts';
import { redact, redactText, registerSecret } from '../core/redact.ts';
import type { Alerter, MailValidator, PushTarget, SecretStore, SecretVersion, TokenProvider, TokenSet, ValidationResult, VersionInfo } from '../core/types.ts';
import { decideAlert, type AlertDecision } from '../report/alert-policy.ts';
import { composeAlert } from '../report/alert-text.ts';
import type { Log } from '../report/logger.ts';
import { linkForAlert, type LinkIssuer } from '../report/recovery-link.ts';
import { MetricName, type MetricSink } from '../report/metrics.ts';
import { acquireLease, releaseLease, type Lease } from '../store/lease.ts';
import { clientSecretValue, parseTokenRecord, serializeTokenRecord, tokenAgeDays, type CredentialState, type TokenRecord } from '../store/records.ts';
import type { GraphDiagnosticResult, SmtpOutcome } from '../validate/graph-diagnostic.ts';
import { checkSecretExpiries, type ExpirySummary } from './expiry.ts';

/** Points between stages where a test (or a real crash) can stop the run; each must leave the store resumable. */
export type Step = 'read' | 'redeem' | 'store' | 'validate' | 'promote' | 'push-target';

export class SimulatedCrash extends Error {
  constructor(readonly step: Step) {
    super(`simulated crash after ${step}`);
    this.name = 'SimulatedCrash';
  }
}

export interface RotationDeps {
  config: Config;
  store: SecretStore;
  log: Log;
  metrics: MetricSink;
  alerter?: Alerter;
  /** Sign-in links for `reauthorize` alerts (lambdas/report/recovery-link.ts); absent: the alert names the CLI command. */
  linkIssuer?: LinkIssuer;
  provider: (c: Credential, clientSecret: string | undefined, clientSecretRef: string) => TokenProvider;
  validator: (c: Credential) => MailValidator;
  /** Targets of a credential; they share one IMS token per run. */
  targets: (c: Credential) => PushTarget[];
  /** Starts work every push will need (the IMS token) so it overlaps the refresh. */
  prefetchPush?: (credential?: Credential) => void;
  now?: () => Date;
  /** The lease lives as long as a run may (the function's timeout); a crashed run's lease expires after it. */
  leaseTtlMs?: number;
  useLease?: boolean;
  pushConcurrency?: number;
  hooks?: { afterStep?: (step: Step, credentialId: string) => void | Promise<void> };
  /** validation.graphDiagnostic: a Graph sendMail after the SMTP check, reported only (lambdas/validate/graph-diagnostic.ts). */
  graphDiagnostic?: (
    c: Credential,
    p: { refreshToken: string; clientSecret: string | undefined; clientSecretRef: string; smtp: SmtpOutcome; runId: string },
  ) => Promise<GraphDiagnosticResult>;
}

export interface RotationOptions {
  force?: boolean;
  runId?: string;
  source?: 'schedule' | 'manual' | 'cli' | 'regenerate';
  /**
   * Tokens obtained by a new sign-in (regenerate): they take the place of the redeem, and the rest of the pipeline
   * (store pending, validate, promote, push, report) runs unchanged. An empty secret is fine then.
   */
  newTokens?: TokenSet & { account?: string };
}

export type Outcome = 'rotated' | 'resumed' | 'pushed' | 'up-to-date' | 'skipped' | 'failed';

export interface TargetSummary {
  target: string;
  status: 'pushed' | 'up-to-date' | 'failed' | 'not-attempted';
  code?: string;
}

export interface RotationSummary {
  credential: string;
  runId: string;
  outcome: Outcome;
  redeemed: boolean;
  promoted: boolean;
  validation?: ValidationResult;
  currentVersionId?: string;
  tokenAgeDays?: number;
  targets: TargetSummary[];
  failure?: { class: FailureClass; code: string; stage?: Stage; remote: string; message: string; fix: string };
  alert: AlertDecision | 'failed-to-send';
  note?: string;
  /** Days left of the client secrets with a known expiry (clientSecretExpiresAt). */
  secretExpiry?: ExpirySummary[];
  /** Optional diagnostics; they never change the outcome. */
  diagnostics?: { graph?: GraphDiagnosticResult };
  durationsMs: Record<string, number>;
}

const CURRENT = 'AWSCURRENT';
const PENDING = 'AWSPENDING';
/** Staging label on the token version a target holds: Secrets Manager itself records what each target has. */
export const pushedLabel = (targetKey: string) => `TR_PUSHED_${targetKey}`.slice(0, 256);
/** An access token this close to expiry is not worth a test send: redeem instead. */
const ACCESS_TOKEN_MARGIN_MS = 5 * 60_000;

/** ClientRequestToken derived from the run and the token, so a retried put of the same token is the same version. */
function versionToken(runId: string, refreshToken: string): string {
  return createHash('sha256').update(`${runId}\0${refreshToken}`).digest('hex').slice(0, 64);
}

async function mapLimit<T, R>(items: T[], limit: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  });
  await Promise.all(workers);
  return out;
}

/**
 * One rotation of one credential: read -> (resume | redeem) -> store pending -> validate -> promote -> push -> report.
 * The newest refresh token is written as a pending version before anything else uses it, the promotion is a
 * compare-and-swap, and which version each target holds is a staging label, so a run stopped anywhere is finished by
 * the next one without redeeming twice.
 */
export async function rotateCredential(deps: RotationDeps, credential: Credential, opts: RotationOptions = {}): Promise<RotationSummary> {
  const now = deps.now ?? (() => new Date());
  const runId = opts.runId ?? randomUUID();
  const ids = secretIds(deps.config, credential);
  const started = Date.now();
  const durations: Record<string, number> = {};
  const timed = async <T>(stage: string, fn: () => Promise<T>): Promise<T> => {
    const t0 = Date.now();
    try {
      return await fn();
    } finally {
      durations[stage] = (durations[stage] ?? 0) + (Date.now() - t0);
    }
  };
  const step = async (s: Step) => deps.hooks?.afterStep?.(s, credential.id);
  const log = (level: 'info' | 'warn' | 'error', msg: string, extra: Record<string, unknown> = {}) =>
    deps.log[level](msg, { credential: credential.id, runId, ...extra });

  const summary: RotationSummary = { credential: credential.id, runId, outcome: 'failed', redeemed: false, promoted: false, targets: [], alert: 'none', durationsMs: durations };
  let stage: Stage = 'lease';
  let lease: Lease | undefined;
  let state: CredentialState = { v: 1 };
  let validator: MailValidator | undefined;
  const validatorOf = () => (validator ??= deps.validator(credential));
  // Set once a token is about to be validated: the optional Graph diagnostic runs after the SMTP check, passed or failed.
  let diagnose: ((smtp: SmtpOutcome) => Promise<void>) | undefined;

  try {
    // Lease, token versions and client secret are independent reads: overlap them, and the IMS token with them.
    if (credential.targets.length > 0) deps.prefetchPush?.(credential);
    const useLease = deps.useLease ?? true;
    const currentRead = deps.store.getValue(ids.token, CURRENT);
    const pendingRead = deps.store.getValue(ids.token, PENDING);
    // The test send's connection up to AUTH (greeting, EHLO, STARTTLS) needs no token: once the token reads show that a
    // test send is coming, open it, so that it overlaps the rest of the lease and the refresh.
    Promise.all([currentRead, pendingRead]).then(
      ([c, p]) => {
        if (testSendAhead(credential, opts, c, p, ids.token, now())) validatorOf().preconnect?.();
      },
      () => undefined,
    );
    // allSettled, not all: a failed read must not return before the lease is known, or the lease is left taken behind
    // the run's back and the failure is reported without the state that remembers earlier alerts (one mail per run).
    const reads = await timed('read', () =>
      Promise.allSettled([
        useLease ? acquireLease(deps.store, ids.state, runId, deps.leaseTtlMs ?? 6 * 60_000, now()) : Promise.resolve(undefined),
        deps.store.listVersions(ids.token),
        currentRead,
        pendingRead,
        deps.store.getValue(ids.clientSecret, CURRENT),
      ] as const),
    );
    const settled = <T>(r: PromiseSettledResult<T>): T => {
      if (r.status === 'rejected') throw r.reason;
      return r.value;
    };
    const leaseResult = settled(reads[0]);
    if (leaseResult && 'heldBy' in leaseResult) {
      summary.outcome = 'skipped';
      summary.note = `another run (${leaseResult.heldBy}) holds the lease until ${leaseResult.until}`;
      log('info', 'skipped: another run of this credential is in progress', { heldBy: leaseResult.heldBy, until: leaseResult.until });
      return summary;
    }
    lease = leaseResult;
    if (lease) state = lease.state;
    stage = 'read';
    const [versions, currentRaw, pendingRaw, secretRaw] = [settled(reads[1]), settled(reads[2]), settled(reads[3]), settled(reads[4])];
    summary.secretExpiry = await checkSecretExpiries(deps, credential, state, secretRaw?.value, now(), log);
    if (!currentRaw && !opts.newTokens) {
      throw new RefresherError({
        class: 'reauthorize',
        code: 'NO_TOKEN',
        remote: 'secretsmanager',
        stage: 'read',
        message: `${ids.token} holds no refresh token yet`,
        fix: `Run \`token-refresher regenerate --credential ${credential.id}\` and sign in as ${credential.mailbox}.`,
      });
    }
    const clientSecret = clientSecretValue(secretRaw?.value);
    registerSecret(clientSecret);
    // Certificate credentials sign a client assertion instead; a client secret may still be stored for AEM's own use.
    if (clientSecret === undefined && credential.provider !== 'oauth2' && credential.credentialType !== 'certificate') {
      throw new RefresherError({
        class: 'configuration',
        code: 'CLIENT_SECRET_MISSING',
        remote: 'secretsmanager',
        stage: 'read',
        message: `${ids.clientSecret} holds no client secret`,
        fix: `Store the app's client secret value with \`token-refresher client-secret --credential ${credential.id}\`.`,
      });
    }
    // With new tokens and an empty secret there is no current version: the first put becomes current by itself.
    let current: { versionId: string; record: TokenRecord } = currentRaw
      ? { versionId: currentRaw.versionId, record: parseTokenRecord(currentRaw.value, ids.token) }
      : { versionId: '', record: { v: 1, refreshToken: '', obtainedAt: new Date(0).toISOString(), runId: 'none', source: 'import' } };
    const pending =
      !opts.newTokens && pendingRaw && pendingRaw.versionId !== current.versionId
        ? { versionId: pendingRaw.versionId, record: parseTokenRecord(pendingRaw.value, ids.token) }
        : undefined;
    await step('read');

    // Resume: a pending version newer than current was stored by a run that stopped before promoting it.
    let candidate: { versionId: string; record: TokenRecord } | undefined;
    let accessToken: string | undefined;
    const resumable = pending && Date.parse(pending.record.obtainedAt) > Date.parse(current.record.obtainedAt) ? pending : undefined;
    const age = tokenAgeDays(current.record, now());
    if (currentRaw) summary.tokenAgeDays = Math.round(age * 100) / 100;
    const due = opts.newTokens !== undefined || opts.force || credential.rotation.force || age >= credential.rotation.maxAgeDays;

    if (resumable) {
      candidate = resumable;
      const exp = resumable.record.accessTokenExpiresAt ? Date.parse(resumable.record.accessTokenExpiresAt) : 0;
      if (resumable.record.accessToken && exp - now().getTime() > ACCESS_TOKEN_MARGIN_MS) accessToken = resumable.record.accessToken;
      summary.outcome = 'resumed';
      log('info', 'resuming a pending version stored by an earlier run', { pendingVersion: resumable.versionId, fromRun: resumable.record.runId });
    }

    if (!resumable && !due) {
      summary.outcome = 'up-to-date';
    } else if (!accessToken) {
      // Redeem: the pending token when resuming after its access token expired, else the current one.
      stage = 'refresh';
      const base = candidate ?? current;
      const provider = deps.provider(credential, clientSecret, ids.clientSecret);
      const tokens: TokenSet = opts.newTokens ?? (await timed('refresh', () => provider.redeemRefreshToken(base.record.refreshToken)));
      summary.redeemed = !opts.newTokens;
      await step('redeem');
      accessToken = tokens.accessToken;
      const rotated = tokens.refreshToken !== undefined && tokens.refreshToken !== base.record.refreshToken;
      const record: TokenRecord = {
        v: 1,
        refreshToken: rotated ? (tokens.refreshToken as string) : base.record.refreshToken,
        obtainedAt: rotated ? now().toISOString() : base.record.obtainedAt,
        runId: rotated ? runId : base.record.runId,
        source: opts.newTokens ? 'regenerate' : rotated ? 'rotate' : base.record.source,
        scope: tokens.scope ?? base.record.scope,
        account: opts.newTokens?.account ?? base.record.account,
        accessToken: accessToken || undefined,
        accessTokenExpiresAt: tokens.expiresInSec ? new Date(now().getTime() + tokens.expiresInSec * 1000).toISOString() : undefined,
      };
      diagnose = diagnoser(deps, credential, record.refreshToken, clientSecret, ids.clientSecret, runId, summary, timed, log);
      stage = 'store';
      const storePending = rotated
        ? timed('store', () =>
            deps.store.putValue(ids.token, serializeTokenRecord(record), { clientRequestToken: versionToken(runId, record.refreshToken), stages: [PENDING] }),
          ).then(async (versionId) => {
            candidate = { versionId, record };
            await step('store');
          })
        : Promise.resolve();
      if (!rotated && !candidate) {
        log('info', 'the provider returned no new refresh token; the current one is kept');
      }
      if (!accessToken) {
        await storePending;
        throw new RefresherError({
          class: 'transient',
          code: 'TOKEN_RESPONSE_NO_ACCESS_TOKEN',
          remote: provider.remote,
          stage: 'refresh',
          message: 'the token endpoint returned a refresh token but no access token; the refresh token was stored as pending',
          fix: 'The next run resumes with the stored token; nothing to do unless it repeats.',
        });
      }
      // Storing the newest token and the test send are independent: overlap them, but promote only after both.
      const validation = validate(validatorOf(), credential, runId, accessToken, timed);
      const [storeResult, validationResult] = await Promise.allSettled([storePending, validation]);
      if (storeResult.status === 'rejected') throw storeResult.reason;
      if (validationResult.status === 'rejected') throw validationResult.reason;
      summary.validation = validationResult.value;
      summary.outcome = summary.outcome === 'resumed' ? 'resumed' : rotated ? 'rotated' : 'up-to-date';
      await step('validate');
    } else {
      stage = 'validate';
      if (candidate) diagnose = diagnoser(deps, credential, candidate.record.refreshToken, clientSecret, ids.clientSecret, runId, summary, timed, log);
      summary.validation = await validate(validatorOf(), credential, runId, accessToken, timed);
      await step('validate');
    }
    if (summary.validation) state.lastValidation = { at: now().toISOString(), ok: true, response: summary.validation.response };
    if (summary.validation) await diagnose?.({ ok: true });

    // Promote: compare-and-swap of AWSCURRENT from the version we read.
    let labelsAfterPromote: Promise<VersionInfo[]> | undefined;
    if (candidate && candidate.versionId !== current.versionId) {
      stage = 'promote';
      // The push reads which version holds each target's label. Moving AWSCURRENT leaves those labels where they are, so
      // the listing runs beside the swap instead of after it; it is only used when the swap succeeds.
      labelsAfterPromote = deps.store.listVersions(ids.token);
      labelsAfterPromote.catch(() => undefined);
      try {
        const first = current.versionId === '';
        // The first version of a secret is current from the start; otherwise compare-and-swap from what we read.
        if (!first) await timed('promote', () => deps.store.moveStage(ids.token, CURRENT, { toVersionId: candidate!.versionId, fromVersionId: current.versionId }));
        summary.promoted = true;
        current = candidate;
        log('info', 'promoted the new token to AWSCURRENT', { versionId: candidate.versionId });
      } catch (e) {
        if (!(isRefresherError(e) && e.class === 'conflict')) throw e;
        // Another run promoted first: its version is current; finish by pushing that one.
        const winner = await deps.store.getValue(ids.token, CURRENT);
        if (!winner) throw e;
        current = { versionId: winner.versionId, record: parseTokenRecord(winner.value, ids.token) };
        summary.note = 'another run promoted first; its version is pushed';
        log('warn', 'lost the promotion race; pushing the winner', { versionId: winner.versionId });
      }
      await step('promote');
    }
    summary.currentVersionId = current.versionId;
    summary.tokenAgeDays = Math.round(tokenAgeDays(current.record, now()) * 100) / 100;

    // Push: every target whose label is not on the current version receives it.
    stage = 'push';
    const targets = deps.targets(credential);
    const holders = new Map<string, string>();
    const afterPromote = summary.promoted && labelsAfterPromote ? await labelsAfterPromote : versions;
    for (const v of afterPromote) for (const s of v.stages) if (s.startsWith('TR_PUSHED_')) holders.set(s, v.versionId);
    let firstPushError: RefresherError | undefined;
    summary.targets = await timed('push', () =>
      mapLimit(targets, deps.pushConcurrency ?? 4, async (t): Promise<TargetSummary> => {
        const label = pushedLabel(t.key);
        const held = holders.get(label);
        if (held === current.versionId) return { target: t.label, status: 'up-to-date' };
        try {
          await t.push({ refreshToken: current.record.refreshToken, clientSecret });
          await recordPush(deps.store, ids.token, label, current.versionId, held);
          await step('push-target');
          deps.metrics.count(MetricName.PushSuccess, credential.id);
          return { target: t.label, status: 'pushed' };
        } catch (e) {
          if (e instanceof SimulatedCrash) throw e;
          const err = asRefresherError(e, 'cloudmanager', 'push');
          firstPushError ??= err;
          log('error', 'push to a Cloud Manager target failed', { target: t.label, error: err.toJSON() });
          return { target: t.label, status: 'failed', code: err.code };
        }
      }),
    );
    if (summary.targets.some((t) => t.status === 'pushed') && summary.outcome === 'up-to-date') summary.outcome = 'pushed';
    if (firstPushError) throw firstPushError;

    state.lastSuccess = { runId, at: now().toISOString(), versionId: current.versionId };
    deps.metrics.count(MetricName.RotationSuccess, credential.id);
    summary.alert = await report(deps, credential, state, { ok: true }, now(), log);
    log('info', `rotation finished: ${summary.outcome}`, { outcome: summary.outcome, redeemed: summary.redeemed, promoted: summary.promoted, targets: summary.targets });
  } catch (e) {
    // A crash stops the process where it stands: no state write, no alert, the lease runs out on its own.
    if (e instanceof SimulatedCrash) throw e;
    const err = asRefresherError(e, 'lambda', stage);
    summary.outcome = 'failed';
    summary.failure = { class: err.class, code: err.code, stage: err.stage ?? stage, remote: err.remote, message: redactText(err.message), fix: redactText(err.fix) };
    if (err.stage === 'validate') {
      state.lastValidation = { at: now().toISOString(), ok: false, code: err.code };
      deps.metrics.count(MetricName.ValidationFailure, credential.id);
      await diagnose?.({ ok: false, code: err.code });
    }
    deps.metrics.count(MetricName.RotationFailure, credential.id, 1, { class: err.class });
    log(err.class === 'transient' ? 'warn' : 'error', `rotation failed at ${summary.failure.stage}: ${err.code}`, { failure: summary.failure });
    summary.alert = await report(deps, credential, state, { ok: false, err }, now(), log);
  } finally {
    // A connection opened for a test send that did not happen (the refresh failed) is closed here.
    validator?.close?.();
    if (lease) {
      state.lastRun = { runId, at: now().toISOString(), outcome: summary.outcome };
      try {
        if (summary.outcome !== 'skipped') await releaseLease(deps.store, ids.state, lease, state);
      } catch (e) {
        log('warn', 'could not write the state secret; alert de-duplication may repeat one mail', { error: redact(asRefresherError(e, 'secretsmanager').toJSON()) });
      }
    }
    // Token age on every run that could read the token, healthy or not: the age alarm must see a dying token.
    if (summary.tokenAgeDays !== undefined) deps.metrics.gauge(MetricName.TokenAgeDays, credential.id, summary.tokenAgeDays, 'None');
    durations.total = Date.now() - started;
    for (const [s, ms] of Object.entries(durations)) deps.metrics.gauge(MetricName.StageDurationMs, credential.id, ms, 'Milliseconds', { stage: s });
  }
  return summary;
}

/** The Graph diagnostic for one token, when configured; never throws and never changes the outcome. */
function diagnoser(
  deps: RotationDeps,
  credential: Credential,
  refreshToken: string,
  clientSecret: string | undefined,
  clientSecretRef: string,
  runId: string,
  summary: RotationSummary,
  timed: <T>(stage: string, fn: () => Promise<T>) => Promise<T>,
  log: (level: 'info' | 'warn' | 'error', msg: string, extra?: Record<string, unknown>) => void,
): ((smtp: SmtpOutcome) => Promise<void>) | undefined {
  const run = deps.graphDiagnostic;
  if (!credential.validation.graphDiagnostic || !run) return undefined;
  return async (smtp) => {
    try {
      const graph = await timed('diagnose', () => run(credential, { refreshToken, clientSecret, clientSecretRef, smtp, runId }));
      summary.diagnostics = { ...summary.diagnostics, graph };
      log(graph.ok ? 'info' : 'warn', `Graph diagnostic: ${graph.ok ? 'sent' : `failed at ${graph.step} (${graph.code ?? graph.status ?? 'error'})`}`, { diagnostic: graph });
    } catch (e) {
      log('warn', 'the Graph diagnostic could not run', { error: asRefresherError(e, 'entra', 'validate').toJSON() });
    }
  };
}

/**
 * Whether the token reads alone say this run will make a test send: new tokens, a forced or due rotation, or a newer
 * pending version to resume (the decision below, made early). A wrong guess costs nothing but a connection: an unused
 * one is closed at the end of the run, and a missing one is opened by validate() itself.
 */
function testSendAhead(credential: Credential, opts: RotationOptions, currentRaw: SecretVersion | undefined, pendingRaw: SecretVersion | undefined, secretId: string, now: Date): boolean {
  if (opts.newTokens) return true;
  if (!currentRaw) return false;
  if (opts.force || credential.rotation.force) return true;
  try {
    const current = parseTokenRecord(currentRaw.value, secretId);
    if (pendingRaw && pendingRaw.versionId !== currentRaw.versionId && Date.parse(parseTokenRecord(pendingRaw.value, secretId).obtainedAt) > Date.parse(current.obtainedAt)) return true;
    return tokenAgeDays(current, now) >= credential.rotation.maxAgeDays;
  } catch {
    return false; // an unreadable record fails the run below
  }
}

/**
 * Moves a target's label onto the version it now holds. Real Secrets Manager wants RemoveFromVersionId whenever the label
 * is attached elsewhere; if a concurrent run moved it meanwhile, look where it is now and move it from there (or stop if
 * it is already on our version).
 */
async function recordPush(store: SecretStore, secretId: string, label: string, toVersionId: string, held: string | undefined): Promise<void> {
  try {
    await store.moveStage(secretId, label, { toVersionId, fromVersionId: held });
  } catch (e) {
    if (!(isRefresherError(e) && e.class === 'conflict')) throw e;
    const now = (await store.listVersions(secretId)).find((v) => v.stages.includes(label))?.versionId;
    if (now === toVersionId) return;
    await store.moveStage(secretId, label, { toVersionId, fromVersionId: now });
  }
}

async function validate(
  validator: MailValidator,
  credential: Credential,
  runId: string,
  accessToken: string,
  timed: <T>(stage: string, fn: () => Promise<T>) => Promise<T>,
): Promise<ValidationResult> {
  const v = credential.validation;
  return timed('validate', () =>
    validator.validate({
      mailbox: credential.mailbox,
      accessToken,
      mode: v.mode,
      to: v.to ?? credential.mailbox,
      subject: `token-refresher validation: ${credential.id} (run ${runId})`,
      text: `This message proves that the rotated OAuth2 token of credential "${credential.id}" can send mail through ${v.smtp.host} with SMTP XOAUTH2, the way AEM does.\nRun: ${runId}\n`,
    }),
  );
}

async function report(
  deps: RotationDeps,
  credential: Credential,
  state: CredentialState,
  outcome: { ok: true } | { ok: false; err: RefresherError },
  now: Date,
  log: (level: 'info' | 'warn' | 'error', msg: string, extra?: Record<string, unknown>) => void,
): Promise<AlertDecision | 'failed-to-send'> {
  const remindAfterHours = deps.config.alerts?.remindAfterHours ?? 24;
  const previous = state.failure;
  const { decision, next } = decideAlert(
    previous,
    outcome.ok ? { ok: true } : { ok: false, class: outcome.err.class, code: outcome.err.code, stage: outcome.err.stage ?? 'unknown' },
    now,
    { remindAfterHours },
  );
  state.failure = next && !outcome.ok ? { ...next, message: redactText(outcome.err.message), fix: redactText(outcome.err.fix) } : next;
  if (decision === 'none' || !deps.alerter) return decision;
  const err = outcome.ok ? undefined : outcome.err;
  const alert = composeAlert(credential, decision, err, previous, now, await linkForAlert(deps.linkIssuer, credential, decision, err));
  try {
    await deps.alerter.send(alert);
    log('info', `alert sent: ${decision}`, { alert: decision });
    return decision;
  } catch (e) {
    const err = asRefresherError(e, 'ses', 'report');
    deps.metrics.count(MetricName.AlertFailure, credential.id);
    log('error', 'the alert could not be sent', { error: err.toJSON() });
    // Forget that we alerted, so the next run tries again.
    if (state.failure) delete state.failure.lastAlertAt;
    return 'failed-to-send';
  }
}
