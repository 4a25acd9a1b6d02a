import type { Config, Credential } from '../config/schema.ts';
import { asRefresherError } from '../core/errors.ts';
import type { Alerter } from '../core/types.ts';
import { MetricName, type MetricSink } from '../report/metrics.ts';
import { composeExpiryAlert, decideExpiry, watchedExpiries, type ExpiryStatus } from '../report/secret-expiry.ts';
import type { CredentialState } from '../store/records.ts';

export interface ExpiryCheckDeps {
  config: Config;
  alerter?: Alerter;
  metrics: MetricSink;
}

/** What the summary shows of an expiring secret. */
export interface ExpirySummary {
  /** Not "secret": summaries are redacted by key name, and this field holds no secret. */
  name: ExpiryStatus['key'];
  expiresAt: string;
  daysLeft: number;
  alerted: boolean | 'failed-to-send';
}

/**
 * Runs on every run that holds the lease, whatever the rotation does next: a secret that expires in 14 days deserves its
 * mail even while (or because) the token is healthy. Never throws; a mail that could not be sent is tried again on the
 * next run because the threshold is remembered only once the mail went out.
 */
export async function checkSecretExpiries(
  deps: ExpiryCheckDeps,
  credential: Credential,
  state: CredentialState,
  clientSecretRaw: string | undefined,
  now: Date,
  log: (level: 'info' | 'warn' | 'error', msg: string, extra?: Record<string, unknown>) => void,
): Promise<ExpirySummary[] | undefined> {
  const watched = watchedExpiries(deps.config, credential, clientSecretRaw);
  if (watched.length === 0) return undefined;
  const out: ExpirySummary[] = [];
  for (const w of watched) {
    const status = decideExpiry(w, state.secretExpiry?.[w.key], now);
    deps.metrics.gauge(
      MetricName.ClientSecretDaysLeft,
      w.key === 'adobe' ? 'adobe' : credential.id,
      Math.round(status.daysLeft * 100) / 100,
      'None',
    );
    let alerted: ExpirySummary['alerted'] = false;
    if (status.alert && status.threshold !== undefined) {
      if (!deps.alerter) {
        log('warn', `client secret ${w.key} expires on ${status.expiresAt}: no alert channel configured`, {
          daysLeft: status.daysLeft,
        });
      } else {
        try {
          await deps.alerter.send(composeExpiryAlert(deps.config, credential, status));
          state.secretExpiry = {
            ...state.secretExpiry,
            [w.key]: { expiresAt: status.expiresAt, threshold: status.threshold, alertedAt: now.toISOString() },
          };
          alerted = true;
          log('info', `expiry alert sent for ${w.key}`, { threshold: status.threshold, expiresAt: status.expiresAt });
        } catch (e) {
          alerted = 'failed-to-send';
          deps.metrics.count(MetricName.AlertFailure, credential.id);
          log('error', 'the client-secret expiry alert could not be sent', {
            error: asRefresherError(e, 'ses', 'report').toJSON(),
          });
        }
      }
    }
    out.push({ name: w.key, expiresAt: status.expiresAt, daysLeft: Math.round(status.daysLeft * 100) / 100, alerted });
  }
  return out;
}
