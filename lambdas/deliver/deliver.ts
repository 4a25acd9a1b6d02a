/**
 * The delivery stage of one credential: for each Cloud Manager target, follow up an earlier push, then plan (policy.ts),
 * look before pushing (environment ready, no pipeline running on it), push, and follow the restart (confirm.ts). Every
 * step is recorded in the target's DeliveryRecord before the next one, so an invocation stopped anywhere is finished by
 * the next without a second restart.
 */
import type { Credential, Target } from '../config/schema.ts';
import { effectiveDelivery, type DeliverySettings } from '../config/delivery-schema.ts';
import { asRefresherError, RefresherError } from '../core/errors.ts';
import { redactText } from '../core/redact.ts';
import type { Alerter, PushValues } from '../core/types.ts';
import type { Log } from '../report/logger.ts';
import type { MetricSink } from '../report/metrics.ts';
import type { DeliveryRecord, StateStore } from '../store/state-store.ts';
import { followUp, needsFollowUp, servicesOf, type FollowUpEvent, type FollowUpLimits } from './confirm.ts';
import { copyAgeDays, planDelivery, stageGate, type Plan, type PushReason } from './policy.ts';
import type { AemService, EnvironmentProbe } from './probe.ts';
import { composeDeliveryAlert, type DeliveryNotice } from './notices.ts';

export interface DeliverableTarget {
  readonly key: string;
  readonly label: string;
  readonly target: Target;
  push(values: PushValues): Promise<void>;
}

export interface CurrentToken {
  versionId: string;
  refreshToken: string;
  issuedAt: string;
}

export interface DeliveryDeps {
  state: StateStore;
  probe: EnvironmentProbe;
  log: Log;
  metrics: MetricSink;
  alerter?: Alerter;
  now: () => Date;
  sleep?: (ms: number) => Promise<void>;
  /** Absolute Date.now() deadline for this invocation's delivery work (the function's remaining time less a margin). */
  deadlineMs?: number;
  remindAfterHours?: number;
  maxLogBytes?: number;
  waitForReadyMs?: number;
  pollMs?: number;
  concurrency?: number;
}

export interface DeliveryRequest {
  credential: Credential;
  targets: DeliverableTarget[];
  /** The token a push delivers; `fresh()` may redeem first so that a pushed copy starts its 90 days now. */
  current: CurrentToken;
  fresh?: () => Promise<CurrentToken>;
  clientSecret?: { value: string; versionId: string };
  /** Target keys (or 'all') a person forces a push to. */
  pushNow?: readonly string[] | 'all';
  /** The token family of every older copy was revoked (a new sign-in after a reauthorize failure). */
  familyRevoked?: boolean;
  runId: string;
  /** Called after each push is recorded (tests stop the process there); its errors are not caught. */
  afterPush?: (targetKey: string) => Promise<void>;
}

export type DeliveryStatus = 'pushed' | 'up-to-date' | 'waiting' | 'held' | 'deferred' | 'failed' | 'confirming';

export interface TargetDelivery {
  target: string;
  key: string;
  status: DeliveryStatus;
  reason?: PushReason;
  outsideWindow?: boolean;
  code?: string;
  why?: string;
  phase?: DeliveryRecord['phase'];
  copyAgeDays?: number;
  events?: string[];
  /** The push failure itself, for the run's report (not part of the summary). */
  error?: RefresherError;
}

/** Look-before-push deferrals: transient by nature, retried in the window, never a failure of the run. */
export const DEFERRAL_CODES: ReadonlySet<string> = new Set(['CM_ENV_NOT_READY', 'CM_PIPELINE_RUNNING']);

const DAY = 86_400_000;
/** A token older than this is redeemed before it is pushed, so the copy starts its 90 days at the push. */
const FRESH_ENOUGH_MS = DAY;

function problemOf(e: unknown): RefresherError {
  return asRefresherError(e, 'cloudmanager', 'push');
}

async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i] as T);
      }
    }),
  );
  return out;
}

/**
 * Writes a record conditionally on the revision it was read at. A lost race (another run of the same credential without
 * the lease, or a CLI push) throws a 'conflict' RefresherError; the caller re-reads and leaves the target to the winner.
 */
async function save(deps: DeliveryDeps, r: DeliveryRecord): Promise<DeliveryRecord> {
  const rev = await deps.state.putDelivery(r);
  return { ...r, rev };
}

export async function deliverCredential(deps: DeliveryDeps, req: DeliveryRequest): Promise<TargetDelivery[]> {
  const { credential: c } = req;
  if (req.targets.length === 0) return [];
  const now = deps.now;
  const log = (level: 'info' | 'warn' | 'error', msg: string, extra: Record<string, unknown> = {}) =>
    deps.log[level](msg, { credential: c.id, runId: req.runId, ...extra });
  const records = new Map((await deps.state.listDeliveries(c.id)).map((r) => [r.targetKey, r]));
  const settingsOf = (t: DeliverableTarget): DeliverySettings => effectiveDelivery(c.delivery, t.target.delivery);
  const limits = (): FollowUpLimits => ({
    maxLogBytes: deps.maxLogBytes ?? 64 * 1024 * 1024,
    deadlineMs: deps.deadlineMs ?? Date.now() + 5 * 60_000,
    waitForReadyMs: deps.waitForReadyMs ?? 10 * 60_000,
    pollMs: deps.pollMs ?? 15_000,
    sleep: deps.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms))),
    now,
  });
  const probeTarget = (t: DeliverableTarget) => ({
    programId: t.target.programId,
    environmentId: t.target.environmentId,
    services: servicesOf(t.target.service as AemService | undefined),
    label: t.label,
  });
  const notices: DeliveryNotice[] = [];

  // A new sign-in after the family was revoked: every older copy is dead, whatever its age.
  if (req.familyRevoked) {
    for (const t of req.targets) {
      const r = records.get(t.key) ?? { credentialId: c.id, targetKey: t.key };
      if (r.versionId && r.versionId !== req.current.versionId && !r.deadSince) {
        records.set(t.key, await save(deps, { ...r, deadSince: now().toISOString() }));
      }
    }
  }

  // Follow-ups first: they decide the stage gates of this run.
  for (const t of req.targets) {
    const r = records.get(t.key);
    if (!r || !needsFollowUp(r, settingsOf(t), now())) continue;
    const { record, events } = await followUp(r, probeTarget(t), settingsOf(t), deps.probe, limits());
    try {
      records.set(t.key, await save(deps, record));
      noticeEvents(notices, t, events, record);
    } catch (e) {
      if (!isConflict(e)) throw e;
      records.set(t.key, await reread(deps, c.id, t.key));
    }
  }

  const order = c.delivery?.stages;
  const members = () =>
    req.targets.map((t) => ({
      stage: t.target.stage,
      record: records.get(t.key),
      settings: settingsOf(t),
      label: t.label,
    }));
  const forced = (t: DeliverableTarget) =>
    req.pushNow === 'all' || (Array.isArray(req.pushNow) && req.pushNow.includes(t.key));
  let current = req.current;
  let freshened = false;

  // Stages in order, so a stage confirmed in this run is seen by the next.
  const stagesInOrder = order ? [...order, undefined] : [undefined];
  const results = new Map<string, TargetDelivery>();
  for (const stage of stagesInOrder) {
    const group = req.targets.filter((t) => (order ? t.target.stage === stage : true));
    if (group.length === 0) continue;
    const plans = group.map((t) => {
      const gate = stageGate(t.target.stage, order, members(), now());
      const record = records.get(t.key);
      const plan = planDelivery({
        record,
        current: { versionId: current.versionId, issuedAt: current.issuedAt },
        clientSecretVersionId: t.target.pushClientSecret ? req.clientSecret?.versionId : undefined,
        settings: settingsOf(t),
        now: now(),
        forced: forced(t),
        stage: gate,
      });
      if (plan.action === 'wait' && plan.heldByStage && gate.failed)
        notices.push({ kind: 'stage-held', target: t.label, code: 'DELIVERY_STAGE_HELD', message: plan.why });
      return { t, plan };
    });
    if (
      plans.some((p) => p.plan.action === 'push') &&
      req.fresh &&
      !freshened &&
      now().getTime() - Date.parse(current.issuedAt) > FRESH_ENOUGH_MS
    ) {
      freshened = true;
      try {
        current = await req.fresh();
      } catch (e) {
        // The stored token still works for AEM (it was validated); push what we have rather than nothing.
        log('warn', 'could not redeem a fresh token before the push; pushing the current one', {
          error: problemOf(e).toJSON(),
        });
      }
    }
    const done = await mapLimit(plans, deps.concurrency ?? 4, async ({ t, plan }) => {
      try {
        return await deliverOne(deps, req, t, plan, current, records, settingsOf(t), limits, probeTarget, notices, log);
      } catch (e) {
        if (!isConflict(e)) throw e;
        // Another run wrote this target's record meanwhile: what it did stands, and this run reports it.
        const r = await reread(deps, c.id, t.key);
        records.set(t.key, r);
        log('info', `another run delivered to ${t.label} meanwhile; its record stands`, { target: t.label });
        return {
          target: t.label,
          key: t.key,
          status: r?.versionId === current.versionId ? ('up-to-date' as const) : ('deferred' as const),
          phase: r?.phase,
          why: 'another run delivered to this target meanwhile',
        };
      }
    });
    for (const d of done) results.set(d.key, d);
  }

  await sendNotices(deps, c, notices, records, req.targets, log);
  return req.targets.map((t) => results.get(t.key) as TargetDelivery);
}

async function deliverOne(
  deps: DeliveryDeps,
  req: DeliveryRequest,
  t: DeliverableTarget,
  plan: Plan,
  current: CurrentToken,
  records: Map<string, DeliveryRecord>,
  settings: DeliverySettings,
  limits: () => FollowUpLimits,
  probeTarget: (t: DeliverableTarget) => {
    programId: string;
    environmentId: string;
    services: AemService[];
    label: string;
  },
  notices: DeliveryNotice[],
  log: (level: 'info' | 'warn' | 'error', msg: string, extra?: Record<string, unknown>) => void,
): Promise<TargetDelivery> {
  const now = deps.now;
  const base = (): TargetDelivery => {
    const r = records.get(t.key);
    return {
      target: t.label,
      key: t.key,
      status: 'up-to-date',
      phase: r?.phase,
      copyAgeDays: round(copyAgeDays(r, now())),
    };
  };
  if (plan.action === 'none') {
    const r = records.get(t.key);
    const confirming = r?.phase === 'restarting' || r?.phase === 'quiet';
    return {
      ...base(),
      status: confirming ? 'confirming' : r?.phase === 'failed' ? 'failed' : 'up-to-date',
      why: plan.why,
      code: r?.phase === 'failed' ? r.lastProblem?.code : undefined,
    };
  }
  if (plan.action === 'wait')
    return {
      ...base(),
      status: plan.heldByStage ? 'held' : 'waiting',
      reason: plan.reason,
      why: plan.until ? `${plan.why} (${plan.until.toISOString()})` : plan.why,
    };

  const { programId, environmentId } = t.target;
  const record: DeliveryRecord = records.get(t.key) ?? { credentialId: req.credential.id, targetKey: t.key };
  // Look before pushing: a PATCH while the environment is not ready or a pipeline deploys to it may fail without a
  // reason (Adobe), and would stack a restart on a deployment.
  try {
    const status = await deps.probe.environmentStatus(programId, environmentId);
    if (status !== 'ready') throw deferral('CM_ENV_NOT_READY', `${t.label} is "${status}", not ready`);
    const running = await deps.probe.runningPipeline(programId, environmentId);
    if (running)
      throw deferral(
        'CM_PIPELINE_RUNNING',
        `pipeline ${running.pipelineId} (execution ${running.executionId}, ${running.status}) is running on ${t.label}`,
      );
    await t.push({ refreshToken: current.refreshToken, clientSecret: req.clientSecret?.value });
  } catch (e) {
    const err = problemOf(e);
    const saved = await save(deps, {
      ...record,
      lastProblem: { at: now().toISOString(), code: err.code, message: redactText(err.message) },
    });
    records.set(t.key, saved);
    deps.metrics.count('DeliveryDeferred', req.credential.id, 1, { code: err.code });
    log(err.class === 'transient' ? 'warn' : 'error', `push to ${t.label} not done: ${err.code}`, {
      target: t.label,
      reason: plan.reason,
      error: err.toJSON(),
    });
    const deferred = DEFERRAL_CODES.has(err.code);
    // A deferred deadline or dead-copy push is a person's business (a deferral is not a failure of the run, so nothing
    // else would say it); any other push failure fails the run, which alerts through its own report.
    if (deferred && (plan.reason === 'deadline' || plan.reason === 'dead-copy')) {
      notices.push({
        kind: 'push-blocked',
        target: t.label,
        code: err.code,
        message: `${plan.why}; but the push is deferred: ${redactText(err.message)}`,
        fix: err.fix,
      });
    }
    return {
      ...base(),
      status: deferred ? 'deferred' : 'failed',
      reason: plan.reason,
      code: err.code,
      why: redactText(err.message),
      error: deferred ? undefined : err,
    };
  }
  const pushedAt = now().toISOString();
  let r: DeliveryRecord = {
    ...record,
    versionId: current.versionId,
    issuedAt: current.issuedAt,
    clientSecretVersionId: t.target.pushClientSecret ? req.clientSecret?.versionId : record.clientSecretVersionId,
    pushedAt,
    pushReason: plan.reason,
    pushedOutsideWindow: plan.outsideWindow,
    phase: settings.confirm ? 'restarting' : 'confirmed',
    phaseSince: pushedAt,
    confirmedAt: settings.confirm ? undefined : pushedAt,
    deadSince: undefined,
    lastProblem: undefined,
    logCursor: undefined,
  };
  r = await save(deps, r);
  records.set(t.key, r);
  await req.afterPush?.(t.key);
  deps.metrics.count('PushSuccess', req.credential.id, 1, { reason: plan.reason });
  log('info', `pushed the current token to ${t.label}`, {
    target: t.label,
    reason: plan.reason,
    outsideWindow: plan.outsideWindow,
    why: plan.why,
  });
  if (plan.outsideWindow)
    notices.push({
      kind: 'pushed-outside-window',
      target: t.label,
      code:
        plan.reason === 'deadline'
          ? 'DELIVERY_DEADLINE_PUSH'
          : plan.reason === 'dead-copy'
            ? 'DELIVERY_DEAD_COPY_PUSH'
            : 'DELIVERY_FORCED_PUSH',
      message: `pushed outside its maintenance windows: ${plan.why}`,
    });
  const events: FollowUpEvent[] = [];
  if (settings.confirm) {
    const f = await followUp(r, probeTarget(t), settings, deps.probe, limits());
    r = await save(deps, f.record);
    records.set(t.key, r);
    events.push(...f.events);
    noticeEvents(notices, t, f.events, r);
  }
  return {
    ...base(),
    status: 'pushed',
    reason: plan.reason,
    outsideWindow: plan.outsideWindow,
    why: plan.why,
    phase: r.phase,
    events: events.map((e) => e.kind),
  };
}

function deferral(code: 'CM_ENV_NOT_READY' | 'CM_PIPELINE_RUNNING', message: string): RefresherError {
  return new RefresherError({
    class: 'transient',
    code,
    remote: 'cloudmanager',
    stage: 'push',
    message: `${message}; the push is deferred`,
    fix: 'Nothing to do: the push is tried again in the next run inside the maintenance window.',
  });
}

function noticeEvents(
  notices: DeliveryNotice[],
  t: DeliverableTarget,
  events: FollowUpEvent[],
  r: DeliveryRecord,
): void {
  for (const e of events) {
    if (e.kind === 'mail-auth-error')
      notices.push({
        kind: 'mail-auth-error',
        target: t.label,
        code: 'AEM_MAIL_AUTH_FAILED',
        message: r.lastProblem?.message ?? 'mail-auth failure in AEM log',
        lines: e.lines,
      });
    else if (e.kind === 'failed')
      notices.push({ kind: 'env-failed', target: t.label, code: e.code, message: e.message });
    else if (e.kind === 'slow-restart')
      notices.push({
        kind: 'slow-restart',
        target: t.label,
        code: 'CM_RESTART_SLOW',
        message: `${t.label} has not come back ready since the push at ${r.pushedAt}`,
      });
  }
}

async function sendNotices(
  deps: DeliveryDeps,
  c: Credential,
  notices: DeliveryNotice[],
  records: Map<string, DeliveryRecord>,
  targets: DeliverableTarget[],
  log: (level: 'info' | 'warn' | 'error', msg: string, extra?: Record<string, unknown>) => void,
): Promise<void> {
  if (notices.length === 0) return;
  for (const n of notices) deps.metrics.count('DeliveryNotice', c.id, 1, { code: n.code });
  if (!deps.alerter) return;
  const remindMs = (deps.remindAfterHours ?? 24) * 3_600_000;
  // De-duplicated per target and code: the same problem mails once, then at most once per reminder period.
  const fresh: DeliveryNotice[] = [];
  for (const n of notices) {
    const t = targets.find((x) => x.label === n.target);
    const r = t ? records.get(t.key) : undefined;
    const last = r?.lastAlert;
    const always = n.kind === 'pushed-outside-window' || n.kind === 'mail-auth-error';
    if (!always && last && last.code === n.code && deps.now().getTime() - Date.parse(last.at) < remindMs) continue;
    fresh.push(n);
    if (t && r)
      records.set(
        t.key,
        await save(deps, { ...r, lastAlert: { code: n.code, at: deps.now().toISOString() } }).catch(() => r),
      );
  }
  if (fresh.length === 0) return;
  try {
    await deps.alerter.send(composeDeliveryAlert(c, fresh, deps.now()));
    log('info', 'delivery alert sent', { notices: fresh.map((n) => n.code) });
  } catch (e) {
    deps.metrics.count('AlertFailure', c.id);
    log('error', 'the delivery alert could not be sent', { error: asRefresherError(e, 'ses', 'report').toJSON() });
  }
}

function isConflict(e: unknown): boolean {
  return e instanceof RefresherError && e.class === 'conflict';
}

async function reread(deps: DeliveryDeps, credentialId: string, key: string): Promise<DeliveryRecord> {
  return (
    (await deps.state.listDeliveries(credentialId)).find((r) => r.targetKey === key) ?? { credentialId, targetKey: key }
  );
}

function round(n: number | undefined): number | undefined {
  return n === undefined ? undefined : Math.round(n * 100) / 100;
}
