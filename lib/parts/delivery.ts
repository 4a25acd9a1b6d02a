import { Duration, TimeZone } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as targets from 'aws-cdk-lib/aws-scheduler-targets';
import { DELIVER_EVERY_MINUTES } from '../../lambdas/config/delivery-schema.ts';
import { targetKey, targetLabel } from '../../lambdas/push/cloud-manager-target.ts';
import * as metricNames from '../../lambdas/report/metric-names.ts';
import type { RefresherContext } from './context.ts';
import { SCHEDULER_MAX_EVENT_AGE, SCHEDULER_RETRY_ATTEMPTS, type SchedulesPart } from './schedules.ts';

/** A copy with fewer days than this to live needs a person: the delivery policy should have replaced it long before. */
export const COPY_DAYS_TO_LIVE_ALARM = 7;

/** The event the delivery schedule invokes the function with; the handler's event schema accepts exactly this. */
export const deliverEvent = { action: 'deliver', source: 'schedule' } as const;

export interface DeliveryPart {
  /** Every 30 minutes: follow-ups, AEM log checks and the pushes due in a maintenance window. Undefined without targets. */
  readonly schedule?: scheduler.Schedule;
  readonly widgets: cloudwatch.IWidget[];
}

/**
 * The delivery stage's infrastructure: one schedule for the whole fleet every 30 minutes (so that a due push happens
 * within the first 30 minutes of any window, whatever the windows are, and daylight-saving changes need no redeploy),
 * an alarm per target when its copy has less than a week to live, and the copies' ages on the dashboard.
 */
export function addDelivery(ctx: RefresherContext, schedules: SchedulesPart): DeliveryPart {
  const { scope, config } = ctx;
  const withTargets = config.credentials.filter((c) => c.targets.length > 0);
  if (withTargets.length === 0) return { widgets: [] };
  const schedule = new scheduler.Schedule(scope, 'Schedule-deliver', {
    scheduleGroup: schedules.scheduleGroup,
    description: 'token-refresher: delivery to AEM (follow-ups, log checks, pushes due in a maintenance window)',
    schedule: scheduler.ScheduleExpression.expression(`rate(${DELIVER_EVERY_MINUTES} minutes)`, TimeZone.ETC_UTC),
    timeWindow: scheduler.TimeWindow.off(),
    target: new targets.LambdaInvoke(ctx.function, {
      input: scheduler.ScheduleTargetInput.fromObject(deliverEvent),
      role: schedules.schedulerRole,
      deadLetterQueue: ctx.deadLetterQueue,
      retryAttempts: SCHEDULER_RETRY_ATTEMPTS,
      maxEventAge: SCHEDULER_MAX_EVENT_AGE,
    }),
  });

  const widgets: cloudwatch.IWidget[] = [];
  for (const c of withTargets) {
    const ages: cloudwatch.IMetric[] = [];
    for (const t of c.targets) {
      const key = targetKey(t);
      const dims = { extraDimensions: { [metricNames.DIMENSION_TARGET]: key } };
      ctx.alarms.push(
        new cloudwatch.Alarm(scope, `CopyDaysToLive-${c.id}-${key}`, {
          alarmName: `${ctx.alarmNamePrefix}: ${c.id} copy in ${key} dies within ${COPY_DAYS_TO_LIVE_ALARM} days`,
          alarmDescription:
            `The refresh token AEM holds in ${targetLabel(t)} (credential ${c.id}) has fewer than ${COPY_DAYS_TO_LIVE_ALARM} days before its 90-day lifetime ends. ` +
            'The delivery policy should have pushed a new copy: look at `token-refresher status` for why it did not (environment busy, pipeline running, Cloud Manager failing), then `token-refresher rotate --push-now --credential ' +
            `${c.id}\` in a quiet moment.`,
          metric: ctx.metric(metricNames.COPY_DAYS_TO_LIVE, c.id, {
            statistic: cloudwatch.Stats.MINIMUM,
            period: Duration.hours(6),
            ...dims,
          }),
          threshold: COPY_DAYS_TO_LIVE_ALARM,
          comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
          evaluationPeriods: 1,
          // Runs that do not happen are the no-successful-rotation alarm's business.
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
      );
      ages.push(
        ctx.metric(metricNames.COPY_AGE_DAYS, c.id, {
          statistic: cloudwatch.Stats.MAXIMUM,
          period: Duration.hours(6),
          label: key,
          ...dims,
        }),
      );
    }
    widgets.push(
      new cloudwatch.GraphWidget({
        title: `${c.id}: age of the copy each AEM environment holds (days)`,
        left: ages,
        leftAnnotations: [{ value: 90 - COPY_DAYS_TO_LIVE_ALARM, label: 'alarm', color: cloudwatch.Color.RED }],
        width: 24,
      }),
    );
  }
  return { schedule, widgets };
}
