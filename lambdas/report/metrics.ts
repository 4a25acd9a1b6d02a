import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';

import * as names from './metric-names.ts';

/** Names shared with the CDK alarms and dashboard (metric-names.ts beside this file is the contract; lib/ imports it). */
export const METRIC_NAMESPACE = names.METRICS_NAMESPACE;
export const MetricName = {
  RotationSuccess: names.ROTATION_SUCCESS,
  RotationFailure: names.ROTATION_FAILURE,
  ValidationFailure: names.VALIDATION_FAILURE,
  TokenAgeDays: names.TOKEN_AGE_DAYS,
  StageDurationMs: names.STAGE_DURATION_MS,
  AlertFailure: names.ALERT_FAILURE,
  AlertChannelFailure: names.ALERT_CHANNEL_FAILURE,
  PushSuccess: 'PushSuccess',
  /** Per target (dimension target): days since the copy it holds was issued, and days until that copy dies. */
  CopyAgeDays: names.COPY_AGE_DAYS,
  CopyDaysToLive: names.COPY_DAYS_TO_LIVE,
  /** Delivery alerts by code (dimension code), and pushes deferred by look-before-push or failed (dimension code). */
  DeliveryNotice: 'DeliveryNotice',
  DeliveryDeferred: 'DeliveryDeferred',
  /** Days until a client secret expires (dimension credential, or "adobe"), from clientSecretExpiresAt. */
  ClientSecretDaysLeft: names.CLIENT_SECRET_DAYS_LEFT,
} as const;

export interface MetricSink {
  count(name: string, credential: string, value?: number, dims?: Record<string, string>): void;
  gauge(
    name: string,
    credential: string,
    value: number,
    unit: 'Count' | 'Milliseconds' | 'None',
    dims?: Record<string, string>,
  ): void;
  flush(): void;
}

/** CloudWatch metrics through embedded metric format (one log line, no API call, no extra IAM). */
export function powertoolsMetrics(
  namespace = process.env.POWERTOOLS_METRICS_NAMESPACE ?? METRIC_NAMESPACE,
): MetricSink {
  const metrics = new Metrics({ namespace, serviceName: names.SERVICE_NAME });
  const emit = (
    name: string,
    credential: string,
    value: number,
    unit: (typeof MetricUnit)[keyof typeof MetricUnit],
    dims?: Record<string, string>,
  ) => {
    // One metric per EMF document so each carries its own dimensions (credential, class) without cross-talk.
    const single = metrics.singleMetric();
    single.addDimension('credential', credential);
    for (const [k, v] of Object.entries(dims ?? {})) single.addDimension(k, v);
    single.addMetric(name, unit, value);
  };
  return {
    count: (name, credential, value = 1, dims) => emit(name, credential, value, MetricUnit.Count, dims),
    gauge: (name, credential, value, unit, dims) =>
      emit(
        name,
        credential,
        value,
        unit === 'Milliseconds' ? MetricUnit.Milliseconds : unit === 'Count' ? MetricUnit.Count : MetricUnit.NoUnit,
        dims,
      ),
    flush: () => metrics.publishStoredMetrics(),
  };
}

/** Keeps metrics in memory: for the CLI summary and for tests. */
export class MemoryMetrics implements MetricSink {
  readonly points: Array<{ name: string; credential: string; value: number; dims: Record<string, string> }> = [];
  count(name: string, credential: string, value = 1, dims: Record<string, string> = {}): void {
    this.points.push({ name, credential, value, dims });
  }
  gauge(name: string, credential: string, value: number, _unit: string, dims: Record<string, string> = {}): void {
    this.points.push({ name, credential, value, dims });
  }
  flush(): void {}
  sum(name: string, credential?: string): number {
    return this.points
      .filter((p) => p.name === name && (!credential || p.credential === credential))
      .reduce((a, p) => a + p.value, 0);
  }
}
