import { SESClient, SendEmailCommand } from '@aws-sdk/client-ses';
import { RefresherError } from '../core/errors.ts';
import { redactText } from '../core/redact.ts';
import type { Alert, Alerter } from '../core/types.ts';
import { renderAlertText } from './alert-text.ts';

export interface SesAlerterOptions {
  from: string;
  to: string[];
  client?: SESClient;
  timeoutMs?: number;
}

/** Alert mail through Amazon SES: a channel that does not depend on the mailbox whose token may be dead. */
export class SesAlerter implements Alerter {
  readonly channel = 'ses';
  private readonly client: SESClient;

  constructor(private readonly opts: SesAlerterOptions) {
    this.client =
      opts.client ??
      // throwOnRequestTimeout: without it @smithy/node-http-handler 4.x only warns when requestTimeout passes.
      new SESClient({
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
        new SendEmailCommand({
          Source: this.opts.from,
          Destination: { ToAddresses: this.opts.to },
          Message: {
            Subject: { Data: redactText(alert.subject), Charset: 'UTF-8' },
            Body: { Text: { Data: renderAlertText(alert), Charset: 'UTF-8' } },
          },
        }),
      );
    } catch (e) {
      const name = (e as { name?: string }).name ?? 'Error';
      throw new RefresherError({
        class:
          name === 'MessageRejected' || name === 'MailFromDomainNotVerifiedException' ? 'configuration' : 'transient',
        code: `SES_${name}`,
        remote: 'ses',
        stage: 'report',
        message: `the alert mail could not be sent through SES: ${name}`,
        fix: `Verify the SES identity ${this.opts.from} (and, in the SES sandbox, each recipient); the CloudWatch alarm still fires.`,
      });
    }
  }
}

/** Collects alerts in memory: for the demo and tests. */
export class MemoryAlerter implements Alerter {
  readonly sent: Alert[] = [];
  async send(alert: Alert): Promise<void> {
    this.sent.push({ ...alert, subject: redactText(alert.subject), text: renderAlertText(alert) });
  }
}
