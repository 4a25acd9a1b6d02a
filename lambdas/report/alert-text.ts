import type { Credential } from '../config/schema.ts';
import type { RefresherError } from '../core/errors.ts';
import type { Alert } from '../core/types.ts';
import type { AlertDecision, FailureState } from './alert-policy.ts';

const WHO: Record<string, string> = {
  reauthorize: 'A person must sign in again',
  configuration: 'An administrator must fix the configuration',
  transient: 'A remote service keeps failing',
  input: 'The request was malformed',
  conflict: 'Another run interfered',
};

/** The mail a person reads at 3 a.m.: which credential, what broke, and the exact next step. No secret ever. */
export function composeAlert(c: Credential, decision: Exclude<AlertDecision, 'none'>, err: RefresherError | undefined, previous: FailureState | undefined, now: Date): Alert {
  if (decision === 'recovered' || !err) {
    return {
      credentialId: c.id,
      kind: 'recovered',
      subject: `[token-refresher] ${c.id}: recovered`,
      text: [
        `Credential "${c.id}" (${c.mailbox}) rotated and validated successfully at ${now.toISOString()}.`,
        previous ? `The earlier failure (${previous.code} at ${previous.stage}, since ${previous.since}) is resolved.` : '',
        'Nothing to do.',
      ]
        .filter(Boolean)
        .join('\n'),
    };
  }
  const stage = err.stage ?? 'unknown';
  const lines = [
    `${WHO[err.class] ?? 'Action needed'} for credential "${c.id}" (mailbox ${c.mailbox}, provider ${c.provider}).`,
    '',
    `Stage:   ${stage}`,
    `Remote:  ${err.remote}`,
    `Class:   ${err.class}`,
    `Code:    ${err.code}`,
    `What happened: ${err.message}`,
    '',
    `What to do: ${err.fix}`,
    '',
    stage === 'validate' || stage === 'push' || stage === 'promote'
      ? 'The newest refresh token is kept in Secrets Manager; AEM keeps the token it has, which stays valid until it is replaced.'
      : 'The stored refresh token is unchanged.',
    decision === 'reminder' && previous ? `This failure has lasted since ${previous.since} (${previous.runs} runs). You get at most one reminder a day.` : '',
    `Troubleshooting by code: see the README section "Troubleshooting" (${err.code}).`,
  ];
  return {
    credentialId: c.id,
    kind: decision,
    stage,
    failureClass: err.class,
    code: err.code,
    subject: `[token-refresher] ${c.id}: ${decision === 'reminder' ? 'still failing' : 'action needed'} - ${err.code} at ${stage}`,
    text: lines.filter((l) => l !== '').join('\n'),
  };
}
