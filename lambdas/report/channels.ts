import type { SESClient } from '@aws-sdk/client-ses';
import type { SNSClient } from '@aws-sdk/client-sns';
import type { Config } from '../config/schema.ts';
import type { Alerter } from '../core/types.ts';
import { FanOutAlerter } from './fan-out-alerter.ts';
import type { Log } from './logger.ts';
import type { MetricSink } from './metrics.ts';
import { SesAlerter } from './ses-alerter.ts';
import { SnsAlerter } from './sns-alerter.ts';
import { WebhookAlerter } from './webhook-alerter.ts';

/** Set by the stack when the configuration asks for the alert topic (alerts.sns or alerts.chatbot). */
export const ALERT_TOPIC_ENV = 'TOKEN_REFRESHER_ALERT_TOPIC_ARN';

/** Whether the configuration asks for the alert topic: explicitly, or because chat channels read it. */
export function wantsAlertTopic(config: Pick<Config, 'alerts'>): boolean {
  const a = config.alerts;
  if (!a) return false;
  return a.sns === true || (a.chatbot !== undefined && (a.chatbot.slack.length > 0 || a.chatbot.teams.length > 0));
}

export interface ChannelOptions {
  config: Config;
  metrics: MetricSink;
  log: Log;
  readSecret: (secretId: string) => Promise<string>;
  env?: NodeJS.ProcessEnv;
  ses?: SESClient;
  sns?: SNSClient;
  baseDelayMs?: number;
}

/**
 * Every configured channel behind one Alerter: SES mail (alerts.from/to), the SNS topic (Slack and Teams read it through
 * AWS Chatbot) and each webhook. Undefined without an "alerts" section.
 */
export function alertChannels(o: ChannelOptions): FanOutAlerter | undefined {
  const a = o.config.alerts;
  if (!a) return undefined;
  const env = o.env ?? process.env;
  const channels: Alerter[] = [new SesAlerter({ from: a.from, to: a.to, client: o.ses })];
  const topicArn = env[ALERT_TOPIC_ENV];
  if (topicArn) channels.push(new SnsAlerter({ topicArn, client: o.sns }));
  else if (wantsAlertTopic(o.config))
    o.log.warn(
      `alerts.sns/chatbot is configured but ${ALERT_TOPIC_ENV} is unset: deploy with the stack, which creates the topic`,
    );
  for (const webhook of a.webhooks ?? [])
    channels.push(new WebhookAlerter({ webhook, readSecret: o.readSecret, baseDelayMs: o.baseDelayMs }));
  return new FanOutAlerter(channels, { metrics: o.metrics, log: o.log });
}
