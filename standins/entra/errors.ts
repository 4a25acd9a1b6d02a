// How Entra's token and authorize endpoints fail: the AADSTS codes token-refresher must tell apart, with Microsoft's
// texts (abridged), in Microsoft's error body shape (https://learn.microsoft.com/en-us/entra/identity-platform/reference-error-codes).
import { randomUUID } from 'node:crypto';
import { json, type Reply } from '../http.ts';
import { DEFAULT_CLIENT_ID, DEFAULT_TENANT, type EntraErrorName } from './model.ts';

export interface Failure {
  code: number;
  error: string;
  status: number;
  message: string;
  suberror?: string;
  retryAfterSec?: number;
}

export type Ctx = {
  clientId?: string;
  clientName?: string;
  issuedAt?: number;
  resource?: string;
  param?: string;
  tenant?: string;
};

/** The texts are Microsoft's (abridged where they name internal ids); clients must act on error/error_codes only. */
export function failureFor(code: number, ctx: Ctx, retryAfterSec: number): Failure {
  const app = `'${ctx.clientId ?? DEFAULT_CLIENT_ID}'(${ctx.clientName ?? 'token-refresher'})`;
  const issued = new Date(ctx.issuedAt ?? Date.now()).toISOString();
  const resource = ctx.resource ?? 'https://outlook.office.com';
  const grant = (message: string, suberror?: string): Failure => ({
    code,
    error: 'invalid_grant',
    status: 400,
    message,
    suberror,
  });
  const client = (message: string): Failure => ({ code, error: 'invalid_client', status: 401, message });
  const transient = (message: string, status = 503): Failure => ({
    code,
    error: 'temporarily_unavailable',
    status,
    message,
    retryAfterSec,
  });
  switch (code) {
    case 700082:
      return grant(
        `The refresh token has expired due to inactivity. The token was issued on ${issued} and was inactive for 90.00:00:00.`,
      );
    case 700084:
      return grant(
        `The refresh token was issued to a single page app (SPA), and therefore has a fixed, limited lifetime of 1.00:00:00, which cannot be extended. It is now expired and a new sign in request must be sent by the SPA to the sign in page. The token was issued on ${issued}.`,
      );
    case 70008:
      return grant(
        'The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.',
      );
    case 50173:
      return grant(
        `The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password. The grant was issued on '${issued}' and the TokensValidFrom date (before which tokens are not valid) for this user is '${new Date().toISOString()}'.`,
      );
    case 70043:
      return grant(
        `The refresh token has expired or is invalid due to sign-in frequency checks by conditional access. The token was issued on ${issued} and the maximum allowed lifetime for this request is 43200.`,
      );
    case 50076:
      return grant(
        `Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access '${resource}'.`,
        'basic_action',
      );
    case 50078:
      return grant(
        `Presented multi-factor authentication has expired due to policies configured by your administrator, you must refresh your multi-factor authentication to access '${resource}'.`,
        'basic_action',
      );
    case 50079:
      return grant(
        `Due to a configuration change made by your administrator, or because you moved to a new location, you must enroll in multi-factor authentication to access '${resource}'.`,
        'basic_action',
      );
    case 65001:
      return grant(
        `The user or administrator has not consented to use the application with ID '${ctx.clientId ?? DEFAULT_CLIENT_ID}' named '${ctx.clientName ?? 'token-refresher'}'. Send an interactive authorization request for this user and resource.`,
        'consent_required',
      );
    case 70000:
      return grant('Provided grant is invalid or malformed.');
    case 50089:
      return grant('Authentication failed due to flow token expired. Have the user try signing-in again.');
    case 50057:
      return grant('The user account is disabled.');
    case 53003:
      return grant(
        'Access has been blocked by Conditional Access policies. The access policy does not allow token issuance.',
      );
    case 530032:
      return grant('User blocked due to risk on home tenant.');
    case 530035:
      return grant(
        'Access has been blocked by security defaults. This is due to the request using legacy auth or being deemed unsafe by security defaults policies.',
      );
    case 9002313:
      return grant('Invalid request. Request is malformed or invalid.');
    case 54005:
      return grant(
        'OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.',
      );
    case 500112:
      return grant('The reply address does not match the reply address provided when requesting Authorization code.');
    case 501481:
      return grant('The Code_Verifier does not match the code_challenge supplied in the authorization request.');
    case 7000215:
      return client(
        `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${ctx.clientId ?? DEFAULT_CLIENT_ID}'.`,
      );
    case 7000222:
      return client(
        `The provided client secret keys for app '${ctx.clientId ?? DEFAULT_CLIENT_ID}' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds.`,
      );
    case 7000218:
      return client("The request body must contain the following parameter: 'client_assertion' or 'client_secret'.");
    case 700025:
      return client("Client is public so neither 'client_assertion' nor 'client_secret' should be presented.");
    case 700027:
      return client('Client assertion failed signature validation.');
    case 700016:
      return {
        code,
        error: 'unauthorized_client',
        status: 400,
        message: `Application with identifier '${ctx.clientId ?? ''}' was not found in the directory '${ctx.tenant ?? DEFAULT_TENANT}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.`,
      };
    case 7000112:
      return { code, error: 'unauthorized_client', status: 400, message: `Application ${app} is disabled.` };
    case 70011:
      return {
        code,
        error: 'invalid_scope',
        status: 400,
        message:
          "The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid.",
      };
    case 700022:
      return {
        code,
        error: 'invalid_scope',
        status: 400,
        message:
          'The provided value for the input parameter scope is not valid because it contains more than one resource.',
      };
    case 50194:
      return {
        code,
        error: 'invalid_request',
        status: 400,
        message: `Application ${app} is not configured as a multi-tenant application. Usage of the /common endpoint is not supported for such applications created after '10/15/2018'. Use a tenant-specific endpoint or configure the application to be multi-tenant.`,
      };
    case 900144:
      return {
        code,
        error: 'invalid_request',
        status: 400,
        message: `The request body must contain the following parameter: '${ctx.param ?? 'scope'}'.`,
      };
    case 90009:
      return {
        code,
        error: 'invalid_request',
        status: 400,
        message: `Application ${app} is requesting a token for itself. This scenario is supported only if resource is specified using the GUID based App Identifier.`,
      };
    case 90002:
      return {
        code,
        error: 'invalid_request',
        status: 400,
        message: `Tenant '${ctx.tenant ?? ''}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.`,
      };
    case 70003:
      return {
        code,
        error: 'unsupported_grant_type',
        status: 400,
        message: `The app requested an unsupported grant type '${ctx.param ?? ''}'.`,
      };
    case 50000:
      return {
        code,
        error: 'server_error',
        status: 500,
        message: 'There was an error issuing a token or an issue with our sign-in service.',
      };
    case 90055:
    case 50196:
      return transient(
        code === 90055
          ? 'TenantThrottlingThreshold: Too many requests. Please try again later.'
          : 'The server terminated an operation because it encountered a client request loop.',
        429,
      );
    case 50033:
    case 50087:
    case 70012:
    case 90006:
    case 90012:
    case 90024:
    case 90033:
    case 90090:
      return transient('A transient error has occurred. Please try again.');
    default:
      return grant(`Simulated failure ${code}.`);
  }
}

export function failureForName(name: EntraErrorName, ctx: Ctx, retryAfterSec: number): Failure {
  switch (name) {
    case 'temporarily_unavailable':
      return failureFor(90033, ctx, retryAfterSec);
    case 'server_error':
      return failureFor(50000, ctx, retryAfterSec);
    case 'interaction_required':
      return { ...failureFor(50076, ctx, retryAfterSec), error: 'interaction_required' };
    case 'login_required':
      return {
        code: 50058,
        error: 'login_required',
        status: 400,
        message: 'A silent sign-in request was sent but no user is signed in.',
      };
    case 'consent_required':
      return { ...failureFor(65001, ctx, retryAfterSec), error: 'consent_required', suberror: undefined };
    case 'invalid_grant':
      return failureFor(70000, ctx, retryAfterSec);
  }
}

function aadTimestamp(d = new Date()): string {
  return d
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, 'Z');
}

export function aadErrorBody(f: {
  error: string;
  code?: number;
  message: string;
  suberror?: string;
}): Record<string, unknown> {
  const traceId = randomUUID();
  const correlationId = randomUUID();
  const timestamp = aadTimestamp();
  const prefix = f.code === undefined ? '' : `AADSTS${f.code}: `;
  return {
    error: f.error,
    error_description: `${prefix}${f.message} Trace ID: ${traceId} Correlation ID: ${correlationId} Timestamp: ${timestamp}`,
    error_codes: f.code === undefined ? [] : [f.code],
    timestamp,
    trace_id: traceId,
    correlation_id: correlationId,
    error_uri: `https://login.microsoftonline.com/error?code=${f.code ?? ''}`,
    ...(f.suberror ? { suberror: f.suberror } : {}),
  };
}

export function errorReply(f: Failure): Reply {
  const headers: Record<string, string> = { 'cache-control': 'no-store, no-cache', pragma: 'no-cache' };
  if (f.retryAfterSec !== undefined) headers['retry-after'] = String(f.retryAfterSec);
  return json(f.status, aadErrorBody(f), headers);
}

export function deviceError(error: string, code: number | undefined, message: string): Reply {
  return json(400, aadErrorBody({ error, code, message }), { 'cache-control': 'no-store, no-cache' });
}
