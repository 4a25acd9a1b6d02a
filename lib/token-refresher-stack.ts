import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import type { Config } from '../lambdas/config/schema.ts';
import { TokenRefresher, type TokenRefresherProps } from './token-refresher.ts';

export interface TokenRefresherStackProps extends StackProps, Omit<TokenRefresherProps, 'config'> {
  readonly config: Config;
}

/** The deployable unit: the TokenRefresher construct and the outputs the operator CLI and the runbook refer to. */
export class TokenRefresherStack extends Stack {
  readonly refresher: TokenRefresher;

  constructor(scope: Construct, id: string, props: TokenRefresherStackProps) {
    super(scope, id, props);
    const { config, ...rest } = props;
    this.refresher = new TokenRefresher(this, 'TokenRefresher', { ...rest, config });

    new CfnOutput(this, 'FunctionName', {
      value: this.refresher.function.functionName,
      description: 'Invoke by hand: {"action":"rotate","credential":"<id>"}',
    });
    new CfnOutput(this, 'AlarmTopicArn', {
      value: this.refresher.alarmTopic.topicArn,
      description: 'Alarms notify this topic; confirm the e-mail subscriptions',
    });
    new CfnOutput(this, 'DeadLetterQueueUrl', {
      value: this.refresher.deadLetterQueue.queueUrl,
      description: 'Undelivered or failed runs',
    });
    new CfnOutput(this, 'DashboardName', { value: this.refresher.dashboard.dashboardName });
    new CfnOutput(this, 'LogGroupName', { value: this.refresher.logGroup.logGroupName });
    if (this.refresher.sesIdentityArn) {
      new CfnOutput(this, 'AlertSenderIdentityArn', {
        value: this.refresher.sesIdentityArn,
        description: 'SES identity the alert mail is sent from (verify it)',
      });
    }
  }
}
