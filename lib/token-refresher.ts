import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Annotations, ArnFormat, Duration, RemovalPolicy, Stack, TimeZone, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as destinations from 'aws-cdk-lib/aws-lambda-destinations';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as targets from 'aws-cdk-lib/aws-scheduler-targets';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as ses from 'aws-cdk-lib/aws-ses';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { adobeSecretId, parseConfig, secretIds } from '../lambdas/config/load.ts';
import type { Config, Credential } from '../lambdas/config/schema.ts';
import { certificateSecretId } from '../lambdas/refresh/client-assertion.ts';
import { EXPIRY_THRESHOLDS_DAYS } from '../lambdas/report/secret-expiry.ts';
import * as metricNames from './metric-names.ts';
import { parseSchedule, type ParsedSchedule } from './schedule.ts';

/** The repository root: the default entry, lock file and project root are found from here, not from the caller's cwd. */
const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));

/**
 * Set from `npm run bench` (bench/README.md). 256 MB: one rotation peaks at 128 MB resident (102 MB of it loaded code) and a
 * run of 1,000 credentials at 151 MB; 256 MB is the smallest size with 1.5x headroom, and on arm64 CPU share grows with
 * memory, which shortens the TLS handshakes a run is made of. 300 s: a healthy rotation takes about 5 s cold, but one
 * credential whose token endpoint and Cloud Manager both retry (4 attempts of 10 s, backoff or Retry-After up to 30 s, a
 * 60 s test-send deadline) can need 2 to 4 minutes; the lease outlives the timeout by 30 s, so a hung run cannot hold it long.
 */
export const DEFAULT_MEMORY_MB = 256;
export const DEFAULT_TIMEOUT = Duration.minutes(5);

/** Log retention: long enough to look back over two scheduled rotations (7 days apart by default) and a holiday. */
export const DEFAULT_LOG_RETENTION = logs.RetentionDays.ONE_MONTH;

/**
 * Lambda's own retry of a failed asynchronous (scheduled) run. One retry absorbs a transient failure a minute later; the
 * next scheduled run is the real retry, and every attempt alerts only on a change of state, so retries do not spam.
 */
export const ASYNC_RETRY_ATTEMPTS = 1;
export const ASYNC_MAX_EVENT_AGE = Duration.hours(1);

/** Scheduler's retry when it cannot hand the event to Lambda (throttling, service errors), within SCHEDULER_MAX_EVENT_AGE. */
export const SCHEDULER_RETRY_ATTEMPTS = 10;
export const SCHEDULER_MAX_EVENT_AGE = Duration.hours(1);

/**
 * How long after a missed run the "no successful rotation" alarm fires: the scheduler's and Lambda's retry windows plus the
 * function timeout, rounded up, so a run that succeeded on its last retry does not alarm.
 */
export const NO_SUCCESS_GRACE = Duration.hours(3);

/** CloudWatch evaluates at most 7 days of data for one alarm (Period x EvaluationPeriods <= 604,800 s). */
const MAX_ALARM_LOOKBACK_HOURS = 7 * 24;

/**
 * Token-age alarm per provider: the age at which a person should look, well before the provider's limit.
 * Microsoft: refresh tokens die after 90 days without use (AADSTS700082), alarm at 75. Google tokens do not expire by age
 * and a generic OAuth2 provider's limit is unknown, so they get no age alarm (the no-success alarm still covers them).
 */
export const TOKEN_AGE_ALARM_DAYS: Partial<Record<Credential['provider'], number>> = { microsoft: 75 };
export const TOKEN_LIFETIME_DAYS: Partial<Record<Credential['provider'], number>> = { microsoft: 90 };

/**
 * Client-secret expiry alarm: the fewest days left (ClientSecretDaysLeft minimum) below which the alarm topic is told.
 * The function mails at 30, 14 and 3 days; the alarm is the page-someone signal at the second of those.
 */
export const CLIENT_SECRET_ALARM_DAYS = 14;

/** The event a scheduled run is invoked with; the handler's event schema accepts exactly this. */
export function scheduledEvent(credentialId: string) {
  return { action: 'rotate', credential: credentialId, source: 'schedule' } as const;
}

/** What the function may do with the secrets it rotates (refresh token and run state). */
export const SECRET_READ_WRITE_ACTIONS = [
  'secretsmanager:GetSecretValue',
  'secretsmanager:PutSecretValue',
  'secretsmanager:UpdateSecretVersionStage',
  'secretsmanager:ListSecretVersionIds',
  'secretsmanager:DescribeSecret',
] as const;

/**
 * What the function may do with the client secrets (Entra, Adobe) and the certificate key documents: an operator sets them,
 * the function only reads.
 */
export const SECRET_READ_ACTIONS = ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret', 'secretsmanager:ListSecretVersionIds'] as const;

/**
 * Encryption of the secrets: the account's AWS-managed key `aws/secretsmanager` (no key policy to manage, no cost), a
 * customer-managed key this construct creates (rotation on, retained with the secrets), or a key you pass in (its key policy
 * must let this account's IAM policies grant use of it, which is the default key policy).
 */
export type SecretsEncryption = 'aws-managed' | 'customer-managed' | kms.IKey;

export interface TokenRefresherProps {
  /** The configuration document, already validated (`loadConfig` / `parseConfig`); it is validated again here and bundled. */
  readonly config: Config;
  /** The handler module. Default: lambdas/schedule/handler.ts of this repository. */
  readonly entry?: string;
  /** Lock file for the bundle's dependency versions. Default: package-lock.json of this repository. */
  readonly depsLockFilePath?: string;
  /** Default: 'aws-managed'. */
  readonly secretsEncryption?: SecretsEncryption;
  /**
   * An SES identity that already exists and covers `config.alerts.from` (an e-mail address or its domain), instead of the
   * e-mail identity this construct creates. Give its ARN.
   */
  readonly sesIdentityArn?: string;
  /** Addresses subscribed to the alarm topic. Default: `config.alerts.to`. */
  readonly alarmEmails?: readonly string[];
  /** Default: DEFAULT_MEMORY_MB. */
  readonly memorySize?: number;
  /** Default: DEFAULT_TIMEOUT. */
  readonly timeout?: Duration;
  /** Default: DEFAULT_LOG_RETENTION. */
  readonly logRetention?: logs.RetentionDays;
  /** X-Ray active tracing. Default: false (stage durations are metrics and log fields already). */
  readonly tracing?: boolean;
  /**
   * Reserved concurrency. Default: none. Correctness does not depend on it (see the class comment), and reserving any on an
   * account whose concurrency quota is still the new-account 10 makes the deployment fail.
   */
  readonly reservedConcurrency?: number;
}

// Why a secret has no Secrets Manager rotation schedule (AwsSolutions-SMG4), per kind of secret.
const ROTATED_BY_FUNCTION =
  'Rotated by the token-refresher function on its own EventBridge schedule (redeem, validate by test send, compare-and-swap promote, push); the Secrets Manager rotation-function contract cannot validate before promoting and allows one rotation per 4 h.';
const STATE_NOT_A_CREDENTIAL =
  'Holds the run lease and alert state of one credential, rewritten by the function on every run; it is not a credential, there is nothing to rotate.';
const ISSUED_BY_ADMIN =
  'A client secret issued by Entra ID or the Adobe Developer Console: only an administrator of that console can issue a new one (no API this function could call); the operator puts each new value into this secret.';
const CERTIFICATE_BY_OPERATOR =
  'Private key and certificate of a certificate credential: a new one only works once its certificate is uploaded to the app registration, which no Secrets Manager rotation function can do; the operator stores each new key document with "token-refresher client-secret --certificate".';

/** A secret the function uses: created here (empty), or named by ARN in the configuration and owned elsewhere. */
export interface SecretRef {
  readonly secretId: string;
  /** The ARN IAM policies name: the created secret's Ref (with its random suffix), or the ARN from the configuration. */
  readonly arn: string;
  readonly resource?: secretsmanager.CfnSecret;
  readonly access: 'read' | 'read-write';
  /** A certificate key document (credentialType "certificate"): granted read-only in a statement of its own. */
  readonly certificate?: boolean;
}

export interface CredentialResources {
  readonly credential: Credential;
  readonly schedule: scheduler.Schedule;
  readonly parsedSchedule: ParsedSchedule;
  readonly token: SecretRef;
  readonly state: SecretRef;
  readonly clientSecret: SecretRef;
  /** credentialType "certificate" only: the key document the function signs client assertions with. */
  readonly certificate?: SecretRef;
  readonly alarms: cloudwatch.Alarm[];
}

/**
 * token-refresher on AWS: the rotation function, one EventBridge Scheduler schedule per credential, the credentials' secrets
 * (created empty), the alert sender identity, alarms to an SNS topic and a dashboard.
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
  readonly function: nodejs.NodejsFunction;
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
  readonly alarms: cloudwatch.Alarm[] = [];
  readonly dashboard: cloudwatch.Dashboard;

  private readonly secrets = new Map<string, SecretRef>();

  constructor(scope: Construct, id: string, props: TokenRefresherProps) {
    super(scope, id);
    // Validated again because a caller can hand in any object typed as Config; the bundled file must load in the function.
    const config = parseConfig(props.config, 'the configuration given to TokenRefresher');
    this.config = config;
    const stack = Stack.of(this);

    this.secretsKey = this.createSecretsKey(props.secretsEncryption ?? 'aws-managed');

    // Secrets first: the function's policy names their ARNs.
    const perCredential = config.credentials.map((credential) => {
      const ids = secretIds(config, credential);
      return {
        credential,
        token: this.secret(ids.token, 'read-write', RemovalPolicy.RETAIN, `refresh token of credential ${credential.id} (first put by "token-refresher regenerate", then rotated by the function)`, ROTATED_BY_FUNCTION),
        // The state only holds the lease and what was last alerted; a new stack starts it again from nothing.
        state: this.secret(ids.state, 'read-write', RemovalPolicy.DESTROY, `run state and lease of credential ${credential.id} (written by the function)`, STATE_NOT_A_CREDENTIAL),
        clientSecret: this.secret(ids.clientSecret, 'read', RemovalPolicy.RETAIN, `OAuth client secret of credential ${credential.id} (put by the operator, read by the function)`, ISSUED_BY_ADMIN),
        // Certificate credentials only: the key document never leaves this secret except as signed client assertions.
        certificate:
          // A key in KMS has no key document: nothing to create or read in Secrets Manager.
          credential.credentialType === 'certificate' && !credential.certificate?.kmsKeyId
            ? this.secret(
                certificateSecretId(config, credential),
                'read',
                RemovalPolicy.RETAIN,
                `certificate key document of credential ${credential.id} (put by the operator with "token-refresher client-secret --certificate", read by the function)`,
                CERTIFICATE_BY_OPERATOR,
                true,
              )
            : undefined,
      };
    });
    this.adobeSecret = config.adobe
      ? this.secret(adobeSecretId(config), 'read', RemovalPolicy.RETAIN, 'Adobe Developer Console OAuth Server-to-Server client secret (put by the operator, read by the function)', ISSUED_BY_ADMIN)
      : undefined;

    // --- alerts: the SES sender the function mails from, the SNS topic alarms notify ---------------------------------
    if (config.alerts) {
      this.sesIdentityArn =
        props.sesIdentityArn ??
        new ses.EmailIdentity(this, 'AlertSender', { identity: ses.Identity.email(config.alerts.from) }).emailIdentityArn;
    } else if (props.sesIdentityArn) {
      Annotations.of(this).addWarningV2('token-refresher:sesIdentityUnused', 'sesIdentityArn is ignored: the configuration has no "alerts" section.');
    }

    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      // SQS-managed keys: the scheduler and SNS can write without a KMS grant, and the messages hold no secret (an event
      // naming a credential, or an alarm notification).
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    Validations.of(this.deadLetterQueue).acknowledge(
      {
        id: 'AwsSolutions-SQS3',
        reason:
          'This queue is the dead-letter queue (of the scheduler targets, the function\'s on-failure destination and the alarm e-mail subscriptions); cdk-nag only recognises queues named in another queue\'s redrive policy.',
      },
      {
        id: 'Serverless-SQSRedrivePolicy',
        reason: 'This queue is itself the last stop for undelivered events; a redrive policy would move them somewhere nobody watches. Its depth is alarmed.',
      },
    );

    const topicKey = new kms.Key(this, 'AlarmTopicKey', {
      description: 'Encrypts the token-refresher alarm topic; CloudWatch alarms cannot publish to a topic under the AWS-managed SNS key.',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.DESTROY,
      pendingWindow: Duration.days(7),
    });
    topicKey.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudWatchAlarmsPublishToEncryptedTopic',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
      }),
    );
    this.alarmTopic = new sns.Topic(this, 'AlarmTopic', { masterKey: topicKey, enforceSSL: true, displayName: 'token-refresher alarms' });
    this.alarmTopic.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudWatchAlarmsOfThisAccount',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [this.alarmTopic.topicArn],
        conditions: {
          StringEquals: { 'aws:SourceAccount': stack.account },
          ArnLike: { 'aws:SourceArn': stack.formatArn({ service: 'cloudwatch', resource: 'alarm', resourceName: '*', arnFormat: ArnFormat.COLON_RESOURCE_NAME }) },
        },
      }),
    );
    for (const email of props.alarmEmails ?? config.alerts?.to ?? []) {
      this.alarmTopic.addSubscription(new subscriptions.EmailSubscription(email, { deadLetterQueue: this.deadLetterQueue }));
    }

    // --- the function --------------------------------------------------------------------------------------------------
    this.logGroup = new logs.LogGroup(this, 'LogGroup', {
      retention: props.logRetention ?? DEFAULT_LOG_RETENTION,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    // An explicit role so the only log permissions are on this log group (the managed basic-execution policy allows all).
    this.role = new iam.Role(this, 'FunctionRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'token-refresher function: its own secrets, its log group, mail from the alert sender',
    });
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({ sid: 'OwnLogGroup', actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [this.logGroup.logGroupArn] }),
    );

    this.function = new nodejs.NodejsFunction(this, 'Function', {
      entry: props.entry ?? path.join(REPO_ROOT, 'lambdas/schedule/handler.ts'),
      handler: 'handler',
      depsLockFilePath: props.depsLockFilePath ?? path.join(REPO_ROOT, 'package-lock.json'),
      projectRoot: REPO_ROOT,
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: props.memorySize ?? DEFAULT_MEMORY_MB,
      timeout: props.timeout ?? DEFAULT_TIMEOUT,
      role: this.role,
      logGroup: this.logGroup,
      tracing: props.tracing ? lambda.Tracing.ACTIVE : lambda.Tracing.DISABLED,
      reservedConcurrentExecutions: props.reservedConcurrency,
      retryAttempts: ASYNC_RETRY_ATTEMPTS,
      maxEventAge: ASYNC_MAX_EVENT_AGE,
      onFailure: new destinations.SqsDestination(this.deadLetterQueue),
      description: `token-refresher: rotates ${config.credentials.map((c) => c.id).join(', ')}`,
      environment: {
        TOKEN_REFRESHER_CONFIG_FILE: 'config.json',
        NODE_OPTIONS: '--enable-source-maps',
        POWERTOOLS_SERVICE_NAME: metricNames.SERVICE_NAME,
        POWERTOOLS_METRICS_NAMESPACE: metricNames.METRICS_NAMESPACE,
      },
      bundling: {
        format: nodejs.OutputFormat.ESM,
        target: 'node24',
        mainFields: ['module', 'main'],
        // CommonJS dependencies call require(); an ESM bundle has none unless it is recreated from import.meta.url.
        banner: "import { createRequire as __trCreateRequire } from 'node:module'; const require = __trCreateRequire(import.meta.url);",
        minify: true,
        sourceMap: true,
        // Stack traces need line mappings, not the sources; leaving them out keeps the bundle small.
        sourcesContent: false,
        // Ship the SDK versions the tests ran against instead of whatever the runtime image carries that day.
        bundleAwsSDK: true,
        forceDockerBundling: false,
        commandHooks: {
          beforeBundling: () => [],
          beforeInstall: () => [],
          afterBundling: (_inputDir: string, outputDir: string) => [configFileCommand(config, path.join(outputDir, 'config.json'))],
        },
      },
    });
    if (!props.tracing) {
      Validations.of(this.function).acknowledge({
        id: 'Serverless-LambdaTracing',
        reason: 'X-Ray is opt-in (prop "tracing"): a run is a few sequential remote calls whose durations are already the StageDurationMs metric and log fields.',
      });
    } else {
      Validations.of(this.role).acknowledge({
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason: 'xray:PutTraceSegments and xray:PutTelemetryRecords support no resource-level permissions; added only because tracing was switched on.',
      });
    }
    Validations.of(this.function).acknowledge({
      id: 'Serverless-LambdaDLQ',
      reason:
        'Failed asynchronous runs go to the on-failure destination (the same dead-letter queue), which records the error with the event; a DeadLetterConfig as well would deliver each failure twice.',
    });

    this.grantSecrets();
    this.grantCertificateKeys();
    this.grantMail();

    // --- schedules -----------------------------------------------------------------------------------------------------
    this.scheduleGroup = new scheduler.ScheduleGroup(this, 'ScheduleGroup', { removalPolicy: RemovalPolicy.DESTROY });
    this.schedulerRole = new iam.Role(this, 'SchedulerRole', {
      description: 'EventBridge Scheduler: invoke the token-refresher function, park undeliverable events in its dead-letter queue',
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', {
        conditions: {
          StringEquals: { 'aws:SourceAccount': stack.account, 'aws:SourceArn': this.scheduleGroup.scheduleGroupArn },
        },
      }),
    });
    Validations.of(this.schedulerRole).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${stack.getLogicalId(this.function.node.defaultChild as lambda.CfnFunction)}.Arn>:*]`,
      reason:
        'lambda:InvokeFunction on "<function ARN>:*" covers the versions and aliases of this one function (CDK grantInvoke adds it next to the unqualified ARN); no other function matches.',
    });

    const credentials = new Map<string, CredentialResources>();
    for (const { credential, token, state, clientSecret, certificate } of perCredential) {
      const parsedSchedule = parseSchedule(credential.schedule.expression, credential.schedule.timeZone, `credentials[${credential.id}].schedule`);
      this.checkLifetime(credential, parsedSchedule);
      const schedule = new scheduler.Schedule(this, `Schedule-${credential.id}`, {
        scheduleGroup: this.scheduleGroup,
        description: `token-refresher: rotate ${credential.id}`,
        schedule: scheduler.ScheduleExpression.expression(parsedSchedule.expression, TimeZone.of(parsedSchedule.timeZone)),
        timeWindow: scheduler.TimeWindow.off(),
        target: new targets.LambdaInvoke(this.function, {
          input: scheduler.ScheduleTargetInput.fromObject(scheduledEvent(credential.id)),
          role: this.schedulerRole,
          deadLetterQueue: this.deadLetterQueue,
          retryAttempts: SCHEDULER_RETRY_ATTEMPTS,
          maxEventAge: SCHEDULER_MAX_EVENT_AGE,
        }),
      });
      const alarms = this.credentialAlarms(credential, parsedSchedule);
      credentials.set(credential.id, { credential, schedule, parsedSchedule, token, state, clientSecret, certificate, alarms });
    }
    this.credentials = credentials;

    this.adobeExpiryAlarm();
    this.serviceAlarms();
    for (const alarm of this.alarms) alarm.addAlarmAction(new cwActions.SnsAction(this.alarmTopic));
    this.dashboard = this.createDashboard();
  }

  /** The metric the function emits for one credential (see lib/metric-names.ts for the dimension contract). */
  metric(metricName: string, credentialId: string, options: cloudwatch.MetricOptions & { extraDimensions?: Record<string, string> } = {}): cloudwatch.Metric {
    const { extraDimensions, ...rest } = options;
    return new cloudwatch.Metric({
      namespace: metricNames.METRICS_NAMESPACE,
      metricName,
      dimensionsMap: {
        [metricNames.DIMENSION_SERVICE]: metricNames.SERVICE_NAME,
        [metricNames.DIMENSION_CREDENTIAL]: credentialId,
        ...extraDimensions,
      },
      ...rest,
    });
  }

  private createSecretsKey(encryption: SecretsEncryption): kms.IKey | undefined {
    if (encryption === 'aws-managed') return undefined;
    if (encryption !== 'customer-managed') return encryption;
    return new kms.Key(this, 'SecretsKey', {
      description: 'Encrypts the token-refresher secrets (refresh tokens, client secrets, run state)',
      enableKeyRotation: true,
      // Retained with the retained secrets: a deleted key would make them unreadable.
      removalPolicy: RemovalPolicy.RETAIN,
    });
  }

  /**
   * One secret per name, created without a value: CfnSecret with neither SecretString nor GenerateSecretString is an empty
   * secret (the L2 `Secret` would generate a random value). Values come from the operator CLI and the function, never from
   * the template. A name that is an ARN is a secret owned elsewhere: it is granted, not created.
   */
  private secret(secretId: string, access: SecretRef['access'], removalPolicy: RemovalPolicy, description: string, notRotatedBecause: string, certificate = false): SecretRef {
    const existing = this.secrets.get(secretId);
    if (existing) {
      // Two credentials may share one Entra app and so one client secret (or certificate); the wider access wins.
      const merged: SecretRef = {
        ...existing,
        access: existing.access === 'read-write' || access === 'read-write' ? 'read-write' : 'read',
        certificate: (existing.certificate ?? false) && certificate,
      };
      this.secrets.set(secretId, merged);
      return merged;
    }
    let ref: SecretRef;
    if (secretId.startsWith('arn:')) {
      // IAM matches a secret by its full ARN, which ends in "-" and 6 random characters; a partial ARN gets the wildcard.
      ref = { secretId, arn: /-[A-Za-z0-9]{6}$/.test(secretId) ? secretId : `${secretId}-??????`, access, certificate };
    } else {
      const constructId = `Secret-${secretId.replace(/[^A-Za-z0-9_-]/g, '-')}`;
      if (this.node.tryFindChild(constructId)) throw new Error(`secret names "${secretId}" and another one map to the same construct id ${constructId}; rename one`);
      const resource = new secretsmanager.CfnSecret(this, constructId, {
        name: secretId,
        description: `token-refresher: ${description}`,
        kmsKeyId: this.secretsKey?.keyArn,
      });
      resource.applyRemovalPolicy(removalPolicy);
      Validations.of(resource).acknowledge({ id: 'AwsSolutions-SMG4', reason: notRotatedBecause });
      ref = { secretId, arn: resource.ref, resource, access, certificate };
    }
    this.secrets.set(secretId, ref);
    return ref;
  }

  private grantSecrets(): void {
    const all = [...this.secrets.values()];
    const readWrite = all.filter((s) => s.access === 'read-write').map((s) => s.arn);
    const readOnly = all.filter((s) => s.access === 'read' && !s.certificate).map((s) => s.arn);
    const certificates = all.filter((s) => s.access === 'read' && s.certificate).map((s) => s.arn);
    if (readWrite.length > 0) {
      this.role.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'RotateOwnSecrets', actions: [...SECRET_READ_WRITE_ACTIONS], resources: readWrite }));
    }
    if (readOnly.length > 0) {
      this.role.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'ReadClientSecrets', actions: [...SECRET_READ_ACTIONS], resources: readOnly }));
    }
    if (certificates.length > 0) {
      // A statement of its own, so a reviewer sees at once which private keys the function can read (none without
      // certificate credentials).
      this.role.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'ReadCertificateKeys', actions: [...SECRET_READ_ACTIONS], resources: certificates }));
    }
    if (this.secretsKey) {
      this.role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          sid: 'SecretsKeyViaSecretsManager',
          actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
          resources: [this.secretsKey.keyArn],
          conditions: { StringEquals: { 'kms:ViaService': `secretsmanager.${Stack.of(this).region}.amazonaws.com` } },
        }),
      );
    }
  }

  /**
   * kms:Sign on the KMS keys of certificate credentials (certificate.kmsKeyId), nothing else: GetPublicKey is not used.
   * A key ARN or key id names the key itself. An alias cannot be a resource of Sign (IAM evaluates the key it points to),
   * so an alias is granted as "any key of that account and region, when the request names it by this alias"
   * (kms:RequestAlias): moving the alias to a new key keeps working, and no other key of the account is usable.
   */
  private grantCertificateKeys(): void {
    const stack = Stack.of(this);
    const keyArns = new Set<string>();
    const aliases = new Map<string, Set<string>>();
    for (const c of this.config.credentials) {
      const id = c.credentialType === 'certificate' ? c.certificate?.kmsKeyId : undefined;
      if (!id) continue;
      const arn = /^arn:([^:]+):kms:([^:]+):(\d{12}):(key|alias)\/(.+)$/.exec(id);
      if (arn?.[4] === 'key') keyArns.add(id);
      else if (arn) {
        const any = `arn:${arn[1]}:kms:${arn[2]}:${arn[3]}:key/*`;
        aliases.set(any, (aliases.get(any) ?? new Set()).add(`alias/${arn[5]}`));
      } else if (id.startsWith('alias/')) {
        const any = stack.formatArn({ service: 'kms', resource: 'key', resourceName: '*' });
        aliases.set(any, (aliases.get(any) ?? new Set()).add(id));
      } else keyArns.add(stack.formatArn({ service: 'kms', resource: 'key', resourceName: id }));
    }
    if (keyArns.size > 0) {
      this.role.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'SignWithCertificateKeys', actions: ['kms:Sign'], resources: [...keyArns].sort() }));
    }
    [...aliases].forEach(([resource, names], i) => {
      this.role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          sid: `SignWithCertificateKeyAliases${i === 0 ? '' : i + 1}`,
          actions: ['kms:Sign'],
          resources: [resource],
          conditions: { StringEquals: { 'kms:RequestAlias': [...names].sort() } },
        }),
      );
    });
    if (aliases.size > 0) {
      for (const resource of aliases.keys()) {
        Validations.of(this.role).acknowledge({
          id: `AwsSolutions-IAM5[Resource::${resource.replace(/\$\{Token\[AWS\.Partition\.\d+\]\}/, '<AWS::Partition>')}]`,
          reason: 'kms:Sign on "key/*" is limited by the kms:RequestAlias condition to the aliases named in certificate.kmsKeyId: only the key an alias points to can sign, and only when called by that alias.',
        });
      }
    }
  }

  private grantMail(): void {
    const alerts = this.config.alerts;
    if (!alerts || !this.sesIdentityArn) return;
    const stack = Stack.of(this);
    // While the account is in the SES sandbox, SES also authorizes each recipient's identity; the From condition keeps
    // those ARNs from becoming sender identities.
    const recipients = alerts.to.map((to) => stack.formatArn({ service: 'ses', resource: 'identity', resourceName: to }));
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'AlertMailFromSender',
        actions: ['ses:SendEmail', 'ses:SendRawEmail'],
        resources: [this.sesIdentityArn, ...recipients],
        conditions: { StringEquals: { 'ses:FromAddress': alerts.from } },
      }),
    );
  }

  /** A Microsoft token dies after 90 days unused: the schedule must get to it before that. */
  private checkLifetime(credential: Credential, schedule: ParsedSchedule): void {
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

  private credentialAlarms(credential: Credential, schedule: ParsedSchedule): cloudwatch.Alarm[] {
    const id = credential.id;
    const prefix = `${this.alarmNamePrefix()} ${id}`;
    const alarms: cloudwatch.Alarm[] = [];

    // Hourly periods, all of which must be empty or zero: "no healthy run within the longest schedule gap plus grace".
    let lookbackHours = lookbackHoursOf(schedule);
    if (lookbackHours > MAX_ALARM_LOOKBACK_HOURS) {
      Annotations.of(this).addWarningV2(
        'token-refresher:noSuccessLookbackCapped',
        `credentials[${id}]: schedule "${schedule.expression}" runs less often than every ${MAX_ALARM_LOOKBACK_HOURS - NO_SUCCESS_GRACE.toHours()} h; ` +
          'CloudWatch alarms look back at most 7 days, so the no-successful-rotation alarm will fire between runs. Run the schedule daily: a run with a fresh token does nothing.',
      );
      lookbackHours = MAX_ALARM_LOOKBACK_HOURS;
    }
    alarms.push(
      new cloudwatch.Alarm(this, `NoSuccess-${id}`, {
        alarmName: `${prefix}: no successful rotation in ${lookbackHours} h`,
        alarmDescription:
          `No healthy run of credential ${id} within ${lookbackHours} h (schedule ${schedule.expression} ${schedule.timeZone}, plus retries). ` +
          'Look for the alert mail or the function log; after a new deployment this stays in ALARM until the first token is put with "token-refresher regenerate" and a run succeeds.',
        metric: this.metric(metricNames.ROTATION_SUCCESS, id, { statistic: cloudwatch.Stats.SUM, period: Duration.hours(1) }),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
        evaluationPeriods: lookbackHours,
        datapointsToAlarm: lookbackHours,
        treatMissingData: cloudwatch.TreatMissingData.BREACHING,
      }),
    );

    alarms.push(
      new cloudwatch.Alarm(this, `ValidationFailure-${id}`, {
        alarmName: `${prefix}: new token failed validation`,
        alarmDescription: `A freshly redeemed token of ${id} could not authenticate or send mail over SMTP; it was kept, not promoted. The alert mail names the SMTP reply and the fix.`,
        metric: this.metric(metricNames.VALIDATION_FAILURE, id, { statistic: cloudwatch.Stats.SUM, period: Duration.hours(1) }),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
    );

    alarms.push(
      new cloudwatch.Alarm(this, `AlertFailure-${id}`, {
        alarmName: `${prefix}: alert mail could not be sent`,
        alarmDescription: `SES refused or could not take an alert mail about ${id} (unverified sender or recipient in the sandbox, throttling). The failure is in the function log; this alarm is the remaining channel.`,
        metric: this.metric(metricNames.ALERT_FAILURE, id, { statistic: cloudwatch.Stats.SUM, period: Duration.hours(1) }),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
    );

    const ageLimit = TOKEN_AGE_ALARM_DAYS[credential.provider];
    if (ageLimit !== undefined) {
      alarms.push(
        new cloudwatch.Alarm(this, `TokenAge-${id}`, {
          alarmName: `${prefix}: refresh token older than ${ageLimit} days`,
          alarmDescription:
            `The refresh token of ${id} is over ${ageLimit} days old; ${credential.provider} refresh tokens stop working at ${TOKEN_LIFETIME_DAYS[credential.provider]} days. ` +
            'Rotation has been failing: fix the cause from the alert mail, or run "token-refresher regenerate".',
          metric: this.metric(metricNames.TOKEN_AGE_DAYS, id, { statistic: cloudwatch.Stats.MAXIMUM, period: Duration.hours(6) }),
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
      this.expiryAlarm(
        `ClientSecretExpiry-${id}`,
        id,
        `${prefix}: client secret expires in less than ${CLIENT_SECRET_ALARM_DAYS} days`,
        lookbackHours,
        `The client secret of credential ${id} (app ${credential.clientId}) expires in less than ${CLIENT_SECRET_ALARM_DAYS} days, or has expired (${consequence}). ` +
          `Add a new client secret at the provider and store it with "token-refresher client-secret --credential ${id} --expires DATE" (the alert mail has the steps). ` +
          'The date is clientSecretExpiresAt, or the one stored with the secret; without either nothing is emitted and the alarm stays OK.',
      ),
    );
    this.alarms.push(...alarms);
    return alarms;
  }

  /**
   * ClientSecretDaysLeft (minimum) under CLIENT_SECRET_ALARM_DAYS. The function emits it on every run of a credential whose
   * expiry it knows, which may come from the secret itself (invisible here), so every credential gets the alarm; missing
   * data is fine. One breaching run within the look-back keeps it in ALARM between daily runs, so it does not flap.
   */
  private expiryAlarm(constructId: string, dimension: string, alarmName: string, lookbackHours: number, description: string): cloudwatch.Alarm {
    return new cloudwatch.Alarm(this, constructId, {
      alarmName,
      alarmDescription: description,
      metric: this.metric(metricNames.CLIENT_SECRET_DAYS_LEFT, dimension, { statistic: cloudwatch.Stats.MINIMUM, period: Duration.hours(1) }),
      threshold: CLIENT_SECRET_ALARM_DAYS,
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      evaluationPeriods: lookbackHours,
      datapointsToAlarm: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
  }

  /** The Adobe OAuth Server-to-Server secret's expiry, when the configuration records it (emitted from the first credential with targets). */
  private adobeExpiryAlarm(): void {
    const adobe = this.config.adobe;
    const owner = this.config.credentials.find((c) => c.targets.length > 0);
    const resources = owner && this.credentials.get(owner.id);
    if (!adobe?.clientSecretExpiresAt || !owner || !resources) return;
    this.alarms.push(
      this.expiryAlarm(
        'ClientSecretExpiry-adobe',
        metricNames.ADOBE_CREDENTIAL_DIMENSION,
        `${this.alarmNamePrefix()} Adobe: client secret expires in less than ${CLIENT_SECRET_ALARM_DAYS} days`,
        Math.min(lookbackHoursOf(resources.parsedSchedule), MAX_ALARM_LOOKBACK_HOURS),
        `The Adobe OAuth Server-to-Server client secret (${adobe.clientId}) expires in less than ${CLIENT_SECRET_ALARM_DAYS} days, or has expired: then no Cloud Manager target receives new tokens. ` +
          'Generate a new secret in the Adobe Developer Console, store it with "token-refresher client-secret --adobe" and update adobe.clientSecretExpiresAt.',
      ),
    );
  }

  /** Alarm names are unique per account and region: the stack name, and the construct id if it is not the default. */
  private alarmNamePrefix(): string {
    const stackName = Stack.of(this).stackName;
    return this.node.id === 'TokenRefresher' ? stackName : `${stackName}/${this.node.id}`;
  }

  private serviceAlarms(): void {
    const name = this.alarmNamePrefix();
    this.alarms.push(
      new cloudwatch.Alarm(this, 'FunctionErrors', {
        alarmName: `${name}: function errors`,
        alarmDescription: 'The token-refresher function threw (each attempt counts). The alert mail or the log names the credential and the cause.',
        metric: this.function.metricErrors({ statistic: cloudwatch.Stats.SUM, period: Duration.minutes(5) }),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
      new cloudwatch.Alarm(this, 'DeadLetters', {
        alarmName: `${name}: undelivered or failed runs in the dead-letter queue`,
        alarmDescription:
          'A scheduled run could not be delivered, failed after its retry, or an alarm mail could not be delivered. Read the messages in the queue, fix, then purge it.',
        metric: this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ statistic: cloudwatch.Stats.MAXIMUM, period: Duration.minutes(5) }),
        threshold: 0,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
    );
  }

  private createDashboard(): cloudwatch.Dashboard {
    const dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      defaultInterval: Duration.days(14),
      periodOverride: cloudwatch.PeriodOverride.INHERIT,
    });
    dashboard.addWidgets(
      new cloudwatch.TextWidget({
        markdown:
          '# token-refresher\nPer credential: days since the last rotation (the current token\'s age), healthy runs and failures by class; below, the days left of the client secrets. ' +
          'A failure mail names the fix; `token-refresher status` shows the same from a shell.',
        width: 24,
        height: 2,
      }),
      new cloudwatch.AlarmStatusWidget({ title: 'Alarms', alarms: this.alarms, width: 24, height: 3 }),
    );
    for (const credential of this.config.credentials) {
      const id = credential.id;
      const limit = TOKEN_AGE_ALARM_DAYS[credential.provider];
      dashboard.addWidgets(
        new cloudwatch.SingleValueWidget({
          title: `${id}: days since last rotation`,
          metrics: [this.metric(metricNames.TOKEN_AGE_DAYS, id, { statistic: cloudwatch.Stats.MAXIMUM, period: Duration.hours(1), label: 'token age (days)' })],
          sparkline: true,
          width: 6,
          height: 5,
        }),
        new cloudwatch.GraphWidget({
          title: `${id}: runs per day`,
          left: [
            this.metric(metricNames.ROTATION_SUCCESS, id, { statistic: cloudwatch.Stats.SUM, period: Duration.days(1), label: 'healthy', color: cloudwatch.Color.GREEN }),
            this.metric(metricNames.VALIDATION_FAILURE, id, { statistic: cloudwatch.Stats.SUM, period: Duration.days(1), label: 'validation failed', color: cloudwatch.Color.ORANGE }),
          ],
          right: metricNames.FAILURE_CLASSES.map((cls) =>
            this.metric(metricNames.ROTATION_FAILURE, id, {
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
          left: [this.metric(metricNames.TOKEN_AGE_DAYS, id, { statistic: cloudwatch.Stats.MAXIMUM, period: Duration.hours(6), label: 'age' })],
          leftYAxis: { min: 0, max: TOKEN_LIFETIME_DAYS[credential.provider] ?? undefined, showUnits: false },
          leftAnnotations: limit === undefined ? [] : [{ value: limit, label: 'alarm', color: cloudwatch.Color.RED }],
          width: 6,
          height: 5,
        }),
      );
    }
    const expiring = [
      ...this.config.credentials.map((c) => c.id),
      ...(this.config.adobe?.clientSecretExpiresAt ? [metricNames.ADOBE_CREDENTIAL_DIMENSION] : []),
    ];
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Client secrets: days left',
        left: expiring.map((id) => this.metric(metricNames.CLIENT_SECRET_DAYS_LEFT, id, { statistic: cloudwatch.Stats.MINIMUM, period: Duration.hours(6), label: id })),
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
        left: [this.function.metricInvocations({ statistic: cloudwatch.Stats.SUM }), this.function.metricErrors({ statistic: cloudwatch.Stats.SUM })],
        right: [this.function.metricDuration({ statistic: cloudwatch.Stats.MAXIMUM })],
        width: 8,
        height: 5,
      }),
      new cloudwatch.GraphWidget({
        title: 'Dead-letter queue',
        left: [this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ statistic: cloudwatch.Stats.MAXIMUM })],
        width: 4,
        height: 5,
      }),
      new cloudwatch.LogQueryWidget({
        title: 'Recent warnings and errors',
        logGroupNames: [this.logGroup.logGroupName],
        queryLines: ['fields @timestamp, level, credential, stage, message', 'filter level in ["ERROR", "WARN", "CRITICAL"]', 'sort @timestamp desc', 'limit 20'],
        width: 12,
        height: 5,
      }),
    );
    return dashboard;
  }
}

/** The no-success look-back: the longest gap of the schedule plus the retry grace, in whole hours. */
function lookbackHoursOf(schedule: ParsedSchedule): number {
  return Math.ceil((schedule.maxGapMinutes + NO_SUCCESS_GRACE.toMinutes()) / 60);
}

/**
 * The afterBundling command that writes the configuration next to the bundle. The document is re-serialized from the parsed
 * object (defaults filled in, unknown keys impossible) and passed base64-encoded, so no quoting of its content can break the
 * shell command; it holds no secret values, only where they live.
 */
function configFileCommand(config: Config, target: string): string {
  const b64 = Buffer.from(`${JSON.stringify(config, null, 2)}\n`, 'utf8').toString('base64');
  const script = "require('node:fs').writeFileSync(process.argv[1], Buffer.from(process.argv[2], 'base64'))";
  return [process.execPath, '-e', script, target, b64].map(shellQuote).join(' ');
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}
