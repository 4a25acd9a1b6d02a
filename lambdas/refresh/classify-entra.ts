import { RefresherError, type FailureClass, type Remote } from '../core/errors.ts';
import { redactAndCut } from '../core/redact.ts';

/**
 * Entra ID error bodies (https://learn.microsoft.com/en-us/entra/identity-platform/reference-error-codes). We act on `error`, `error_codes` and `suberror`, never on the description text,
 * which Microsoft reworded more than once. The description is still quoted to the operator after the code.
 */
export interface OAuthErrorBody {
  error?: string;
  error_description?: string;
  error_codes?: number[];
  suberror?: string;
  correlation_id?: string;
  trace_id?: string;
}

const REAUTHORIZE_CODES = new Set([70008, 700082, 700084, 50173, 70043, 50076, 50078, 50079, 65001, 70000, 50089]);
const REAUTHORIZE_ERRORS = new Set(['interaction_required', 'consent_required', 'login_required']);
const REAUTHORIZE_SUBERRORS = new Set([
  'basic_action',
  'additional_action',
  'message_only',
  'user_password_expired',
  'consent_required',
  'bad_token',
]);
// 700027, 700024, 700021, 50012, 50027: certificate credentials (client_assertion) refused.
const ADMIN_CODES = new Set([
  7000215, 7000222, 7000218, 700025, 700016, 7000112, 53003, 530032, 530035, 50057, 70011, 700022, 50194, 900144, 90009,
  700027, 700024, 700021, 50012, 50027,
]);
const TRANSIENT_CODES = new Set([50033, 50087, 70012, 90006, 90012, 90024, 90033, 90090, 90055, 50196]);
const TRANSIENT_ERRORS = new Set(['temporarily_unavailable', 'server_error']);

/** Fixes a person can act on, by the first error code. */
const FIXES: Record<number, string> = {
  700082:
    'The refresh token expired after 90 days without use. Run `token-refresher regenerate --credential {id}` and sign in as {mailbox}.',
  70008: 'The refresh token expired. Run `token-refresher regenerate --credential {id}` and sign in as {mailbox}.',
  700084:
    'The token was issued to a single-page-app redirect URI and lives 24 hours only: register http://localhost as a Web redirect URI, then run `token-refresher regenerate --credential {id}`.',
  50173:
    'The password of {mailbox} changed or its tokens were revoked. Run `token-refresher regenerate --credential {id}` and sign in as {mailbox}.',
  70043:
    'A Conditional Access sign-in frequency policy expired the token. Exclude the mail app from the policy or run `token-refresher regenerate --credential {id}`.',
  65001:
    'Consent is missing for the requested scopes. Grant admin consent to the app in Entra ID (API permissions), then run `token-refresher regenerate --credential {id}`.',
  7000215:
    'Invalid client secret: the secret in {clientSecret} is wrong (often the secret ID was copied instead of its value). Create a new client secret in Entra ID and store it with `token-refresher client-secret --credential {id}`.',
  7000222:
    'The client secret of app {clientId} has expired. Create a new client secret in Entra ID (Certificates & secrets) and store it with `token-refresher client-secret --credential {id}`; the refresh token itself is still valid.',
  7000218: 'The request had no client secret: check that {clientSecret} holds the secret value.',
  700016:
    'Application {clientId} was not found in tenant {tenant}: check the client id and tenant in the configuration.',
  53003: 'Conditional Access blocked the sign-in. An Entra administrator must allow this app/location for {mailbox}.',
  530032:
    'Blocked by a security policy (Conditional Access). An Entra administrator must review the sign-in logs for {mailbox}.',
  530035: 'Blocked by security defaults. An Entra administrator must review the sign-in logs for {mailbox}.',
  50057:
    'The account {mailbox} is disabled. An Entra administrator must enable it, then run `token-refresher regenerate --credential {id}`.',
  70011: 'The scopes are invalid: use https://outlook.office.com/SMTP.Send offline_access (one resource only).',
  700022: 'The scopes are invalid: use https://outlook.office.com/SMTP.Send offline_access (one resource only).',
  50194: 'The app is single-tenant: set "tenant" to the tenant id or domain, not "common".',
  900144: 'The request lacked a required parameter (usually scope): check the credential\'s "scopes".',
  90009: 'The request lacked a required parameter (usually scope): check the credential\'s "scopes".',
  700027:
    "Entra refused the client assertion: the certificate whose key signs it is not registered on app {clientId}, or the key in {clientSecret} is not that certificate's. Upload the certificate (public part, .cer/.pem) under Entra ID > App registrations > Certificates & secrets > Certificates, or put the key of a registered certificate in {clientSecret}.",
  700024:
    'The client assertion is outside its valid time range: the clock of the machine running token-refresher is off. Check its time synchronization (NTP); the next run builds a new assertion.',
  700021: 'The client assertion names another application than {clientId}: check "clientId" of credential {id}.',
  50012:
    'The client assertion\'s audience is not the token endpoint it was sent to: check "authority" and "tenant" (or "endpoints.token") of credential {id}; the audience is always the token endpoint URL.',
  50027:
    'Entra could not read the client assertion (malformed JWT): check the key document in {clientSecret} and certificate.algorithm (PS256 or RS256).',
};

export interface ClassifyContext {
  id: string;
  mailbox: string;
  clientId: string;
  tenant?: string;
  clientSecretRef: string;
  remote: Remote;
  /** The requested scopes, space-separated (quoted in invalid_scope fixes). */
  scopes?: string;
  /** Which endpoint answered, named in the message; default "token endpoint". */
  endpoint?: string;
}

function fill(template: string, ctx: ClassifyContext): string {
  return template
    .replaceAll('{id}', ctx.id)
    .replaceAll('{mailbox}', ctx.mailbox)
    .replaceAll('{clientId}', ctx.clientId)
    .replaceAll('{tenant}', ctx.tenant ?? '(tenant)')
    .replaceAll('{clientSecret}', `secret ${ctx.clientSecretRef}`);
}

const IDENTIFIER = /^[A-Za-z0-9_.:-]{1,64}$/;

/**
 * The fields of an error body that have the documented types, and only those: the body comes from a remote (or a proxy
 * in front of it) and may hold anything, e.g. `error_codes: "x"` or `error: 5`, which must not turn into a TypeError or a
 * code that is not a name.
 */
export function oauthErrorBody(v: unknown): OAuthErrorBody | undefined {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return undefined;
  const o = v as Record<string, unknown>;
  const id = (x: unknown) => (typeof x === 'string' && IDENTIFIER.test(x) ? x : undefined);
  return {
    error: id(o.error),
    error_description: typeof o.error_description === 'string' ? o.error_description : undefined,
    error_codes: Array.isArray(o.error_codes)
      ? o.error_codes.filter((c): c is number => Number.isSafeInteger(c))
      : undefined,
    suberror: id(o.suberror),
    correlation_id: id(o.correlation_id),
    trace_id: id(o.trace_id),
  };
}

export function classifyOAuthError(
  status: number,
  untrusted: OAuthErrorBody | undefined,
  ctx: ClassifyContext,
  retryAfterMs?: number,
): RefresherError {
  const body = oauthErrorBody(untrusted);
  const codes = body?.error_codes ?? [];
  const error = body?.error;
  const first = codes[0];
  let cls: FailureClass;
  if (
    status === 429 ||
    status >= 500 ||
    (error && TRANSIENT_ERRORS.has(error)) ||
    codes.some((c) => TRANSIENT_CODES.has(c))
  )
    cls = 'transient';
  else if (
    codes.some((c) => REAUTHORIZE_CODES.has(c)) ||
    (error && REAUTHORIZE_ERRORS.has(error)) ||
    (body?.suberror && REAUTHORIZE_SUBERRORS.has(body.suberror))
  )
    cls = 'reauthorize';
  else if (
    codes.some((c) => ADMIN_CODES.has(c)) ||
    error === 'invalid_client' ||
    error === 'unauthorized_client' ||
    error === 'invalid_scope' ||
    error === 'invalid_request'
  )
    cls = 'configuration';
  // invalid_grant without a known code: the token is unusable; only a new sign-in helps.
  else if (error === 'invalid_grant') cls = 'reauthorize';
  else cls = status >= 400 && status < 500 ? 'configuration' : 'transient';

  const code = first !== undefined ? `AADSTS${first}` : error ? error : `HTTP_${status}`;
  const known = first !== undefined ? FIXES[first] : undefined;
  let fix: string;
  if (known) fix = fill(known, ctx);
  else if (cls === 'reauthorize')
    fix = fill('Run `token-refresher regenerate --credential {id}` and sign in as {mailbox}.', ctx);
  else if (cls === 'transient')
    fix =
      "Nothing to do if it clears: the next run retries. If it persists for hours, check the provider's service health.";
  else
    fix =
      'An administrator must check the app registration (client id, secret, tenant, scopes) against the configuration.';

  // Quote only the first line of the description: the rest is trace and correlation data, useful in logs but not in a mail.
  // Redacted before the cut, so a token echoed across it is masked whole.
  const description =
    body?.error_description === undefined
      ? undefined
      : redactAndCut(body.error_description.split(/\r?\n/)[0] ?? '', 300);
  const message = `${ctx.remote} ${ctx.endpoint ?? 'token endpoint'} answered HTTP ${status}${error ? ` ${error}` : ''}${first !== undefined ? ` (${code})` : ''}${description ? `: ${description}` : ''}${body?.correlation_id ? ` [correlation ${body.correlation_id}]` : ''}`;
  return new RefresherError({
    class: cls,
    code,
    remote: ctx.remote,
    stage: 'refresh',
    status,
    message,
    fix,
    retryAfterMs,
  });
}

/** Entra answers some transient failures with HTTP 400 and a retryable code: those are retried like 5xx. */
export function isRetryableOAuthResponse(status: number, untrusted: OAuthErrorBody | undefined): boolean {
  if (status === 429 || status >= 500) return true;
  const body = oauthErrorBody(untrusted);
  const codes = body?.error_codes ?? [];
  return (body?.error !== undefined && TRANSIENT_ERRORS.has(body.error)) || codes.some((c) => TRANSIENT_CODES.has(c));
}
