import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as scheduler from 'aws-cdk-lib/aws-scheduler';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { parseConfig } from '../lambdas/config/load.ts';
import type { Config, Credential } from '../lambdas/config/schema.ts';
import { addAlarms, connectAlarms } from './parts/alarms.ts';
import { addAlertChannels, type AlertChannelsPart } from './parts/alert-channels.ts';
import { addAlerts } from './parts/alerts.ts';
import { partScope, type MetricOptions, type RefresherContext, type TokenRefresherProps } from './parts/context.ts';
import { addDashboard } from './parts/dashboard.ts';
import { addDelivery } from './parts/delivery.ts';
import { addFunction } from './parts/function.ts';
import { addGrants } from './parts/grants.ts';
import { addSchedules } from './parts/schedules.ts';
import { addRecovery, type RecoveryPart } from './parts/recovery.ts';
import { addSecrets, type SecretRef } from './parts/secrets.ts';
import { addStateTable } from './parts/state-table.ts';
import type { ParsedSchedule } from '../lambdas/config/schedule.ts';

// The public surface stays here: the constants and types each part defines are re-exported under their old names.
export { CLIENT_SECRET_ALARM_DAYS, NO_SUCCESS_GRACE } from './parts/alarms.ts';
export type { RefresherContext, SecretsEncryption, TokenRefresherProps } from './parts/context.ts';
export {
  ASYNC_MAX_EVENT_AGE,
  ASYNC_RETRY_ATTEMPTS,
  DEFAULT_LOG_RETENTION,
  DEFAULT_MEMORY_MB,
  DEFAULT_TIMEOUT,
} from './parts/function.ts';
export { SECRET_READ_ACTIONS, SECRET_READ_WRITE_ACTIONS } from './parts/grants.ts';
export { STATE_TABLE_ACTIONS, STATE_TABLE_KEY_ACTIONS } from './parts/state-table.ts';
export {
  SCHEDULER_MAX_EVENT_AGE,
  SCHEDULER_RETRY_ATTEMPTS,
  scheduledEvent,
  TOKEN_AGE_ALARM_DAYS,
  TOKEN_LIFETIME_DAYS,
} from './parts/schedules.ts';
export type { SecretRef } from './parts/secrets.ts';

export interface CredentialResources {
  readonly credential: Credential;
  readonly schedule: scheduler.Schedule;
  readonly parsedSchedule: ParsedSchedule;
  readonly token: SecretRef;
  readonly clientSecret: SecretRef;
  /** credentialType "certificate" only: the key document the function signs client assertions with. */
  readonly certificate?: SecretRef;
  readonly alarms: cloudwatch.Alarm[];
}

/**
 * token-refresher on AWS: the rotation function, one EventBridge Scheduler schedule per credential, the credentials' secrets
 * (created empty), the alert sender identity, alarms to an SNS topic and a dashboard.
 *
 * A thin facade over lib/parts/*, one file per concern: the parts before the function (secrets, alerts, function) build the
 * shared `RefresherContext` (lib/parts/context.ts), and every part after it takes that context, adds its constructs under
 * this construct and pushes its alarms into `ctx.alarms`. The order below is the order of the template's resources.
 *
 * Concurrency: two invocations for one credential must never both redeem its refresh token. The guarantee is the pipeline's:
 * before redeeming, a run takes a lease in the credential's state secret with a compare-and-swap on a staging label
 * (UpdateSecretVersionStage with RemoveFromVersionId), and promotes the new token with another compare-and-swap, so a second
 * run (a manual `rotate` during a scheduled one, a Lambda retry overlapping a slow first attempt) loses the swap and stops as a
 * `conflict`. The stack keeps such overlaps rare rather than impossible: one schedule per credential, so the scheduler starts
 * at most one run per credential per interval; Lambda's async retry only after the first attempt ended. Reserved concurrency is
 * not used for this, because it cannot express "one per credential" and a limit of 1 would throttle credentials against each
 * other.
 */
export class TokenRefresher extends Construct {
  readonly config: Config;
  readonly function: lambda.Function;
  readonly role: iam.Role;
  readonly logGroup: logs.LogGroup;
  readonly deadLetterQueue: sqs.Queue;
  readonly alarmTopic: sns.Topic;
  readonly scheduleGroup: scheduler.ScheduleGroup;
  readonly schedulerRole: iam.Role;
  readonly secretsKey: kms.IKey | undefined;
  readonly sesIdentityArn: string | undefined;
  readonly credentials: ReadonlyMap<string, CredentialResources>;
  readonly adobeSecret: SecretRef | undefined;
  readonly alarms: cloudwatch.Alarm[];
  readonly dashboard: cloudwatch.Dashboard;
  /** The 30-minute delivery schedule (lib/parts/delivery.ts); undefined when no credential has targets. */
  readonly deliverySchedule: scheduler.Schedule | undefined;
  /** Leases, credential state and per-target delivery records (lib/parts/state-table.ts). */
  readonly stateTable: dynamodb.Table;
  /** The recovery endpoint (Function URL, its function and role); undefined with recovery.enabled false. */
  readonly recovery: RecoveryPart | undefined;
  /** The alert topic, chat channel configurations and alarmed channels. */
  readonly alertChannels: AlertChannelsPart;
  /** What the parts shared; a subclass or a later part of another app can add to the construct with it. */
  readonly context: RefresherContext;

  constructor(scope: Construct, id: string, props: TokenRefresherProps) {
    super(scope, id);
    // Validated again because a caller can hand in any object typed as Config; the bundled file must load in the function.
    const config = parseConfig(props.config, 'the configuration given to TokenRefresher');
    const part = partScope(this, config, props);

    // Secrets first: the function's policy names their ARNs.
    const secrets = addSecrets(part);
    const alerts = addAlerts(part);
    const ctx: RefresherContext = { ...part, secrets, ...alerts, ...addFunction(part, alerts) };

    addGrants(ctx);
    const stateTable = addStateTable(ctx);
    const schedules = addSchedules(ctx);
    const alarms = addAlarms(ctx, schedules);
    const delivery = addDelivery(ctx, schedules);
    // New parts go here (after the function and its grants, before the alarms are connected and the dashboard drawn).
    this.recovery = addRecovery(ctx, { table: stateTable.table, entry: props.recoveryEntry });
    const senders = this.recovery ? [this.recovery] : [];
    this.alertChannels = addAlertChannels(
      ctx,
      [ctx.role, ...senders.map((r) => r.role)],
      [ctx.function, ...senders.map((r) => r.function)],
    );
    connectAlarms(ctx);
    this.dashboard = addDashboard(ctx);
    if (delivery.widgets.length > 0) this.dashboard.addWidgets(...delivery.widgets);
    this.deliverySchedule = delivery.schedule;

    this.context = ctx;
    this.stateTable = stateTable.table;
    this.config = config;
    this.function = ctx.function;
    this.role = ctx.role;
    this.logGroup = ctx.logGroup;
    this.deadLetterQueue = ctx.deadLetterQueue;
    this.alarmTopic = ctx.alarmTopic;
    this.sesIdentityArn = ctx.sesIdentityArn;
    this.secretsKey = secrets.key;
    this.adobeSecret = secrets.adobe;
    this.scheduleGroup = schedules.scheduleGroup;
    this.schedulerRole = schedules.schedulerRole;
    this.alarms = ctx.alarms;
    this.credentials = new Map(
      config.credentials.map((credential): [string, CredentialResources] => {
        const { schedule, parsedSchedule } = schedules.byCredential.get(credential.id)!;
        return [
          credential.id,
          {
            credential,
            schedule,
            parsedSchedule,
            ...secrets.byCredential.get(credential.id)!,
            alarms: alarms.get(credential.id)!,
          },
        ];
      }),
    );
  }

  /** The metric the function emits for one credential (see lambdas/report/metric-names.ts for the dimension contract). */
  metric(metricName: string, credentialId: string, options: MetricOptions = {}): cloudwatch.Metric {
    return this.context.metric(metricName, credentialId, options);
  }
}
