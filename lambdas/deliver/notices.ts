/**
 * What the delivery stage tells people: pushes outside a window (and why), mail-auth failures AEM itself logged (with
 * the redacted lines), later stages held by a failed earlier one, and pushes that could not happen when they had to.
 */
import type { Credential } from '../config/schema.ts';
import { redactText } from '../core/redact.ts';
import type { Alert } from '../core/types.ts';

export interface DeliveryNotice {
  kind: 'pushed-outside-window' | 'mail-auth-error' | 'stage-held' | 'push-blocked' | 'env-failed' | 'slow-restart';
  target: string;
  code: string;
  message: string;
  fix?: string;
  lines?: string[];
}

const FIX: Record<DeliveryNotice['kind'], string> = {
  'pushed-outside-window':
    'Nothing to do now; the environment restarted outside its window to keep mail working. If this repeats, widen the windows or lower pushAfterDays.',
  'mail-auth-error':
    "Look at AEM's mail configuration (OSGi com.day.cq.mailer.oauth) and the lines below; if the token is dead, sign in again with `token-refresher regenerate`, which pushes a new copy at once.",
  'stage-held': 'Fix the failed earlier stage (see its alert), then the later stages are pushed in their next windows.',
  'push-blocked': 'See the reason above; the push is retried in every run until it succeeds.',
  'env-failed':
    'Look at the environment in Cloud Manager; the token is stored and is pushed again once the environment is ready.',
  'slow-restart': 'Look at the environment in Cloud Manager; the follow-up continues in the next runs.',
};

export function composeDeliveryAlert(c: Credential, notices: readonly DeliveryNotice[], now: Date): Alert {
  const needsPerson = notices.some((n) => n.kind !== 'pushed-outside-window');
  const first = notices[0];
  const lines = [`Delivery of credential "${c.id}" (mailbox ${c.mailbox}) to AEM, ${now.toISOString()}:`, ''];
  for (const n of notices) {
    lines.push(`- ${n.target}: ${n.code}`, `  What happened: ${redactText(n.message)}`);
    for (const l of n.lines ?? []) lines.push(`    ${redactText(l)}`);
    lines.push(`  What to do: ${redactText(n.fix ?? FIX[n.kind])}`, '');
  }
  lines.push('Troubleshooting by code: see the README section "Troubleshooting".');
  return {
    credentialId: c.id,
    kind: 'failure',
    stage: 'push',
    code: first?.code,
    subject: `[token-refresher] ${c.id}: ${needsPerson ? 'delivery needs a look' : 'pushed outside a maintenance window'} - ${first?.code ?? ''}`,
    text: lines.join('\n'),
  };
}
