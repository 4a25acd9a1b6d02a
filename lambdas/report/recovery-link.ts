/**
 * Sign-in links for `reauthorize` alerts. Each alert that asks a person to sign in again (first mail and reminders)
 * gets a fresh link token: random, single-use, expiring, bound to the credential, with only its SHA-256 in the state
 * store. The recovery endpoint (lambdas/recover/) checks it.
 */
import type { Credential } from '../config/schema.ts';
import type { RefresherError } from '../core/errors.ts';
import { hashOf, newSecretValue } from '../recover/secrets.ts';
import type { StateStore } from '../store/state-store.ts';
import type { AlertDecision } from './alert-policy.ts';
import type { Log } from './logger.ts';

export const DEFAULT_LINK_TTL_HOURS = 72;

/** The link route and the callback route of the recovery endpoint (every other path answers 404). */
export const LINK_PATH = '/link';
export const CALLBACK_PATH = '/callback';

export interface RecoveryLink {
  /** The whole link, token included: it goes into the alert and nowhere else. */
  url: string;
  expiresAt: string;
  /** What must be registered on the app (Entra: Authentication > Web platform) for the sign-in to return. */
  redirectUri: string;
}

/** What the pipeline's report step calls for a `reauthorize` alert; undefined means "no link: show the CLI command". */
export type LinkIssuer = (credentialId: string) => Promise<RecoveryLink | undefined>;

export interface LinkIssuerOptions {
  store: Pick<StateStore, 'putOneTime'>;
  /** The endpoint's base URL (the Function URL, e.g. https://abc.lambda-url.eu-west-1.on.aws/). */
  baseUrl: string;
  ttlHours?: number;
  now?: () => Date;
  log?: Log;
}

export function baseUrlOf(u: string): string {
  return u.replace(/\/+$/, '');
}

export function redirectUriOf(baseUrl: string): string {
  return `${baseUrlOf(baseUrl)}${CALLBACK_PATH}`;
}

/**
 * A LinkIssuer on a state store. A failure to store the token never fails the alert: the alert then carries the CLI
 * command, as with the endpoint switched off, and the log says why (without the token).
 */
export function createLinkIssuer(o: LinkIssuerOptions): LinkIssuer {
  const ttlMs = (o.ttlHours ?? DEFAULT_LINK_TTL_HOURS) * 3_600_000;
  const base = baseUrlOf(o.baseUrl);
  return async (credentialId) => {
    const token = newSecretValue();
    const expiresAt = new Date((o.now?.() ?? new Date()).getTime() + ttlMs).toISOString();
    try {
      await o.store.putOneTime({ hash: hashOf(token), credentialId, purpose: 'link', expiresAt });
    } catch (e) {
      o.log?.warn(
        'no sign-in link for the alert: the link token could not be stored; the alert names the CLI command instead',
        {
          credential: credentialId,
          error: (e as { code?: string; name?: string }).code ?? (e as Error).name,
        },
      );
      return undefined;
    }
    const url = new URL(`${base}${LINK_PATH}`);
    url.searchParams.set('c', credentialId);
    url.searchParams.set('t', token);
    return { url: url.toString(), expiresAt, redirectUri: redirectUriOf(base) };
  };
}

/** Whether an alert gets a link: only alerts that ask a person to sign in (first mail and reminders). */
export function wantsLink(decision: AlertDecision, err: Pick<RefresherError, 'class'> | undefined): boolean {
  return (decision === 'failure' || decision === 'reminder') && err?.class === 'reauthorize';
}

/** The report step's one call: a link when the alert wants one and an issuer is wired, else undefined. Never throws. */
export async function linkForAlert(
  issuer: LinkIssuer | undefined,
  credential: Pick<Credential, 'id'>,
  decision: AlertDecision,
  err: Pick<RefresherError, 'class'> | undefined,
): Promise<RecoveryLink | undefined> {
  if (!issuer || !wantsLink(decision, err)) return undefined;
  try {
    return await issuer(credential.id);
  } catch {
    return undefined;
  }
}
