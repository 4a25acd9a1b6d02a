import { createHmac } from 'node:crypto';
import type { Dispatcher } from 'undici';
import type { WebhookSettings } from '../config/schema.ts';
import { RefresherError } from '../core/errors.ts';
import { httpRequest } from '../core/http.ts';
import { registerSecret } from '../core/redact.ts';
import type { Alert, Alerter } from '../core/types.ts';
import { alertDocument } from './alert-document.ts';

export const SIGNATURE_HEADER = 'x-token-refresher-signature';
export const TIMESTAMP_HEADER = 'x-token-refresher-timestamp';

/**
 * HMAC-SHA256 over "<unix seconds>.<body>" with the signing secret, hex: the receiver recomputes it and rejects old
 * timestamps, so a captured request can be neither altered nor replayed later (the scheme Stripe and Slack use).
 */
export function signature(secret: string, timestamp: string, body: string): string {
  return `v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/** PagerDuty Events API v2 (https://developer.pagerduty.com/docs/events-api-v2/trigger-events/): one incident per credential. */
export function pagerDutyEvent(alert: Alert, routingKey: string, now: Date): Record<string, unknown> {
  const doc = alertDocument(alert, now);
  return {
    routing_key: routingKey,
    event_action: alert.kind === 'recovered' ? 'resolve' : 'trigger',
    dedup_key: `token-refresher:${doc.credential}`,
    payload: {
      summary: doc.subject.slice(0, 1024),
      source: 'token-refresher',
      severity: doc.class === 'transient' ? 'warning' : 'error',
      component: doc.credential,
      class: doc.class,
      custom_details: { code: doc.code, stage: doc.stage, fix: doc.fix, text: doc.text },
    },
    ...(doc.link ? { links: [{ href: doc.link, text: 'Sign in again as the mailbox' }] } : {}),
  };
}

export interface WebhookAlerterOptions {
  webhook: WebhookSettings;
  /** Reads a Secrets Manager value (signing secret, routing key); called on every send, so a rotated secret applies at once. */
  readSecret: (secretId: string) => Promise<string>;
  now?: () => Date;
  baseDelayMs?: number;
  maxRetryAfterMs?: number;
  dispatcher?: Dispatcher;
}

/** A JSON POST per alert, with a timeout per attempt, retries with backoff that honour Retry-After, optionally signed. */
export class WebhookAlerter implements Alerter {
  readonly channel: string;

  constructor(private readonly o: WebhookAlerterOptions) {
    this.channel = `webhook:${o.webhook.name}`;
  }

  private fail(code: string, message: string, fix: string, status?: number, transient = true): RefresherError {
    return new RefresherError({
      class: transient ? 'transient' : 'configuration',
      code,
      remote: 'webhook',
      stage: 'report',
      status,
      message: `webhook "${this.o.webhook.name}" (${hostOf(this.o.webhook.url)}): ${message}`,
      fix,
    });
  }

  async send(alert: Alert): Promise<void> {
    const w = this.o.webhook;
    const now = this.o.now?.() ?? new Date();
    const secret = async (ref: { secretId: string } | undefined, what: string) => {
      if (!ref) return undefined;
      const v = (await this.o.readSecret(ref.secretId).catch(() => undefined))?.trim();
      if (!v)
        throw this.fail(
          'WEBHOOK_SECRET_MISSING',
          `its ${what} ${ref.secretId} could not be read or is empty`,
          `Store the ${what} in ${ref.secretId} and let the function read it.`,
          undefined,
          false,
        );
      registerSecret(v);
      return v;
    };
    const routingKey = w.format === 'pagerduty' ? await secret(w.routingKey, 'routing key') : undefined;
    const body = JSON.stringify(
      w.format === 'pagerduty' ? pagerDutyEvent(alert, routingKey ?? '', now) : alertDocument(alert, now),
    );
    const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'token-refresher' };
    const signingSecret = await secret(w.signingSecret, 'signing secret');
    if (signingSecret) {
      const ts = String(Math.floor(now.getTime() / 1000));
      headers[TIMESTAMP_HEADER] = ts;
      headers[SIGNATURE_HEADER] = signature(signingSecret, ts, body);
    }
    const res = await httpRequest({
      remote: 'webhook',
      stage: 'report',
      method: 'POST',
      url: w.url,
      headers,
      body,
      timeoutMs: w.timeoutMs,
      retries: w.retries,
      baseDelayMs: this.o.baseDelayMs,
      maxRetryAfterMs: this.o.maxRetryAfterMs ?? 30_000,
      maxBodyBytes: 64 * 1024,
      dispatcher: this.o.dispatcher,
    });
    if (res.status >= 200 && res.status < 300) return;
    const transient = res.status === 429 || res.status >= 500 || res.status === 408;
    throw this.fail(
      `WEBHOOK_HTTP_${res.status}`,
      `answered HTTP ${res.status} after ${res.attempts} attempt${res.attempts > 1 ? 's' : ''}`,
      transient
        ? 'The next alert tries again; check the receiver if it persists.'
        : 'Check the webhook URL, its signing secret or routing key, and what the receiver expects.',
      res.status,
      transient,
    );
  }
}

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return 'invalid-url';
  }
}
