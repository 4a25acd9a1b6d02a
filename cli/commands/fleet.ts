import { effectiveDelivery } from '../../lambdas/config/delivery-schema.ts';
import { planDelivery, stageGate } from '../../lambdas/deliver/policy.ts';
import { currentWindow, nextWindow } from '../../lambdas/deliver/windows.ts';
import type { Config, Credential, Target } from '../../lambdas/config/schema.ts';
import { targetKey, targetLabel } from '../../lambdas/push/cloud-manager-target.ts';
import type { CredentialState } from '../../lambdas/store/records.ts';
import type { DeliveryRecord, FleetEntry } from '../../lambdas/store/state-store.ts';
import { Exit, type ExitCode } from '../errors.ts';
import type { Ui } from '../ui.ts';

/**
 * The whole fleet from one walk of the state table (StateStore.listFleet): per credential and target, what the copy in
 * AEM is, when it dies, when it was last pushed and whether the restart after it was confirmed. No secret is read: the
 * table holds none.
 */
export type Health = 'healthy' | 'needs-action' | 'failing';

/** A Microsoft refresh token dies 90 days after it was issued if unused (AADSTS700082); the others have no fixed lifetime. */
const LIFETIME_DAYS: Partial<Record<Credential['provider'], number>> = { microsoft: 90 };
/** A copy this close to its death needs a person: the pipeline pushes long before (delivery.hardMaxAgeDays). */
export const DYING_DAYS = 7;
/** A failure that persisted this long needs a person even when it is classed transient. */
const PERSISTING_MS = 24 * 3_600_000;
const DAY = 86_400_000;

export interface FleetTargetRow {
  targetKey: string;
  target: string;
  programId?: string;
  health: Health;
  reasons: string[];
  versionId?: string;
  issuedAt?: string;
  copyAgeDays?: number;
  /** issuedAt + the provider's lifetime: the day the copy in AEM stops working unless pushed again. */
  diesAt?: string;
  daysLeft?: number;
  pushedAt?: string;
  pushReason?: string;
  phase?: DeliveryRecord['phase'];
  confirmedAt?: string;
  lastProblem?: DeliveryRecord['lastProblem'];
  /** The next maintenance window of the target (absent: any time). */
  nextWindow?: string;
  /** What the delivery policy plans for this target now: when the next push happens, and why. */
  nextPush?: { at?: string; why: string };
}

export interface FleetCredentialRow {
  credential: string;
  configured: boolean;
  health: Health;
  reasons: string[];
  lastRun?: CredentialState['lastRun'];
  lastSuccess?: CredentialState['lastSuccess'];
  lastValidation?: CredentialState['lastValidation'];
  failure?: { class: string; code: string; stage: string; since: string; runs: number; message?: string; fix?: string };
  targets: FleetTargetRow[];
}

export interface FleetSummary {
  credentials: number;
  targets: number;
  healthy: number;
  needsAction: number;
  failing: number;
}

export interface FleetFilters {
  credential?: string;
  program?: string;
  failing?: boolean;
}

const worse = (a: Health, b: Health): Health =>
  a === 'needs-action' || b === 'needs-action'
    ? 'needs-action'
    : a === 'failing' || b === 'failing'
      ? 'failing'
      : 'healthy';
const round = (n: number) => Math.round(n * 10) / 10;

function targetRow(
  credential: Credential | undefined,
  t: Target | undefined,
  r: DeliveryRecord | undefined,
  key: string,
  now: Date,
): FleetTargetRow {
  const row: FleetTargetRow = {
    targetKey: key,
    target: t ? targetLabel(t) : `${key} (not in the configuration)`,
    programId: t?.programId,
    health: 'healthy',
    reasons: [],
  };
  const flag = (h: Health, why: string) => {
    row.health = worse(row.health, h);
    row.reasons.push(why);
  };
  if (!r?.versionId) {
    flag('failing', 'never pushed');
    return row;
  }
  Object.assign(row, {
    versionId: r.versionId,
    issuedAt: r.issuedAt,
    pushedAt: r.pushedAt,
    pushReason: r.pushReason,
    phase: r.phase,
    confirmedAt: r.confirmedAt,
    lastProblem: r.lastProblem,
  });
  const lifetime = credential ? LIFETIME_DAYS[credential.provider] : undefined;
  if (r.issuedAt) {
    const issued = Date.parse(r.issuedAt);
    row.copyAgeDays = round((now.getTime() - issued) / DAY);
    if (lifetime !== undefined) {
      row.diesAt = new Date(issued + lifetime * DAY).toISOString();
      row.daysLeft = round((issued + lifetime * DAY - now.getTime()) / DAY);
      if (row.daysLeft <= 0)
        flag('needs-action', 'the copy in AEM is past its lifetime: mail from AEM fails until a push');
      else if (row.daysLeft <= DYING_DAYS) flag('needs-action', `the copy in AEM dies in ${row.daysLeft} days`);
    }
  }
  if (r.deadSince) flag('needs-action', `the copy in AEM is dead since ${r.deadSince}`);
  if (r.phase === 'failed') flag('needs-action', 'AEM showed a mail-auth failure after the last push');
  if (r.lastProblem && (!r.pushedAt || r.lastProblem.at >= r.pushedAt)) {
    flag(
      now.getTime() - Date.parse(r.lastProblem.at) > PERSISTING_MS && r.phase !== 'confirmed'
        ? 'needs-action'
        : 'failing',
      `${r.lastProblem.code}: ${r.lastProblem.message}`,
    );
  }
  return row;
}

function credentialRow(config: Config, id: string, entry: FleetEntry | undefined, now: Date): FleetCredentialRow {
  const c = config.credentials.find((x) => x.id === id);
  const state = entry?.state;
  const row: FleetCredentialRow = {
    credential: id,
    configured: c !== undefined,
    health: 'healthy',
    reasons: [],
    targets: [],
  };
  const flag = (h: Health, why: string) => {
    row.health = worse(row.health, h);
    row.reasons.push(why);
  };
  if (state?.lastRun) row.lastRun = state.lastRun;
  if (state?.lastSuccess) row.lastSuccess = state.lastSuccess;
  if (state?.lastValidation) row.lastValidation = state.lastValidation;
  if (!c) flag('healthy', 'not in the configuration (left in the table)');
  if (!state)
    flag('needs-action', 'no run recorded: sign in with `token-refresher regenerate` or wait for the first run');
  const f = state?.failure;
  if (f) {
    row.failure = {
      class: f.class,
      code: f.code,
      stage: f.stage,
      since: f.since,
      runs: f.runs,
      message: f.message,
      fix: f.fix,
    };
    const person =
      f.class === 'reauthorize' || f.class === 'configuration' || now.getTime() - Date.parse(f.since) > PERSISTING_MS;
    flag(person ? 'needs-action' : 'failing', `${f.code} at ${f.stage} (${f.class}) since ${f.since}`);
  }
  const records = new Map((entry?.targets ?? []).map((r) => [r.targetKey, r]));
  const configured = c?.targets ?? [];
  for (const t of configured) row.targets.push(targetRow(c, t, records.get(targetKey(t)), targetKey(t), now));
  if (c) planRows(c, row.targets, records, state, now);
  // Records of targets no longer configured are shown, not judged: nobody pushes to them any more.
  for (const [key, r] of records)
    if (!configured.some((t) => targetKey(t) === key))
      row.targets.push({
        ...targetRow(c, undefined, r, key, now),
        health: 'healthy',
        reasons: ['not in the configuration'],
      });
  own.set(row, row.health);
  for (const t of row.targets) row.health = worse(row.health, t.health);
  return row;
}

/** The delivery policy's plan per target (lambdas/deliver/policy.ts), from the same records the runs use. */
function planRows(
  c: Credential,
  rows: FleetTargetRow[],
  records: Map<string, DeliveryRecord>,
  state: FleetEntry['state'],
  now: Date,
): void {
  const members = c.targets.map((t) => ({
    stage: t.stage,
    record: records.get(targetKey(t)),
    settings: effectiveDelivery(c.delivery, t.delivery),
    label: targetLabel(t),
  }));
  c.targets.forEach((t, i) => {
    const row = rows[i];
    const m = members[i];
    if (!row || !m) return;
    const win = m.settings.windows.length
      ? (currentWindow(m.settings.windows, now) ?? nextWindow(m.settings.windows, now))
      : undefined;
    if (win) row.nextWindow = win.start.toISOString();
    if (!state?.current) return;
    const plan = planDelivery({
      record: m.record,
      current: state.current,
      settings: m.settings,
      now,
      stage: stageGate(t.stage, c.delivery?.stages, members, now),
    });
    if (plan.action === 'push') row.nextPush = { at: now.toISOString(), why: `${plan.reason}: ${plan.why}` };
    else if (plan.action === 'wait')
      row.nextPush = { at: plan.until?.toISOString(), why: `${plan.reason}: ${plan.why}` };
    else if (plan.nextPushAt) {
      // Due then, and pushed in the first window from then on.
      const w = m.settings.windows.length
        ? (currentWindow(m.settings.windows, plan.nextPushAt) ?? nextWindow(m.settings.windows, plan.nextPushAt))
        : undefined;
      const at = w && w.start > plan.nextPushAt ? w.start : plan.nextPushAt;
      row.nextPush = { at: at.toISOString(), why: `age: the copy reaches pushAfterDays (${m.settings.pushAfterDays})` };
    }
  });
}

/** A credential's health from its own state alone, before its targets count: filters that drop targets re-judge with it. */
const own = new WeakMap<FleetCredentialRow, Health>();
const judged = (r: FleetCredentialRow): FleetCredentialRow => {
  const out = { ...r, health: r.targets.reduce((h, t) => worse(h, t.health), own.get(r) ?? 'healthy') };
  own.set(out, own.get(r) ?? 'healthy');
  return out;
};

export function fleetStatus(
  config: Config,
  fleet: FleetEntry[],
  now: Date,
  filters: FleetFilters = {},
): { summary: FleetSummary; credentials: FleetCredentialRow[] } {
  const byId = new Map(fleet.map((e) => [e.credentialId, e]));
  const ids = [...new Set([...config.credentials.map((c) => c.id), ...byId.keys()])];
  let rows = ids.map((id) => credentialRow(config, id, byId.get(id), now));
  if (filters.credential) rows = rows.filter((r) => r.credential === filters.credential);
  if (filters.program) {
    rows = rows
      .map((r) => judged({ ...r, targets: r.targets.filter((t) => t.programId === filters.program) }))
      .filter((r) => r.targets.length > 0);
  }
  // --failing keeps the credentials that are not healthy, with their unhealthy targets (all of them when the credential itself is the problem).
  if (filters.failing)
    rows = rows
      .filter((r) => r.health !== 'healthy')
      .map((r) => ({
        ...r,
        targets: own.get(r) !== 'healthy' ? r.targets : r.targets.filter((t) => t.health !== 'healthy'),
      }));
  const summary: FleetSummary = {
    credentials: rows.length,
    targets: rows.reduce((n, r) => n + r.targets.length, 0),
    healthy: rows.filter((r) => r.health === 'healthy').length,
    needsAction: rows.filter((r) => r.health === 'needs-action').length,
    failing: rows.filter((r) => r.health === 'failing').length,
  };
  return { summary, credentials: rows };
}

/** 3 when a person must sign in again, 1 when anything else needs a person, 0 otherwise (the codes `rotate` uses). */
export function fleetExit(rows: FleetCredentialRow[]): ExitCode {
  if (rows.some((r) => r.failure?.class === 'reauthorize')) return Exit.reauthorize;
  return rows.some((r) => r.health === 'needs-action') ? Exit.failure : Exit.ok;
}

const day = (iso: string | undefined) => (iso ? iso.slice(0, 10) : '-');

export function printFleet(ui: Ui, s: { summary: FleetSummary; credentials: FleetCredentialRow[] }): void {
  const m = s.summary;
  ui.out(
    `${m.credentials} credentials, ${m.targets} targets: ${ui.c('green', `${m.healthy} healthy`)}, ${m.needsAction ? ui.c('red', `${m.needsAction} need action`) : '0 need action'}, ${m.failing ? ui.c('yellow', `${m.failing} failing`) : '0 failing'}`,
  );
  const head = [
    'credential',
    'target',
    'copy age',
    'dies',
    'last push',
    'confirmation',
    'next window',
    'next push',
    'status',
  ];
  const lines: string[][] = [];
  const mark = (h: Health) =>
    h === 'healthy' ? ui.c('green', 'ok') : h === 'failing' ? ui.c('yellow', 'failing') : ui.c('red', 'NEEDS ACTION');
  for (const c of s.credentials) {
    const why = c.reasons.length ? `: ${c.reasons.join('; ')}` : '';
    lines.push([
      c.credential,
      '',
      '',
      '',
      c.lastRun ? `run ${day(c.lastRun.at)} ${c.lastRun.outcome}` : '-',
      c.lastValidation ? `test send ${c.lastValidation.ok ? 'ok' : 'failed'} ${day(c.lastValidation.at)}` : '-',
      '',
      '',
      `${mark(c.health)}${why}`,
    ]);
    for (const t of c.targets) {
      const confirmation = t.confirmedAt ? `confirmed ${day(t.confirmedAt)}` : (t.phase ?? '-');
      lines.push([
        '',
        t.target,
        t.copyAgeDays === undefined ? '-' : `${t.copyAgeDays} d`,
        t.diesAt ? `${day(t.diesAt)} (${t.daysLeft} d)` : '-',
        t.pushedAt ? `${day(t.pushedAt)}${t.pushReason ? ` ${t.pushReason}` : ''}` : '-',
        confirmation,
        t.nextWindow ? day(t.nextWindow) : 'any time',
        t.nextPush ? `${t.nextPush.at ? day(t.nextPush.at) : 'held'} (${t.nextPush.why.split(':')[0]})` : '-',
        `${mark(t.health)}${t.reasons.length ? `: ${t.reasons.join('; ')}` : ''}`,
      ]);
    }
  }
  // Widths from the plain text: colour codes would count as characters.
  const plain = (x: string) => x.replace(/\x1b\[[0-9;]*m/g, '');
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => plain(l[i] ?? '').length)));
  const fmt = (l: string[]) =>
    l
      .map((x, i) => (i === l.length - 1 ? x : x + ' '.repeat(widths[i]! - plain(x).length)))
      .join('  ')
      .trimEnd();
  ui.out(fmt(head));
  for (const l of lines) ui.out(fmt(l));
}
