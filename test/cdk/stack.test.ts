import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { App, Duration } from 'aws-cdk-lib';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import * as logs from 'aws-cdk-lib/aws-logs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../lambdas/config/load.ts';
import type { Config } from '../../lambdas/config/schema.ts';
import * as metricNames from '../../lambdas/report/metric-names.ts';
import { MetricName } from '../../lambdas/report/metrics.ts';
import {
  CLIENT_SECRET_ALARM_DAYS,
  DEFAULT_MEMORY_MB,
  DEFAULT_TIMEOUT,
  NO_SUCCESS_GRACE,
  SCHEDULER_MAX_EVENT_AGE,
  SCHEDULER_RETRY_ATTEMPTS,
  SECRET_READ_ACTIONS,
  scheduledEvent,
} from '../../lib/token-refresher.ts';
import { TokenRefresherStack } from '../../lib/token-refresher-stack.ts';
import {
  asArray,
  cdkJsonContext,
  ENV,
  FIXTURE_HANDLER,
  identityStatements,
  loadFixtureConfig,
  resourcesOfType,
  rotationOnly,
  synth,
  wildcardSecretOrMailGrants,
  type CfnTemplate,
  type Synthesized,
} from './support.ts';

const SERVICE = { [metricNames.DIMENSION_SERVICE]: metricNames.SERVICE_NAME };
// CDK renders dimensions sorted by name.
const dims = (credential: string) =>
  Match.arrayEquals(
    [
      { Name: metricNames.DIMENSION_SERVICE, Value: metricNames.SERVICE_NAME },
      { Name: metricNames.DIMENSION_CREDENTIAL, Value: credential },
    ].sort((a, b) => a.Name.localeCompare(b.Name)),
  );

/** The logical id of the only resource of a type (fails when there is not exactly one). */
function onlyId(t: CfnTemplate, type: string): string {
  const ids = resourcesOfType(t, type).map(([id]) => id);
  expect(ids, type).toHaveLength(1);
  return ids[0] as string;
}

function secretIdByName(t: CfnTemplate, name: string): string {
  const ids = resourcesOfType(t, 'AWS::SecretsManager::Secret')
    .filter(([, r]) => r.Properties?.Name === name)
    .map(([id]) => id);
  expect(ids, name).toHaveLength(1);
  return ids[0] as string;
}

describe('the example configuration (config.example.json)', () => {
  let s: Synthesized;
  let config: Config;
  beforeAll(() => {
    config = loadFixtureConfig('config.example.json');
    s = synth(config);
  });
  afterAll(() => s.cleanup());

  it('runs the function on nodejs24.x, arm64, with the ESM bundle and the documented settings', () => {
    s.template.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs24.x',
      Architectures: ['arm64'],
      Handler: 'index.handler',
      MemorySize: DEFAULT_MEMORY_MB,
      Timeout: DEFAULT_TIMEOUT.toSeconds(),
      Environment: {
        Variables: {
          TOKEN_REFRESHER_CONFIG_FILE: 'config.json',
          // No --enable-source-maps: the bundle keeps its names and ships no map (lib/parts/function-asset.ts).
          NODE_OPTIONS: Match.absent(),
          POWERTOOLS_SERVICE_NAME: metricNames.SERVICE_NAME,
          POWERTOOLS_METRICS_NAMESPACE: metricNames.METRICS_NAMESPACE,
          // Its reauthorize alerts carry sign-in links to the recovery endpoint (on by default).
          TOKEN_REFRESHER_RECOVERY_URL: {
            'Fn::GetAtt': [Match.stringLikeRegexp('^TokenRefresherRecoveryFunctionFunctionUrl'), 'FunctionUrl'],
          },
        },
      },
      LoggingConfig: { LogGroup: { Ref: onlyId(rotationOnly(s.json), 'AWS::Logs::LogGroup') } },
      TracingConfig: Match.absent(),
      ReservedConcurrentExecutions: Match.absent(),
    });
    // The rotation function and the recovery endpoint's.
    s.template.resourceCountIs('AWS::Lambda::Function', 2);
  });

  it('bundles config.json next to index.mjs, re-serialized from the parsed document', () => {
    const fn = resourcesOfType(s.json, 'AWS::Lambda::Function')[0]?.[1];
    const assetPath = (fn?.Properties?.Code as { S3Key: string }).S3Key.replace(/\.zip$/, '');
    const dir = path.join(s.outdir, `asset.${assetPath}`);
    const bundled = JSON.parse(readFileSync(path.join(dir, 'config.json'), 'utf8')) as unknown;
    expect(bundled).toEqual(JSON.parse(JSON.stringify(config)));
    // The function validates it again on load; it must come out identical.
    expect(parseConfig(bundled)).toEqual(config);
    const bundle = readFileSync(path.join(dir, 'index.mjs'), 'utf8');
    expect(bundle.startsWith("import { createRequire as __trCreateRequire } from 'node:module'")).toBe(true);
    expect(existsSync(path.join(dir, 'index.mjs.map'))).toBe(false);
  });

  it('keeps logs for the configured retention in an explicit log group', () => {
    s.template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
  });

  it('retries a failed scheduled run once and then parks it in the dead-letter queue', () => {
    const dlq = onlyId(s.json, 'AWS::SQS::Queue');
    s.template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      MaximumRetryAttempts: 1,
      MaximumEventAgeInSeconds: 3600,
      DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [dlq, 'Arn'] } } },
    });
    s.template.hasResourceProperties('AWS::SQS::Queue', {
      SqsManagedSseEnabled: true,
      MessageRetentionPeriod: 14 * 86400,
    });
    s.template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Principal: { AWS: '*' },
            Action: 'sqs:*',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
        ]),
      },
    });
  });

  it('schedules the credential with its expression, time zone, event, retry policy and dead-letter queue', () => {
    const dlq = onlyId(s.json, 'AWS::SQS::Queue');
    const fn = onlyId(rotationOnly(s.json), 'AWS::Lambda::Function');
    // The credential's rotation schedule, and the fleet's 30-minute delivery schedule (test/cdk/delivery.test.ts).
    s.template.resourceCountIs('AWS::Scheduler::Schedule', 2);
    s.template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'cron(17 3 * * ? *)',
      ScheduleExpressionTimezone: 'Europe/Zurich',
      FlexibleTimeWindow: { Mode: 'OFF' },
      State: 'ENABLED',
      GroupName: s.json.Resources[onlyId(s.json, 'AWS::Scheduler::ScheduleGroup')]?.Properties?.Name,
      Target: {
        Arn: { 'Fn::GetAtt': [fn, 'Arn'] },
        Input: JSON.stringify({ action: 'rotate', credential: 'aem-mail', source: 'schedule' }),
        RetryPolicy: {
          MaximumEventAgeInSeconds: SCHEDULER_MAX_EVENT_AGE.toSeconds(),
          MaximumRetryAttempts: SCHEDULER_RETRY_ATTEMPTS,
        },
        DeadLetterConfig: { Arn: { 'Fn::GetAtt': [dlq, 'Arn'] } },
      },
    });
  });

  it('creates every secret empty: no SecretString, no GenerateSecretString', () => {
    const secrets = resourcesOfType(s.json, 'AWS::SecretsManager::Secret');
    expect(secrets.map(([, r]) => r.Properties?.Name).sort()).toEqual([
      'token-refresher/adobe/client-secret',
      'token-refresher/aem-mail/client-secret',
      'token-refresher/aem-mail/refresh-token',
    ]);
    for (const [id, r] of secrets) {
      expect(r.Properties, id).not.toHaveProperty('SecretString');
      expect(r.Properties, id).not.toHaveProperty('GenerateSecretString');
      // AWS-managed key unless a customer-managed one is asked for.
      expect(r.Properties, id).not.toHaveProperty('KmsKeyId');
    }
  });

  it('retains the refresh token and client secrets when the stack goes (the run state is in the table)', () => {
    const policy = (name: string) => s.json.Resources[secretIdByName(s.json, name)]?.DeletionPolicy;
    expect(policy('token-refresher/aem-mail/refresh-token')).toBe('Retain');
    expect(policy('token-refresher/aem-mail/client-secret')).toBe('Retain');
    expect(policy('token-refresher/adobe/client-secret')).toBe('Retain');
  });

  it('lets the function rotate only its own token, and only read the client secrets', () => {
    const statements = identityStatements(s.json).map((x) => x.statement);
    const rotate = statements.find((st) => st.Sid === 'RotateOwnSecrets');
    expect(asArray(rotate?.Action).sort()).toEqual([
      'secretsmanager:GetSecretValue',
      'secretsmanager:ListSecretVersionIds',
      'secretsmanager:PutSecretValue',
      'secretsmanager:UpdateSecretVersionStage',
    ]);
    expect(asArray(rotate?.Resource)).toEqual([
      { Ref: secretIdByName(s.json, 'token-refresher/aem-mail/refresh-token') },
    ]);
    const read = statements.find((st) => st.Sid === 'ReadClientSecrets');
    expect(asArray(read?.Action).sort()).toEqual([
      'secretsmanager:GetSecretValue',
      'secretsmanager:ListSecretVersionIds',
    ]);
    expect(asArray(read?.Resource)).toHaveLength(2);
    // No other statement touches Secrets Manager: without a certificate credential no key may be read.
    const others = statements.filter(
      (st) =>
        asArray(st.Action).some((a) => a.startsWith('secretsmanager:')) &&
        !['RotateOwnSecrets', 'ReadClientSecrets'].includes(st.Sid ?? ''),
    );
    expect(others).toEqual([]);
    expect(statements.find((st) => st.Sid === 'ReadCertificateKeys')).toBeUndefined();
  });

  it('lets the function send mail only from the alert sender', () => {
    const identity = onlyId(s.json, 'AWS::SES::EmailIdentity');
    s.template.hasResourceProperties('AWS::SES::EmailIdentity', { EmailIdentity: 'token-refresher@contoso.com' });
    const mail = identityStatements(rotationOnly(s.json)).filter(({ statement }) =>
      asArray(statement.Action).some((a) => a.startsWith('ses:')),
    );
    expect(mail).toHaveLength(1);
    const st = mail[0]?.statement;
    expect(asArray(st?.Action).sort()).toEqual(['ses:SendEmail', 'ses:SendRawEmail']);
    expect(st?.Condition).toEqual({ StringEquals: { 'ses:FromAddress': 'token-refresher@contoso.com' } });
    expect(JSON.stringify(st?.Resource)).toContain(JSON.stringify({ Ref: identity }));
  });

  it('never grants a secretsmanager or ses action on a wildcard resource', () => {
    expect(wildcardSecretOrMailGrants(s.json)).toEqual([]);
  });

  it('lets the scheduler role do nothing but invoke this function and write the dead-letter queue', () => {
    const fn = onlyId(rotationOnly(s.json), 'AWS::Lambda::Function');
    const dlq = onlyId(s.json, 'AWS::SQS::Queue');
    const roles = resourcesOfType(s.json, 'AWS::IAM::Role').filter(([, r]) =>
      JSON.stringify(r.Properties?.AssumeRolePolicyDocument).includes('scheduler.amazonaws.com'),
    );
    expect(roles).toHaveLength(1);
    const [roleId, role] = roles[0] as [string, { Properties?: Record<string, unknown> }];
    expect(role.Properties?.ManagedPolicyArns).toBeUndefined();
    expect(role.Properties?.AssumeRolePolicyDocument).toMatchObject({
      Statement: [
        {
          Principal: { Service: 'scheduler.amazonaws.com' },
          Condition: {
            StringEquals: {
              'aws:SourceAccount': ENV.account,
              'aws:SourceArn': { 'Fn::GetAtt': [onlyId(s.json, 'AWS::Scheduler::ScheduleGroup'), 'Arn'] },
            },
          },
        },
      ],
    });
    const statements = identityStatements(s.json)
      .filter(({ resource }) => JSON.stringify(s.json.Resources[resource]?.Properties?.Roles ?? []).includes(roleId))
      .map((x) => x.statement);
    expect(statements.flatMap((st) => asArray(st.Action)).sort()).toEqual(['lambda:InvokeFunction', 'sqs:SendMessage']);
    const invoke = statements.find((st) => asArray(st.Action).includes('lambda:InvokeFunction'));
    expect(invoke?.Resource).toEqual([
      { 'Fn::GetAtt': [fn, 'Arn'] },
      { 'Fn::Join': ['', [{ 'Fn::GetAtt': [fn, 'Arn'] }, ':*']] },
    ]);
    const send = statements.find((st) => asArray(st.Action).includes('sqs:SendMessage'));
    expect(send?.Resource).toEqual({ 'Fn::GetAtt': [dlq, 'Arn'] });
  });

  it('gives the function role no managed policy and log permissions only on its log group', () => {
    const fnRole = (
      resourcesOfType(s.json, 'AWS::Lambda::Function')[0]?.[1].Properties?.Role as { 'Fn::GetAtt': [string, string] }
    )['Fn::GetAtt'][0];
    expect(s.json.Resources[fnRole]?.Properties?.ManagedPolicyArns).toBeUndefined();
    const logStatements = identityStatements(rotationOnly(s.json)).filter(({ statement }) =>
      asArray(statement.Action).some((a) => a.startsWith('logs:')),
    );
    expect(logStatements.map((x) => x.statement.Resource)).toEqual([
      { 'Fn::GetAtt': [onlyId(rotationOnly(s.json), 'AWS::Logs::LogGroup'), 'Arn'] },
    ]);
  });

  it('alarms when no healthy run happened within the schedule gap plus grace (missing data breaching)', () => {
    const hours = Math.ceil((1440 + NO_SUCCESS_GRACE.toMinutes()) / 60);
    s.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: metricNames.METRICS_NAMESPACE,
      MetricName: metricNames.ROTATION_SUCCESS,
      Dimensions: dims('aem-mail'),
      Statistic: 'Sum',
      Period: 3600,
      Threshold: 1,
      ComparisonOperator: 'LessThanThreshold',
      EvaluationPeriods: hours,
      DatapointsToAlarm: hours,
      TreatMissingData: 'breaching',
      AlarmActions: [{ Ref: onlyId(s.json, 'AWS::SNS::Topic') }],
    });
  });

  it('alarms on validation failures, token age over 75 days, function errors and dead letters, each notifying the topic', () => {
    const topic = { Ref: onlyId(s.json, 'AWS::SNS::Topic') };
    s.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: metricNames.VALIDATION_FAILURE,
      Namespace: metricNames.METRICS_NAMESPACE,
      Dimensions: dims('aem-mail'),
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      Threshold: 1,
      AlarmActions: [topic],
    });
    s.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: metricNames.TOKEN_AGE_DAYS,
      Dimensions: dims('aem-mail'),
      Statistic: 'Maximum',
      ComparisonOperator: 'GreaterThanThreshold',
      Threshold: 75,
      AlarmActions: [topic],
    });
    s.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/Lambda',
      MetricName: 'Errors',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: onlyId(rotationOnly(s.json), 'AWS::Lambda::Function') } }],
      Threshold: 1,
      AlarmActions: [topic],
    });
    s.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [onlyId(s.json, 'AWS::SQS::Queue'), 'QueueName'] } }],
      ComparisonOperator: 'GreaterThanThreshold',
      Threshold: 0,
      AlarmActions: [topic],
    });
    s.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'TokenRefresher',
      MetricName: 'AlertFailure',
      Dimensions: [
        { Name: 'credential', Value: 'aem-mail' },
        { Name: 'service', Value: 'token-refresher' },
      ],
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      Threshold: 1,
      AlarmActions: [topic],
    });
    // ...the SES channel's AlertChannelFailure alarm (lib/parts/alert-channels.ts), and one copy-age alarm per Cloud
    // Manager target (two in the example; test/cdk/delivery.test.ts).
    s.template.resourceCountIs('AWS::CloudWatch::Alarm', 10);
    s.template.allResourcesProperties('AWS::CloudWatch::Alarm', { AlarmActions: [topic] });
  });

  it('alarms when a client secret has fewer than 14 days left, whether the date is configured or stored with the secret', () => {
    const hours = Math.ceil((1440 + NO_SUCCESS_GRACE.toMinutes()) / 60);
    s.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: metricNames.METRICS_NAMESPACE,
      MetricName: metricNames.CLIENT_SECRET_DAYS_LEFT,
      Dimensions: dims('aem-mail'),
      Statistic: 'Minimum',
      Period: 3600,
      Threshold: CLIENT_SECRET_ALARM_DAYS,
      ComparisonOperator: 'LessThanThreshold',
      // One breaching run within the look-back keeps it in ALARM between daily runs; no expiry known = no data = OK.
      EvaluationPeriods: hours,
      DatapointsToAlarm: 1,
      TreatMissingData: 'notBreaching',
      AlarmActions: [{ Ref: onlyId(s.json, 'AWS::SNS::Topic') }],
      AlarmName: Match.stringLikeRegexp('aem-mail: client secret expires in less than 14 days'),
    });
    expect(CLIENT_SECRET_ALARM_DAYS).toBe(14);
  });

  it('sends alarms to an encrypted, TLS-only topic with e-mail subscriptions that have a dead-letter queue', () => {
    const key = resourcesOfType(s.json, 'AWS::KMS::Key');
    expect(key).toHaveLength(1);
    s.template.hasResourceProperties('AWS::KMS::Key', {
      EnableKeyRotation: true,
      KeyPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
          }),
        ]),
      },
    });
    s.template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: { 'Fn::GetAtt': [key[0]?.[0], 'Arn'] } });
    s.template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          Match.objectLike({
            Effect: 'Allow',
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: 'sns:Publish',
            Condition: Match.objectLike({ StringEquals: { 'aws:SourceAccount': ENV.account } }),
          }),
        ]),
      },
    });
    s.template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'aem-ops@contoso.com',
      RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': [onlyId(s.json, 'AWS::SQS::Queue'), 'Arn'] } },
    });
  });

  it("has a dashboard showing each credential's token age, runs and failures by class", () => {
    const body = JSON.stringify(
      resourcesOfType(s.json, 'AWS::CloudWatch::Dashboard')[0]?.[1].Properties?.DashboardBody,
    );
    for (const needle of [
      'aem-mail: days since last rotation',
      metricNames.TOKEN_AGE_DAYS,
      metricNames.ROTATION_SUCCESS,
      metricNames.ROTATION_FAILURE,
      metricNames.VALIDATION_FAILURE,
      ...metricNames.FAILURE_CLASSES.map((c) => `failed: ${c}`),
      'alarm',
      'Client secrets: days left',
      metricNames.CLIENT_SECRET_DAYS_LEFT,
    ]) {
      expect(body, needle).toContain(needle);
    }
  });

  it('exports what the runbook refers to', () => {
    for (const o of [
      'FunctionName',
      'AlarmTopicArn',
      'DeadLetterQueueUrl',
      'DashboardName',
      'LogGroupName',
      'AlertSenderIdentityArn',
    ])
      s.template.hasOutput(o, {});
  });
});

describe('several credentials, shared and external secrets (fixtures/config-multi.json)', () => {
  let s: Synthesized;
  beforeAll(() => {
    s = synth(loadFixtureConfig('test/cdk/fixtures/config-multi.json'));
  });
  afterAll(() => s.cleanup());

  it('has one schedule per credential with its own expression and time zone', () => {
    const schedules = resourcesOfType(s.json, 'AWS::Scheduler::Schedule').map(([, r]) => ({
      expression: r.Properties?.ScheduleExpression,
      timeZone: r.Properties?.ScheduleExpressionTimezone,
      input: JSON.parse((r.Properties?.Target as { Input: string }).Input) as unknown,
    }));
    expect(schedules).toEqual(
      expect.arrayContaining([
        { expression: 'rate(12 hours)', timeZone: 'UTC', input: scheduledEvent('mail-ch') },
        { expression: 'cron(0 4 ? * MON-FRI *)', timeZone: 'Europe/Berlin', input: scheduledEvent('mail-de') },
        { expression: 'rate(1 day)', timeZone: 'UTC', input: scheduledEvent('gmail-relay') },
        { expression: 'rate(30 minutes)', timeZone: 'Etc/UTC', input: { action: 'deliver', source: 'schedule' } },
      ]),
    );
    expect(schedules).toHaveLength(4);
  });

  it('sizes each no-success alarm to its own schedule', () => {
    const lookback = (gapMinutes: number) => Math.ceil((gapMinutes + NO_SUCCESS_GRACE.toMinutes()) / 60);
    for (const [credential, gap] of [
      ['mail-ch', 720],
      ['mail-de', 3 * 1440],
      ['gmail-relay', 1440],
    ] as const) {
      s.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        MetricName: metricNames.ROTATION_SUCCESS,
        Dimensions: dims(credential),
        EvaluationPeriods: lookback(gap),
        DatapointsToAlarm: lookback(gap),
      });
    }
  });

  it('alarms on token age only where the provider has an age limit', () => {
    const ageAlarms = resourcesOfType(s.json, 'AWS::CloudWatch::Alarm').filter(
      ([, r]) => r.Properties?.MetricName === metricNames.TOKEN_AGE_DAYS,
    );
    const credentials = ageAlarms.map(
      ([, r]) =>
        (r.Properties?.Dimensions as Array<{ Name: string; Value: string }>).find((d) => d.Name === 'credential')
          ?.Value,
    );
    expect(credentials.sort()).toEqual(['mail-ch', 'mail-de']);
  });

  it('creates a shared client secret once, and does not create a secret named by ARN but grants it', () => {
    const names = resourcesOfType(s.json, 'AWS::SecretsManager::Secret').map(([, r]) => r.Properties?.Name as string);
    expect(names.sort()).toEqual([
      'tr-test/gmail-relay/client-secret',
      'tr-test/mail-ch/refresh-token',
      'tr-test/mail-de/certificate',
      'tr-test/mail-de/refresh-token',
      'tr-test/shared/adobe-s2s',
      'tr-test/shared/entra-app-1',
    ]);
    const rotate = identityStatements(s.json).find(({ statement }) => statement.Sid === 'RotateOwnSecrets')?.statement;
    expect(asArray(rotate?.Resource)).toContain(
      'arn:aws:secretsmanager:eu-west-1:123456789012:secret:shared/gmail-token-AbCdEf',
    );
    // the tokens of mail-ch and mail-de, and the external gmail token.
    expect(asArray(rotate?.Resource)).toHaveLength(3);
    expect(wildcardSecretOrMailGrants(s.json)).toEqual([]);
  });

  it('creates the certificate secret only for the certificate credential, empty and retained, and grants it read-only in its own statement', () => {
    const certificates = resourcesOfType(s.json, 'AWS::SecretsManager::Secret').filter(([, r]) =>
      String(r.Properties?.Name).endsWith('/certificate'),
    );
    expect(certificates.map(([, r]) => r.Properties?.Name)).toEqual(['tr-test/mail-de/certificate']);
    const [certId, cert] = certificates[0]!;
    expect(cert.Properties).not.toHaveProperty('SecretString');
    expect(cert.Properties).not.toHaveProperty('GenerateSecretString');
    expect(cert.DeletionPolicy).toBe('Retain');
    expect(s.stack.refresher.credentials.get('mail-de')?.certificate?.secretId).toBe('tr-test/mail-de/certificate');
    expect(s.stack.refresher.credentials.get('mail-ch')?.certificate).toBeUndefined();

    const statements = identityStatements(rotationOnly(s.json)).map((x) => x.statement);
    const keys = statements.find((st) => st.Sid === 'ReadCertificateKeys');
    expect(asArray(keys?.Action).sort()).toEqual([...SECRET_READ_ACTIONS].sort());
    expect(keys?.Resource).toEqual({ Ref: certId });
    // Read-only: no statement that can write, stage or delete names it, and no other statement names it at all.
    const naming = statements.filter((st) =>
      JSON.stringify(st.Resource ?? null).includes(JSON.stringify({ Ref: certId })),
    );
    expect(naming).toEqual([keys]);
    expect(asArray(keys?.Action).some((a) => /Put|Update|Delete|Rotate|Create|\*/.test(a))).toBe(false);
  });

  it('alarms on every credential’s client-secret days left, and on the Adobe secret when its date is configured', () => {
    const expiry = resourcesOfType(s.json, 'AWS::CloudWatch::Alarm').filter(
      ([, r]) => r.Properties?.MetricName === metricNames.CLIENT_SECRET_DAYS_LEFT,
    );
    const dimensionOf = (r: (typeof expiry)[number][1]) =>
      (r.Properties?.Dimensions as Array<{ Name: string; Value: string }>).find((d) => d.Name === 'credential')?.Value;
    expect(expiry.map(([, r]) => dimensionOf(r)).sort()).toEqual([
      metricNames.ADOBE_CREDENTIAL_DIMENSION,
      'gmail-relay',
      'mail-ch',
      'mail-de',
    ]);
    for (const [, r] of expiry)
      expect(r.Properties).toMatchObject({
        Threshold: 14,
        ComparisonOperator: 'LessThanThreshold',
        Statistic: 'Minimum',
        TreatMissingData: 'notBreaching',
      });
    // The certificate credential's alarm says why its secret still matters.
    const de = expiry.find(([, r]) => dimensionOf(r) === 'mail-de')?.[1];
    expect(String(de?.Properties?.AlarmDescription)).toContain('AEM redeems the token with this secret');
    // Each look-back follows its own schedule (the Adobe secret the run of mail-ch, the first credential with targets).
    const lookback = (gapMinutes: number) => Math.ceil((gapMinutes + NO_SUCCESS_GRACE.toMinutes()) / 60);
    expect(Object.fromEntries(expiry.map(([, r]) => [dimensionOf(r), r.Properties?.EvaluationPeriods]))).toEqual({
      'mail-ch': lookback(720),
      'mail-de': lookback(3 * 1440),
      'gmail-relay': lookback(1440),
      adobe: lookback(720),
    });
    const body = JSON.stringify(
      resourcesOfType(s.json, 'AWS::CloudWatch::Dashboard')[0]?.[1].Properties?.DashboardBody,
    );
    expect(body).toContain('Client secrets: days left');
  });

  it('authorizes alert mail for the sender and, for the SES sandbox, the recipients, From pinned to the sender', () => {
    const st = identityStatements(s.json).find(({ statement }) => statement.Sid === 'AlertMailFromSender')?.statement;
    const resources = JSON.stringify(st?.Resource);
    expect(resources).toContain('identity/ops@example.org');
    expect(resources).toContain('identity/oncall@example.org');
    expect(st?.Condition).toEqual({ StringEquals: { 'ses:FromAddress': 'alerts@example.org' } });
    s.template.resourcePropertiesCountIs('AWS::SNS::Subscription', { Protocol: 'email' }, 2);
  });
});

describe('certificate key document named by ARN', () => {
  it('is not created but granted read-only, with the suffix wildcard of a partial ARN', () => {
    const doc = JSON.parse(readFileSync('config.example.json', 'utf8')) as {
      credentials: Array<Record<string, unknown>>;
    };
    const arn = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:pki/aem-mail-key';
    Object.assign(doc.credentials[0]!, { credentialType: 'certificate', certificate: { secretId: arn } });
    const s = synth(parseConfig(doc), {}, false);
    try {
      const names = resourcesOfType(s.json, 'AWS::SecretsManager::Secret').map(([, r]) => r.Properties?.Name);
      expect(names.some((n) => String(n).includes('certificate') || String(n).includes('pki/'))).toBe(false);
      const keys = identityStatements(s.json).find(
        ({ statement }) => statement.Sid === 'ReadCertificateKeys',
      )?.statement;
      expect(keys?.Resource).toBe(`${arn}-??????`);
      expect(asArray(keys?.Action).sort()).toEqual([...SECRET_READ_ACTIONS].sort());
      expect(wildcardSecretOrMailGrants(s.json)).toEqual([]);
    } finally {
      s.cleanup();
    }
  });
});

describe('options', () => {
  it('encrypts the secrets with a customer-managed key with rotation, retained, usable only through Secrets Manager', () => {
    const s = synth(loadFixtureConfig('config.example.json'), { secretsEncryption: 'customer-managed' });
    try {
      const keys = resourcesOfType(s.json, 'AWS::KMS::Key').filter(([, r]) =>
        String(r.Properties?.Description).includes('secrets'),
      );
      expect(keys).toHaveLength(1);
      const [keyId, key] = keys[0] as [string, { Properties?: Record<string, unknown>; DeletionPolicy?: string }];
      expect(key.Properties?.EnableKeyRotation).toBe(true);
      expect(key.DeletionPolicy).toBe('Retain');
      for (const [id, r] of resourcesOfType(s.json, 'AWS::SecretsManager::Secret')) {
        expect(r.Properties?.KmsKeyId, id).toEqual({ 'Fn::GetAtt': [keyId, 'Arn'] });
      }
      const kms = identityStatements(s.json).find(
        ({ statement }) => statement.Sid === 'SecretsKeyViaSecretsManager',
      )?.statement;
      expect(asArray(kms?.Action).sort()).toEqual(['kms:Decrypt', 'kms:GenerateDataKey']);
      expect(kms?.Resource).toEqual({ 'Fn::GetAtt': [keyId, 'Arn'] });
      expect(kms?.Condition).toEqual({
        StringEquals: { 'kms:ViaService': `secretsmanager.${ENV.region}.amazonaws.com` },
      });
    } finally {
      s.cleanup();
    }
  });

  it('uses an existing SES identity instead of creating one, and honours overrides', () => {
    const existing = `arn:aws:ses:${ENV.region}:${ENV.account}:identity/contoso.com`;
    const s = synth(loadFixtureConfig('config.example.json'), {
      sesIdentityArn: existing,
      memorySize: 512,
      timeout: Duration.seconds(90),
      logRetention: logs.RetentionDays.THREE_MONTHS,
      tracing: true,
      reservedConcurrency: 2,
      alarmEmails: ['someone-else@contoso.com'],
    });
    try {
      s.template.resourceCountIs('AWS::SES::EmailIdentity', 0);
      const st = identityStatements(s.json).find(({ statement }) => statement.Sid === 'AlertMailFromSender')?.statement;
      expect(asArray(st?.Resource)).toContain(existing);
      s.template.hasResourceProperties('AWS::Lambda::Function', {
        MemorySize: 512,
        Timeout: 90,
        TracingConfig: { Mode: 'Active' },
        ReservedConcurrentExecutions: 2,
      });
      s.template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 90 });
      s.template.resourcePropertiesCountIs('AWS::SNS::Subscription', { Protocol: 'email' }, 1);
      s.template.hasResourceProperties('AWS::SNS::Subscription', { Endpoint: 'someone-else@contoso.com' });
    } finally {
      s.cleanup();
    }
  });

  it('without an "alerts" section: no SES identity and no mail permission', () => {
    const doc = JSON.parse(readFileSync('config.example.json', 'utf8')) as Record<string, unknown>;
    delete doc.alerts;
    const s = synth(parseConfig(doc), { alarmEmails: ['ops@contoso.com'] });
    try {
      s.template.resourceCountIs('AWS::SES::EmailIdentity', 0);
      expect(
        identityStatements(s.json).filter(({ statement }) =>
          asArray(statement.Action).some((a) => a.startsWith('ses:')),
        ),
      ).toEqual([]);
    } finally {
      s.cleanup();
    }
  });
});

describe('configuration errors fail synth, naming the credential', () => {
  const build = (mutate: (doc: { credentials: Array<Record<string, unknown>> }) => void) => () => {
    const doc = JSON.parse(readFileSync('config.example.json', 'utf8')) as {
      credentials: Array<Record<string, unknown>>;
    };
    mutate(doc);
    const app = new App({ context: cdkJsonContext() });
    new TokenRefresherStack(app, 'T', { env: ENV, config: parseConfig(doc), entry: FIXTURE_HANDLER });
  };

  it('an unreadable schedule expression', () => {
    expect(
      build((d) => void (d.credentials[0]!.schedule = { expression: 'cron(0 3 * * *)', timeZone: 'UTC' })),
    ).toThrow('credentials[aem-mail].schedule.expression: cron needs 6 fields');
  });

  it('a schedule that lets a Microsoft token reach its 90-day lifetime', () => {
    expect(
      build((d) => {
        // maxAgeDays stays below the targets' default pushAfterDays (60), which the delivery policy requires.
        d.credentials[0]!.rotation = { maxAgeDays: 50 };
        d.credentials[0]!.schedule = { expression: 'rate(40 days)', timeZone: 'UTC' };
      }),
    ).toThrow(/credentials\[aem-mail\].*reaches the 90-day token lifetime/);
  });

  it('warns when the schedule is too sparse for a 7-day alarm look-back', () => {
    const doc = JSON.parse(readFileSync('config.example.json', 'utf8')) as {
      credentials: Array<Record<string, unknown>>;
    };
    doc.credentials[0]!.schedule = { expression: 'cron(0 4 ? * MON *)', timeZone: 'UTC' };
    const app = new App({ context: cdkJsonContext() });
    const stack = new TokenRefresherStack(app, 'T', { env: ENV, config: parseConfig(doc), entry: FIXTURE_HANDLER });
    Annotations.fromStack(stack).hasWarning('*', Match.stringLikeRegexp('CloudWatch alarms look back at most 7 days'));
  });
});

describe('metric names are one contract', () => {
  it('the function emits ClientSecretDaysLeft under the name the alarms watch', () => {
    expect(MetricName.ClientSecretDaysLeft).toBe(metricNames.CLIENT_SECRET_DAYS_LEFT);
    expect(metricNames.CLIENT_SECRET_DAYS_LEFT).toBe('ClientSecretDaysLeft');
    expect(metricNames.ADOBE_CREDENTIAL_DIMENSION).toBe('adobe');
  });

  it('the alarms watch exactly the names lambdas/report/metric-names.ts exports', () => {
    expect(SERVICE).toEqual({ service: 'token-refresher' });
    expect([
      metricNames.ROTATION_SUCCESS,
      metricNames.ROTATION_FAILURE,
      metricNames.VALIDATION_FAILURE,
      metricNames.TOKEN_AGE_DAYS,
      metricNames.STAGE_DURATION_MS,
    ]).toEqual(['RotationSuccess', 'RotationFailure', 'ValidationFailure', 'TokenAgeDays', 'StageDurationMs']);
  });
});
