import type { FailureClass } from '../core/errors.ts';

/** What the state secret remembers of the last failure, so an unchanged failure does not mail on every run. */
export interface FailureState {
  fingerprint: string;
  class: FailureClass;
  code: string;
  stage: string;
  since: string;
  lastAlertAt?: string;
  runs: number;
}

export type AlertDecision = 'failure' | 'reminder' | 'recovered' | 'none';

export function fingerprintOf(f: { class: string; code: string; stage: string }): string {
  return `${f.stage}:${f.class}:${f.code}`;
}

/**
 * Alert on a change of state (new failure, different failure, recovery), remind at most every `remindAfterHours` while a
 * failure that needs a person persists. Transient failures mail only once they have lasted `transientRuns` runs in a row:
 * one throttled run is noise, three are an outage worth a look.
 */
export function decideAlert(
  previous: FailureState | undefined,
  outcome: { ok: true } | { ok: false; class: FailureClass; code: string; stage: string },
  now: Date,
  opts: { remindAfterHours: number; transientRuns?: number },
): { decision: AlertDecision; next: FailureState | undefined } {
  if (outcome.ok) return { decision: previous?.lastAlertAt ? 'recovered' : 'none', next: undefined };
  if (outcome.class === 'conflict') return { decision: 'none', next: previous };
  const fingerprint = fingerprintOf(outcome);
  const same = previous?.fingerprint === fingerprint;
  const next: FailureState = same
    ? { ...previous, runs: previous.runs + 1 }
    : {
        fingerprint,
        class: outcome.class,
        code: outcome.code,
        stage: outcome.stage,
        since: now.toISOString(),
        runs: 1,
      };
  if (outcome.class === 'transient' && next.runs < (opts.transientRuns ?? 3)) return { decision: 'none', next };
  if (!next.lastAlertAt) return { decision: 'failure', next: { ...next, lastAlertAt: now.toISOString() } };
  const since = now.getTime() - Date.parse(next.lastAlertAt);
  if (since >= opts.remindAfterHours * 3_600_000)
    return { decision: 'reminder', next: { ...next, lastAlertAt: now.toISOString() } };
  return { decision: 'none', next };
}
