// Stand-in for the Microsoft identity platform v2 endpoints token-refresher talks to: token (refresh_token,
// authorization_code + PKCE, device_code grants), authorize with a consent page, devicecode, plus helpers that make tokens
// die the ways real ones do (https://learn.microsoft.com/en-us/entra/identity-platform/v2-protocols). One concern a file
// under standins/entra/: model (defaults, records, shared state), errors (AADSTS failures), assertions (client
// authentication), grants (token endpoint), pages (authorize, consent, device login).
import { readFileSync } from 'node:fs';
import type { Clock } from './clock.ts';
import { errorReply } from './entra/errors.ts';
import { deviceCodeEndpoint, token } from './entra/grants.ts';
import {
  addEntraClient,
  createWorld,
  DEFAULT_SCOPES,
  mintRefreshToken,
  normalizeScope,
  splitScopes,
} from './entra/model.ts';
import type {
  AccessTokenInfo,
  DeviceCodeInfo,
  EntraClient,
  EntraErrorName,
  EntraStandinOptions,
  RefreshTokenInfo,
  SeenAssertion,
} from './entra/model.ts';
import {
  authorize,
  consentDecision,
  deviceLoginPage,
  deviceLoginSubmit,
  findDevice,
  openidConfiguration,
} from './entra/pages.ts';
import { Faults, withFaultControls, type FaultControls } from './faults.ts';
import { consentThroughPage, html, serveHttp, type Reply, type RequestRecord } from './http.ts';

export {
  DEFAULT_ACCOUNT,
  DEFAULT_CLIENT_ID,
  DEFAULT_CLIENT_SECRET,
  DEFAULT_SCOPES,
  DEFAULT_TENANT,
  DEFAULT_TENANT_ID,
  DEVICE_CODE_GRANT,
  JWT_BEARER_ASSERTION,
  resourceOf,
  SMTP_SEND_SCOPE,
  splitScopes,
} from './entra/model.ts';
export type {
  AccessTokenInfo,
  DeviceCodeInfo,
  DeviceState,
  EntraClient,
  EntraErrorName,
  EntraStandinOptions,
  RefreshTokenInfo,
  SeenAssertion,
} from './entra/model.ts';

/**
 * Test-only certificate material for certificate credentials (standins/tls/README.md): 'app' is the one tests register
 * on the app, 'other' one that is never registered. The private keys are public on purpose.
 */
export function testClientCertificate(name: 'app' | 'other' = 'app'): { certificate: string; privateKey: string } {
  const dir = new URL('./tls/', import.meta.url);
  return {
    certificate: readFileSync(new URL(`${name}.pem`, dir), 'utf8'),
    privateKey: readFileSync(new URL(`${name}.key`, dir), 'utf8'),
  };
}

export interface EntraStandin extends FaultControls {
  url: string;
  tenant: string;
  tenantId: string;
  /** `${url}/${tenant}`: what a client configures as the authority. */
  authority: string;
  tokenUrl: string;
  authorizeUrl: string;
  deviceCodeUrl: string;
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

export async function startEntraStandin(opts: EntraStandinOptions = {}): Promise<EntraStandin> {
  const faults = new Faults({ latencyMs: opts.latencyMs });
  const w = createWorld(opts);
  const {
    tenant,
    tenantId,
    defaultAccount,
    retryAfterDefault,
    clock,
    clients,
    refreshTokens,
    accessTokens,
    devices,
    seenAssertions,
    failQueue,
  } = w;
  const addClient = (c: EntraClient): void => addEntraClient(w, c);

  const aadNotFound = (): Reply => html(404, '<!DOCTYPE html><html><body><h1>404 - Not Found</h1></body></html>');

  const serving = await serveHttp({
    faults,
    notFound: aadNotFound,
    methodNotAllowed: () =>
      errorReply({
        code: 900561,
        error: 'invalid_request',
        status: 405,
        message: 'The endpoint only accepts POST requests.',
      }),
    routes: [
      { name: 'token', method: 'POST', pattern: '/{tenant}/oauth2/v2.0/token', handler: (req) => token(w, req) },
      {
        name: 'authorize',
        method: 'GET',
        pattern: '/{tenant}/oauth2/v2.0/authorize',
        handler: (req) => authorize(w, req),
      },
      {
        name: 'consent',
        method: 'POST',
        pattern: '/{tenant}/oauth2/v2.0/authorize',
        handler: (req) => consentDecision(w, req),
      },
      {
        name: 'devicecode',
        method: 'POST',
        pattern: '/{tenant}/oauth2/v2.0/devicecode',
        handler: (req) => deviceCodeEndpoint(w, req),
      },
      { name: 'devicelogin', method: 'GET', pattern: '/devicelogin', handler: () => deviceLoginPage(w) },
      {
        name: 'devicelogin-submit',
        method: 'POST',
        pattern: '/devicelogin',
        handler: (req) => deviceLoginSubmit(w, req),
      },
      {
        name: 'openid-configuration',
        method: 'GET',
        pattern: '/{tenant}/v2.0/.well-known/openid-configuration',
        handler: (req) => openidConfiguration(w, req),
      },
    ],
  });
  w.baseUrl = serving.url;
  const baseUrl = w.baseUrl;
  const authority = `${baseUrl}/${tenant}`;

  const firstClientId = (): string => {
    const first = clients.keys().next();
    if (first.done) throw new Error('no client registered');
    return first.value;
  };

  return withFaultControls<EntraStandin>(faults, {
    url: baseUrl,
    tenant,
    tenantId,
    authority,
    tokenUrl: `${authority}/oauth2/v2.0/token`,
    authorizeUrl: `${authority}/oauth2/v2.0/authorize`,
    deviceCodeUrl: `${authority}/oauth2/v2.0/devicecode`,
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
      return mintRefreshToken(w, o.account ?? defaultAccount, o.clientId ?? firstClientId(), scopes);
    },
    revoke(refreshToken) {
      const rec = refreshTokens.get(refreshToken);
      if (!rec) throw new Error('unknown refresh token');
      rec.revoked = true;
    },
    revokeAccount(account) {
      for (const rec of refreshTokens.values())
        if (rec.account.toLowerCase() === account.toLowerCase()) rec.revoked = true;
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
      const d = findDevice(w, code);
      d.state = 'approved';
      d.account = account ?? defaultAccount;
    },
    declineDevice(code) {
      findDevice(w, code).state = 'declined';
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
      return w.latestRt;
    },
    consent: (authorizeUrl, o = {}) => consentThroughPage(authorizeUrl, baseUrl, o),
    close: () => serving.close(),
  });
}
