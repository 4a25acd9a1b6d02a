import { Annotations, ArnFormat, Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as ses from 'aws-cdk-lib/aws-ses';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { PartScope, RefresherContext } from './context.ts';

export type AlertsPart = Pick<RefresherContext, 'sesIdentityArn' | 'deadLetterQueue' | 'alarmTopic'>;

/**
 * Where failures go: the SES identity the function mails alerts from, the dead-letter queue of undeliverable events and
 * failed runs, and the SNS topic CloudWatch alarms notify (with e-mail subscriptions).
 */
export function addAlerts(part: PartScope): AlertsPart {
  const { scope, config, props, stack } = part;
  let sesIdentityArn: string | undefined;
  if (config.alerts) {
    sesIdentityArn =
      props.sesIdentityArn ??
      new ses.EmailIdentity(scope, 'AlertSender', { identity: ses.Identity.email(config.alerts.from) })
        .emailIdentityArn;
  } else if (props.sesIdentityArn) {
    Annotations.of(scope).addWarningV2(
      'token-refresher:sesIdentityUnused',
      'sesIdentityArn is ignored: the configuration has no "alerts" section.',
    );
  }

  const deadLetterQueue = new sqs.Queue(scope, 'DeadLetterQueue', {
    // SQS-managed keys: the scheduler and SNS can write without a KMS grant, and the messages hold no secret (an event
    // naming a credential, or an alarm notification).
    encryption: sqs.QueueEncryption.SQS_MANAGED,
    enforceSSL: true,
    retentionPeriod: Duration.days(14),
  });
  Validations.of(deadLetterQueue).acknowledge(
    {
      id: 'AwsSolutions-SQS3',
      reason:
        "This queue is the dead-letter queue (of the scheduler targets, the function's on-failure destination and the alarm e-mail subscriptions); cdk-nag only recognises queues named in another queue's redrive policy.",
    },
    {
      id: 'Serverless-SQSRedrivePolicy',
      reason:
        'This queue is itself the last stop for undelivered events; a redrive policy would move them somewhere nobody watches. Its depth is alarmed.',
    },
  );

  const topicKey = new kms.Key(scope, 'AlarmTopicKey', {
    description:
      'Encrypts the token-refresher alarm topic; CloudWatch alarms cannot publish to a topic under the AWS-managed SNS key.',
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
      // As on the topic: only alarms of this account (confused-deputy protection,
      // https://docs.aws.amazon.com/IAM/latest/UserGuide/confused-deputy.html).
      conditions: {
        StringEquals: { 'aws:SourceAccount': stack.account },
        ArnLike: {
          'aws:SourceArn': stack.formatArn({
            service: 'cloudwatch',
            resource: 'alarm',
            resourceName: '*',
            arnFormat: ArnFormat.COLON_RESOURCE_NAME,
          }),
        },
      },
    }),
  );
  const alarmTopic = new sns.Topic(scope, 'AlarmTopic', {
    masterKey: topicKey,
    enforceSSL: true,
    displayName: 'token-refresher alarms',
  });
  alarmTopic.addToResourcePolicy(
    new iam.PolicyStatement({
      sid: 'CloudWatchAlarmsOfThisAccount',
      principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
      actions: ['sns:Publish'],
      resources: [alarmTopic.topicArn],
      conditions: {
        StringEquals: { 'aws:SourceAccount': stack.account },
        ArnLike: {
          'aws:SourceArn': stack.formatArn({
            service: 'cloudwatch',
            resource: 'alarm',
            resourceName: '*',
            arnFormat: ArnFormat.COLON_RESOURCE_NAME,
          }),
        },
      },
    }),
  );
  for (const email of props.alarmEmails ?? config.alerts?.to ?? []) {
    alarmTopic.addSubscription(new subscriptions.EmailSubscription(email, { deadLetterQueue }));
  }
  return { sesIdentityArn, deadLetterQueue, alarmTopic };
}
