import type { Credential } from '../config/schema.ts';
import { asRefresherError, type RefresherError } from '../core/errors.ts';
import { redactText } from '../core/redact.ts';
import type { Alerter } from '../core/types.ts';
import { decideAlert, type AlertDecision } from '../report/alert-policy.ts';
import { composeAlert } from '../report/alert-text.ts';
import { linkForAlert, type LinkIssuer } from '../report/recovery-link.ts';
import { MetricName, type MetricSink } from '../report/metrics.ts';
import type { CredentialState } from '../store/records.ts';

/**
 * The report step: alert on a change of state, remind while a failure that needs a person lasts (alert-policy.ts). The
 * decision is recorded in the credential state, so it survives the run; a mail that could not be sent is retried next run.
 */
export async function report(
  deps: { alerter?: Alerter; linkIssuer?: LinkIssuer; metrics: MetricSink; remindAfterHours: number },
  credential: Credential,
  state: CredentialState,
  outcome: { ok: true } | { ok: false; err: RefresherError },
  now: Date,
  log: (level: 'info' | 'warn' | 'error', msg: string, extra?: Record<string, unknown>) => void,
): Promise<AlertDecision | 'failed-to-send'> {
  const previous = state.failure;
  const { decision, next } = decideAlert(
    previous,
    outcome.ok
      ? { ok: true }
      : { ok: false, class: outcome.err.class, code: outcome.err.code, stage: outcome.err.stage ?? 'unknown' },
    now,
    { remindAfterHours: deps.remindAfterHours },
  );
  state.failure =
    next && !outcome.ok
      ? { ...next, message: redactText(outcome.err.message), fix: redactText(outcome.err.fix) }
      : next;
  if (decision === 'none' || !deps.alerter) return decision;
  const err = outcome.ok ? undefined : outcome.err;
  const alert = composeAlert(
    credential,
    decision,
    err,
    previous,
    now,
    await linkForAlert(deps.linkIssuer, credential, decision, err),
  );
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
