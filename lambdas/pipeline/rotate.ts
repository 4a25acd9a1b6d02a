import { createHash, randomUUID } from 'node:crypto';
import type { Config, Credential } from '../config/schema.ts';
import { secretIds } from '../config/load.ts';
import { effectiveDelivery } from '../config/delivery-schema.ts';
import { asRefresherError, RefresherError, type FailureClass, type Stage } from '../core/errors.ts';
import { redact, redactText, registerSecret } from '../core/redact.ts';
import type { Alerter, MailValidator, SecretStore, TokenProvider, TokenSet, ValidationResult } from '../core/types.ts';
import {
  DEFERRAL_CODES,
  deliverCredential,
  type CurrentToken,
  type DeliverableTarget,
  type DeliveryDeps,
  type DeliveryStatus,
} from '../deliver/deliver.ts';
import { copyAgeDays, planDelivery, stageGate } from '../deliver/policy.ts';
import type { EnvironmentProbe } from '../deliver/probe.ts';
import type { AlertDecision } from '../report/alert-policy.ts';
import type { Log } from '../report/logger.ts';
import type { LinkIssuer } from '../report/recovery-link.ts';
import { DIMENSION_TARGET } from '../report/metric-names.ts';
import { MetricName, type MetricSink } from '../report/metrics.ts';
import {
  checkState,
  clientSecretValue,
  serializeTokenRecord,
  tokenAgeDays,
  type CredentialState,
  type TokenRecord,
} from '../store/records.ts';
import type { StateStore } from '../store/state-store.ts';
import type { GraphDiagnosticResult, SmtpOutcome } from '../validate/graph-diagnostic.ts';
import { checkSecretExpiries, type ExpirySummary } from './expiry.ts';
import { oldFamilyDead } from './family.ts';
import { promote } from './promote.ts';
import { report } from './report-step.ts';
import { CURRENT, PENDING, viewTokens, type StoredToken } from './token-read.ts';

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
  /** Lease, credential state and delivery records (lambdas/store/state-store.ts). */
  state: StateStore;
  log: Log;
  metrics: MetricSink;
  alerter?: Alerter;
  /** Sign-in links for `reauthorize` alerts (lambdas/report/recovery-link.ts); absent: the alert names the CLI command. */
  linkIssuer?: LinkIssuer;
  provider: (c: Credential, clientSecret: string | undefined, clientSecretRef: string) => TokenProvider;
  validator: (c: Credential) => MailValidator;
  /** Targets of a credential; they share one IMS token per run. */
  targets: (c: Credential) => DeliverableTarget[];
  /** Environment status, running pipelines and AEM's log, for the delivery stage (absent: no look-before-push). */
  probe?: EnvironmentProbe;
  /** Starts work every push will need (the IMS token) so it overlaps the refresh. */
  prefetchPush?: (credential?: Credential) => void;
  now?: () => Date;
  sleep?: (ms: number) => Promise<void>;
  /** Absolute Date.now() by which delivery follow-ups must stop (the function's remaining time less a margin). */
  deadlineMs?: () => number;
  /** The lease lives as long as a run may (the function's timeout); a crashed run's lease expires after it. */
  leaseTtlMs?: number;
  useLease?: boolean;
  pushConcurrency?: number;
  /** Delivery tuning (tests and the year simulation): log bytes per check, waiting for the restart, poll interval. */
  delivery?: Pick<DeliveryDeps, 'maxLogBytes' | 'waitForReadyMs' | 'pollMs'>;
  /** Reads the layout before the state table (state secret, TR_PUSHED_ labels) into the table, once per credential. */
  upgrade?: (c: Credential) => Promise<void>;
  hooks?: { afterStep?: (step: Step, credentialId: string) => void | Promise<void> };
  /** validation.graphDiagnostic: a Graph sendMail after the SMTP check, reported only (lambdas/validate/graph-diagnostic.ts). */
  graphDiagnostic?: (
    c: Credential,
    p: {
      refreshToken: string;
      clientSecret: string | undefined;
      clientSecretRef: string;
      smtp: SmtpOutcome;
      runId: string;
    },
  ) => Promise<GraphDiagnosticResult>;
}

export interface RotationOptions {
  force?: boolean;
  runId?: string;
  source?: 'schedule' | 'manual' | 'cli' | 'regenerate';
  /**
   * Tokens obtained by a new sign-in (regenerate): they take the place of the redeem, and the rest of the pipeline
   * (store pending, validate, promote, deliver, report) runs unchanged. An empty secret is fine then.
   */
  newTokens?: TokenSet & { account?: string };
  /** 'deliver': a delivery run (the 30-minute schedule); the token is redeemed only to give a push a fresh copy. */
  mode?: 'rotate' | 'deliver';
  /** Target keys, or 'all', to push now whatever the policy says (CLI `rotate --push-now`). */
  pushNow?: readonly string[] | 'all';
}

export type Outcome = 'rotated' | 'resumed' | 'pushed' | 'up-to-date' | 'skipped' | 'failed';

export interface TargetSummary {
  target: string;
  status: DeliveryStatus | 'not-attempted';
  code?: string;
  reason?: string;
  outsideWindow?: boolean;
  why?: string;
  phase?: string;
  copyAgeDays?: number;
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

/** The staging label that recorded which version a target held in the layout before the state table (upgrade reads it). */
export const pushedLabel = (targetKey: string) => `TR_PUSHED_${targetKey}`.slice(0, 256);
/** An access token this close to expiry is not worth a test send: redeem instead. */
const ACCESS_TOKEN_MARGIN_MS = 5 * 60_000;
/** A token older than this is redeemed before a push, so the copy a target gets starts its 90 days at the push. */
const FRESH_FOR_PUSH_DAYS = 1;
const COPY_LIFETIME_DAYS = 90;

/** ClientRequestToken derived from the run and the token, so a retried put of the same token is the same version. */
function versionToken(runId: string, refreshToken: string): string {
  return createHash('sha256').update(`${runId}\0${refreshToken}`).digest('hex').slice(0, 64);
}

/**
 * One run of one credential: lease -> read -> (resume | redeem) -> store pending -> validate -> promote -> deliver ->
 * report. The newest refresh token is written as a pending version before anything else uses it, the promotion is a
 * compare-and-swap, and each target's delivery record says which version it holds and where its delivery stands, so a
 * run stopped anywhere is finished by the next one without redeeming twice or restarting an environment twice.
 */
export async function rotateCredential(
  deps: RotationDeps,
  credential: Credential,
  opts: RotationOptions = {},
): Promise<RotationSummary> {
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

  const summary: RotationSummary = {
    credential: credential.id,
    runId,
    outcome: 'failed',
    redeemed: false,
    promoted: false,
    targets: [],
    alert: 'none',
    durationsMs: durations,
  };
  let stage: Stage = 'lease';
  let leased = false;
  let stateRev: number | undefined;
  let state: CredentialState = { v: 1 };
  let validator: MailValidator | undefined;
  const validatorOf = () => (validator ??= deps.validator(credential));
  let diagnose: ((smtp: SmtpOutcome) => Promise<void>) | undefined;
  const deliveryMode = opts.mode === 'deliver';
  const targets = credential.targets.length > 0 ? deps.targets(credential) : [];

  try {
    if (deps.useLease ?? true) {
      const lease = await timed('lease', () =>
        deps.state.acquireLease(credential.id, runId, deps.leaseTtlMs ?? 6 * 60_000, now()),
      );
      if (!lease.acquired) {
        summary.outcome = 'skipped';
        summary.note = `another run (${lease.heldBy}) holds the lease until ${lease.until}`;
        log('info', 'skipped: another run of this credential is in progress', {
          heldBy: lease.heldBy,
          until: lease.until,
        });
        return summary;
      }
      leased = true;
    }
    if (targets.length > 0) deps.prefetchPush?.(credential);
    stage = 'read';
    // Token versions, client secret, state and delivery records are independent reads: overlap them.
    // The state is read on its own so that a failing token read still reports with the alert history (one mail, not
    // one per run).
    const stateP = (async () => {
      let st = await deps.state.getState(credential.id);
      if (!st && deps.upgrade) {
        await deps.upgrade(credential);
        st = await deps.state.getState(credential.id);
      }
      return st;
    })();
    const readsP = Promise.all([
      deps.store.listVersions(ids.token),
      deps.store.getValue(ids.token, CURRENT),
      deps.store.getValue(ids.token, PENDING),
      deps.store.getValue(ids.clientSecret, CURRENT),
      targets.length > 0 ? deps.state.listDeliveries(credential.id) : Promise.resolve([]),
    ] as const);
    const [stateSettled, readsSettled] = await timed('read', () => Promise.allSettled([stateP, readsP]));
    const stateRead = stateSettled.status === 'fulfilled' ? stateSettled.value : undefined;
    if (stateRead) {
      stateRev = stateRead.rev;
      const checked = stateRead.problem
        ? { state: stateRead.state, problem: stateRead.problem }
        : checkState(stateRead.state);
      state = checked.state;
      if (checked.problem) {
        // Alert history is lost with it: say so rather than start afresh in silence.
        deps.metrics.count('StateRecordInvalid', credential.id);
        log('error', 'the credential state record is unreadable and was replaced; alert de-duplication starts afresh', {
          code: 'STATE_RECORD_INVALID',
          fields: checked.problem,
        });
        summary.note = `STATE_RECORD_INVALID: the state record could not be read (${checked.problem}) and was replaced`;
      }
    }
    if (stateSettled.status === 'rejected') throw stateSettled.reason;
    if (readsSettled.status === 'rejected') throw readsSettled.reason;
    const [versions, currentRaw, pendingRaw, secretRaw, records] = readsSettled.value;
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
    const view = await viewTokens(
      {
        store: deps.store,
        secretId: ids.token,
        currentRaw,
        pendingRaw,
        versions,
        ignorePending: opts.newTokens !== undefined,
        now: now(),
        lastSeenCurrent: state.current?.versionId,
      },
      (m, e) => log('warn', m, e),
    );
    let current: StoredToken = view.current;
    // What this run saw as current, kept even if it fails: the next run tells an outside edit from its own work by it.
    if (currentRaw) state.current = { versionId: current.versionId, issuedAt: current.record.obtainedAt };
    await step('read');

    let candidate: StoredToken | undefined;
    let accessToken: string | undefined;
    if (currentRaw)
      summary.tokenAgeDays = view.ageDays === undefined ? undefined : Math.round(view.ageDays * 100) / 100;
    if (currentRaw && view.ageDays === undefined) {
      // An age we cannot compute must never mean "fresh": rotate now and say why.
      log('warn', 'the current token record has no readable obtainedAt; it is rotated now', {
        code: 'TOKEN_AGE_UNKNOWN',
      });
      summary.note = 'TOKEN_AGE_UNKNOWN: the stored token could not be aged and was treated as due';
    }
    const ageDue = view.ageDays === undefined || view.ageDays >= credential.rotation.maxAgeDays;
    // A push is coming and the token is not fresh: redeem first, so the copy starts its lifetime at the push.
    const pushSoon =
      currentRaw !== undefined &&
      (view.ageDays === undefined || view.ageDays > FRESH_FOR_PUSH_DAYS) &&
      pushImminent(credential, targets, records, current, secretRaw?.versionId, opts, now());
    const due =
      opts.newTokens !== undefined || opts.force || credential.rotation.force || (!deliveryMode && ageDue) || pushSoon;

    // The test send's connection up to AUTH (greeting, EHLO, STARTTLS) needs no token: open it now so that it overlaps
    // the refresh. An unused one is closed at the end of the run.
    if (due || view.resumable) validatorOf().preconnect?.();
    if (view.resumable) {
      candidate = view.resumable;
      const exp = candidate.record.accessTokenExpiresAt ? Date.parse(candidate.record.accessTokenExpiresAt) : 0;
      if (candidate.record.accessToken && exp - now().getTime() > ACCESS_TOKEN_MARGIN_MS)
        accessToken = candidate.record.accessToken;
      summary.outcome = 'resumed';
      log('info', 'resuming a pending version stored by an earlier run', {
        pendingVersion: candidate.versionId,
        fromRun: candidate.record.runId,
      });
    }

    if (!view.resumable && !due) {
      summary.outcome = 'up-to-date';
    } else if (!accessToken) {
      // Redeem: the pending token when resuming after its access token expired, else the current one.
      stage = 'refresh';
      const base = candidate ?? current;
      const provider = deps.provider(credential, clientSecret, ids.clientSecret);
      const tokens: TokenSet =
        opts.newTokens ?? (await timed('refresh', () => provider.redeemRefreshToken(base.record.refreshToken)));
      summary.redeemed = !opts.newTokens;
      await step('redeem');
      accessToken = tokens.accessToken;
      const rotated = tokens.refreshToken !== undefined && tokens.refreshToken !== base.record.refreshToken;
      const record: TokenRecord = {
        v: 1,
        refreshToken: rotated ? (tokens.refreshToken as string) : base.record.refreshToken,
        obtainedAt:
          rotated || !Number.isFinite(Date.parse(base.record.obtainedAt))
            ? now().toISOString()
            : base.record.obtainedAt,
        runId: rotated ? runId : base.record.runId,
        source: opts.newTokens ? 'regenerate' : rotated ? 'rotate' : base.record.source,
        scope: tokens.scope ?? base.record.scope,
        account: opts.newTokens?.account ?? base.record.account,
        accessToken: accessToken || undefined,
        accessTokenExpiresAt: tokens.expiresInSec
          ? new Date(now().getTime() + tokens.expiresInSec * 1000).toISOString()
          : undefined,
      };
      diagnose = diagnoser(
        deps,
        credential,
        record.refreshToken,
        clientSecret,
        ids.clientSecret,
        runId,
        summary,
        timed,
        log,
      );
      stage = 'store';
      // A record that cannot be aged is rewritten even without rotation, so its age is known from now on.
      const rewrite = rotated || record.obtainedAt !== base.record.obtainedAt;
      const storePending = rewrite
        ? timed('store', () =>
            deps.store.putValue(ids.token, serializeTokenRecord(record), {
              clientRequestToken: versionToken(runId, `${record.refreshToken}\0${record.obtainedAt}`),
              stages: [PENDING],
            }),
          ).then(async (versionId) => {
            candidate = { versionId, record };
            await step('store');
          })
        : Promise.resolve();
      if (!rotated && !candidate) log('info', 'the provider returned no new refresh token; the current one is kept');
      if (!accessToken) {
        await storePending;
        throw new RefresherError({
          class: 'transient',
          code: 'TOKEN_RESPONSE_NO_ACCESS_TOKEN',
          remote: provider.remote,
          stage: 'refresh',
          message:
            'the token endpoint returned a refresh token but no access token; the refresh token was stored as pending',
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
      if (candidate)
        diagnose = diagnoser(
          deps,
          credential,
          candidate.record.refreshToken,
          clientSecret,
          ids.clientSecret,
          runId,
          summary,
          timed,
          log,
        );
      summary.validation = await validate(validatorOf(), credential, runId, accessToken, timed);
      await step('validate');
    }
    if (summary.validation)
      state.lastValidation = { at: now().toISOString(), ok: true, response: summary.validation.response };
    if (summary.validation) await diagnose?.({ ok: true });

    if (candidate && candidate.versionId !== current.versionId) {
      stage = 'promote';
      const p = await promote(deps.store, ids.token, current, candidate, timed);
      current = p.current;
      summary.promoted = p.promoted;
      if (p.promoted) log('info', 'promoted the new token to AWSCURRENT', { versionId: current.versionId });
      else {
        summary.note = p.note;
        log('warn', 'lost the promotion race; delivering the winner', { versionId: current.versionId });
      }
      await step('promote');
    }
    summary.currentVersionId = current.versionId;
    const age = tokenAgeDays(current.record, now());
    summary.tokenAgeDays = Number.isFinite(age) ? Math.round(age * 100) / 100 : undefined;
    state.current = { versionId: current.versionId, issuedAt: current.record.obtainedAt };

    stage = 'push';
    const familyRevoked =
      opts.newTokens !== undefined &&
      (await oldFamilyDead({
        credential,
        seenReauthorize: state.failure?.class === 'reauthorize' || state.familyDeadSince !== undefined,
        oldCopies: records.some((r) => r.versionId !== undefined && r.versionId !== current.versionId),
        oldRefreshToken: view.current.versionId ? view.current.record.refreshToken : undefined,
        provider: () => deps.provider(credential, clientSecret, ids.clientSecret),
      }));
    const delivered = await timed('push', () =>
      deliverCredential(
        {
          state: deps.state,
          probe: deps.probe ?? alwaysReady,
          log: deps.log,
          metrics: deps.metrics,
          alerter: deps.alerter,
          now,
          sleep: deps.sleep,
          deadlineMs: deps.deadlineMs?.(),
          remindAfterHours: deps.config.alerts?.remindAfterHours,
          concurrency: deps.pushConcurrency,
          ...deps.delivery,
        },
        {
          credential,
          targets,
          afterPush: () => step('push-target'),
          current: tokenOf(current),
          clientSecret:
            clientSecret !== undefined && secretRaw
              ? { value: clientSecret, versionId: secretRaw.versionId }
              : undefined,
          pushNow: opts.pushNow,
          familyRevoked,
          runId,
        },
      ),
    );
    if (familyRevoked) delete state.familyDeadSince;
    summary.targets = delivered.map(({ error: _e, ...t }) => t);
    emitCopyMetrics(deps, credential, targets, await deps.state.listDeliveries(credential.id).catch(() => []), now());
    if (summary.targets.some((t) => t.status === 'pushed') && summary.outcome === 'up-to-date')
      summary.outcome = 'pushed';
    const pushError = delivered.find((t) => t.error && !DEFERRAL_CODES.has(t.error.code))?.error;
    if (pushError) throw pushError;

    state.lastSuccess = { runId, at: now().toISOString(), versionId: current.versionId };
    deps.metrics.count(MetricName.RotationSuccess, credential.id);
    summary.alert = await report(reportDeps(deps), credential, state, { ok: true }, now(), log);
    log('info', `rotation finished: ${summary.outcome}`, {
      outcome: summary.outcome,
      redeemed: summary.redeemed,
      promoted: summary.promoted,
      targets: summary.targets,
    });
  } catch (e) {
    // A crash stops the process where it stands: no state write, no alert, the lease runs out on its own.
    if (e instanceof SimulatedCrash) throw e;
    const err = asRefresherError(e, 'lambda', stage);
    summary.outcome = 'failed';
    summary.failure = {
      class: err.class,
      code: err.code,
      stage: err.stage ?? stage,
      remote: err.remote,
      message: redactText(err.message),
      fix: redactText(err.fix),
    };
    if (err.stage === 'validate') {
      state.lastValidation = { at: now().toISOString(), ok: false, code: err.code };
      deps.metrics.count(MetricName.ValidationFailure, credential.id);
      await diagnose?.({ ok: false, code: err.code });
    }
    if (err.class === 'reauthorize' && currentTokenExists(summary)) state.familyDeadSince ??= now().toISOString();
    deps.metrics.count(MetricName.RotationFailure, credential.id, 1, { class: err.class });
    log(err.class === 'transient' ? 'warn' : 'error', `rotation failed at ${summary.failure.stage}: ${err.code}`, {
      failure: summary.failure,
    });
    summary.alert = await report(reportDeps(deps), credential, state, { ok: false, err }, now(), log);
  } finally {
    // A connection opened for a test send that did not happen (the refresh failed) is closed here.
    validator?.close?.();
    if (summary.outcome !== 'skipped' && (leased || !(deps.useLease ?? true))) {
      state.lastRun = { runId, at: now().toISOString(), outcome: summary.outcome };
      try {
        await deps.state.putState(credential.id, state, stateRev);
      } catch (e) {
        log('warn', 'could not write the credential state; alert de-duplication may repeat one mail', {
          error: redact(asRefresherError(e, 'dynamodb').toJSON()),
        });
      }
      if (leased) await deps.state.releaseLease(credential.id, runId).catch(() => undefined);
    }
    // Token age on every run that could read the token, healthy or not: the age alarm must see a dying token. An age
    // that cannot be computed is reported as the whole lifetime, so the alarm fires rather than stays silent.
    if (summary.tokenAgeDays !== undefined)
      deps.metrics.gauge(MetricName.TokenAgeDays, credential.id, summary.tokenAgeDays, 'None');
    else if (summary.note?.startsWith('TOKEN_AGE_UNKNOWN'))
      deps.metrics.gauge(MetricName.TokenAgeDays, credential.id, COPY_LIFETIME_DAYS, 'None');
    durations.total = Date.now() - started;
    for (const [s, ms] of Object.entries(durations))
      deps.metrics.gauge(MetricName.StageDurationMs, credential.id, ms, 'Milliseconds', { stage: s });
  }
  return summary;
}

function currentTokenExists(s: RotationSummary): boolean {
  return s.failure?.stage === 'refresh';
}

function reportDeps(deps: RotationDeps) {
  return {
    alerter: deps.alerter,
    linkIssuer: deps.linkIssuer,
    metrics: deps.metrics,
    remindAfterHours: deps.config.alerts?.remindAfterHours ?? 24,
  };
}

function tokenOf(t: StoredToken): CurrentToken {
  return { versionId: t.versionId, refreshToken: t.record.refreshToken, issuedAt: t.record.obtainedAt };
}

/** Without a probe (no Cloud Manager reads configured in a test), every environment counts as ready and quiet. */
const alwaysReady: EnvironmentProbe = {
  environmentStatus: async () => 'ready',
  runningPipeline: async () => undefined,
  scanMailLog: async (_p, _e, q) => ({ failures: [], cursor: q.cursor ?? {}, bytesRead: 0, cutShort: false }),
};

/** Whether the delivery stage will push some target in this run, decided from the records alone (policy.ts). */
function pushImminent(
  c: Credential,
  targets: DeliverableTarget[],
  records: readonly import('../store/state-store.ts').DeliveryRecord[],
  current: StoredToken,
  clientSecretVersionId: string | undefined,
  opts: RotationOptions,
  now: Date,
): boolean {
  if (targets.length === 0) return false;
  const byKey = new Map(records.map((r) => [r.targetKey, r]));
  const members = targets.map((t) => ({
    stage: t.target.stage,
    record: byKey.get(t.key),
    settings: effectiveDelivery(c.delivery, t.target.delivery),
    label: t.label,
  }));
  return targets.some((t, i) => {
    const m = members[i]!;
    // A target that never received a copy gets whatever is current: no reason to redeem for it.
    if (!m.record?.versionId) return false;
    const plan = planDelivery({
      record: m.record,
      current: { versionId: current.versionId, issuedAt: current.record.obtainedAt },
      clientSecretVersionId: t.target.pushClientSecret ? clientSecretVersionId : undefined,
      settings: m.settings,
      now,
      forced: opts.pushNow === 'all' || (Array.isArray(opts.pushNow) && opts.pushNow.includes(t.key)),
      stage: stageGate(t.target.stage, c.delivery?.stages, members, now),
    });
    return plan.action === 'push';
  });
}

/** Per target: how old its copy is and how long it has to live (the copy-death alarm watches the second). */
function emitCopyMetrics(
  deps: RotationDeps,
  c: Credential,
  targets: DeliverableTarget[],
  records: readonly import('../store/state-store.ts').DeliveryRecord[],
  now: Date,
): void {
  for (const t of targets) {
    const r = records.find((x) => x.targetKey === t.key);
    const age = copyAgeDays(r, now);
    if (age === undefined) continue;
    deps.metrics.gauge(MetricName.CopyAgeDays, c.id, Math.round(age * 100) / 100, 'None', {
      [DIMENSION_TARGET]: t.key,
    });
    deps.metrics.gauge(MetricName.CopyDaysToLive, c.id, Math.round((COPY_LIFETIME_DAYS - age) * 100) / 100, 'None', {
      [DIMENSION_TARGET]: t.key,
    });
  }
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
      const graph = await timed('diagnose', () =>
        run(credential, { refreshToken, clientSecret, clientSecretRef, smtp, runId }),
      );
      summary.diagnostics = { ...summary.diagnostics, graph };
      log(
        graph.ok ? 'info' : 'warn',
        `Graph diagnostic: ${graph.ok ? 'sent' : `failed at ${graph.step} (${graph.code ?? graph.status ?? 'error'})`}`,
        { diagnostic: graph },
      );
    } catch (e) {
      log('warn', 'the Graph diagnostic could not run', { error: asRefresherError(e, 'entra', 'validate').toJSON() });
    }
  };
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
