/**
 * A year of token-refresher in minutes: the deployed handler (createRotateHandler) driven on the stand-ins with a
 * controlled clock, invoked as the stack schedules it (the credential's daily rotation, the 30-minute `deliver` run),
 * for one mailbox delivered to three AEM environments in stages dev -> stage -> prod, with seeded faults. What it
 * reports is measured on the peers (the Cloud Manager stand-in's PATCHes, the values it holds), not taken from our own
 * records.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLocalEnv } from '../../demo/local-env.ts';
import type { Alert, SecretStore } from '../../lambdas/core/types.ts';
import { rotateCredential, type RotationSummary } from '../../lambdas/pipeline/rotate.ts';
import type { RunResult } from '../../lambdas/pipeline/run.ts';
import { targetKey, targetLabel } from '../../lambdas/push/cloud-manager-target.ts';
import { MemoryMetrics } from '../../lambdas/report/metrics.ts';
import { createRotateHandler } from '../../lambdas/schedule/handler.ts';
import { FileStateStore } from '../../lambdas/store/file-state-store.ts';
import { FileStore } from '../../lambdas/store/file-store.ts';
import { parseTokenRecord } from '../../lambdas/store/records.ts';
import { DEFAULT_CLIENT_SECRET } from '../../standins/entra.ts';
import { ANY_ROUTE } from '../../standins/faults.ts';
import { prng } from '../../test/reliability/support/load.ts';

export interface SimulationOptions {
  days: number;
  seed: number;
  /** Day (from the start) of the password reset that revokes every token of the family; the new sign-in is 2 days later. */
  revokeDay?: number;
  /** Days [from, to) during which every Cloud Manager request answers 503. */
  outage?: [number, number];
  /** Day on which one mail-auth error is written into the stage environment's AEM log. */
  mailErrorDay?: number;
  /** Chance per 30-minute tick that an environment starts an update / a pipeline starts deploying to it. */
  updatingChance?: number;
  pipelineChance?: number;
  progress?: (line: string) => void;
}

export interface SimulationReport {
  days: number;
  restarts: Record<string, number>;
  outsideWindow: { deadline: number; deadCopy: number; other: number; alerted: number; total: number };
  maxCopyAgeDays: number;
  unconfirmed: number;
  mailErrors: { injected: number; detected: number };
  invocations: number;
  lines: string[];
  /** Any copy older than the 90-day lifetime at any tick. */
  failed: boolean;
}

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const TICK = 30 * MIN;
const STAGES = ['dev', 'stage', 'prod'] as const;

/** The token secret, recording when each stored token was issued: the independent measure of a copy's age. */
function issuedAtTracker(inner: SecretStore): { store: SecretStore; issuedAt: Map<string, number> } {
  const issuedAt = new Map<string, number>();
  const store: SecretStore = {
    kind: inner.kind,
    getValue: (id, stage) => inner.getValue(id, stage),
    listVersions: (id) => inner.listVersions(id),
    moveStage: (id, stage, p) => inner.moveStage(id, stage, p),
    removeStage: (id, stage, from) => inner.removeStage(id, stage, from),
    putValue: async (id, value, p) => {
      if (id.endsWith('/refresh-token')) {
        const r = parseTokenRecord(value, id);
        issuedAt.set(r.refreshToken, Date.parse(r.obtainedAt));
      }
      return inner.putValue(id, value, p);
    },
  };
  return { store, issuedAt };
}

export async function simulate(o: SimulationOptions): Promise<SimulationReport> {
  const rnd = prng(o.seed);
  const start = Math.floor(Date.now() / TICK) * TICK;
  const clock = { t: start };
  const dir = mkdtempSync(join(tmpdir(), 'tr-year-'));
  const tracked = issuedAtTracker(new FileStore(join(dir, 'secrets')));
  const state = new FileStateStore(join(dir, 'state'));
  const env = await startLocalEnv({
    store: tracked.store,
    state,
    targetsPerCredential: 3,
    validationMode: 'send',
    standins: { cloudManager: { now: () => clock.t, updateDurationMs: 8 * MIN }, smtp: { greetingPauseMs: 0 } },
    configure: (doc) => {
      const c = doc.credentials[0]!;
      // Daily health: the stored token is refreshed and validated every day, so a revoked family is seen the next day.
      c.rotation = { maxAgeDays: 1, force: false };
      c.delivery = { stages: [...STAGES] };
      const zurich = 'Europe/Zurich';
      c.targets!.forEach((t, i) => (t.stage = STAGES[i]));
      c.targets![1]!.delivery = {
        windows: [{ days: ['tue'], start: '22:00', durationMinutes: 240, timeZone: zurich }],
      };
      c.targets![2]!.delivery = {
        windows: [{ days: ['sat'], start: '02:00', durationMinutes: 240, timeZone: zurich }],
      };
    },
  });
  const { entra, cloudManager } = env.standins;
  const advance = (ms: number) => {
    if (ms <= 0) return;
    clock.t += ms;
    entra.clock.advance(ms);
  };
  entra.clock.advance(0);
  const c = env.config.credentials[0]!;
  const envs = c.targets.map((t, i) => ({
    stage: STAGES[i]!,
    programId: t.programId,
    environmentId: t.environmentId,
    key: targetKey(t),
    label: targetLabel(t),
  }));

  // An existing deployment: the seeded token is stored and every environment already holds it, delivered and confirmed.
  await env.seed();
  const current = await env.store.getValue(`${env.config.secretPrefix}/${c.id}/refresh-token`, 'AWSCURRENT');
  const seeded = parseTokenRecord(current!.value, 'seed');
  tracked.issuedAt.set(seeded.refreshToken, Date.parse(seeded.obtainedAt));
  for (const e of envs) {
    cloudManager.setVariable(e.programId, e.environmentId, {
      name: c.targets[0]!.refreshTokenVariable,
      value: seeded.refreshToken,
      type: 'secretString',
    });
    await state.putDelivery({
      credentialId: c.id,
      targetKey: e.key,
      versionId: current!.versionId,
      issuedAt: seeded.obtainedAt,
      pushedAt: seeded.obtainedAt,
      phase: 'confirmed',
      confirmedAt: seeded.obtainedAt,
      pushReason: 'first',
    });
  }
  const patchesBefore = new Map(envs.map((e) => [e.key, 0]));

  const alerts: Alert[] = [];
  const alerter = { send: async (a: Alert) => void alerts.push(a) };
  const silent = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };
  const metrics = new MemoryMetrics();
  const wiring = {
    now: () => new Date(clock.t),
    sleep: async (ms: number) => advance(ms),
    smtpCa: env.smtpCa,
    baseDelayMs: 5,
    maxRetryAfterMs: 50,
    delivery: { pollMs: 2 * MIN, waitForReadyMs: 20 * MIN },
  };
  const handler = createRotateHandler({
    config: env.config,
    store: env.store,
    state,
    alerter,
    log: silent,
    metrics,
    wiring,
  });
  const context = { getRemainingTimeInMillis: () => 290_000 };

  const pushes: Array<{ key: string; at: number; reason?: string; outside?: boolean }> = [];
  const recordPushes = (summary: RotationSummary) => {
    for (const t of summary.targets) {
      const key = envs.find((e) => e.label === t.target)?.key;
      if (t.status === 'pushed' && key) pushes.push({ key, at: clock.t, reason: t.reason, outside: t.outsideWindow });
    }
  };
  let invocations = 0;
  const invoke = async (event: unknown) => {
    invocations++;
    const r = (await handler(event, { ...context, awsRequestId: randomUUID() })) as RunResult;
    for (const summary of r.results) recordPushes(summary);
    return r;
  };

  const injected: Array<{ key: string; at: number }> = [];
  const deliveries = new Map<string, boolean>();
  const busyUntil = new Map<string, number>();
  const pipelines = new Map(
    envs.map((e) => [e.key, cloudManager.addPipeline(e.programId, { deploysTo: [e.environmentId] })]),
  );
  let maxAge = 0;
  let failed = false;
  const end = start + o.days * DAY;
  let nextRotate = start + 6 * HOUR;
  let signInAt: number | undefined;

  for (let tick = start; tick < end; tick += TICK) {
    advance(tick - clock.t);
    const day = (clock.t - start) / DAY;
    // Seeded faults: environments updating, pipelines deploying, a password reset, a Cloud Manager outage, AEM errors.
    for (const e of envs) {
      if (rnd() < (o.updatingChance ?? 0.004))
        cloudManager.setUpdating(e.programId, e.environmentId, (30 + Math.floor(rnd() * 150)) * MIN);
      const running = busyUntil.get(e.key);
      if (running !== undefined && clock.t >= running) {
        cloudManager.setExecutionStatus(e.programId, pipelines.get(e.key)!, 'FINISHED');
        busyUntil.delete(e.key);
      } else if (running === undefined && rnd() < (o.pipelineChance ?? 0.004)) {
        cloudManager.startExecution(e.programId, pipelines.get(e.key)!);
        busyUntil.set(e.key, clock.t + (40 + Math.floor(rnd() * 80)) * MIN);
      }
    }
    if (o.revokeDay !== undefined && day >= o.revokeDay && signInAt === undefined) {
      entra.revokeAccount(c.mailbox);
      signInAt = clock.t + 2 * DAY;
      o.progress?.(`day ${day.toFixed(1)}: password reset, every token of ${c.mailbox} revoked`);
    }
    if (signInAt !== undefined && clock.t >= signInAt) {
      signInAt = Infinity;
      // The mailbox owner signs in again (what `regenerate` or the recovery link does): the regenerate pipeline runs.
      const deps = env.deps({ ...wiring, log: silent, metrics, alerter });
      const tokens = await deps
        .provider(c, DEFAULT_CLIENT_SECRET, 'simulation')
        .redeemRefreshToken(entra.issueRefreshToken({ account: c.mailbox }));
      invocations++;
      const s = await rotateCredential(deps, c, { newTokens: { ...tokens, account: c.mailbox }, source: 'regenerate' });
      recordPushes(s);
      o.progress?.(
        `day ${day.toFixed(1)}: new sign-in, ${s.outcome}${s.failure ? ` (${s.failure.code}: ${s.failure.message})` : ''}, targets ${s.targets.map((t) => `${t.status}/${t.reason ?? '-'}${t.code ? `/${t.code}` : ''}`).join(' ')}`,
      );
    }
    if (o.outage && day >= o.outage[0] && day < o.outage[1] && !cloudManager.faults.pending(ANY_ROUTE))
      cloudManager.inject(ANY_ROUTE, { kind: 'status', status: 503 }, 1_000_000);
    if (o.outage && day >= o.outage[1] && cloudManager.faults.pending(ANY_ROUTE)) cloudManager.faults.clear(ANY_ROUTE);
    if (o.mailErrorDay !== undefined && day >= o.mailErrorDay && injected.length === 0) {
      const stage = envs[1]!;
      cloudManager.appendLog(stage.programId, stage.environmentId, 'author', {
        message: 'Could not send mail: javax.mail.AuthenticationFailedException: 535 5.7.3 Authentication unsuccessful',
      });
      injected.push({ key: stage.key, at: clock.t });
      o.progress?.(`day ${day.toFixed(1)}: a mail-auth error written into ${stage.stage}'s AEM log`);
    }

    if (clock.t >= nextRotate) {
      nextRotate += DAY;
      await invoke({ action: 'rotate', credential: c.id, source: 'schedule' });
    }
    await invoke({ action: 'deliver', source: 'schedule' });

    // Every delivery seen, and whether it reached an end (confirmed by AEM's log, or failed).
    for (const rec of await state.listDeliveries(c.id)) {
      if (!rec.pushedAt || rec.pushReason === undefined) continue;
      const id = `${rec.targetKey}|${rec.pushedAt}`;
      deliveries.set(id, (deliveries.get(id) ?? false) || rec.phase === 'confirmed' || rec.phase === 'failed');
    }
    // The age of the copy each environment really holds, from the value in the Cloud Manager stand-in.
    for (const e of envs) {
      const value = cloudManager.valueOf(e.programId, e.environmentId, c.targets[0]!.refreshTokenVariable);
      const issued = value ? tracked.issuedAt.get(value) : undefined;
      if (issued === undefined) continue;
      const age = (clock.t - issued) / DAY;
      maxAge = Math.max(maxAge, age);
      if (age > 90) failed = true;
    }
    if (o.progress && Math.round(day * 48) % (48 * 30) === 0)
      o.progress(`day ${Math.round(day)}: ${invocations} invocations, max copy age ${maxAge.toFixed(1)} days`);
  }

  // Restarts: successful PATCHes the Cloud Manager stand-in answered, per environment.
  const restarts: Record<string, number> = {};
  for (const e of envs) {
    const path = `/api/program/${e.programId}/environment/${e.environmentId}/variables`;
    restarts[e.stage] =
      cloudManager.requests.filter(
        (r) => r.method === 'PATCH' && r.path === path && typeof r.status === 'number' && r.status < 300,
      ).length - (patchesBefore.get(e.key) ?? 0);
  }
  const outside = pushes.filter((p) => p.outside);
  const alertedCodes = alerts.map((a) => a.text);
  const alerted = outside.filter((p) =>
    alertedCodes.some((t) =>
      t.includes(
        p.reason === 'deadline'
          ? 'DELIVERY_DEADLINE_PUSH'
          : p.reason === 'dead-copy'
            ? 'DELIVERY_DEAD_COPY_PUSH'
            : 'DELIVERY_FORCED_PUSH',
      ),
    ),
  ).length;
  // A delivery is unconfirmed when its record never reached confirmed or failed (the last hours of the run excepted).
  const unconfirmed = [...deliveries.entries()].filter(
    ([pushedAt, done]) => !done && Date.parse(pushedAt.split('|')[1]!) < end - 6 * HOUR,
  ).length;
  const detected = injected.filter((i) =>
    alerts.some(
      (a) => a.text.includes('AEM_MAIL_AUTH_FAILED') && a.text.includes(envs.find((e) => e.key === i.key)!.label),
    ),
  ).length;
  await env.close();

  const r = (n: number) => String(n);
  const max = Math.max(...Object.values(restarts));
  const lines = [
    `restarts per environment per year: max ${r(max)} (dev ${r(restarts.dev ?? 0)}, stage ${r(restarts.stage ?? 0)}, prod ${r(restarts.prod ?? 0)})`,
    `pushes outside a window: ${outside.length} (deadline ${outside.filter((p) => p.reason === 'deadline').length}, dead copy ${outside.filter((p) => p.reason === 'dead-copy').length}, other ${outside.filter((p) => p.reason !== 'deadline' && p.reason !== 'dead-copy').length})`,
    `max copy age days: ${Math.floor(maxAge)}`,
    `unconfirmed deliveries: ${unconfirmed}`,
    `mail-auth errors detected: ${detected} of ${injected.length} injected`,
  ];
  return {
    days: o.days,
    restarts,
    outsideWindow: {
      deadline: outside.filter((p) => p.reason === 'deadline').length,
      deadCopy: outside.filter((p) => p.reason === 'dead-copy').length,
      other: outside.filter((p) => p.reason !== 'deadline' && p.reason !== 'dead-copy').length,
      alerted,
      total: outside.length,
    },
    maxCopyAgeDays: maxAge,
    unconfirmed,
    mailErrors: { injected: injected.length, detected },
    invocations,
    lines,
    failed,
  };
}
