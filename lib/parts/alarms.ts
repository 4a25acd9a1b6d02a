import { defaultAdobe } from '../../lambdas/config/adobe.ts';
import { Annotations, Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type { Credential } from '../../lambdas/config/schema.ts';
import * as metricNames from '../../lambdas/report/metric-names.ts';
import type { ParsedSchedule } from '../../lambdas/config/schedule.ts';
import type { RefresherContext } from './context.ts';
import { TOKEN_AGE_ALARM_DAYS, TOKEN_LIFETIME_DAYS, type SchedulesPart } from './schedules.ts';

/**
 * How long after a missed run the "no successful rotation" alarm fires: the scheduler's and Lambda's retry windows plus the
 * function timeout, rounded up, so a run that succeeded on its last retry does not alarm.
 */
export const NO_SUCCESS_GRACE = Duration.hours(3);

/** CloudWatch evaluates at most 7 days of data for one alarm (Period x EvaluationPeriods <= 604,800 s). */
const MAX_ALARM_LOOKBACK_HOURS = 7 * 24;

/**
 * Client-secret expiry alarm: the fewest days left (ClientSecretDaysLeft minimum) below which the alarm topic is told.
 * The function mails at 30, 14 and 3 days; the alarm is the page-someone signal at the second of those.
 */
export const CLIENT_SECRET_ALARM_DAYS = 14;

/**
 * The alarms of each credential, of the Adobe secret's expiry and of the service (function errors, dead letters), pushed
 * into `ctx.alarms`. Returns each credential's alarms by credential id.
 */
export function addAlarms(ctx: RefresherContext, schedules: SchedulesPart): ReadonlyMap<string, cloudwatch.Alarm[]> {
  const byCredential = new Map<string, cloudwatch.Alarm[]>();
  for (const credential of ctx.config.credentials) {
    const alarms = credentialAlarms(ctx, credential, schedules.byCredential.get(credential.id)!.parsedSchedule);
    ctx.alarms.push(...alarms);
    byCredential.set(credential.id, alarms);
  }
  adobeExpiryAlarm(ctx, schedules);
  serviceAlarms(ctx);
  return byCredential;
}

/** Every alarm in `ctx.alarms` notifies the alarm topic; called once, after the last part that adds alarms. */
export function connectAlarms(ctx: RefresherContext): void {
  for (const alarm of ctx.alarms) alarm.addAlarmAction(new cwActions.SnsAction(ctx.alarmTopic));
}

/** The no-success look-back: the longest gap of the schedule plus the retry grace, in whole hours. */
function lookbackHoursOf(schedule: ParsedSchedule): number {
  return Math.ceil((schedule.maxGapMinutes + NO_SUCCESS_GRACE.toMinutes()) / 60);
}

function credentialAlarms(ctx: RefresherContext, credential: Credential, schedule: ParsedSchedule): cloudwatch.Alarm[] {
  const { scope } = ctx;
  const id = credential.id;
  const prefix = `${ctx.alarmNamePrefix} ${id}`;
  const alarms: cloudwatch.Alarm[] = [];

  // Hourly periods, all of which must be empty or zero: "no healthy run within the longest schedule gap plus grace".
  let lookbackHours = lookbackHoursOf(schedule);
  if (lookbackHours > MAX_ALARM_LOOKBACK_HOURS) {
    Annotations.of(scope).addWarningV2(
      'token-refresher:noSuccessLookbackCapped',
      `credentials[${id}]: schedule "${schedule.expression}" runs less often than every ${MAX_ALARM_LOOKBACK_HOURS - NO_SUCCESS_GRACE.toHours()} h; ` +
        'CloudWatch alarms look back at most 7 days, so the no-successful-rotation alarm will fire between runs. Run the schedule daily: a run with a fresh token does nothing.',
    );
    lookbackHours = MAX_ALARM_LOOKBACK_HOURS;
  }
  alarms.push(
    new cloudwatch.Alarm(scope, `NoSuccess-${id}`, {
      alarmName: `${prefix}: no successful rotation in ${lookbackHours} h`,
      alarmDescription:
        `No healthy run of credential ${id} within ${lookbackHours} h (schedule ${schedule.expression} ${schedule.timeZone}, plus retries). ` +
        'Look for the alert mail or the function log; after a new deployment this stays in ALARM until the first token is put with "token-refresher regenerate" and a run succeeds.',
      metric: ctx.metric(metricNames.ROTATION_SUCCESS, id, {
        statistic: cloudwatch.Stats.SUM,
        period: Duration.hours(1),
      }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      evaluationPeriods: lookbackHours,
      datapointsToAlarm: lookbackHours,
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
    }),
  );

  alarms.push(
    new cloudwatch.Alarm(scope, `ValidationFailure-${id}`, {
      alarmName: `${prefix}: new token failed validation`,
      alarmDescription: `A freshly redeemed token of ${id} could not authenticate or send mail over SMTP; it was kept, not promoted. The alert mail names the SMTP reply and the fix.`,
      metric: ctx.metric(metricNames.VALIDATION_FAILURE, id, {
        statistic: cloudwatch.Stats.SUM,
        period: Duration.hours(1),
      }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    }),
  );

  alarms.push(
    new cloudwatch.Alarm(scope, `AlertFailure-${id}`, {
      alarmName: `${prefix}: alert mail could not be sent`,
      alarmDescription: `SES refused or could not take an alert mail about ${id} (unverified sender or recipient in the sandbox, throttling). The failure is in the function log; this alarm is the remaining channel.`,
      metric: ctx.metric(metricNames.ALERT_FAILURE, id, { statistic: cloudwatch.Stats.SUM, period: Duration.hours(1) }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    }),
  );

  const ageLimit = TOKEN_AGE_ALARM_DAYS[credential.provider];
  if (ageLimit !== undefined) {
    alarms.push(
      new cloudwatch.Alarm(scope, `TokenAge-${id}`, {
        alarmName: `${prefix}: refresh token older than ${ageLimit} days`,
        alarmDescription:
          `The refresh token of ${id} is over ${ageLimit} days old; ${credential.provider} refresh tokens stop working at ${TOKEN_LIFETIME_DAYS[credential.provider]} days. ` +
          'Rotation has been failing: fix the cause from the alert mail, or run "token-refresher regenerate".',
        metric: ctx.metric(metricNames.TOKEN_AGE_DAYS, id, {
          statistic: cloudwatch.Stats.MAXIMUM,
          period: Duration.hours(6),
        }),
        threshold: ageLimit,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        // Silence means no run at all, which the no-success alarm reports.
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
    );
  }
  const consequence =
    credential.credentialType === 'certificate'
      ? 'token-refresher signs in with its certificate, but AEM redeems the token with this secret'
      : 'then every refresh fails, here and in AEM';
  alarms.push(
    expiryAlarm(
      ctx,
      `ClientSecretExpiry-${id}`,
      id,
      `${prefix}: client secret expires in less than ${CLIENT_SECRET_ALARM_DAYS} days`,
      lookbackHours,
      `The client secret of credential ${id} (app ${credential.clientId}) expires in less than ${CLIENT_SECRET_ALARM_DAYS} days, or has expired (${consequence}). ` +
        `Add a new client secret at the provider and store it with "token-refresher client-secret --credential ${id} --expires DATE" (the alert mail has the steps). ` +
        'The date is clientSecretExpiresAt, or the one stored with the secret; without either nothing is emitted and the alarm stays OK.',
    ),
  );
  return alarms;
}

/**
 * ClientSecretDaysLeft (minimum) under CLIENT_SECRET_ALARM_DAYS. The function emits it on every run of a credential whose
 * expiry it knows, which may come from the secret itself (invisible here), so every credential gets the alarm; missing
 * data is fine. One breaching run within the look-back keeps it in ALARM between daily runs, so it does not flap.
 */
function expiryAlarm(
  ctx: RefresherContext,
  constructId: string,
  dimension: string,
  alarmName: string,
  lookbackHours: number,
  description: string,
): cloudwatch.Alarm {
  return new cloudwatch.Alarm(ctx.scope, constructId, {
    alarmName,
    alarmDescription: description,
    metric: ctx.metric(metricNames.CLIENT_SECRET_DAYS_LEFT, dimension, {
      statistic: cloudwatch.Stats.MINIMUM,
      period: Duration.hours(1),
    }),
    threshold: CLIENT_SECRET_ALARM_DAYS,
    comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
    evaluationPeriods: lookbackHours,
    datapointsToAlarm: 1,
    treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
  });
}

/** The Adobe OAuth Server-to-Server secret's expiry, when the configuration records it (emitted from the first credential with targets). */
function adobeExpiryAlarm(ctx: RefresherContext, schedules: SchedulesPart): void {
  const adobe = defaultAdobe(ctx.config);
  const owner = ctx.config.credentials.find((c) => c.targets.length > 0);
  const schedule = owner && schedules.byCredential.get(owner.id);
  if (!adobe?.clientSecretExpiresAt || !owner || !schedule) return;
  ctx.alarms.push(
    expiryAlarm(
      ctx,
      'ClientSecretExpiry-adobe',
      metricNames.ADOBE_CREDENTIAL_DIMENSION,
      `${ctx.alarmNamePrefix} Adobe: client secret expires in less than ${CLIENT_SECRET_ALARM_DAYS} days`,
      Math.min(lookbackHoursOf(schedule.parsedSchedule), MAX_ALARM_LOOKBACK_HOURS),
      `The Adobe OAuth Server-to-Server client secret (${adobe.clientId}) expires in less than ${CLIENT_SECRET_ALARM_DAYS} days, or has expired: then no Cloud Manager target receives new tokens. ` +
        'Generate a new secret in the Adobe Developer Console, store it with "token-refresher client-secret --adobe" and update adobe.clientSecretExpiresAt.',
    ),
  );
}

function serviceAlarms(ctx: RefresherContext): void {
  const { scope } = ctx;
  const name = ctx.alarmNamePrefix;
  ctx.alarms.push(
    new cloudwatch.Alarm(scope, 'FunctionErrors', {
      alarmName: `${name}: function errors`,
      alarmDescription:
        'The token-refresher function threw (each attempt counts). The alert mail or the log names the credential and the cause.',
      metric: ctx.function.metricErrors({ statistic: cloudwatch.Stats.SUM, period: Duration.minutes(5) }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    }),
    new cloudwatch.Alarm(scope, 'DeadLetters', {
      alarmName: `${name}: undelivered or failed runs in the dead-letter queue`,
      alarmDescription:
        'A scheduled run could not be delivered, failed after its retry, or an alarm mail could not be delivered. Read the messages in the queue, fix, then purge it.',
      metric: ctx.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
        statistic: cloudwatch.Stats.MAXIMUM,
        period: Duration.minutes(5),
      }),
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    }),
  );
}
