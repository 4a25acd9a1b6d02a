import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { RefresherError } from '../core/errors.ts';
import type { Alert, Alerter } from '../core/types.ts';
import { alertDocument } from './alert-document.ts';

export interface SnsAlerterOptions {
  topicArn: string;
  client?: SNSClient;
  timeoutMs?: number;
  now?: () => Date;
}

/** SNS caps a message at 256 KiB; an alert is a few KiB, the description is cut well below that for chat clients. */
const MAX_DESCRIPTION = 3_500;

/**
 * The alert as an AWS Chatbot custom notification (https://docs.aws.amazon.com/chatbot/latest/adminguide/custom-notifs.html:
 * version "1.0", source "custom", content, metadata), so Slack and Teams channels subscribed through Chatbot show it as
 * written; the machine-readable fields (credential, class, code, fix, link) are in metadata.additionalContext for
 * any other subscriber (SQS, Lambda, HTTPS).
 */
export function snsMessage(alert: Alert, now: Date): string {
  const doc = alertDocument(alert, now);
  const nextSteps = [doc.link ? `Sign in again as the mailbox: ${doc.link}` : undefined, doc.fix].filter(
    (s): s is string => Boolean(s),
  );
  const context: Record<string, string> = { credential: doc.credential, kind: doc.kind, sentAt: doc.sentAt };
  for (const k of ['class', 'code', 'stage', 'fix', 'link', 'linkExpiresAt'] as const) {
    const v = doc[k];
    if (v !== undefined) context[k] = v;
  }
  return JSON.stringify({
    version: '1.0',
    source: 'custom',
    id: `${doc.credential}:${doc.kind}:${doc.code ?? 'ok'}:${doc.sentAt}`,
    content: {
      textType: 'client-markdown',
      title: doc.subject,
      description: doc.text.length > MAX_DESCRIPTION ? `${doc.text.slice(0, MAX_DESCRIPTION)}…` : doc.text,
      nextSteps,
      keywords: [doc.credential, doc.kind, ...(doc.code ? [doc.code] : [])],
    },
    metadata: {
      // One thread per credential in chat: a reminder and the recovery follow the first alert.
      threadId: `token-refresher-${doc.credential}`,
      summary: doc.subject,
      eventType: `token-refresher.${doc.kind}`,
      additionalContext: context,
    },
  });
}

/** Publishes every alert to the alert topic (AWS Chatbot, or any other subscriber). */
export class SnsAlerter implements Alerter {
  readonly channel = 'sns';
  private readonly client: SNSClient;

  constructor(private readonly opts: SnsAlerterOptions) {
    this.client =
      opts.client ??
      new SNSClient({
        maxAttempts: 3,
        requestHandler: {
          requestTimeout: opts.timeoutMs ?? 5_000,
          connectionTimeout: opts.timeoutMs ?? 5_000,
          throwOnRequestTimeout: true,
        },
      });
  }

  async send(alert: Alert): Promise<void> {
    try {
      await this.client.send(
        new PublishCommand({
          TopicArn: this.opts.topicArn,
          Subject: alert.subject.replace(/[^\x20-\x7e]/g, ' ').slice(0, 99),
          Message: snsMessage(alert, this.opts.now?.() ?? new Date()),
        }),
      );
    } catch (e) {
      const name = (e as { name?: string }).name ?? 'Error';
      throw new RefresherError({
        class:
          name === 'AuthorizationErrorException' || name === 'NotFoundException' || name === 'KMSAccessDeniedException'
            ? 'configuration'
            : 'transient',
        code: `SNS_${name}`,
        remote: 'sns',
        stage: 'report',
        message: `the alert could not be published to the SNS topic ${this.opts.topicArn}: ${name}`,
        fix: 'Check that the topic exists and that the function may sns:Publish to it and use its KMS key (the stack grants both).',
      });
    }
  }
}
