import type { Alert } from '../core/types.ts';
import { redactText } from '../core/redact.ts';
import { renderAlertText } from './alert-text.ts';

/**
 * The alert as fields, for the channels that carry JSON (SNS, webhooks). Every text is redacted; the link is the one
 * secret that belongs here, and only on a `reauthorize` alert.
 */
export interface AlertDocument {
  version: 1;
  source: 'token-refresher';
  credential: string;
  kind: Alert['kind'];
  class?: string;
  code?: string;
  stage?: string;
  subject: string;
  text: string;
  fix?: string;
  link?: string;
  linkExpiresAt?: string;
  sentAt: string;
}

export function alertDocument(alert: Alert, now: Date): AlertDocument {
  return {
    version: 1,
    source: 'token-refresher',
    credential: alert.credentialId,
    kind: alert.kind,
    class: alert.failureClass,
    code: alert.code,
    stage: alert.stage,
    subject: redactText(alert.subject),
    text: renderAlertText(alert),
    fix: alert.fix === undefined ? undefined : redactText(alert.fix),
    link: alert.link,
    linkExpiresAt: alert.linkExpiresAt,
    sentAt: now.toISOString(),
  };
}
