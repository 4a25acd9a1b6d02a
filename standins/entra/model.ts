// The Entra stand-in's vocabulary: its defaults, the records it keeps, the state its parts share and small helpers.
import { createHash, randomBytes } from 'node:crypto';
import { Clock } from '../clock.ts';
import { failureFor, type Ctx, type Failure } from './errors.ts';

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

export const DAY_SEC = 86_400;
export const CODE_LIFETIME_MS = 10 * 60 * 1000;
export const OIDC_SCOPES = new Set(['openid', 'profile', 'email', 'offline_access']);
export const GRAPH = 'https://graph.microsoft.com';

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

export interface AuthTxn {
  clientId: string;
  redirectUri: string;
  scopes: string[];
  state?: string;
  nonce?: string;
  codeChallenge?: string;
  codeChallengeMethod?: string;
  account: string;
}

export interface CodeRecord extends Omit<AuthTxn, 'state'> {
  expiresAt: number;
  redeemed: boolean;
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

/**
 * The stand-in's state and settings, shared by its parts (grants, assertions, pages): created once by startEntraStandin,
 * changed only by the endpoints and the test helpers.
 */
export interface EntraWorld {
  readonly tenant: string;
  readonly tenantId: string;
  readonly defaultAccount: string;
  readonly rotate: boolean;
  readonly rtLength: number;
  readonly atLifetimeSec: number;
  readonly rtLifetimeSec: number;
  readonly deviceExpiresInSec: number;
  readonly deviceIntervalSec: number;
  readonly retryAfterDefault: number;
  readonly multiTenant: boolean;
  readonly clock: Clock;
  readonly clients: Map<string, EntraClient>;
  readonly refreshTokens: Map<string, RefreshTokenInfo>;
  readonly accessTokens: Map<string, AccessTokenInfo>;
  readonly codes: Map<string, CodeRecord>;
  readonly txns: Map<string, AuthTxn>;
  readonly devices: Map<string, DeviceCodeInfo>;
  readonly lastPoll: Map<string, number>;
  readonly seenAssertions: SeenAssertion[];
  readonly failQueue: Array<{ code: number | EntraErrorName; retryAfterSec: number }>;
  latestRt: string | undefined;
  /** Set once the server listens. */
  baseUrl: string;
}

/** The state of a new stand-in: the options with their defaults, no tokens yet, the given clients (or the default app). */
export function createWorld(opts: EntraStandinOptions): EntraWorld {
  const w: EntraWorld = {
    tenant: opts.tenant ?? DEFAULT_TENANT,
    tenantId: opts.tenantId ?? DEFAULT_TENANT_ID,
    defaultAccount: opts.account ?? DEFAULT_ACCOUNT,
    rotate: opts.rotate ?? true,
    rtLength: opts.refreshTokenLength ?? 1200,
    atLifetimeSec: opts.accessTokenLifetimeSec ?? 3600,
    rtLifetimeSec: opts.refreshTokenLifetimeSec ?? 90 * DAY_SEC,
    deviceExpiresInSec: opts.deviceCodeExpiresInSec ?? 900,
    deviceIntervalSec: opts.deviceCodeIntervalSec ?? 5,
    retryAfterDefault: opts.retryAfterSec ?? 1,
    multiTenant: opts.multiTenant === true,
    clock: new Clock(),
    clients: new Map(),
    refreshTokens: new Map(),
    accessTokens: new Map(),
    codes: new Map(),
    txns: new Map(),
    devices: new Map(),
    lastPoll: new Map(),
    seenAssertions: [],
    failQueue: [],
    latestRt: undefined,
    baseUrl: '',
  };
  const addClient = (c: EntraClient): void => addEntraClient(w, c);
  if (Array.isArray(opts.clients)) opts.clients.forEach(addClient);
  else if (opts.clients)
    for (const [clientId, clientSecret] of Object.entries(opts.clients)) addClient({ clientId, clientSecret });
  else addClient({ clientId: DEFAULT_CLIENT_ID, clientSecret: DEFAULT_CLIENT_SECRET, name: 'token-refresher' });
  return w;
}

/** Registers an app; redirect URIs default to those the AEM documentation asks for, public client flows are allowed. */
export function addEntraClient(w: EntraWorld, c: EntraClient): void {
  w.clients.set(c.clientId, {
    redirectUris: ['http://localhost', 'http://localhost/'],
    allowPublicClientFlows: true,
    ...c,
  });
}

export function tenantFailure(w: EntraWorld, t: string, clientId?: string): Failure | undefined {
  const tenantOk = t === w.tenant || t === w.tenantId || (w.multiTenant && (t === 'common' || t === 'organizations'));
  if (tenantOk) return undefined;
  if (t === 'common' || t === 'organizations' || t === 'consumers') {
    return failureFor(50194, { clientId, clientName: w.clients.get(clientId ?? '')?.name }, w.retryAfterDefault);
  }
  return failureFor(90002, { tenant: t }, w.retryAfterDefault);
}

export function ctxOf(w: EntraWorld, client: EntraClient | undefined, extra: Ctx = {}): Ctx {
  return { clientId: client?.clientId, clientName: client?.name ?? 'token-refresher', tenant: w.tenant, ...extra };
}

export function mintRefreshToken(w: EntraWorld, account: string, clientId: string, scopes: string[]): string {
  const { rtLength, rtLifetimeSec, clock, refreshTokens } = w;
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
  w.latestRt = token;
  return token;
}

export function b64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

export function randomToken(prefix: string, length: number): string {
  const need = Math.max(1, length - prefix.length);
  return (
    prefix +
    randomBytes(Math.ceil((need * 3) / 4) + 3)
      .toString('base64url')
      .slice(0, need)
  );
}

export function uuidFrom(text: string): string {
  const h = createHash('sha256').update(text).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

export function splitScopes(scope: string): string[] {
  return scope.split(/\s+/).filter(Boolean);
}

export function normalizeScope(scope: string): string {
  if (OIDC_SCOPES.has(scope.toLowerCase())) return scope.toLowerCase();
  return scope.includes('://') ? scope : `${GRAPH}/${scope}`;
}

export function resourceOf(scope: string): string {
  const scheme = scope.indexOf('://');
  if (scheme < 0) return GRAPH;
  const last = scope.lastIndexOf('/');
  return last > scheme + 2 ? scope.slice(0, last) : scope;
}

export function loopbackMatch(registered: string, requested: string): boolean {
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

export function userCode(): string {
  const alphabet = 'BCDFGHJKLMNPQRSTVWXZ23456789';
  const bytes = randomBytes(9);
  return Array.from(bytes, (b) => alphabet[b % alphabet.length]).join('');
}
