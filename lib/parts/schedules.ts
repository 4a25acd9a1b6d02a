import { Duration, RemovalPolicy, TimeZone, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as targets from 'aws-cdk-lib/aws-scheduler-targets';
import type { Credential } from '../../lambdas/config/schema.ts';
import { parseSchedule, type ParsedSchedule } from '../../lambdas/config/schedule.ts';
import type { RefresherContext } from './context.ts';

/** Scheduler's retry when it cannot hand the event to Lambda (throttling, service errors), within SCHEDULER_MAX_EVENT_AGE. */
export const SCHEDULER_RETRY_ATTEMPTS = 10;
export const SCHEDULER_MAX_EVENT_AGE = Duration.hours(1);

/**
 * Token-age alarm per provider: the age at which a person should look, well before the provider's limit.
 * Microsoft: refresh tokens die after 90 days without use (AADSTS700082), alarm at 75. Google tokens do not expire by age
 * and a generic OAuth2 provider's limit is unknown, so they get no age alarm (the no-success alarm still covers them).
 */
export const TOKEN_AGE_ALARM_DAYS: Partial<Record<Credential['provider'], number>> = { microsoft: 75 };
export const TOKEN_LIFETIME_DAYS: Partial<Record<Credential['provider'], number>> = { microsoft: 90 };

/** The event a scheduled run is invoked with; the handler's event schema accepts exactly this. */
export function scheduledEvent(credentialId: string) {
  return { action: 'rotate', credential: credentialId, source: 'schedule' } as const;
}

export interface CredentialSchedule {
  readonly schedule: scheduler.Schedule;
  readonly parsedSchedule: ParsedSchedule;
}

export interface SchedulesPart {
  /** The schedule group every schedule of this construct belongs to (the scheduler role trusts only this group). */
  readonly scheduleGroup: scheduler.ScheduleGroup;
  /** Invokes the function and writes undeliverable events to the dead-letter queue; usable by any schedule of the group. */
  readonly schedulerRole: iam.Role;
  /** The rotation schedule per credential id, in configuration order. */
  readonly byCredential: ReadonlyMap<string, CredentialSchedule>;
}

/** The schedule group, the scheduler's role and one rotation schedule per credential (checked at synth). */
export function addSchedules(ctx: RefresherContext): SchedulesPart {
  const { scope, stack, config } = ctx;
  const scheduleGroup = new scheduler.ScheduleGroup(scope, 'ScheduleGroup', { removalPolicy: RemovalPolicy.DESTROY });
  const schedulerRole = new iam.Role(scope, 'SchedulerRole', {
    description:
      'EventBridge Scheduler: invoke the token-refresher function, park undeliverable events in its dead-letter queue',
    assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', {
      conditions: {
        StringEquals: { 'aws:SourceAccount': stack.account, 'aws:SourceArn': scheduleGroup.scheduleGroupArn },
      },
    }),
  });
  Validations.of(schedulerRole).acknowledge({
    id: `AwsSolutions-IAM5[Resource::<${stack.getLogicalId(ctx.function.node.defaultChild as lambda.CfnFunction)}.Arn>:*]`,
    reason:
      'lambda:InvokeFunction on "<function ARN>:*" covers the versions and aliases of this one function (CDK grantInvoke adds it next to the unqualified ARN); no other function matches.',
  });

  const byCredential = new Map<string, CredentialSchedule>();
  for (const credential of config.credentials) {
    const parsedSchedule = parseSchedule(
      credential.schedule.expression,
      credential.schedule.timeZone,
      `credentials[${credential.id}].schedule`,
    );
    checkLifetime(credential, parsedSchedule);
    const schedule = new scheduler.Schedule(scope, `Schedule-${credential.id}`, {
      scheduleGroup,
      description: `token-refresher: rotate ${credential.id}`,
      schedule: scheduler.ScheduleExpression.expression(
        parsedSchedule.expression,
        TimeZone.of(parsedSchedule.timeZone),
      ),
      timeWindow: scheduler.TimeWindow.off(),
      target: new targets.LambdaInvoke(ctx.function, {
        input: scheduler.ScheduleTargetInput.fromObject(scheduledEvent(credential.id)),
        role: schedulerRole,
        deadLetterQueue: ctx.deadLetterQueue,
        retryAttempts: SCHEDULER_RETRY_ATTEMPTS,
        maxEventAge: SCHEDULER_MAX_EVENT_AGE,
      }),
    });
    byCredential.set(credential.id, { schedule, parsedSchedule });
  }
  return { scheduleGroup, schedulerRole, byCredential };
}

/** A Microsoft token dies after 90 days unused: the schedule must get to it before that. */
function checkLifetime(credential: Credential, schedule: ParsedSchedule): void {
  const lifetime = TOKEN_LIFETIME_DAYS[credential.provider];
  if (lifetime === undefined) return;
  const worstAgeDays = credential.rotation.maxAgeDays + schedule.maxGapMinutes / 1440;
  if (worstAgeDays >= lifetime) {
    throw new Error(
      `credentials[${credential.id}]: rotation.maxAgeDays (${credential.rotation.maxAgeDays}) plus the longest gap of schedule "${schedule.expression}" ` +
        `(${(schedule.maxGapMinutes / 1440).toFixed(1)} days) reaches the ${lifetime}-day token lifetime; run the schedule more often or lower maxAgeDays.`,
    );
  }
}
