/**
 * After a push: follow the environment through its restart, then read AEM's own log for mail-auth failures of its mail
 * service. A delivery is confirmed only by AEM itself: no failure for the quiet period after the restart. The record
 * carries the phase, so an invocation that runs out of time leaves the follow-up to the next one.
 */
import type { DeliverySettings } from '../config/delivery-schema.ts';
import { asRefresherError } from '../core/errors.ts';
import type { DeliveryRecord } from '../store/state-store.ts';
import type { AemService, EnvironmentProbe } from './probe.ts';

/** Environment states after which no restart is coming: the push did not take (spec: Environment.status). */
const FAILED_STATES = new Set(['failed', 'deploy_failed', 'restore_failed', 'deleted', 'deleting']);
/** A restart that has not finished after this long is reported (it is still followed). */
export const SLOW_RESTART_MS = 3 * 3_600_000;
const DAY = 86_400_000;

export interface FollowUpTarget {
  programId: string;
  environmentId: string;
  services: AemService[];
  label: string;
}

export interface FollowUpLimits {
  /** Bytes of AEM's log one check may read, per target. */
  maxLogBytes: number;
  /** Absolute Date.now() deadline of this invocation's follow-up work. */
  deadlineMs: number;
  /** How long to wait for the restart within this invocation, and how often to look. */
  waitForReadyMs: number;
  pollMs: number;
  sleep: (ms: number) => Promise<void>;
  now: () => Date;
}

export type FollowUpEvent =
  | { kind: 'ready'; at: string }
  | { kind: 'confirmed'; at: string }
  | { kind: 'failed'; code: string; message: string; lines?: string[] }
  | { kind: 'mail-auth-error'; lines: string[] }
  | { kind: 'slow-restart' }
  | { kind: 'cut-short'; bytesRead: number }
  | { kind: 'probe-error'; code: string; message: string };

export function servicesOf(service: AemService | undefined): AemService[] {
  return service ? [service] : ['author', 'publish'];
}

/** Whether this record has follow-up work now: a restart to watch, a quiet period to read, or the daily log check. */
export function needsFollowUp(r: DeliveryRecord | undefined, s: DeliverySettings, now: Date): boolean {
  if (!r?.versionId || !s.confirm) return false;
  if (r.phase === 'restarting' || r.phase === 'quiet') return true;
  if (r.phase === 'confirmed' && s.dailyLogCheck)
    return !r.lastLogCheckAt || now.getTime() - Date.parse(r.lastLogCheckAt) >= DAY - 30 * 60_000;
  return false;
}

/**
 * Moves one record forward as far as it can go now. Returns the updated record and what happened, for the report.
 * Never throws: a probe failure is an event, and the phase stays so the next invocation tries again.
 */
export async function followUp(
  record: DeliveryRecord,
  t: FollowUpTarget,
  s: DeliverySettings,
  probe: EnvironmentProbe,
  lim: FollowUpLimits,
): Promise<{ record: DeliveryRecord; events: FollowUpEvent[] }> {
  const r: DeliveryRecord = { ...record };
  const events: FollowUpEvent[] = [];
  const nowIso = () => lim.now().toISOString();
  try {
    if (r.phase === 'restarting') {
      // Waiting is measured on the injected clock (the year simulation advances it in sleep); the invocation's own
      // deadline on the real one.
      const waitUntil = lim.now().getTime() + lim.waitForReadyMs;
      for (;;) {
        const status = await probe.environmentStatus(t.programId, t.environmentId);
        if (status === 'ready') {
          r.phase = 'quiet';
          r.phaseSince = nowIso();
          r.logCursor = undefined;
          events.push({ kind: 'ready', at: r.phaseSince });
          break;
        }
        if (FAILED_STATES.has(status)) {
          r.phase = 'failed';
          r.phaseSince = nowIso();
          r.lastProblem = {
            at: nowIso(),
            code: 'CM_ENV_FAILED',
            message: `${t.label} is "${status}" after the push instead of coming back ready`,
          };
          events.push({ kind: 'failed', code: 'CM_ENV_FAILED', message: r.lastProblem.message });
          return { record: r, events };
        }
        if (lim.now().getTime() + lim.pollMs > waitUntil || Date.now() + lim.pollMs > lim.deadlineMs) {
          if (r.pushedAt && lim.now().getTime() - Date.parse(r.pushedAt) > SLOW_RESTART_MS)
            events.push({ kind: 'slow-restart' });
          return { record: r, events };
        }
        await lim.sleep(lim.pollMs);
      }
    }
    if (r.phase === 'quiet' || r.phase === 'confirmed') {
      const since =
        r.phase === 'quiet'
          ? (r.phaseSince ?? r.pushedAt ?? nowIso())
          : (r.lastLogCheckAt ?? r.confirmedAt ?? nowIso());
      const scan = await probe.scanMailLog(t.programId, t.environmentId, {
        services: t.services,
        since: new Date(since),
        cursor: r.logCursor,
        maxBytes: lim.maxLogBytes,
        deadlineMs: lim.deadlineMs,
      });
      r.logCursor = scan.cursor;
      if (scan.cutShort) events.push({ kind: 'cut-short', bytesRead: scan.bytesRead });
      if (scan.failures.length > 0) {
        const message = `AEM's mail service on ${t.label} reports OAuth failures after ${r.phase === 'quiet' ? 'the restart' : 'its confirmation'}`;
        r.lastProblem = { at: nowIso(), code: 'AEM_MAIL_AUTH_FAILED', message, lines: scan.failures.slice(0, 5) };
        events.push({ kind: 'mail-auth-error', lines: r.lastProblem.lines ?? [] });
        if (r.phase === 'quiet') {
          r.phase = 'failed';
          r.phaseSince = nowIso();
        }
        r.lastLogCheckAt = nowIso();
        return { record: r, events };
      }
      if (!scan.cutShort) r.lastLogCheckAt = nowIso();
      if (
        r.phase === 'quiet' &&
        !scan.cutShort &&
        lim.now().getTime() - Date.parse(since) >= s.quietPeriodHours * 3_600_000
      ) {
        r.phase = 'confirmed';
        r.confirmedAt = nowIso();
        r.phaseSince = r.confirmedAt;
        events.push({ kind: 'confirmed', at: r.confirmedAt });
      }
    }
  } catch (e) {
    const err = asRefresherError(e, 'cloudmanager', 'push');
    events.push({ kind: 'probe-error', code: err.code, message: err.message });
  }
  return { record: r, events };
}
