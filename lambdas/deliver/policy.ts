/**
 * When a target gets a new copy of the refresh token. Pure: the same inputs give the same plan, so the year simulation
 * and the tests can check the rules without a network.
 *
 * A push restarts the AEM environment, so a target is pushed only when it must be: its copy is older than
 * pushAfterDays, it is known dead, the client secret it carries changed, or a person forces it; inside its windows,
 * after the earlier rollout stages have proven the delivery; and outside them only when waiting would let the copy pass
 * hardMaxAgeDays (the deadline rule) or mail is already down (a dead copy).
 */
import type { DeliverySettings } from '../config/delivery-schema.ts';
import type { DeliveryRecord } from '../store/state-store.ts';
import { currentWindow, nextWindow, type WindowInstance } from './windows.ts';

export type PushReason = 'first' | 'age' | 'deadline' | 'dead-copy' | 'client-secret' | 'forced';

export type Plan =
  | { action: 'none'; why: string; nextPushAt?: Date }
  | { action: 'push'; reason: PushReason; outsideWindow: boolean; why: string }
  | { action: 'wait'; reason: PushReason; until?: Date; why: string; heldByStage?: boolean };

export interface PlanInput {
  record: DeliveryRecord | undefined;
  /** The token version a push would deliver, and when it was issued. */
  current: { versionId: string; issuedAt: string };
  /** The client secret's current version, when this target carries it (pushClientSecret). */
  clientSecretVersionId?: string;
  settings: DeliverySettings;
  now: Date;
  forced?: boolean;
  /** Whether every earlier rollout stage has proven the delivery (see stageGate). */
  stage: { open: boolean; why?: string };
}

const DAY = 86_400_000;
/** A restart takes "typically a few minutes"; do not start one that would run past the window's end. */
export const RESTART_ALLOWANCE_MS = 30 * 60_000;

export function copyAgeDays(record: DeliveryRecord | undefined, now: Date): number | undefined {
  if (!record?.issuedAt) return undefined;
  const t = Date.parse(record.issuedAt);
  return Number.isFinite(t) ? (now.getTime() - t) / DAY : undefined;
}

/** The window a push could happen in from `now`: the current one if a restart still fits, else the next one. */
function pushWindow(settings: DeliverySettings, now: Date): { inWindow: boolean; window?: WindowInstance } {
  if (settings.windows.length === 0) return { inWindow: true };
  const cur = currentWindow(settings.windows, now);
  if (cur && now.getTime() + RESTART_ALLOWANCE_MS <= cur.end.getTime()) return { inWindow: true, window: cur };
  return { inWindow: false, window: nextWindow(settings.windows, now) };
}

export function planDelivery(p: PlanInput): Plan {
  const { record, current, settings, now } = p;
  const holdsCurrent = record?.versionId === current.versionId;
  const secretChanged =
    p.clientSecretVersionId !== undefined &&
    record?.versionId !== undefined &&
    record.clientSecretVersionId !== p.clientSecretVersionId;
  const win = pushWindow(settings, now);

  if (p.forced)
    return { action: 'push', reason: 'forced', outsideWindow: !win.inWindow, why: 'a person asked for this push' };
  if (holdsCurrent && !secretChanged) {
    const issued = Date.parse(record?.issuedAt ?? '');
    return {
      action: 'none',
      why: 'holds the current token',
      nextPushAt: Number.isFinite(issued) ? new Date(issued + settings.pushAfterDays * DAY) : undefined,
    };
  }
  if (record?.deadSince && settings.pushDeadCopyImmediately) {
    return {
      action: 'push',
      reason: 'dead-copy',
      outsideWindow: !win.inWindow,
      why: `its copy is dead since ${record.deadSince} (the token family was revoked): mail from AEM is down until it is replaced`,
    };
  }

  const age = copyAgeDays(record, now);
  // An age we cannot compute (never pushed by this tool, or an unreadable date) is treated as due, never as fresh.
  let reason: PushReason | undefined;
  if (!record?.versionId) reason = 'first';
  else if (age === undefined) reason = 'age';
  else if (age >= settings.pushAfterDays) reason = 'age';
  else if (secretChanged) reason = 'client-secret';
  else if (record.deadSince) reason = 'dead-copy';

  // Deadline rule: the copy would pass hardMaxAgeDays before the window we could push in ends.
  if (age !== undefined || record?.versionId) {
    // The last moment a normal push could still happen: now when it can, else the end of the next window (with no
    // windows, a day: the earlier stages may be proven by then).
    const pushableNow = win.inWindow && p.stage.open;
    const endOfChance = pushableNow
      ? now
      : settings.windows.length === 0
        ? new Date(now.getTime() + DAY)
        : ((win.inWindow ? nextWindow(settings.windows, now) : win.window)?.end ?? now);
    const ageThen = age === undefined ? Infinity : age + (endOfChance.getTime() - now.getTime()) / DAY;
    if (ageThen > settings.hardMaxAgeDays && !pushableNow) {
      const ageText = age === undefined ? 'of unknown age' : `${age.toFixed(1)} days old`;
      return {
        action: 'push',
        reason: 'deadline',
        outsideWindow: !win.inWindow,
        why: `its copy is ${ageText} and would pass hardMaxAgeDays (${settings.hardMaxAgeDays}) before ${win.inWindow ? 'the earlier stages are proven' : 'the next window ends'}`,
      };
    }
  }
  if (!reason) {
    const issued = Date.parse(record?.issuedAt ?? '');
    return {
      action: 'none',
      why: `its copy is ${age?.toFixed(1)} days old (push after ${settings.pushAfterDays})`,
      nextPushAt: new Date(issued + settings.pushAfterDays * DAY),
    };
  }
  if (!p.stage.open)
    return {
      action: 'wait',
      reason,
      why: p.stage.why ?? 'an earlier rollout stage is not proven yet',
      heldByStage: true,
    };
  if (!win.inWindow)
    return {
      action: 'wait',
      reason,
      until: win.window?.start,
      why: `due (${reason}); waits for the next maintenance window`,
    };
  return {
    action: 'push',
    reason,
    outsideWindow: false,
    why: `due (${reason})${settings.windows.length ? ' and inside a maintenance window' : ''}`,
  };
}

export interface StageMember {
  stage?: string;
  record: DeliveryRecord | undefined;
  settings: DeliverySettings;
  label: string;
}

/**
 * Whether a target of `stage` may be pushed: every target of the earlier stages holds a confirmed delivery that has
 * soaked `soakHours` without a mail-auth error, and is itself not waiting for its own push.
 */
export function stageGate(
  stage: string | undefined,
  order: readonly string[] | undefined,
  members: readonly StageMember[],
  now: Date,
): { open: boolean; why?: string; failed?: boolean } {
  if (!stage || !order) return { open: true };
  const idx = order.indexOf(stage);
  for (const m of members) {
    if (!m.stage || order.indexOf(m.stage) >= idx) continue;
    const r = m.record;
    if (r?.phase === 'failed')
      return {
        open: false,
        failed: true,
        why: `held: the earlier stage ${m.stage} (${m.label}) failed (${r.lastProblem?.code ?? 'delivery failed'})`,
      };
    if (!r?.versionId || r.phase !== 'confirmed' || !r.confirmedAt)
      return { open: false, why: `held until the earlier stage ${m.stage} (${m.label}) is confirmed` };
    const age = copyAgeDays(r, now);
    if (age === undefined || age >= m.settings.pushAfterDays)
      return { open: false, why: `held until the earlier stage ${m.stage} (${m.label}) has received its own new copy` };
    const soakedAt = Date.parse(r.confirmedAt) + m.settings.soakHours * 3_600_000;
    // A mail-auth error while the earlier stage soaks fails the soak; one found days later by the daily check is
    // alerted on its own and does not hold the other environments' copies, which age meanwhile.
    const problemAt = r.lastProblem ? Date.parse(r.lastProblem.at) : NaN;
    if (problemAt > Date.parse(r.confirmedAt) && problemAt <= soakedAt) {
      return {
        open: false,
        failed: true,
        why: `held: the earlier stage ${m.stage} (${m.label}) reported ${r.lastProblem?.code} while it soaked`,
      };
    }
    if (soakedAt > now.getTime())
      return {
        open: false,
        why: `held until the earlier stage ${m.stage} (${m.label}) has soaked ${m.settings.soakHours} h (${new Date(soakedAt).toISOString()})`,
      };
  }
  return { open: true };
}
