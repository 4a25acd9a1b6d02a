import { ArnFormat, CfnOutput, Duration } from 'aws-cdk-lib';
import * as chatbot from 'aws-cdk-lib/aws-chatbot';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import { ALERT_TOPIC_ENV, wantsAlertTopic } from '../../lambdas/report/channels.ts';
import * as metricNames from '../../lambdas/report/metric-names.ts';
import type { RefresherContext } from './context.ts';

export interface AlertChannelsPart {
  /** Alerts as JSON (AWS Chatbot custom notifications); undefined unless alerts.sns or alerts.chatbot is configured. */
  readonly alertTopic?: sns.Topic;
  readonly slack: chatbot.CfnSlackChannelConfiguration[];
  readonly teams: chatbot.CfnMicrosoftTeamsChannelConfiguration[];
  /** The channels whose failures are alarmed: "ses", "sns", "webhook:<name>". */
  readonly channels: string[];
}

/** A secret named in the configuration: its ARN as IAM sees it (a name matches any random suffix Secrets Manager adds). */
function secretArn(ctx: RefresherContext, secretId: string): string {
  if (secretId.startsWith('arn:')) return secretId;
  return ctx.stack.formatArn({
    service: 'secretsmanager',
    resource: 'secret',
    resourceName: `${secretId}-??????`,
    arnFormat: ArnFormat.COLON_RESOURCE_NAME,
  });
}

/**
 * The alert channels besides SES mail: the alert topic (SNS) with AWS Chatbot configurations for Slack and Microsoft
 * Teams on it, the permissions the functions need for the topic and the webhooks' secrets, and one alarm per channel
 * on AlertChannelFailure. `roles` are the roles that send alerts (the rotation function's and the recovery endpoint's).
 */
export function addAlertChannels(
  ctx: RefresherContext,
  roles: iam.Role[],
  functions: Array<{ addEnvironment(k: string, v: string): unknown }>,
): AlertChannelsPart {
  const { scope, config, stack } = ctx;
  const alerts = config.alerts;
  const channels: string[] = alerts ? ['ses'] : [];
  const slack: chatbot.CfnSlackChannelConfiguration[] = [];
  const teams: chatbot.CfnMicrosoftTeamsChannelConfiguration[] = [];
  let alertTopic: sns.Topic | undefined;

  if (alerts && wantsAlertTopic(config)) {
    // The AWS managed SNS key: only SNS and this account's principals through SNS use it, and no CloudWatch alarm
    // publishes here (the alarm topic has its own key for that reason).
    alertTopic = new sns.Topic(scope, 'AlertTopic', {
      displayName: 'token-refresher alerts',
      masterKey: kms.Alias.fromAliasName(scope, 'AlertTopicKey', 'alias/aws/sns'),
      enforceSSL: true,
    });
    // Only the two functions publish: any other principal of the account is refused, whatever its IAM policy says, so a
    // message in the channel always comes from token-refresher.
    alertTopic.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'OnlyTokenRefresherPublishes',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: ['sns:Publish'],
        resources: [alertTopic.topicArn],
        conditions: { ArnNotEquals: { 'aws:PrincipalArn': roles.map((r) => r.roleArn) } },
      }),
    );
    for (const role of roles) {
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({ sid: 'PublishAlerts', actions: ['sns:Publish'], resources: [alertTopic.topicArn] }),
      );
    }
    for (const fn of functions) fn.addEnvironment(ALERT_TOPIC_ENV, alertTopic.topicArn);
    channels.push('sns');
    new CfnOutput(scope, 'AlertTopicArn', {
      value: alertTopic.topicArn,
      description: 'Alerts as JSON (AWS Chatbot custom notifications): subscribe more consumers here',
    });

    const chat = alerts.chatbot;
    if (chat && (chat.slack.length > 0 || chat.teams.length > 0)) {
      // Notifications only: the channel role has no permission, and the guardrail denies everything, so nobody in the
      // channel can run AWS commands through Chatbot (the default guardrail would be AdministratorAccess).
      const chatRole = new iam.Role(scope, 'ChatbotRole', {
        assumedBy: new iam.ServicePrincipal('chatbot.amazonaws.com'),
        description: 'token-refresher chat channels: notifications only, no permission',
      });
      const guardrail = new iam.ManagedPolicy(scope, 'ChatbotGuardrail', {
        description: 'token-refresher chat channels run no AWS command',
        statements: [
          new iam.PolicyStatement({
            sid: 'NoCommandsFromChat',
            effect: iam.Effect.DENY,
            actions: ['*'],
            resources: ['*'],
          }),
        ],
      });
      const topics = [alertTopic.topicArn, ctx.alarmTopic.topicArn];
      chat.slack.forEach((s, i) => {
        slack.push(
          new chatbot.CfnSlackChannelConfiguration(scope, `Slack${i + 1}`, {
            configurationName: `${stack.stackName}-slack-${i + 1}`.slice(0, 128),
            slackWorkspaceId: s.workspaceId,
            slackChannelId: s.channelId,
            iamRoleArn: chatRole.roleArn,
            guardrailPolicies: [guardrail.managedPolicyArn],
            snsTopicArns: topics,
            loggingLevel: 'ERROR',
          }),
        );
      });
      chat.teams.forEach((t, i) => {
        teams.push(
          new chatbot.CfnMicrosoftTeamsChannelConfiguration(scope, `Teams${i + 1}`, {
            configurationName: `${stack.stackName}-teams-${i + 1}`.slice(0, 128),
            teamId: t.teamId,
            teamsTenantId: t.tenantId,
            // CloudFormation wants the id as the channel link has it: ":" and "@" URL-encoded.
            teamsChannelId: t.channelId.replace(/:/g, '%3A').replace(/@/g, '%40'),
            iamRoleArn: chatRole.roleArn,
            guardrailPolicies: [guardrail.managedPolicyArn],
            snsTopicArns: topics,
            loggingLevel: 'ERROR',
          }),
        );
      });
    }
  }

  const webhookSecrets = (alerts?.webhooks ?? [])
    .flatMap((w) => [w.signingSecret, w.routingKey])
    .filter((s): s is { secretId: string } => s !== undefined);
  if (webhookSecrets.length > 0) {
    const resources = [...new Set(webhookSecrets.map((s) => secretArn(ctx, s.secretId)))].sort();
    for (const role of roles) {
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({ sid: 'ReadWebhookSecrets', actions: ['secretsmanager:GetSecretValue'], resources }),
      );
    }
  }
  for (const w of alerts?.webhooks ?? []) channels.push(`webhook:${w.name}`);

  // One alarm per channel: the alert still went out on the others, so this is the only sign that this one is broken.
  for (const channel of channels) {
    const alarm = new cloudwatch.Alarm(scope, `AlertChannelFailure-${channel.replace(/[^A-Za-z0-9]/g, '-')}`, {
      alarmName: `${ctx.alarmNamePrefix} alert channel ${channel} failing`.slice(0, 255),
      alarmDescription: `token-refresher could not deliver an alert on channel ${channel} (the other channels were not held up). The function's log names the credential and the error.`,
      metric: ctx.metric(metricNames.ALERT_CHANNEL_FAILURE, metricNames.ALERT_CHANNEL_CREDENTIAL_DIMENSION, {
        statistic: 'Sum',
        period: Duration.hours(1),
        extraDimensions: { [metricNames.DIMENSION_CHANNEL]: channel },
      }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    ctx.alarms.push(alarm);
  }
  return { alertTopic, slack, teams, channels };
}
