import type { Credential } from '../config/schema.ts';
import { RefresherError, type FailureClass } from '../core/errors.ts';
import { classifyOAuthError, oauthErrorBody, type ClassifyContext, type OAuthErrorBody } from './classify-entra.ts';
import { redactAndCut } from '../core/redact.ts';

/**
 * Token-endpoint errors of providers other than Entra ID. Standard servers speak RFC 6749 section 5.2 (plus the
 * `temporarily_unavailable` / `server_error` codes of 4.1.2.1 and OpenID Connect's interaction errors); Google adds an
 * `error_subtype`. As for Entra, the decision rests on `error` (and the subtype), never on the description text.
 */
export interface ProviderErrorBody extends OAuthErrorBody {
  /** Google: e.g. "invalid_rapt" with invalid_grant. */
  error_subtype?: string;
  error_uri?: string;
}

const TRANSIENT = new Set([
  'temporarily_unavailable',
  'server_error',
  'internal_failure',
  'rate_limit_exceeded',
  'slow_down',
]);
const REAUTHORIZE = new Set([
  'invalid_grant',
  'interaction_required',
  'login_required',
  'consent_required',
  'account_selection_required',
  'invalid_token',
]);
const CONFIGURATION = new Set([
  'invalid_client',
  'unauthorized_client',
  'invalid_scope',
  'invalid_request',
  'unsupported_grant_type',
  'access_denied',
  'admin_policy_enforced',
  'org_internal',
  'disabled_client',
  'deleted_client',
]);

const TRANSIENT_FIX =
  "Nothing to do if it clears: the next run retries. If it persists for hours, check the provider's service status.";

function describe(ctx: ClassifyContext, status: number, body: ProviderErrorBody | undefined): string {
  // The first line only: providers append trace data; 300 characters are enough to name the problem. Redacted before
  // the cut: a token echoed across the cut would no longer be recognisable whole.
  const description =
    body?.error_description === undefined
      ? undefined
      : redactAndCut(body.error_description.split(/\r?\n/)[0] ?? '', 300);
  const sub = body?.error_subtype ? ` (${body.error_subtype})` : '';
  return `${ctx.remote} ${ctx.endpoint ?? 'token endpoint'} answered HTTP ${status}${body?.error ? ` ${body.error}${sub}` : ''}${description ? `: ${description}` : ''}`;
}

function make(
  cls: FailureClass,
  code: string,
  status: number,
  body: ProviderErrorBody | undefined,
  ctx: ClassifyContext,
  fix: string,
  retryAfterMs?: number,
): RefresherError {
  return new RefresherError({
    class: cls,
    code,
    remote: ctx.remote,
    stage: 'refresh',
    status,
    message: describe(ctx, status, body),
    fix,
    retryAfterMs,
  });
}

function regenerate(ctx: ClassifyContext): string {
  return `\`token-refresher regenerate --credential ${ctx.id}\``;
}

/**
 * The ways a Google refresh token dies (https://developers.google.com/identity/protocols/oauth2#expiration). The token endpoint says only "invalid_grant: Token has been
 * expired or revoked." for all of them, so the fix lists each cause with what prevents it next time.
 */
export function googleInvalidGrantFix(ctx: ClassifyContext): string {
  return [
    `Run ${regenerate(ctx)} and sign in as ${ctx.mailbox} (the sign-in asks for access_type=offline and prompt=consent, so Google issues a new refresh token).`,
    'Google ended this token for one of these reasons:',
    '(1) the OAuth consent screen of the Google Cloud project is in "Testing" status: its tokens die after 7 days. Publish the app ("In production") under Google Auth Platform > Audience (APIs & Services > OAuth consent screen), then regenerate once more;',
    `(2) ${ctx.mailbox} or an administrator removed the app's access (https://myaccount.google.com/permissions, or the Admin console);`,
    `(3) the password of ${ctx.mailbox} changed (tokens with Gmail scopes are revoked then);`,
    '(4) the token was not used for 6 months;',
    `(5) more than 100 refresh tokens exist for ${ctx.mailbox} and OAuth client ${ctx.clientId}: each sign-in issues one and the oldest is dropped silently. Do not share this OAuth client with other tools or sign in with it repeatedly.`,
  ].join(' ');
}

export function classifyGoogleError(
  status: number,
  body: ProviderErrorBody | undefined,
  ctx: ClassifyContext,
  retryAfterMs?: number,
): RefresherError {
  const fail = (cls: FailureClass, code: string, fix: string, retryAfter?: number) =>
    make(cls, code, status, body, ctx, fix, retryAfter);
  const error = body?.error;
  if (status === 429 || status >= 500 || (error && TRANSIENT.has(error)))
    return fail('transient', error ?? `HTTP_${status}`, TRANSIENT_FIX, retryAfterMs);
  if (error === 'invalid_grant' && body?.error_subtype === 'invalid_rapt') {
    return fail(
      'reauthorize',
      'invalid_rapt',
      `A Google Workspace session-control policy requires ${ctx.mailbox} to sign in again periodically ("reauthentication required"). Run ${regenerate(ctx)}; ` +
        'to stop it recurring, a Workspace administrator exempts the app (Admin console > Security > Access and data control > Google Cloud session control, or marks the OAuth client as trusted under API controls).',
    );
  }
  if (error === 'invalid_grant') return fail('reauthorize', 'invalid_grant', googleInvalidGrantFix(ctx));
  if (error === 'invalid_client' || error === 'disabled_client' || error === 'deleted_client') {
    return fail(
      'configuration',
      error,
      `Google does not accept OAuth client ${ctx.clientId} with the secret in secret ${ctx.clientSecretRef}: check the client id in the configuration, that the client still exists (and is enabled) in the Google Cloud project under Google Auth Platform > Clients, ` +
        `and store its current secret with \`token-refresher client-secret --credential ${ctx.id}\`.`,
    );
  }
  if (error === 'unauthorized_client') {
    return fail(
      'configuration',
      error,
      `The refresh token was issued to another OAuth client than ${ctx.clientId} (or that client may not use this grant). Check the client id, then run ${regenerate(ctx)} with this client.`,
    );
  }
  if (error === 'invalid_scope') {
    return fail(
      'configuration',
      error,
      `Set the credential's scopes to "https://mail.google.com/" (the only scope Gmail SMTP accepts), then run ${regenerate(ctx)}.`,
    );
  }
  if (error === 'admin_policy_enforced' || error === 'access_denied' || error === 'org_internal') {
    return fail(
      'configuration',
      error,
      `A Google Workspace administrator must allow OAuth client ${ctx.clientId} for ${ctx.mailbox} (Admin console > Security > API controls > App access control: mark it trusted); ` +
        'an "Internal" app can only be used by accounts of its own organization.',
    );
  }
  return classifyGenericOAuthError(status, body, ctx, retryAfterMs);
}

/** RFC 6749 errors of any standard provider, with fixes that name its endpoint instead of a vendor's console. */
export function classifyGenericOAuthError(
  status: number,
  body: ProviderErrorBody | undefined,
  ctx: ClassifyContext,
  retryAfterMs?: number,
  tokenHost?: string,
): RefresherError {
  const fail = (cls: FailureClass, code: string, fix: string, retryAfter?: number) =>
    make(cls, code, status, body, ctx, fix, retryAfter);
  const error = body?.error;
  const at = tokenHost ? ` at ${tokenHost}` : '';
  if (status === 429 || status >= 500 || (error && TRANSIENT.has(error)))
    return fail('transient', error ?? `HTTP_${status}`, TRANSIENT_FIX, retryAfterMs);
  if (error && REAUTHORIZE.has(error)) {
    return fail(
      'reauthorize',
      error,
      `The refresh token is no longer valid${at} (expired, revoked, or the account's password or consent changed). Run ${regenerate(ctx)} and sign in as ${ctx.mailbox}.`,
    );
  }
  const fixes: Record<string, string> = {
    invalid_client: `The provider did not accept client ${ctx.clientId}: check the client id, the client secret in secret ${ctx.clientSecretRef} (\`token-refresher client-secret --credential ${ctx.id}\`) and "tokenEndpointAuthMethod" (client_secret_post or client_secret_basic, whichever the provider expects).`,
    unauthorized_client: `Client ${ctx.clientId} may not use the refresh_token grant, or the token was issued to another client: enable the grant for the client at the provider, then run ${regenerate(ctx)}.`,
    invalid_scope: `The provider refused the scopes "{scopes}": use the scopes the provider documents for SMTP XOAUTH2, then run ${regenerate(ctx)}.`,
    invalid_request: `The provider refused the request as malformed${at}: check "endpoints.token" (or "issuer") and "tokenEndpointAuthMethod" of credential ${ctx.id}.`,
    unsupported_grant_type: `The endpoint${at} does not support the refresh_token grant: check that "endpoints.token" is the provider's token endpoint.`,
    access_denied: `The provider denied access for ${ctx.mailbox}: an administrator of the provider must allow client ${ctx.clientId}.`,
  };
  const known = error ? fixes[error] : undefined;
  if (known || (error && CONFIGURATION.has(error))) {
    return fail(
      'configuration',
      error ?? `HTTP_${status}`,
      (
        known ??
        `An administrator must check client ${ctx.clientId} at the provider against the configuration of credential ${ctx.id}.`
      ).replace('{scopes}', ctx.scopes ?? ''),
    );
  }
  const cls: FailureClass = status >= 400 && status < 500 ? 'configuration' : 'transient';
  const fix =
    cls === 'transient'
      ? TRANSIENT_FIX
      : `An administrator must check client ${ctx.clientId} and the endpoints of credential ${ctx.id} against the provider's documentation.`;
  return fail(cls, error ?? `HTTP_${status}`, fix, retryAfterMs);
}

function sanitize(untrusted: ProviderErrorBody | undefined): ProviderErrorBody | undefined {
  const base = oauthErrorBody(untrusted);
  if (!base) return undefined;
  const raw = untrusted as Record<string, unknown>;
  const subtype =
    typeof raw.error_subtype === 'string' && /^[A-Za-z0-9_.:-]{1,64}$/.test(raw.error_subtype)
      ? raw.error_subtype
      : undefined;
  return { ...base, error_subtype: subtype, error_uri: typeof raw.error_uri === 'string' ? raw.error_uri : undefined };
}

/** One entry point for every provider: Entra's codes, Google's subtypes, RFC 6749 for the rest. */
export function classifyTokenError(
  provider: Credential['provider'],
  status: number,
  body: ProviderErrorBody | undefined,
  ctx: ClassifyContext,
  retryAfterMs?: number,
  tokenHost?: string,
): RefresherError {
  // The body is whatever the remote sent: only fields of the documented types go on (no TypeError, no non-string code).
  body = sanitize(body);
  if (provider === 'google') return classifyGoogleError(status, body, ctx, retryAfterMs);
  if (provider === 'oauth2') return classifyGenericOAuthError(status, body, ctx, retryAfterMs, tokenHost);
  return classifyOAuthError(status, body, ctx, retryAfterMs);
}
