// Stand-in for the Microsoft identity platform v2 endpoints token-refresher talks to
// (FACTS section 2): token (refresh_token, authorization_code + PKCE, device_code grants), authorize
// with a consent page, devicecode, plus helpers that make tokens die the ways real ones do.
import { constants, createHash, randomBytes, randomUUID, verify, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Clock } from './clock.ts';
import { Faults } from './faults.ts';
import { basicAuth, formOf, html, json, randomId, serveHttp, type Reply, type RequestRecord, type StandinRequest } from './http.ts';

export const DEFAULT_TENANT = 'contoso.onmicrosoft.com';
export const DEFAULT_TENANT_ID = '7a3c0f4e-5b1d-4c2a-9e8f-0d6b2a1c3e4f';
export const DEFAULT_CLIENT_ID = '5f2b8c1e-3d4a-4e6f-9a0b-1c2d3e4f5a6b';
export const DEFAULT_CLIENT_SECRET = 'Qx8Q~test-only-client-secret-value.not-real';
export const DEFAULT_ACCOUNT = 'mailer@contoso.com';
export const SMTP_SEND_SCOPE = 'https://outlook.office.com/SMTP.Send';
/** The scope string the AEM documentation asks for. */
export const DEFAULT_SCOPES = `${SMTP_SEND_SCOPE} email openid profile offline_access`;
export const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
export const JWT_BEARER_ASSERTION = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/**
 * Test-only certificate material for certificate credentials (standins/tls/README.md): 'app' is the one tests register
 * on the app, 'other' one that is never registered. The private keys are public on purpose.
 */
export function testClientCertificate(name: 'app' | 'other' = 'app'): { certificate: string; privateKey: string } {
  const dir = new URL('./tls/', import.meta.url);
  return { certificate: readFileSync(new URL(`${name}.pem`, dir), 'utf8'), privateKey: readFileSync(new URL(`${name}.key`, dir), 'utf8') };
}

const DAY_SEC = 86_400;
const CODE_LIFETIME_MS = 10 * 60 * 1000;
const OIDC_SCOPES = new Set(['openid', 'profile', 'email', 'offline_access']);
const GRAPH = 'https://graph.microsoft.com';

export interface EntraClient {
  clientId: string;
  /** Absent for a public client. */
  clientSecret?: string;
  secretExpired?: boolean;
  /** Display name used in error texts and on the consent page. */
  name?: string;
  /** Default ['http://localhost', 'http://localhost/'] as in the AEM documentation. */
  redirectUris?: string[];
  /** "Allow public client flows" (needed for the device code flow without a secret). Default true. */
  allowPublicClientFlows?: boolean;
  /** PEM certificates registered under "Certificates & secrets": client assertions signed by their keys are accepted. */
  certificates?: string[];
}

/** A client assertion the token endpoint received, decoded (tests check header and claims). */
export interface SeenAssertion {
  header: Record<string, unknown>;
  claims: Record<string, unknown>;
  accepted: boolean;
  code?: number;
}

export interface EntraStandinOptions {
  /** Tenant name in the path; default 'contoso.onmicrosoft.com'. The tenant id GUID is accepted too. */
  tenant?: string;
  tenantId?: string;
  /** Registered apps: a list, or { clientId: secret }. Default: DEFAULT_CLIENT_ID / DEFAULT_CLIENT_SECRET. */
  clients?: EntraClient[] | Record<string, string>;
  /** Account pre-filled on the consent page and used by approveDevice(); default 'mailer@contoso.com'. */
  account?: string;
  /** false: Google-like, refresh responses carry no refresh_token. Default true (Microsoft rotates). */
  rotate?: boolean;
  /** Length of issued refresh tokens (Microsoft's are often over 1,000 characters); default 1200. */
  refreshTokenLength?: number;
  accessTokenLifetimeSec?: number;
  /** Inactivity lifetime of each refresh token; default 90 days (then AADSTS700082). */
  refreshTokenLifetimeSec?: number;
  deviceCodeExpiresInSec?: number;
  deviceCodeIntervalSec?: number;
  /** Retry-After sent with failWith() transient errors; default 1. */
  retryAfterSec?: number;
  /** Accept /common and /organizations (else AADSTS50194 as for a single-tenant app). */
  multiTenant?: boolean;
  latencyMs?: number;
}

export interface AccessTokenInfo {
  account: string;
  clientId: string;
  /** Resource scopes the token carries, e.g. ['https://outlook.office.com/SMTP.Send']. */
  scopes: string[];
  /** Resource the token is for, e.g. 'https://outlook.office.com'. */
  audience: string;
  expiresAt: number;
}

export interface RefreshTokenInfo {
  token: string;
  account: string;
  clientId: string;
  scopes: string[];
  issuedAt: number;
  expiresAt: number;
  /** How many times it was redeemed (each redemption of a rotating token issues a new one). */
  uses: number;
  revoked: boolean;
  /** AADSTS code it fails with after expireAll(). */
  deadCode?: number;
}

export type DeviceState = 'pending' | 'approved' | 'declined' | 'redeemed';

export interface DeviceCodeInfo {
  deviceCode: string;
  userCode: string;
  clientId: string;
  scopes: string[];
  expiresAt: number;
  intervalSec: number;
  state: DeviceState;
  account?: string;
}

/** Error names accepted by failWith() besides numeric AADSTS codes. */
export type EntraErrorName =
  | 'temporarily_unavailable'
  | 'server_error'
  | 'interaction_required'
  | 'login_required'
  | 'consent_required'
  | 'invalid_grant';

export interface EntraStandin {
  url: string;
  tenant: string;
  tenantId: string;
  /** `${url}/${tenant}`: what a client configures as the authority. */
  authority: string;
  tokenUrl: string;
  authorizeUrl: string;
  deviceCodeUrl: string;
  faults: Faults;
  latencyMs: number;
  inject: Faults['inject'];
  clock: Clock;
  requests: RequestRecord[];
  registerClient(clientId: string, secret?: string, extra?: Omit<EntraClient, 'clientId' | 'clientSecret'>): void;
  /** Upload a certificate (PEM) to an app registration, as under Certificates & secrets > Certificates. */
  addCertificate(certificatePem: string, clientId?: string): void;
  /** Every client_assertion received so far, decoded, with the verdict. */
  clientAssertions(): SeenAssertion[];
  /** Mint a refresh token as if consent had happened (default account, client and scopes). */
  issueRefreshToken(opts?: { account?: string; clientId?: string; scopes?: string }): string;
  /** Later use gives invalid_grant AADSTS50173. */
  revoke(refreshToken: string): void;
  /** Revoke every refresh token of an account (password reset). */
  revokeAccount(account: string): void;
  /** Every refresh token issued so far fails with `code` (default 700082); later ones are fine. */
  expireAll(code?: number): void;
  setClientSecretExpired(expired?: boolean, clientId?: string): void;
  /** Next `times` token requests fail the way Microsoft fails for that AADSTS code or error name. */
  failWith(code: number | EntraErrorName, times?: number, opts?: { retryAfterSec?: number }): void;
  approveDevice(userCode: string, account?: string): void;
  declineDevice(userCode: string): void;
  deviceCodes(): DeviceCodeInfo[];
  isValidAccessToken(token: string): AccessTokenInfo | undefined;
  issuedRefreshTokens(): string[];
  /** Every access token issued so far (tests scan outputs for them). */
  issuedAccessTokens(): string[];
  refreshTokenInfo(token: string): RefreshTokenInfo | undefined;
  latestRefreshToken(): string | undefined;
  /**
   * Do what a browser does with an authorize URL: load the consent page, fill the account, press Accept
   * (or Cancel) and return the redirect Location (redirect_uri?code=...&state=...).
   */
  consent(authorizeUrl: string, opts?: { account?: string; decision?: 'accept' | 'cancel' }): Promise<string>;
  close(): Promise<void>;
}

interface AuthTxn {
  clientId: string;
  redirectUri: string;
  scopes: string[];
  state?: string;
  nonce?: string;
  codeChallenge?: string;
  codeChallengeMethod?: string;
  account: string;
}

interface CodeRecord extends Omit<AuthTxn, 'state'> {
  expiresAt: number;
  redeemed: boolean;
}

interface Failure {
  code: number;
  error: string;
  status: number;
  message: string;
  suberror?: string;
  retryAfterSec?: number;
}

type Ctx = { clientId?: string; clientName?: string; issuedAt?: number; resource?: string; param?: string; tenant?: string };

/** The texts are Microsoft's (abridged where they name internal ids); clients must act on error/error_codes only. */
function failureFor(code: number, ctx: Ctx, retryAfterSec: number): Failure {
  const app = `'${ctx.clientId ?? DEFAULT_CLIENT_ID}'(${ctx.clientName ?? 'token-refresher'})`;
  const issued = new Date(ctx.issuedAt ?? Date.now()).toISOString();
  const resource = ctx.resource ?? 'https://outlook.office.com';
  const grant = (message: string, suberror?: string): Failure => ({ code, error: 'invalid_grant', status: 400, message, suberror });
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
      return grant(`The refresh token has expired due to inactivity. The token was issued on ${issued} and was inactive for 90.00:00:00.`);
    case 700084:
      return grant(
        `The refresh token was issued to a single page app (SPA), and therefore has a fixed, limited lifetime of 1.00:00:00, which cannot be extended. It is now expired and a new sign in request must be sent by the SPA to the sign in page. The token was issued on ${issued}.`,
      );
    case 70008:
      return grant('The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.');
    case 50173:
      return grant(
        `The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password. The grant was issued on '${issued}' and the TokensValidFrom date (before which tokens are not valid) for this user is '${new Date().toISOString()}'.`,
      );
    case 70043:
      return grant(`The refresh token has expired or is invalid due to sign-in frequency checks by conditional access. The token was issued on ${issued} and the maximum allowed lifetime for this request is 43200.`);
    case 50076:
      return grant(`Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access '${resource}'.`, 'basic_action');
    case 50078:
      return grant(`Presented multi-factor authentication has expired due to policies configured by your administrator, you must refresh your multi-factor authentication to access '${resource}'.`, 'basic_action');
    case 50079:
      return grant(`Due to a configuration change made by your administrator, or because you moved to a new location, you must enroll in multi-factor authentication to access '${resource}'.`, 'basic_action');
    case 65001:
      return grant(`The user or administrator has not consented to use the application with ID '${ctx.clientId ?? DEFAULT_CLIENT_ID}' named '${ctx.clientName ?? 'token-refresher'}'. Send an interactive authorization request for this user and resource.`, 'consent_required');
    case 70000:
      return grant('Provided grant is invalid or malformed.');
    case 50089:
      return grant('Authentication failed due to flow token expired. Have the user try signing-in again.');
    case 50057:
      return grant('The user account is disabled.');
    case 53003:
      return grant('Access has been blocked by Conditional Access policies. The access policy does not allow token issuance.');
    case 530032:
      return grant('User blocked due to risk on home tenant.');
    case 530035:
      return grant('Access has been blocked by security defaults. This is due to the request using legacy auth or being deemed unsafe by security defaults policies.');
    case 9002313:
      return grant('Invalid request. Request is malformed or invalid.');
    case 54005:
      return grant('OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.');
    case 500112:
      return grant('The reply address does not match the reply address provided when requesting Authorization code.');
    case 501481:
      return grant('The Code_Verifier does not match the code_challenge supplied in the authorization request.');
    case 7000215:
      return client(`Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${ctx.clientId ?? DEFAULT_CLIENT_ID}'.`);
    case 7000222:
      return client(`The provided client secret keys for app '${ctx.clientId ?? DEFAULT_CLIENT_ID}' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds.`);
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
      return { code, error: 'invalid_scope', status: 400, message: "The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid." };
    case 700022:
      return { code, error: 'invalid_scope', status: 400, message: 'The provided value for the input parameter scope is not valid because it contains more than one resource.' };
    case 50194:
      return { code, error: 'invalid_request', status: 400, message: `Application ${app} is not configured as a multi-tenant application. Usage of the /common endpoint is not supported for such applications created after '10/15/2018'. Use a tenant-specific endpoint or configure the application to be multi-tenant.` };
    case 900144:
      return { code, error: 'invalid_request', status: 400, message: `The request body must contain the following parameter: '${ctx.param ?? 'scope'}'.` };
    case 90009:
      return { code, error: 'invalid_request', status: 400, message: `Application ${app} is requesting a token for itself. This scenario is supported only if resource is specified using the GUID based App Identifier.` };
    case 90002:
      return { code, error: 'invalid_request', status: 400, message: `Tenant '${ctx.tenant ?? ''}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.` };
    case 70003:
      return { code, error: 'unsupported_grant_type', status: 400, message: `The app requested an unsupported grant type '${ctx.param ?? ''}'.` };
    case 50000:
      return { code, error: 'server_error', status: 500, message: 'There was an error issuing a token or an issue with our sign-in service.' };
    case 90055:
    case 50196:
      return transient(code === 90055 ? 'TenantThrottlingThreshold: Too many requests. Please try again later.' : 'The server terminated an operation because it encountered a client request loop.', 429);
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

function failureForName(name: EntraErrorName, ctx: Ctx, retryAfterSec: number): Failure {
  switch (name) {
    case 'temporarily_unavailable':
      return failureFor(90033, ctx, retryAfterSec);
    case 'server_error':
      return failureFor(50000, ctx, retryAfterSec);
    case 'interaction_required':
      return { ...failureFor(50076, ctx, retryAfterSec), error: 'interaction_required' };
    case 'login_required':
      return { code: 50058, error: 'login_required', status: 400, message: 'A silent sign-in request was sent but no user is signed in.' };
    case 'consent_required':
      return { ...failureFor(65001, ctx, retryAfterSec), error: 'consent_required', suberror: undefined };
    case 'invalid_grant':
      return failureFor(70000, ctx, retryAfterSec);
  }
}

function aadTimestamp(d = new Date()): string {
  return d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

function aadErrorBody(f: { error: string; code?: number; message: string; suberror?: string }): Record<string, unknown> {
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

function errorReply(f: Failure): Reply {
  const headers: Record<string, string> = { 'cache-control': 'no-store, no-cache', pragma: 'no-cache' };
  if (f.retryAfterSec !== undefined) headers['retry-after'] = String(f.retryAfterSec);
  return json(f.status, aadErrorBody(f), headers);
}

function deviceError(error: string, code: number | undefined, message: string): Reply {
  return json(400, aadErrorBody({ error, code, message }), { 'cache-control': 'no-store, no-cache' });
}

function b64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

function randomToken(prefix: string, length: number): string {
  const need = Math.max(1, length - prefix.length);
  return prefix + randomBytes(Math.ceil((need * 3) / 4) + 3).toString('base64url').slice(0, need);
}

function uuidFrom(text: string): string {
  const h = createHash('sha256').update(text).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function unescapeHtml(s: string): string {
  return s.replace(/&#(\d+);/g, (_m, n: string) => String.fromCharCode(Number(n)));
}

export function splitScopes(scope: string): string[] {
  return scope.split(/\s+/).filter(Boolean);
}

function normalizeScope(scope: string): string {
  if (OIDC_SCOPES.has(scope.toLowerCase())) return scope.toLowerCase();
  return scope.includes('://') ? scope : `${GRAPH}/${scope}`;
}

export function resourceOf(scope: string): string {
  const scheme = scope.indexOf('://');
  if (scheme < 0) return GRAPH;
  const last = scope.lastIndexOf('/');
  return last > scheme + 2 ? scope.slice(0, last) : scope;
}

function loopbackMatch(registered: string, requested: string): boolean {
  if (registered === requested) return true;
  let r: URL;
  let q: URL;
  try {
    r = new URL(registered);
    q = new URL(requested);
  } catch {
    return false;
  }
  // Microsoft ignores the port of http://localhost redirect URIs, which is what lets a CLI listen on any free port.
  const loopback = r.protocol === 'http:' && (r.hostname === 'localhost' || r.hostname === '127.0.0.1');
  return loopback && !r.port && q.protocol === r.protocol && q.hostname === r.hostname && q.pathname === r.pathname;
}

function userCode(): string {
  const alphabet = 'BCDFGHJKLMNPQRSTVWXZ23456789';
  const bytes = randomBytes(9);
  return Array.from(bytes, (b) => alphabet[b % alphabet.length]).join('');
}

export async function startEntraStandin(opts: EntraStandinOptions = {}): Promise<EntraStandin> {
  const tenant = opts.tenant ?? DEFAULT_TENANT;
  const tenantId = opts.tenantId ?? DEFAULT_TENANT_ID;
  const defaultAccount = opts.account ?? DEFAULT_ACCOUNT;
  const rotate = opts.rotate ?? true;
  const rtLength = opts.refreshTokenLength ?? 1200;
  const atLifetimeSec = opts.accessTokenLifetimeSec ?? 3600;
  const rtLifetimeSec = opts.refreshTokenLifetimeSec ?? 90 * DAY_SEC;
  const deviceExpiresInSec = opts.deviceCodeExpiresInSec ?? 900;
  const deviceIntervalSec = opts.deviceCodeIntervalSec ?? 5;
  const retryAfterDefault = opts.retryAfterSec ?? 1;
  const faults = new Faults({ latencyMs: opts.latencyMs });
  const clock = new Clock();

  const clients = new Map<string, EntraClient>();
  const addClient = (c: EntraClient): void => {
    clients.set(c.clientId, { redirectUris: ['http://localhost', 'http://localhost/'], allowPublicClientFlows: true, ...c });
  };
  if (Array.isArray(opts.clients)) opts.clients.forEach(addClient);
  else if (opts.clients) for (const [clientId, clientSecret] of Object.entries(opts.clients)) addClient({ clientId, clientSecret });
  else addClient({ clientId: DEFAULT_CLIENT_ID, clientSecret: DEFAULT_CLIENT_SECRET, name: 'token-refresher' });

  const refreshTokens = new Map<string, RefreshTokenInfo>();
  const accessTokens = new Map<string, AccessTokenInfo>();
  const codes = new Map<string, CodeRecord>();
  const txns = new Map<string, AuthTxn>();
  const devices = new Map<string, DeviceCodeInfo>();
  const lastPoll = new Map<string, number>();
  const seenAssertions: SeenAssertion[] = [];
  const failQueue: Array<{ code: number | EntraErrorName; retryAfterSec: number }> = [];
  let latestRt: string | undefined;
  let baseUrl = '';

  const tenantOk = (t: string): boolean =>
    t === tenant || t === tenantId || (opts.multiTenant === true && (t === 'common' || t === 'organizations'));
  const tenantFailure = (t: string, clientId?: string): Failure | undefined => {
    if (tenantOk(t)) return undefined;
    if (t === 'common' || t === 'organizations' || t === 'consumers') {
      return failureFor(50194, { clientId, clientName: clients.get(clientId ?? '')?.name }, retryAfterDefault);
    }
    return failureFor(90002, { tenant: t }, retryAfterDefault);
  };

  const ctxOf = (client: EntraClient | undefined, extra: Ctx = {}): Ctx => ({
    clientId: client?.clientId,
    clientName: client?.name ?? 'token-refresher',
    tenant,
    ...extra,
  });

  function mintRefreshToken(account: string, clientId: string, scopes: string[]): string {
    const token = randomToken('rt-', rtLength);
    const now = clock.now();
    refreshTokens.set(token, {
      token,
      account,
      clientId,
      scopes,
      issuedAt: now,
      expiresAt: now + rtLifetimeSec * 1000,
      uses: 0,
      revoked: false,
    });
    latestRt = token;
    return token;
  }

  function idToken(account: string, clientId: string, scopes: string[], nonce?: string): string {
    const now = Math.floor(clock.now() / 1000);
    const payload: Record<string, unknown> = {
      aud: clientId,
      iss: `https://login.microsoftonline.com/${tenantId}/v2.0`,
      iat: now,
      nbf: now,
      exp: now + atLifetimeSec,
      name: account.split('@')[0],
      oid: uuidFrom(account),
      preferred_username: account,
      sub: uuidFrom(`${account}|${clientId}`),
      tid: tenantId,
      ver: '2.0',
    };
    if (scopes.includes('email')) payload.email = account;
    if (nonce) payload.nonce = nonce;
    // Unsigned on purpose: clients only read the claims (to spot consent given for the wrong mailbox).
    return `${b64url({ typ: 'JWT', alg: 'none' })}.${b64url(payload)}.`;
  }

  /** Resolves the scopes of the access token; a Failure when a requested one was never consented. */
  function resolveScopes(granted: string[], requested: string[], client: EntraClient): { audience: string; scopes: string[] } | Failure {
    const resourceRequested = requested.filter((s) => !OIDC_SCOPES.has(s));
    const grantedResource = granted.filter((s) => !OIDC_SCOPES.has(s));
    if (resourceRequested.length === 0) {
      const first = grantedResource[0] ?? `${GRAPH}/User.Read`;
      const audience = resourceOf(first);
      return { audience, scopes: grantedResource.filter((s) => resourceOf(s) === audience) };
    }
    // One token, one audience: scopes of other resources are silently dropped (FACTS section 2).
    const audience = resourceOf(resourceRequested[0] ?? '');
    const out = new Set<string>();
    for (const s of resourceRequested.filter((x) => resourceOf(x) === audience)) {
      if (s.endsWith('/.default')) {
        const all = grantedResource.filter((g) => resourceOf(g) === audience);
        if (all.length === 0) return failureFor(65001, ctxOf(client, { resource: audience }), retryAfterDefault);
        all.forEach((g) => out.add(g));
      } else if (granted.includes(s)) {
        out.add(s);
      } else {
        return failureFor(65001, ctxOf(client, { resource: audience }), retryAfterDefault);
      }
    }
    return { audience, scopes: [...out] };
  }

  function tokenResponse(args: {
    client: EntraClient;
    account: string;
    granted: string[];
    requested: string[];
    nonce?: string;
    newRefreshToken: boolean;
  }): Reply {
    const resolved = resolveScopes(args.granted, args.requested, args.client);
    if ('error' in resolved) return errorReply(resolved);
    const accessToken = randomToken('at-', 1400);
    accessTokens.set(accessToken, {
      account: args.account,
      clientId: args.client.clientId,
      scopes: resolved.scopes,
      audience: resolved.audience,
      expiresAt: clock.now() + atLifetimeSec * 1000,
    });
    const oidcRequested = args.requested.filter((s) => OIDC_SCOPES.has(s) && s !== 'offline_access' && args.granted.includes(s));
    const body: Record<string, unknown> = {
      token_type: 'Bearer',
      scope: [...resolved.scopes, ...oidcRequested].join(' '),
      expires_in: atLifetimeSec,
      ext_expires_in: atLifetimeSec,
      access_token: accessToken,
    };
    if (args.newRefreshToken && args.granted.includes('offline_access')) {
      body.refresh_token = mintRefreshToken(args.account, args.client.clientId, args.granted);
    }
    if (args.requested.includes('openid') && args.granted.includes('openid')) {
      body.id_token = idToken(args.account, args.client.clientId, args.granted, args.nonce);
    }
    return json(200, body, { 'cache-control': 'no-store, no-cache', pragma: 'no-cache' });
  }

  /**
   * Verifies a client assertion like Entra: a registered certificate named by x5t#S256 (or x5t), a valid RS256/PS256
   * signature by its key, aud = the token endpoint it was sent to, iss = sub = client id, and now within nbf..exp.
   */
  function checkAssertion(client: EntraClient, assertion: string, form: URLSearchParams, req: StandinRequest): Failure | undefined {
    const ctx = ctxOf(client);
    const seen: SeenAssertion = { header: {}, claims: {}, accepted: false };
    seenAssertions.push(seen);
    const fail = (code: number, f: Failure = failureFor(code, ctx, retryAfterDefault)): Failure => {
      seen.code = code;
      return f;
    };
    if (form.get('client_assertion_type') !== JWT_BEARER_ASSERTION) return fail(900144, failureFor(900144, { param: 'client_assertion_type' }, retryAfterDefault));
    const parts = assertion.split('.');
    try {
      seen.header = JSON.parse(Buffer.from(parts[0] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
      seen.claims = JSON.parse(Buffer.from(parts[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
    } catch {
      return fail(50027, { code: 50027, error: 'invalid_client', status: 401, message: 'JWT token is invalid or malformed.' });
    }
    if (parts.length !== 3) return fail(50027, { code: 50027, error: 'invalid_client', status: 401, message: 'JWT token is invalid or malformed.' });
    const h = seen.header;
    const c = seen.claims;
    const alg = h.alg;
    const s256 = typeof h['x5t#S256'] === 'string' ? h['x5t#S256'] : undefined;
    const s1 = typeof h.x5t === 'string' ? h.x5t : undefined;
    const cert = (client.certificates ?? [])
      .map((pem) => new X509Certificate(pem))
      .find((x) => (s256 && createHash('sha256').update(x.raw).digest('base64url') === s256) || (s1 && createHash('sha1').update(x.raw).digest('base64url') === s1));
    if (!cert) {
      return fail(700027, {
        code: 700027,
        error: 'invalid_client',
        status: 401,
        message: `Client assertion failed signature validation. [Reason - The key was not found., Thumbprint of key used by client: '${String(s256 ?? s1 ?? '')}', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '${client.clientId}'.]`,
      });
    }
    const input = Buffer.from(`${parts[0]}.${parts[1]}`);
    const signature = Buffer.from(parts[2] ?? '', 'base64url');
    const ok =
      alg === 'PS256'
        ? verify('sha256', input, { key: cert.publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, signature)
        : alg === 'RS256'
          ? verify('sha256', input, { key: cert.publicKey, padding: constants.RSA_PKCS1_PADDING }, signature)
          : false;
    if (!ok) {
      return fail(700027, { code: 700027, error: 'invalid_client', status: 401, message: `Client assertion contains an invalid signature. [Reason - The provided signature value did not match the expected signature value., Thumbprint of key used by client: '${String(s256 ?? s1)}', Found key 'Start=${new Date(cert.validFrom).toISOString()}, End=${new Date(cert.validTo).toISOString()}']` });
    }
    const expectedAud = `${baseUrl}/${req.params.tenant ?? tenant}/oauth2/v2.0/token`;
    if (c.aud !== expectedAud) return fail(50012, { code: 50012, error: 'invalid_client', status: 401, message: 'Client assertion audience claim does not match Realm issuer.' });
    if (c.iss !== client.clientId || c.sub !== client.clientId) {
      return fail(700021, { code: 700021, error: 'invalid_client', status: 401, message: "Client assertion application identifier doesn't match 'client_id' parameter." });
    }
    const nowSec = Math.floor(clock.now() / 1000);
    const skew = 300;
    if (typeof c.exp !== 'number' || typeof c.nbf !== 'number' || nowSec > c.exp + skew || nowSec + skew < c.nbf) {
      return fail(700024, {
        code: 700024,
        error: 'invalid_client',
        status: 401,
        message: `Client assertion is not within its valid time range. Current time: ${new Date(clock.now()).toISOString()}, assertion valid from ${new Date(Number(c.nbf ?? 0) * 1000).toISOString()}, expiry time of assertion ${new Date(Number(c.exp ?? 0) * 1000).toISOString()}.`,
      });
    }
    if (Date.parse(cert.validTo) < clock.now()) return fail(700027, failureFor(700027, ctx, retryAfterDefault));
    seen.accepted = true;
    return undefined;
  }

  function authenticate(client: EntraClient, form: URLSearchParams, req: StandinRequest, publicFlow: boolean): Failure | undefined {
    const basic = basicAuth(req);
    const secret = form.get('client_secret') ?? basic?.secret ?? undefined;
    const assertion = form.get('client_assertion');
    const ctx = ctxOf(client);
    const confidential = client.clientSecret !== undefined || (client.certificates?.length ?? 0) > 0;
    if (!confidential) {
      return secret || assertion ? failureFor(700025, ctx, retryAfterDefault) : undefined;
    }
    if (!secret && !assertion) {
      return publicFlow && client.allowPublicClientFlows ? undefined : failureFor(7000218, ctx, retryAfterDefault);
    }
    if (assertion && !secret) return checkAssertion(client, assertion, form, req);
    if (secret !== client.clientSecret) return failureFor(7000215, ctx, retryAfterDefault);
    if (client.secretExpired) return failureFor(7000222, ctx, retryAfterDefault);
    return undefined;
  }

  function missing(param: string): Reply {
    return errorReply(failureFor(900144, { param }, retryAfterDefault));
  }

  function token(req: StandinRequest): Reply {
    const form = formOf(req);
    const basic = basicAuth(req);
    const clientId = form.get('client_id') ?? basic?.id ?? undefined;
    const tf = tenantFailure(req.params.tenant ?? '', clientId);
    if (tf) return errorReply(tf);
    const queued = failQueue.shift();
    if (queued) {
      const client = clients.get(clientId ?? '');
      const ctx = ctxOf(client, { clientId });
      return errorReply(
        typeof queued.code === 'number'
          ? failureFor(queued.code, ctx, queued.retryAfterSec)
          : failureForName(queued.code, ctx, queued.retryAfterSec),
      );
    }
    const grantType = form.get('grant_type');
    if (!grantType) return missing('grant_type');
    if (!clientId) return missing('client_id');
    const client = clients.get(clientId);
    if (!client) return errorReply(failureFor(700016, { clientId, tenant }, retryAfterDefault));
    if (grantType === 'refresh_token') return refreshGrant(client, form, req);
    if (grantType === 'authorization_code') return codeGrant(client, form, req);
    if (grantType === DEVICE_CODE_GRANT) return deviceGrant(client, form, req);
    return errorReply(failureFor(70003, { param: grantType }, retryAfterDefault));
  }

  function refreshGrant(client: EntraClient, form: URLSearchParams, req: StandinRequest): Reply {
    const rt = form.get('refresh_token');
    if (!rt) return missing('refresh_token');
    const scope = form.get('scope');
    if (!scope) return missing('scope');
    const authFailure = authenticate(client, form, req, false);
    if (authFailure) return errorReply(authFailure);
    const rec = refreshTokens.get(rt);
    if (!rec) return errorReply(failureFor(9002313, ctxOf(client), retryAfterDefault));
    if (rec.clientId !== client.clientId) return errorReply(failureFor(70000, ctxOf(client), retryAfterDefault));
    const ctx = ctxOf(client, { issuedAt: rec.issuedAt });
    if (rec.revoked) return errorReply(failureFor(50173, ctx, retryAfterDefault));
    if (rec.deadCode !== undefined) return errorReply(failureFor(rec.deadCode, ctx, retryAfterDefault));
    if (clock.now() > rec.expiresAt) return errorReply(failureFor(700082, ctx, retryAfterDefault));
    const requested = splitScopes(scope).map(normalizeScope);
    const reply = tokenResponse({ client, account: rec.account, granted: rec.scopes, requested, newRefreshToken: rotate });
    if (reply.status === 200) rec.uses++;
    return reply;
  }

  function codeGrant(client: EntraClient, form: URLSearchParams, req: StandinRequest): Reply {
    const code = form.get('code');
    if (!code) return missing('code');
    const redirectUri = form.get('redirect_uri');
    if (!redirectUri) return missing('redirect_uri');
    const authFailure = authenticate(client, form, req, false);
    if (authFailure) return errorReply(authFailure);
    const rec = codes.get(code);
    if (!rec) return errorReply(failureFor(9002313, ctxOf(client), retryAfterDefault));
    if (rec.redeemed) return errorReply(failureFor(54005, ctxOf(client), retryAfterDefault));
    if (clock.now() > rec.expiresAt) return errorReply(failureFor(70008, ctxOf(client), retryAfterDefault));
    if (rec.clientId !== client.clientId) return errorReply(failureFor(70000, ctxOf(client), retryAfterDefault));
    if (rec.redirectUri !== redirectUri) return errorReply(failureFor(500112, ctxOf(client), retryAfterDefault));
    if (rec.codeChallenge !== undefined) {
      const verifier = form.get('code_verifier');
      if (!verifier) return missing('code_verifier');
      const computed =
        rec.codeChallengeMethod === 'plain' ? verifier : createHash('sha256').update(verifier).digest('base64url');
      if (computed !== rec.codeChallenge) return errorReply(failureFor(501481, ctxOf(client), retryAfterDefault));
    }
    rec.redeemed = true;
    const requested = form.get('scope') ? splitScopes(form.get('scope') ?? '').map(normalizeScope) : rec.scopes;
    return tokenResponse({ client, account: rec.account, granted: rec.scopes, requested, nonce: rec.nonce, newRefreshToken: true });
  }

  function deviceGrant(client: EntraClient, form: URLSearchParams, req: StandinRequest): Reply {
    const deviceCode = form.get('device_code') ?? form.get('code');
    if (!deviceCode) return missing('device_code');
    const authFailure = authenticate(client, form, req, true);
    if (authFailure) return errorReply(authFailure);
    const rec = devices.get(deviceCode);
    if (!rec || rec.clientId !== client.clientId) {
      return deviceError('bad_verification_code', 70000, "The provided value for the input parameter 'device_code' is not valid.");
    }
    const now = clock.now();
    if (now > rec.expiresAt) {
      return deviceError('expired_token', 70020, "The provided value for the input parameter 'device_code' is not valid. This device code has expired.");
    }
    const last = lastPoll.get(deviceCode);
    lastPoll.set(deviceCode, now);
    switch (rec.state) {
      case 'declined':
        return deviceError('authorization_declined', undefined, 'The end user denied the authorization request.');
      case 'redeemed':
        return errorReply(failureFor(54005, ctxOf(client), retryAfterDefault));
      case 'pending':
        if (last !== undefined && now - last < rec.intervalSec * 1000) {
          return deviceError('slow_down', undefined, 'The client is polling too quickly. Increase the polling interval.');
        }
        return deviceError('authorization_pending', 70016, 'OAuth 2.0 device flow error. Authorization is pending. Continue polling.');
      case 'approved':
        rec.state = 'redeemed';
        return tokenResponse({
          client,
          account: rec.account ?? defaultAccount,
          granted: rec.scopes,
          requested: rec.scopes,
          newRefreshToken: true,
        });
    }
  }

  function authorizeErrorPage(f: Failure): Reply {
    const body = aadErrorBody(f);
    return html(
      400,
      `<!DOCTYPE html><html><head><meta charset="utf-8"><title>Sign in to your account</title></head><body>` +
        `<h1>Sorry, but we're having trouble signing you in.</h1><p id="error">${escapeHtml(String(body.error_description))}</p></body></html>`,
    );
  }

  function redirectTo(redirectUri: string, params: Record<string, string | undefined>): Reply {
    const target = new URL(redirectUri);
    for (const [k, v] of Object.entries(params)) if (v !== undefined) target.searchParams.set(k, v);
    return { status: 302, headers: { location: target.toString(), 'cache-control': 'no-store, no-cache' } };
  }

  function authorize(req: StandinRequest): Reply {
    const q = req.url.searchParams;
    const clientId = q.get('client_id') ?? undefined;
    const tf = tenantFailure(req.params.tenant ?? '', clientId);
    if (tf) return authorizeErrorPage(tf);
    if (!clientId) return authorizeErrorPage(failureFor(900144, { param: 'client_id' }, retryAfterDefault));
    const client = clients.get(clientId);
    if (!client) return authorizeErrorPage(failureFor(700016, { clientId, tenant }, retryAfterDefault));
    const redirectUri = q.get('redirect_uri');
    if (!redirectUri || !(client.redirectUris ?? []).some((r) => loopbackMatch(r, redirectUri))) {
      return authorizeErrorPage({
        code: 50011,
        error: 'invalid_request',
        status: 400,
        message: `The redirect URI '${redirectUri ?? ''}' specified in the request does not match the redirect URIs configured for the application '${clientId}'. Make sure the redirect URI sent in the request matches one added to your application in the Azure portal.`,
      });
    }
    const state = q.get('state') ?? undefined;
    const fail = (error: string, code: number, message: string): Reply =>
      redirectTo(redirectUri, { error, error_description: `AADSTS${code}: ${message}`, state });
    if (q.get('response_type') !== 'code') {
      return fail('unsupported_response_type', 70005, "The provided value for the input parameter 'response_type' is not allowed for this request.");
    }
    const scope = q.get('scope');
    if (!scope) return fail('invalid_request', 900144, "The request body must contain the following parameter: 'scope'.");
    const mode = q.get('response_mode') ?? 'query';
    if (mode !== 'query') return fail('invalid_request', 900144, `This stand-in supports response_mode=query only, not '${mode}'.`);
    const challenge = q.get('code_challenge') ?? undefined;
    const method = q.get('code_challenge_method') ?? (challenge ? 'plain' : undefined);
    if (challenge && method !== 'S256' && method !== 'plain') {
      return fail('invalid_request', 50148, "The code_challenge_method must be 'S256' or 'plain'.");
    }
    const txn = randomId();
    const loginHint = q.get('login_hint');
    const scopes = splitScopes(scope).map(normalizeScope);
    txns.set(txn, {
      clientId,
      redirectUri,
      scopes,
      state,
      nonce: q.get('nonce') ?? undefined,
      codeChallenge: challenge,
      codeChallengeMethod: method,
      account: loginHint || defaultAccount,
    });
    const items = scopes.map((s) => `<li>${escapeHtml(s)}</li>`).join('');
    return html(
      200,
      `<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>Permissions requested</title></head><body>\n` +
        `<h1>Permissions requested</h1>\n<p>${escapeHtml(client.name ?? clientId)} (${escapeHtml(clientId)}) wants to:</p><ul>${items}</ul>\n` +
        `<form method="post" action="/${escapeHtml(req.params.tenant ?? tenant)}/oauth2/v2.0/authorize">\n` +
        `<input type="hidden" name="txn" value="${txn}">\n` +
        `<label for="account">Account</label> <input id="account" name="account" type="text" value="${escapeHtml(loginHint || defaultAccount)}">\n` +
        `<button id="accept" type="submit" name="decision" value="accept">Accept</button>\n` +
        `<button id="cancel" type="submit" name="decision" value="cancel">Cancel</button>\n` +
        `</form></body></html>\n`,
    );
  }

  function consentDecision(req: StandinRequest): Reply {
    const form = formOf(req);
    const txnId = form.get('txn') ?? '';
    const txn = txns.get(txnId);
    if (!txn) {
      return authorizeErrorPage({ code: 9002313, error: 'invalid_request', status: 400, message: 'Invalid request. Request is malformed or invalid.' });
    }
    txns.delete(txnId);
    if (form.get('decision') !== 'accept') {
      return redirectTo(txn.redirectUri, {
        error: 'access_denied',
        error_subcode: 'cancel',
        error_description: 'AADSTS65004: User declined to consent to access the app.',
        state: txn.state,
      });
    }
    const code = randomToken('code-', 800);
    codes.set(code, {
      clientId: txn.clientId,
      redirectUri: txn.redirectUri,
      scopes: txn.scopes,
      nonce: txn.nonce,
      codeChallenge: txn.codeChallenge,
      codeChallengeMethod: txn.codeChallengeMethod,
      account: (form.get('account') ?? '').trim() || txn.account,
      expiresAt: clock.now() + CODE_LIFETIME_MS,
      redeemed: false,
    });
    return redirectTo(txn.redirectUri, { code, state: txn.state, session_state: randomUUID() });
  }

  function deviceCodeEndpoint(req: StandinRequest): Reply {
    const form = formOf(req);
    const clientId = form.get('client_id') ?? undefined;
    const tf = tenantFailure(req.params.tenant ?? '', clientId);
    if (tf) return errorReply(tf);
    if (!clientId) return missing('client_id');
    const client = clients.get(clientId);
    if (!client) return errorReply(failureFor(700016, { clientId, tenant }, retryAfterDefault));
    const scope = form.get('scope');
    if (!scope) return missing('scope');
    const rec: DeviceCodeInfo = {
      deviceCode: randomToken('dc-', 180),
      userCode: userCode(),
      clientId,
      scopes: splitScopes(scope).map(normalizeScope),
      expiresAt: clock.now() + deviceExpiresInSec * 1000,
      intervalSec: deviceIntervalSec,
      state: 'pending',
    };
    devices.set(rec.deviceCode, rec);
    const verificationUri = `${baseUrl}/devicelogin`;
    return json(200, {
      user_code: rec.userCode,
      device_code: rec.deviceCode,
      verification_uri: verificationUri,
      expires_in: deviceExpiresInSec,
      interval: deviceIntervalSec,
      message: `To sign in, use a web browser to open the page ${verificationUri} and enter the code ${rec.userCode} to authenticate.`,
    });
  }

  function findDevice(code: string): DeviceCodeInfo {
    const wanted = code.trim().toUpperCase();
    for (const d of devices.values()) if (d.userCode === wanted) return d;
    throw new Error(`unknown user code ${code}`);
  }

  function deviceLoginPage(): Reply {
    return html(
      200,
      `<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>Enter code</title></head><body>\n` +
        `<h1>Enter code</h1><form method="post" action="/devicelogin">\n` +
        `<label for="code">Code</label> <input id="code" name="code" type="text">\n` +
        `<label for="account">Account</label> <input id="account" name="account" type="text" value="${escapeHtml(defaultAccount)}">\n` +
        `<button id="accept" type="submit" name="decision" value="accept">Accept</button>\n` +
        `<button id="cancel" type="submit" name="decision" value="cancel">Cancel</button>\n` +
        `</form></body></html>\n`,
    );
  }

  function deviceLoginSubmit(req: StandinRequest): Reply {
    const form = formOf(req);
    try {
      const d = findDevice(form.get('code') ?? '');
      if (d.state !== 'pending' || clock.now() > d.expiresAt) throw new Error('code no longer valid');
      if (form.get('decision') === 'accept') {
        d.state = 'approved';
        d.account = (form.get('account') ?? '').trim() || defaultAccount;
        return html(200, '<!DOCTYPE html><html><body><h1>You have signed in. You may now close this window.</h1></body></html>');
      }
      d.state = 'declined';
      return html(200, '<!DOCTYPE html><html><body><h1>Sign-in cancelled.</h1></body></html>');
    } catch {
      return html(400, '<!DOCTYPE html><html><body><h1 id="error">That code didn\'t work. Check the code and try again.</h1></body></html>');
    }
  }

  function openidConfiguration(req: StandinRequest): Reply {
    const base = `${baseUrl}/${req.params.tenant ?? tenant}`;
    return json(200, {
      issuer: `https://login.microsoftonline.com/${tenantId}/v2.0`,
      authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
      token_endpoint: `${base}/oauth2/v2.0/token`,
      device_authorization_endpoint: `${base}/oauth2/v2.0/devicecode`,
      response_types_supported: ['code'],
      response_modes_supported: ['query'],
      scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
      token_endpoint_auth_methods_supported: ['client_secret_post', 'client_secret_basic'],
      code_challenge_methods_supported: ['S256', 'plain'],
    });
  }

  const aadNotFound = (): Reply => html(404, '<!DOCTYPE html><html><body><h1>404 - Not Found</h1></body></html>');

  const serving = await serveHttp({
    faults,
    notFound: aadNotFound,
    methodNotAllowed: () => errorReply({ code: 900561, error: 'invalid_request', status: 405, message: 'The endpoint only accepts POST requests.' }),
    routes: [
      { name: 'token', method: 'POST', pattern: '/{tenant}/oauth2/v2.0/token', handler: token },
      { name: 'authorize', method: 'GET', pattern: '/{tenant}/oauth2/v2.0/authorize', handler: authorize },
      { name: 'consent', method: 'POST', pattern: '/{tenant}/oauth2/v2.0/authorize', handler: consentDecision },
      { name: 'devicecode', method: 'POST', pattern: '/{tenant}/oauth2/v2.0/devicecode', handler: deviceCodeEndpoint },
      { name: 'devicelogin', method: 'GET', pattern: '/devicelogin', handler: deviceLoginPage },
      { name: 'devicelogin-submit', method: 'POST', pattern: '/devicelogin', handler: deviceLoginSubmit },
      { name: 'openid-configuration', method: 'GET', pattern: '/{tenant}/v2.0/.well-known/openid-configuration', handler: openidConfiguration },
    ],
  });
  baseUrl = serving.url;
  const authority = `${baseUrl}/${tenant}`;

  const firstClientId = (): string => {
    const first = clients.keys().next();
    if (first.done) throw new Error('no client registered');
    return first.value;
  };

  return {
    url: baseUrl,
    tenant,
    tenantId,
    authority,
    tokenUrl: `${authority}/oauth2/v2.0/token`,
    authorizeUrl: `${authority}/oauth2/v2.0/authorize`,
    deviceCodeUrl: `${authority}/oauth2/v2.0/devicecode`,
    faults,
    get latencyMs() {
      return faults.latencyMs;
    },
    set latencyMs(ms: number) {
      faults.latencyMs = ms;
    },
    inject: faults.inject.bind(faults),
    clock,
    requests: serving.requests,
    registerClient(clientId, secret, extra = {}) {
      addClient({ ...extra, clientId, ...(secret === undefined ? {} : { clientSecret: secret }) });
    },
    addCertificate(pem, clientId) {
      const c = clients.get(clientId ?? firstClientId());
      if (!c) throw new Error(`unknown client ${clientId ?? ''}`);
      c.certificates = [...(c.certificates ?? []), pem];
    },
    clientAssertions() {
      return seenAssertions.map((a) => ({ ...a }));
    },
    issueRefreshToken(o = {}) {
      const scopes = splitScopes(o.scopes ?? DEFAULT_SCOPES).map(normalizeScope);
      return mintRefreshToken(o.account ?? defaultAccount, o.clientId ?? firstClientId(), scopes);
    },
    revoke(refreshToken) {
      const rec = refreshTokens.get(refreshToken);
      if (!rec) throw new Error('unknown refresh token');
      rec.revoked = true;
    },
    revokeAccount(account) {
      for (const rec of refreshTokens.values()) if (rec.account.toLowerCase() === account.toLowerCase()) rec.revoked = true;
    },
    expireAll(code = 700082) {
      for (const rec of refreshTokens.values()) rec.deadCode = code;
    },
    setClientSecretExpired(expired = true, clientId) {
      const c = clients.get(clientId ?? firstClientId());
      if (!c) throw new Error(`unknown client ${clientId ?? ''}`);
      c.secretExpired = expired;
    },
    failWith(code, times = 1, o = {}) {
      for (let i = 0; i < times; i++) failQueue.push({ code, retryAfterSec: o.retryAfterSec ?? retryAfterDefault });
    },
    approveDevice(code, account) {
      const d = findDevice(code);
      d.state = 'approved';
      d.account = account ?? defaultAccount;
    },
    declineDevice(code) {
      findDevice(code).state = 'declined';
    },
    deviceCodes() {
      return [...devices.values()].map((d) => ({ ...d }));
    },
    isValidAccessToken(t) {
      const rec = accessTokens.get(t);
      if (!rec || clock.now() > rec.expiresAt) return undefined;
      return { ...rec, scopes: [...rec.scopes] };
    },
    issuedAccessTokens() {
      return [...accessTokens.keys()];
    },
    issuedRefreshTokens() {
      return [...refreshTokens.keys()];
    },
    refreshTokenInfo(t) {
      const rec = refreshTokens.get(t);
      return rec ? { ...rec, scopes: [...rec.scopes] } : undefined;
    },
    latestRefreshToken() {
      return latestRt;
    },
    async consent(authorizeUrl, o = {}) {
      const page = await fetch(authorizeUrl, { redirect: 'manual' });
      const text = await page.text();
      const txn = /name="txn" value="([^"]+)"/.exec(text)?.[1];
      if (page.status !== 200 || !txn) throw new Error(`authorize page failed (${page.status}): ${text.slice(0, 300)}`);
      const prefilled = unescapeHtml(/id="account" name="account" type="text" value="([^"]*)"/.exec(text)?.[1] ?? '');
      const action = /<form method="post" action="([^"]+)"/.exec(text)?.[1] ?? '';
      const body = new URLSearchParams({ txn, account: o.account ?? prefilled, decision: o.decision ?? 'accept' });
      const res = await fetch(new URL(unescapeHtml(action), baseUrl), {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body,
      });
      await res.arrayBuffer();
      const location = res.headers.get('location');
      if (res.status !== 302 || !location) throw new Error(`consent did not redirect (${res.status})`);
      return location;
    },
    close: () => serving.close(),
  };
}
