import type { Credential } from '../config/schema.ts';
import type { RefresherError } from '../core/errors.ts';
import { redactText } from '../core/redact.ts';
import type { Alert } from '../core/types.ts';
import type { AlertDecision, FailureState } from './alert-policy.ts';
import type { RecoveryLink } from './recovery-link.ts';

/** Where the sign-in link goes in an alert's text; channels fill it in after redaction (renderAlertText). */
export const ALERT_LINK_PLACEHOLDER = '{{sign-in-link}}';

/**
 * The text a person receives: redacted, then the link put in. Redaction comes first because the link token is a
 * registered secret (so that no log line can show it), and the alert is the one place it must appear.
 */
export function renderAlertText(alert: Pick<Alert, 'text' | 'link'>): string {
  const text = redactText(alert.text);
  return alert.link
    ? text.split(ALERT_LINK_PLACEHOLDER).join(alert.link)
    : text.split(ALERT_LINK_PLACEHOLDER).join('(no link)');
}

const WHO: Record<string, string> = {
  reauthorize: 'A person must sign in again',
  configuration: 'An administrator must fix the configuration',
  transient: 'A remote service keeps failing',
  input: 'The request was malformed',
  conflict: 'Another run interfered',
};

/**
 * The mail a person reads at 3 a.m.: which credential, what broke, and the exact next step. No secret ever, except the
 * sign-in link of a `reauthorize` alert, which is why that is kept in `link` and put in by each channel.
 */
export function composeAlert(
  c: Credential,
  decision: Exclude<AlertDecision, 'none'>,
  err: RefresherError | undefined,
  previous: FailureState | undefined,
  now: Date,
  recovery?: RecoveryLink,
): Alert {
  if (decision === 'recovered' || !err) {
    return {
      credentialId: c.id,
      kind: 'recovered',
      subject: `[token-refresher] ${c.id}: recovered`,
      text: [
        `Credential "${c.id}" (${c.mailbox}) rotated and validated successfully at ${now.toISOString()}.`,
        previous
          ? `The earlier failure (${previous.code} at ${previous.stage}, since ${previous.since}) is resolved.`
          : '',
        'Nothing to do.',
      ]
        .filter(Boolean)
        .join('\n'),
    };
  }
  const stage = err.stage ?? 'unknown';
  const link = recovery && err.class === 'reauthorize' ? recovery : undefined;
  const signIn = link
    ? [
        `Click this link and sign in as ${c.mailbox} (a phone will do; nothing to install):`,
        '',
        `  ${ALERT_LINK_PLACEHOLDER}`,
        '',
        `The link works once and until ${link.expiresAt}; the token is then stored, tested with a test send and pushed to AEM, and the page shows each step.`,
        '',
      ]
    : [];
  const fixText = link
    ? `Click the sign-in link above and sign in as ${c.mailbox}. The sign-in returns to ${link.redirectUri}, which must be registered on the app (Entra ID: App registrations > ${c.clientId} > Authentication > Web platform redirect URI). If the link does not work: ${err.fix}`
    : err.fix;
  const lines = [
    `${WHO[err.class] ?? 'Action needed'} for credential "${c.id}" (mailbox ${c.mailbox}, provider ${c.provider}).`,
    '',
    ...signIn,
    `Stage:   ${stage}`,
    `Remote:  ${err.remote}`,
    `Class:   ${err.class}`,
    `Code:    ${err.code}`,
    `What happened: ${err.message}`,
    '',
    `What to do: ${fixText}`,
    '',
    stage === 'validate' || stage === 'push' || stage === 'promote'
      ? 'The newest refresh token is kept in Secrets Manager; AEM keeps the token it has, which stays valid until it is replaced.'
      : 'The stored refresh token is unchanged.',
    decision === 'reminder' && previous
      ? `This failure has lasted since ${previous.since} (${previous.runs} runs). You get at most one reminder a day.`
      : '',
    `Troubleshooting by code: see the README section "Troubleshooting" (${err.code}).`,
  ];
  return {
    credentialId: c.id,
    kind: decision,
    stage,
    failureClass: err.class,
    code: err.code,
    subject: `[token-refresher] ${c.id}: ${decision === 'reminder' ? 'still failing' : 'action needed'} - ${err.code} at ${stage}`,
    // Empty lines around the link keep it alone on its line (mail clients on phones make it tappable).
    text: lines.filter((l, i) => l !== '' || (signIn.length > 0 && i > 0 && i <= signIn.length + 1)).join('\n'),
    fix: redactText(fixText),
    ...(link ? { link: link.url, linkExpiresAt: link.expiresAt } : {}),
  };
}
