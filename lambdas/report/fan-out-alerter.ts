import { asRefresherError } from '../core/errors.ts';
import type { Alert, Alerter } from '../core/types.ts';
import type { Log } from './logger.ts';
import * as names from './metric-names.ts';
import { MetricName, type MetricSink } from './metrics.ts';

/**
 * The `credential` value AlertChannelFailure is emitted with: the alarm is per channel, not per credential and channel
 * (the log line names the credential).
 */
const ALERT_CHANNEL_DIMENSION_CREDENTIAL = names.ALERT_CHANNEL_CREDENTIAL_DIMENSION;

/**
 * One alert decision, every channel: the pipeline decides once (and remembers once) whether to alert; this sends the
 * same alert to each channel at the same time. A failing channel is counted (AlertChannelFailure, dimension channel)
 * and logged, and never holds up or cancels the others. Only when every channel failed does send() fail, so that the
 * pipeline forgets the alert and the next run tries again; a partial failure is not retried (that would repeat the
 * alert on the channels that worked).
 */
export class FanOutAlerter implements Alerter {
  readonly channel = 'fan-out';

  constructor(
    readonly channels: Alerter[],
    private readonly o: { metrics: MetricSink; log: Log },
  ) {}

  async send(alert: Alert): Promise<void> {
    if (this.channels.length === 0) return;
    const results = await Promise.allSettled(this.channels.map((c) => c.send(alert)));
    let firstError: unknown;
    results.forEach((r, i) => {
      if (r.status === 'fulfilled') return;
      const channel = this.channels[i]?.channel ?? `channel-${i}`;
      const err = asRefresherError(r.reason, 'lambda', 'report');
      firstError ??= err;
      this.o.metrics.count(MetricName.AlertChannelFailure, ALERT_CHANNEL_DIMENSION_CREDENTIAL, 1, { channel });
      this.o.log.error(`the alert could not be sent on channel ${channel}`, {
        credential: alert.credentialId,
        channel,
        error: err.toJSON(),
      });
    });
    if (results.every((r) => r.status === 'rejected')) throw firstError;
  }
}
