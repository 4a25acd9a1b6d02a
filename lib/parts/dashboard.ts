import { defaultAdobe } from '../../lambdas/config/adobe.ts';
import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { EXPIRY_THRESHOLDS_DAYS } from '../../lambdas/report/secret-expiry.ts';
import * as metricNames from '../../lambdas/report/metric-names.ts';
import { CLIENT_SECRET_ALARM_DAYS } from './alarms.ts';
import type { RefresherContext } from './context.ts';
import { TOKEN_AGE_ALARM_DAYS, TOKEN_LIFETIME_DAYS } from './schedules.ts';

/** One dashboard: alarm status (every alarm in `ctx.alarms`), per-credential rows, client secrets' days left, the function. */
export function addDashboard(ctx: RefresherContext): cloudwatch.Dashboard {
  const { config } = ctx;
  const dashboard = new cloudwatch.Dashboard(ctx.scope, 'Dashboard', {
    defaultInterval: Duration.days(14),
    periodOverride: cloudwatch.PeriodOverride.INHERIT,
  });
  dashboard.addWidgets(
    new cloudwatch.TextWidget({
      markdown:
        "# token-refresher\nPer credential: days since the last rotation (the current token's age), healthy runs and failures by class; below, the days left of the client secrets. " +
        'A failure mail names the fix; `token-refresher status` shows the same from a shell.',
      width: 24,
      height: 2,
    }),
    new cloudwatch.AlarmStatusWidget({ title: 'Alarms', alarms: ctx.alarms, width: 24, height: 3 }),
  );
  for (const credential of config.credentials) {
    const id = credential.id;
    const limit = TOKEN_AGE_ALARM_DAYS[credential.provider];
    dashboard.addWidgets(
      new cloudwatch.SingleValueWidget({
        title: `${id}: days since last rotation`,
        metrics: [
          ctx.metric(metricNames.TOKEN_AGE_DAYS, id, {
            statistic: cloudwatch.Stats.MAXIMUM,
            period: Duration.hours(1),
            label: 'token age (days)',
          }),
        ],
        sparkline: true,
        width: 6,
        height: 5,
      }),
      new cloudwatch.GraphWidget({
        title: `${id}: runs per day`,
        left: [
          ctx.metric(metricNames.ROTATION_SUCCESS, id, {
            statistic: cloudwatch.Stats.SUM,
            period: Duration.days(1),
            label: 'healthy',
            color: cloudwatch.Color.GREEN,
          }),
          ctx.metric(metricNames.VALIDATION_FAILURE, id, {
            statistic: cloudwatch.Stats.SUM,
            period: Duration.days(1),
            label: 'validation failed',
            color: cloudwatch.Color.ORANGE,
          }),
        ],
        right: metricNames.FAILURE_CLASSES.map((cls) =>
          ctx.metric(metricNames.ROTATION_FAILURE, id, {
            statistic: cloudwatch.Stats.SUM,
            period: Duration.days(1),
            label: `failed: ${cls}`,
            extraDimensions: { [metricNames.DIMENSION_CLASS]: cls },
          }),
        ),
        rightYAxis: { min: 0, label: 'failures', showUnits: false },
        leftYAxis: { min: 0, label: 'runs', showUnits: false },
        stacked: false,
        width: 12,
        height: 5,
      }),
      new cloudwatch.GraphWidget({
        title: `${id}: token age (days)`,
        left: [
          ctx.metric(metricNames.TOKEN_AGE_DAYS, id, {
            statistic: cloudwatch.Stats.MAXIMUM,
            period: Duration.hours(6),
            label: 'age',
          }),
        ],
        leftYAxis: { min: 0, max: TOKEN_LIFETIME_DAYS[credential.provider] ?? undefined, showUnits: false },
        leftAnnotations: limit === undefined ? [] : [{ value: limit, label: 'alarm', color: cloudwatch.Color.RED }],
        width: 6,
        height: 5,
      }),
    );
  }
  const expiring = [
    ...config.credentials.map((c) => c.id),
    ...(defaultAdobe(config)?.clientSecretExpiresAt ? [metricNames.ADOBE_CREDENTIAL_DIMENSION] : []),
  ];
  dashboard.addWidgets(
    new cloudwatch.GraphWidget({
      title: 'Client secrets: days left',
      left: expiring.map((id) =>
        ctx.metric(metricNames.CLIENT_SECRET_DAYS_LEFT, id, {
          statistic: cloudwatch.Stats.MINIMUM,
          period: Duration.hours(6),
          label: id,
        }),
      ),
      leftYAxis: { min: 0, showUnits: false },
      leftAnnotations: [
        { value: CLIENT_SECRET_ALARM_DAYS, label: 'alarm', color: cloudwatch.Color.RED },
        { value: EXPIRY_THRESHOLDS_DAYS[0], label: 'first reminder mail', color: cloudwatch.Color.ORANGE },
      ],
      width: 24,
      height: 5,
    }),
  );
  dashboard.addWidgets(
    new cloudwatch.GraphWidget({
      title: 'Function',
      left: [
        ctx.function.metricInvocations({ statistic: cloudwatch.Stats.SUM }),
        ctx.function.metricErrors({ statistic: cloudwatch.Stats.SUM }),
      ],
      right: [ctx.function.metricDuration({ statistic: cloudwatch.Stats.MAXIMUM })],
      width: 8,
      height: 5,
    }),
    new cloudwatch.GraphWidget({
      title: 'Dead-letter queue',
      left: [ctx.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ statistic: cloudwatch.Stats.MAXIMUM })],
      width: 4,
      height: 5,
    }),
    new cloudwatch.LogQueryWidget({
      title: 'Recent warnings and errors',
      logGroupNames: [ctx.logGroup.logGroupName],
      queryLines: [
        'fields @timestamp, level, credential, stage, message',
        'filter level in ["ERROR", "WARN", "CRITICAL"]',
        'sort @timestamp desc',
        'limit 20',
      ],
      width: 12,
      height: 5,
    }),
  );
  return dashboard;
}
