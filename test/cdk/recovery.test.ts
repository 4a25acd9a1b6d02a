// The recovery endpoint and the alert channels in the template: the Function URL and its role, the alert topic and its
// policy, the AWS Chatbot configurations, the per-channel alarms, and nothing of it when switched off.
import { Match } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as metricNames from '../../lambdas/report/metric-names.ts';
import { RECOVERY_TABLE_ACTIONS, RECOVERY_TIMEOUT } from '../../lib/parts/recovery.ts';
import {
  asArray,
  channelsConfig,
  identityStatements,
  loadFixtureConfig,
  resourcesOfType,
  synth,
  type CfnTemplate,
  type PolicyStatementJson,
  type Synthesized,
} from './support.ts';

function idsOf(t: CfnTemplate, type: string, prefix = ''): string[] {
  return resourcesOfType(t, type)
    .map(([id]) => id)
    .filter((id) => id.startsWith(prefix));
}

function roleStatements(t: CfnTemplate, roleId: string): PolicyStatementJson[] {
  return identityStatements(t)
    .filter(
      ({ resource }) =>
        resource === roleId || JSON.stringify(t.Resources[resource]?.Properties?.Roles ?? []).includes(roleId),
    )
    .map((x) => x.statement);
}

const onlyOne = (ids: string[]): string => {
  expect(ids).toHaveLength(1);
  return ids[0] as string;
};

describe('recovery endpoint (default: on)', () => {
  let s: Synthesized;
  beforeAll(() => {
    s = synth(loadFixtureConfig('config.example.json'));
  });
  afterAll(() => s.cleanup());

  it('is a Function URL without IAM auth on its own function, with a small reserved concurrency', () => {
    const fn = onlyOne(idsOf(s.json, 'AWS::Lambda::Function', 'TokenRefresherRecoveryFunction'));
    s.template.hasResourceProperties('AWS::Lambda::Url', {
      AuthType: 'NONE',
      InvokeMode: 'BUFFERED',
      TargetFunctionArn: { 'Fn::GetAtt': [fn, 'Arn'] },
    });
    s.template.resourceCountIs('AWS::Lambda::Url', 1);
    expect(s.json.Resources[fn]?.Properties).toMatchObject({
      ReservedConcurrentExecutions: 2,
      Timeout: RECOVERY_TIMEOUT.toSeconds(),
      Runtime: 'nodejs24.x',
      Architectures: ['arm64'],
    });
    const env = (s.json.Resources[fn]?.Properties?.Environment as { Variables: Record<string, unknown> }).Variables;
    expect(env.TOKEN_REFRESHER_STATE_TABLE).toEqual({ Ref: onlyOne(idsOf(s.json, 'AWS::DynamoDB::Table')) });
    // Anyone may invoke it through the URL, and only through the URL.
    s.template.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunctionUrl',
      Principal: '*',
      FunctionUrlAuthType: 'NONE',
      FunctionName: { 'Fn::GetAtt': [fn, 'Arn'] },
    });
    const permissions = resourcesOfType(s.json, 'AWS::Lambda::Permission').filter(([, r]) =>
      JSON.stringify(r.Properties?.FunctionName).includes(fn),
    );
    // lambda:InvokeFunction for "*" exists too, but only for calls that come through the Function URL.
    expect(
      permissions.map(([, r]) => r.Properties).sort((a, b) => String(a?.Action).localeCompare(String(b?.Action))),
    ).toEqual([
      {
        Action: 'lambda:InvokeFunction',
        FunctionName: { 'Fn::GetAtt': [fn, 'Arn'] },
        InvokedViaFunctionUrl: true,
        Principal: '*',
      },
      {
        Action: 'lambda:InvokeFunctionUrl',
        FunctionName: { 'Fn::GetAtt': [fn, 'Arn'] },
        FunctionUrlAuthType: 'NONE',
        Principal: '*',
      },
    ]);
  });

  it('has its own role: its log group, the one-time items and state in the table, the pipeline secrets; no scheduler, no invoke, no managed policy', () => {
    const fn = onlyOne(idsOf(s.json, 'AWS::Lambda::Function', 'TokenRefresherRecoveryFunction'));
    const roleId = (s.json.Resources[fn]?.Properties?.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
    const rotationRole = (
      s.json.Resources[onlyOne(idsOf(s.json, 'AWS::Lambda::Function', 'TokenRefresherFunction'))]?.Properties?.Role as {
        'Fn::GetAtt': [string, string];
      }
    )['Fn::GetAtt'][0];
    expect(roleId).not.toBe(rotationRole);
    const role = s.json.Resources[roleId]!;
    expect(role.Properties?.ManagedPolicyArns).toBeUndefined();
    expect(JSON.stringify(role.Properties?.AssumeRolePolicyDocument)).toContain('lambda.amazonaws.com');
    const statements = roleStatements(s.json, roleId);
    const bySid = Object.fromEntries(statements.map((st) => [st.Sid, st]));
    expect(Object.keys(bySid).sort()).toEqual([
      'AlertMailFromSender',
      'OwnLogGroup',
      'ReadClientSecrets',
      'RotateOwnSecrets',
      'StateTable',
    ]);
    expect(bySid.OwnLogGroup?.Resource).toEqual({
      'Fn::GetAtt': [onlyOne(idsOf(s.json, 'AWS::Logs::LogGroup', 'TokenRefresherRecoveryLogGroup')), 'Arn'],
    });
    expect(asArray(bySid.StateTable?.Action).sort()).toEqual([...RECOVERY_TABLE_ACTIONS].sort());
    expect(bySid.StateTable?.Resource).toEqual({
      'Fn::GetAtt': [onlyOne(idsOf(s.json, 'AWS::DynamoDB::Table')), 'Arn'],
    });
    // The same secrets as the rotation function, no more.
    const rotation = Object.fromEntries(roleStatements(s.json, rotationRole).map((st) => [st.Sid, st]));
    for (const sid of ['RotateOwnSecrets', 'ReadClientSecrets', 'AlertMailFromSender'])
      expect(bySid[sid]).toEqual(rotation[sid]);
    const actions = statements.flatMap((st) => asArray(st.Action));
    expect(actions.filter((a) => /^(lambda|scheduler|sqs|iam|sns):/.test(a) || a.includes('*'))).toEqual([]);
  });

  it('names the URL and the redirect URI to register in outputs, and tells the rotation function the URL', () => {
    const outputs = s.template.findOutputs('*');
    const url = Object.entries(outputs).find(([k]) => k.startsWith('TokenRefresherRecoveryUrl'))?.[1];
    const redirect = Object.entries(outputs).find(([k]) => k.startsWith('TokenRefresherRecoveryRedirectUri'))?.[1];
    const urlId = onlyOne(idsOf(s.json, 'AWS::Lambda::Url'));
    expect(url?.Value).toEqual({ 'Fn::GetAtt': [urlId, 'FunctionUrl'] });
    expect(redirect?.Value).toEqual({ 'Fn::Join': ['', [{ 'Fn::GetAtt': [urlId, 'FunctionUrl'] }, 'callback']] });
    expect(redirect?.Description).toContain('Web platform');
    const rotation = s.json.Resources[onlyOne(idsOf(s.json, 'AWS::Lambda::Function', 'TokenRefresherFunction'))]!;
    expect(JSON.stringify((rotation.Properties?.Environment as { Variables: unknown }).Variables)).toContain(
      'TOKEN_REFRESHER_RECOVERY_URL',
    );
  });

  it('without alerts.sns or chatbot there is no alert topic and no publish permission; SES failures are alarmed per channel', () => {
    expect(idsOf(s.json, 'AWS::SNS::Topic', 'TokenRefresherAlertTopic')).toEqual([]);
    expect(
      identityStatements(s.json).filter(({ statement }) => asArray(statement.Action).includes('sns:Publish')),
    ).toEqual([]);
    s.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: metricNames.ALERT_CHANNEL_FAILURE,
      Dimensions: Match.arrayWith([
        { Name: 'channel', Value: 'ses' },
        { Name: 'credential', Value: 'alerts' },
      ]),
      Threshold: 1,
      TreatMissingData: 'notBreaching',
    });
  });
});

describe('every alert channel configured', () => {
  let s: Synthesized;
  beforeAll(() => {
    s = synth(channelsConfig());
  });
  afterAll(() => s.cleanup());

  const rolesOfFunctions = () =>
    idsOf(s.json, 'AWS::Lambda::Function').map(
      (id) => (s.json.Resources[id]?.Properties?.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0],
    );

  it('an encrypted, TLS-only alert topic that only the two functions may publish to', () => {
    const topic = onlyOne(idsOf(s.json, 'AWS::SNS::Topic', 'TokenRefresherAlertTopic'));
    expect(s.json.Resources[topic]?.Properties?.KmsMasterKeyId).toBe(
      'arn:aws:kms:eu-west-1:123456789012:alias/aws/sns',
    );
    const policy = resourcesOfType(s.json, 'AWS::SNS::TopicPolicy').find(([, r]) =>
      JSON.stringify(r.Properties?.Topics).includes(topic),
    )![1];
    const statements = (policy.Properties?.PolicyDocument as { Statement: PolicyStatementJson[] }).Statement;
    expect(statements.find((st) => JSON.stringify(st.Condition).includes('aws:SecureTransport'))?.Effect).toBe('Deny');
    const only = statements.find((st) => st.Sid === 'OnlyTokenRefresherPublishes');
    expect(only?.Effect).toBe('Deny');
    const allowed = (only?.Condition?.ArnNotEquals?.['aws:PrincipalArn'] as Array<{ 'Fn::GetAtt': [string, string] }>)
      .map((x) => x['Fn::GetAtt'][0])
      .sort();
    expect(allowed).toEqual(rolesOfFunctions().sort());
    for (const role of rolesOfFunctions()) {
      const publish = roleStatements(s.json, role).find((st) => st.Sid === 'PublishAlerts');
      expect(publish?.Action).toBe('sns:Publish');
      expect(publish?.Resource).toEqual({ Ref: topic });
    }
    for (const id of idsOf(s.json, 'AWS::Lambda::Function')) {
      expect(
        (s.json.Resources[id]?.Properties?.Environment as { Variables: Record<string, unknown> }).Variables
          .TOKEN_REFRESHER_ALERT_TOPIC_ARN,
      ).toEqual({ Ref: topic });
    }
  });

  it('Slack and Teams channels through AWS Chatbot on the alert and alarm topics, notifications only (deny-all guardrail, role without permissions)', () => {
    const topic = onlyOne(idsOf(s.json, 'AWS::SNS::Topic', 'TokenRefresherAlertTopic'));
    const alarmTopic = onlyOne(idsOf(s.json, 'AWS::SNS::Topic', 'TokenRefresherAlarmTopic'));
    const guardrail = onlyOne(idsOf(s.json, 'AWS::IAM::ManagedPolicy', 'TokenRefresherChatbotGuardrail'));
    const chatRole = onlyOne(idsOf(s.json, 'AWS::IAM::Role', 'TokenRefresherChatbotRole'));
    s.template.hasResourceProperties('AWS::Chatbot::SlackChannelConfiguration', {
      SlackWorkspaceId: 'T0123ABCD',
      SlackChannelId: 'C0456EFGH',
      SnsTopicArns: [{ Ref: topic }, { Ref: alarmTopic }],
      GuardrailPolicies: [{ Ref: guardrail }],
      IamRoleArn: { 'Fn::GetAtt': [chatRole, 'Arn'] },
    });
    s.template.hasResourceProperties('AWS::Chatbot::MicrosoftTeamsChannelConfiguration', {
      TeamId: '2b8e9f1a-0c3d-4e5f-8a9b-0c1d2e3f4a5b',
      TeamsTenantId: '7a3c0f4e-5b1d-4c2a-9e8f-0d6b2a1c3e4f',
      TeamsChannelId: '19%3Aabc123%40thread.tacv2',
      SnsTopicArns: [{ Ref: topic }, { Ref: alarmTopic }],
      GuardrailPolicies: [{ Ref: guardrail }],
    });
    expect(s.json.Resources[guardrail]?.Properties?.PolicyDocument).toEqual({
      Version: '2012-10-17',
      Statement: [{ Sid: 'NoCommandsFromChat', Effect: 'Deny', Action: '*', Resource: '*' }],
    });
    expect(roleStatements(s.json, chatRole)).toEqual([]);
    expect(s.json.Resources[chatRole]?.Properties?.ManagedPolicyArns).toBeUndefined();
  });

  it('both functions may read the webhook secrets (by name with the suffix wildcard, or by ARN), and every channel has its alarm', () => {
    for (const role of rolesOfFunctions()) {
      const read = roleStatements(s.json, role).find((st) => st.Sid === 'ReadWebhookSecrets');
      expect(read?.Action).toBe('secretsmanager:GetSecretValue');
      const resources = JSON.stringify(read?.Resource);
      expect(resources).toContain('secret:token-refresher/webhooks/ops-??????');
      expect(resources).toContain('arn:aws:secretsmanager:eu-west-1:123456789012:secret:pd-routing-AbCdEf');
    }
    const channels = resourcesOfType(s.json, 'AWS::CloudWatch::Alarm')
      .filter(([, r]) => r.Properties?.MetricName === metricNames.ALERT_CHANNEL_FAILURE)
      .map(
        ([, r]) =>
          (r.Properties?.Dimensions as Array<{ Name: string; Value: string }>).find((d) => d.Name === 'channel')?.Value,
      )
      .sort();
    expect(channels).toEqual(['ses', 'sns', 'webhook:ops', 'webhook:pagerduty']);
  });
});

describe('recovery.enabled false', () => {
  let s: Synthesized;
  beforeAll(() => {
    s = synth(channelsConfig({ recovery: { enabled: false } }));
  });
  afterAll(() => s.cleanup());

  it('deploys no public URL at all, and the rotation function is not told one (its alerts name the CLI command)', () => {
    s.template.resourceCountIs('AWS::Lambda::Url', 0);
    expect(idsOf(s.json, 'AWS::Lambda::Function')).toHaveLength(1);
    expect(
      resourcesOfType(s.json, 'AWS::Lambda::Permission').filter(([, r]) => r.Properties?.Principal === '*'),
    ).toEqual([]);
    expect(JSON.stringify(s.json)).not.toContain('TOKEN_REFRESHER_RECOVERY_URL');
    expect(Object.keys(s.template.findOutputs('*')).filter((k) => k.includes('Recovery'))).toEqual([]);
    // The other channels stay.
    expect(idsOf(s.json, 'AWS::SNS::Topic', 'TokenRefresherAlertTopic')).toHaveLength(1);
  });
});
