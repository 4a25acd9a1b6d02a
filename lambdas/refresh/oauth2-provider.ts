import type { KMSClient } from '@aws-sdk/client-kms';
import { z } from 'zod';
import type { Credential } from '../config/schema.ts';
import { RefresherError, type Remote } from '../core/errors.ts';
import {
  formBody,
  httpRequest,
  parseJson,
  type AmbiguousFailure,
  type HttpRequest,
  type HttpResponse,
} from '../core/http.ts';
import { registerSecret } from '../core/redact.ts';
import type { DeviceCodeGrant, DevicePoll, TokenProvider, TokenSet } from '../core/types.ts';
import { isRetryableOAuthResponse, type OAuthErrorBody } from './classify-entra.ts';
import { classifyTokenError, type ProviderErrorBody } from './classify-oauth2.ts';
import { JWT_BEARER_ASSERTION_TYPE, secretKeyAssertionSource, type ClientAssertionSource } from './client-assertion.ts';
import { DiscoveryCache } from './discovery.ts';

export interface ProviderEndpoints {
  token: string;
  authorize: string;
  deviceCode?: string;
  userinfo?: string;
  /** From OpenID discovery: the issuer, and whether its authorization responses carry `iss` (RFC 9207). */
  issuer?: string;
  issParameter?: boolean;
}

/**
 * Where each kind of provider keeps its endpoints; every one can be overridden in the configuration. Synchronous and
 * without discovery: for an `oauth2` credential known only by its `issuer` the endpoints it cannot know are '' here,
 * and resolveEndpoints() (or OAuth2Provider.ready()) fills them in.
 */
export function endpointsFor(c: Credential): ProviderEndpoints {
  if (c.provider === 'microsoft') {
    const base = `${c.authority.replace(/\/$/, '')}/${encodeURIComponent(c.tenant ?? 'common')}/oauth2/v2.0`;
    return {
      token: c.endpoints.token ?? `${base}/token`,
      authorize: c.endpoints.authorize ?? `${base}/authorize`,
      deviceCode: c.endpoints.deviceCode ?? `${base}/devicecode`,
    };
  }
  if (c.provider === 'google') {
    return {
      token: c.endpoints.token ?? 'https://oauth2.googleapis.com/token',
      authorize: c.endpoints.authorize ?? 'https://accounts.google.com/o/oauth2/v2/auth',
      deviceCode: c.endpoints.deviceCode ?? 'https://oauth2.googleapis.com/device/code',
    };
  }
  return {
    token: c.endpoints.token ?? '',
    authorize: c.endpoints.authorize ?? '',
    deviceCode: c.endpoints.deviceCode,
    userinfo: c.endpoints.userinfo,
  };
}

/** Whether some endpoint of the credential can only come from its OpenID configuration. */
function needsDiscovery(c: Credential, need: keyof ProviderEndpoints): boolean {
  if (need === 'issuer' || need === 'issParameter') return !!c.issuer;
  return !!c.issuer && !c.endpoints[need];
}

/**
 * The endpoints with OpenID discovery applied: configured endpoints first, then the issuer's document, then the
 * built-in defaults of the provider kind. Fetches the document only when a needed endpoint is not configured.
 */
export async function resolveEndpoints(
  c: Credential,
  o: {
    discovery?: DiscoveryCache;
    timeoutMs: number;
    retries: number;
    baseDelayMs?: number;
    stage?: 'refresh' | 'regenerate';
  },
  need: Array<keyof ProviderEndpoints> = ['token', 'authorize', 'deviceCode', 'userinfo', 'issuer'],
): Promise<ProviderEndpoints> {
  const base = endpointsFor(c);
  if (!c.issuer || !need.some((n) => needsDiscovery(c, n))) return base;
  const cache = o.discovery ?? new DiscoveryCache();
  const d = await cache.get(c.issuer, {
    remote: remoteOf(c),
    stage: o.stage,
    timeoutMs: o.timeoutMs,
    retries: o.retries,
    baseDelayMs: o.baseDelayMs,
    credentialId: c.id,
  });
  return {
    token: c.endpoints.token ?? d.token,
    authorize: c.endpoints.authorize ?? d.authorize ?? (c.provider === 'oauth2' ? '' : base.authorize),
    deviceCode: c.endpoints.deviceCode ?? d.deviceCode ?? (c.provider === 'oauth2' ? undefined : base.deviceCode),
    userinfo: c.endpoints.userinfo ?? d.userinfo,
    issuer: d.issuer,
    issParameter: d.issParameter === true,
  };
}

const tokenResponse = z.object({
  access_token: z.string().optional(),
  refresh_token: z.string().min(1).optional(),
  expires_in: z.union([z.number(), z.string().regex(/^\d+$/)]).optional(),
  scope: z.string().optional(),
  id_token: z.string().optional(),
  token_type: z.string().optional(),
});

const deviceCodeResponse = z.object({
  device_code: z.string().min(1),
  user_code: z.string().min(1),
  verification_uri: z.string().min(1).optional(),
  verification_url: z.string().min(1).optional(),
  expires_in: z.union([z.number(), z.string()]),
  interval: z.union([z.number(), z.string()]).optional(),
  message: z.string().optional(),
});

export interface ProviderOptions {
  clientSecret: string | undefined;
  /** Where the client secret lives, named in fixes (never the value). */
  clientSecretRef: string;
  timeoutMs: number;
  retries: number;
  baseDelayMs?: number;
  maxRetryAfterMs?: number;
  /** Shares OpenID configuration documents between the credentials of one run. */
  discovery?: DiscoveryCache;
  /**
   * credentialType "certificate": where the client assertions come from. Without it, `readSecret` and
   * `certificateSecretId` build one that reads the key document from the store on first use.
   */
  assertion?: ClientAssertionSource;
  readSecret?: (secretId: string) => Promise<string>;
  certificateSecretId?: string;
  /** certificate.kmsKeyId: the KMS client that signs (tests point it at moto); default one for the key's region. */
  kms?: Pick<KMSClient, 'send'>;
  now?: () => Date;
  /**
   * The latest time (ms since the epoch) the caller can wait for the answer to a refresh request that was sent to a
   * provider that revokes the grant on reuse: the Lambda function's remaining time less what storing the token needs.
   * Without it (the CLI), DEFAULT_SENT_WAIT_MS.
   */
  deadlineAt?: number;
}

/**
 * Whether presenting a used refresh token again makes the provider revoke the grant. Microsoft ("old ones are not
 * revoked", https://learn.microsoft.com/entra/identity-platform/refresh-tokens) and Google keep the previous token
 * valid, so a lost answer is repaired by asking again; servers with rotation and reuse detection (RFC 9700 4.14.2:
 * Okta, Auth0, Keycloak's "revoke refresh token", oidc-provider) treat the second request as theft.
 */
/**
 * The deadlineAt of a Lambda invocation: its remaining time less what is needed after the answer arrives, which is
 * writing the new token as pending (one Secrets Manager call with its retries: two attempt timeouts and a margin),
 * so a token that arrives late is still stored. Never more than half the remaining time is kept back.
 */
export function refreshDeadline(
  remainingMs: number | undefined,
  timeoutMs: number,
  now = Date.now(),
): number | undefined {
  if (!remainingMs || remainingMs <= 0) return undefined;
  const reserve = Math.min(remainingMs / 2, 2 * timeoutMs + 2_000);
  return Math.round(now + remainingMs - reserve);
}

export function refreshTokenReuseRevokes(c: Pick<Credential, 'provider' | 'refreshTokenReuse'>): boolean {
  return (c.refreshTokenReuse ?? (c.provider === 'oauth2' ? 'revokes' : 'allowed')) === 'revokes';
}

function remoteOf(c: Credential): Remote {
  return c.provider === 'microsoft' ? 'entra' : c.provider;
}

/**
 * A standard OAuth2 token endpoint (RFC 6749) spoken with a direct form POST: msal-node keeps rotated refresh tokens in
 * its private cache and never retries, so it cannot give the pipeline the token it must store at once.
 */
export class OAuth2Provider implements TokenProvider {
  readonly remote: Remote;
  /** The endpoints known so far; with an `issuer` the discovered ones replace the gaps once ready() has run. */
  endpoints: ProviderEndpoints;
  private readonly assertions: ClientAssertionSource | undefined;
  private resolving: Promise<ProviderEndpoints> | undefined;
  private resolved = false;

  constructor(
    private readonly credential: Credential,
    private readonly opts: ProviderOptions,
  ) {
    this.remote = remoteOf(credential);
    this.endpoints = endpointsFor(credential);
    this.resolved = !credential.issuer;
    registerSecret(opts.clientSecret);
    this.assertions =
      credential.credentialType === 'certificate'
        ? (opts.assertion ??
          (credential.certificate?.kmsKeyId
            ? kmsAssertionSourceOnDemand(async () => {
                // The KMS client is imported only for credentials whose key is in KMS (most runs never load it).
                const { kmsAssertionSource, kmsClient, kmsKeyRegion } = await import('./kms-assertion.ts');
                const keyId = credential.certificate?.kmsKeyId ?? '';
                return kmsAssertionSource({
                  credential,
                  client: opts.kms ?? kmsClient({ timeoutMs: opts.timeoutMs, region: kmsKeyRegion(keyId) }),
                  now: opts.now,
                  remote: this.remote,
                });
              })
            : opts.readSecret && opts.certificateSecretId
              ? secretKeyAssertionSource({
                  credential,
                  secretId: opts.certificateSecretId,
                  readSecret: opts.readSecret,
                  now: opts.now,
                  remote: this.remote,
                })
              : undefined))
        : undefined;
  }

  private get scope(): string {
    return this.credential.scopes.join(' ');
  }

  /**
   * Resolves the endpoints that come from OpenID discovery (a no-op without `issuer`). The token calls do this
   * themselves; authorizationUrl() is synchronous, so a caller building one for an issuer-only provider awaits this first.
   */
  async ready(stage: 'refresh' | 'regenerate' = 'regenerate'): Promise<this> {
    if (this.resolved) return this;
    this.resolving ??= resolveEndpoints(this.credential, {
      discovery: this.opts.discovery,
      timeoutMs: this.opts.timeoutMs,
      retries: this.opts.retries,
      baseDelayMs: this.opts.baseDelayMs,
      stage,
    });
    try {
      this.endpoints = await this.resolving;
      this.resolved = true;
    } catch (e) {
      this.resolving = undefined;
      throw e;
    }
    return this;
  }

  private async tokenEndpoint(stage: 'refresh' | 'regenerate'): Promise<string> {
    if (this.endpoints.token) return this.endpoints.token;
    await this.ready(stage);
    return this.endpoints.token;
  }

  /**
   * How the client proves itself: a client assertion (certificate credentials), HTTP Basic (client_secret_basic) or the
   * secret in the body (client_secret_post, the form every one of these providers accepts). `publicClient` sends the
   * client id alone (device-code start).
   */
  private async clientAuth(
    tokenUrl: string,
    publicClient: boolean,
  ): Promise<{ fields: Record<string, string | undefined>; headers: Record<string, string> }> {
    const clientId = this.credential.clientId;
    if (publicClient || this.credential.tokenEndpointAuthMethod === 'none')
      return { fields: { client_id: clientId }, headers: {} };
    if (this.credential.credentialType === 'certificate') {
      if (!this.assertions) {
        throw new RefresherError({
          class: 'configuration',
          code: 'CERTIFICATE_NOT_AVAILABLE',
          remote: this.remote,
          stage: 'refresh',
          message: `credential ${this.credential.id} uses a certificate, but this caller was given no way to read its key`,
          fix: 'Pass readSecret and certificateSecretId (or an assertion source) to providerFor for certificate credentials.',
        });
      }
      // The audience is the endpoint the assertion is sent to (Entra and OpenID Connect private_key_jwt alike).
      return {
        fields: {
          client_id: clientId,
          client_assertion_type: JWT_BEARER_ASSERTION_TYPE,
          client_assertion: await this.assertions.assertion(tokenUrl),
        },
        headers: {},
      };
    }
    const secret = this.opts.clientSecret;
    if (secret !== undefined && this.credential.tokenEndpointAuthMethod === 'client_secret_basic') {
      // RFC 6749 2.3.1: both parts form-urlencoded before base64; the body then carries no client credentials.
      const basic = Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64');
      registerSecret(basic);
      return { fields: {}, headers: { authorization: `Basic ${basic}` } };
    }
    return { fields: { client_id: clientId, client_secret: secret }, headers: {} };
  }

  private async post(
    url: string,
    fields: Record<string, string | undefined>,
    retry = true,
    publicClient = false,
    extra: Partial<HttpRequest> = {},
  ): Promise<HttpResponse> {
    const auth = await this.clientAuth(url, publicClient);
    return httpRequest({
      ...extra,
      remote: this.remote,
      stage: 'refresh',
      method: 'POST',
      url,
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json', ...auth.headers },
      body: formBody({ ...auth.fields, ...fields }),
      timeoutMs: this.opts.timeoutMs,
      // A refresh POST to Microsoft or Google is safe to repeat: the old refresh token stays valid. For providers that
      // revoke on reuse the caller passes replayable: false, and only failures before sending are retried.
      retries: retry ? this.opts.retries : 0,
      baseDelayMs: this.opts.baseDelayMs,
      maxRetryAfterMs: this.opts.maxRetryAfterMs,
      shouldRetry: (res) => isRetryableOAuthResponse(res.status, parseJson(res.text) as OAuthErrorBody | undefined),
    });
  }

  private classify(res: HttpResponse, endpoint = 'token endpoint', url = this.endpoints.token): RefresherError {
    const body = parseJson(res.text);
    const errBody = body && typeof body === 'object' ? (body as ProviderErrorBody) : undefined;
    if (!errBody?.error && res.status < 500 && res.status !== 429) {
      return new RefresherError({
        class: 'transient',
        code: 'TOKEN_RESPONSE_INVALID',
        remote: this.remote,
        stage: 'refresh',
        status: res.status,
        message: `${this.remote} ${endpoint} answered HTTP ${res.status} with a body that is not an OAuth2 error (${res.headers['content-type'] ?? 'no content type'})`,
        fix: `Check that the ${endpoint} ${hostOf(url)} is the provider's; retried on the next run.`,
      });
    }
    return classifyTokenError(
      this.credential.provider,
      res.status,
      errBody,
      {
        id: this.credential.id,
        mailbox: this.credential.mailbox,
        clientId: this.credential.clientId,
        tenant: this.credential.tenant,
        // For certificate credentials the fixes name where the key lives.
        clientSecretRef:
          this.credential.credentialType !== 'certificate'
            ? this.opts.clientSecretRef
            : this.credential.certificate?.kmsKeyId
              ? `KMS key ${this.credential.certificate.kmsKeyId}`
              : (this.opts.certificateSecretId ?? this.opts.clientSecretRef),
        remote: this.remote,
        scopes: this.scope,
        endpoint,
      },
      res.retryAfterMs,
      hostOf(url),
    );
  }

  private parseTokens(res: HttpResponse): TokenSet {
    if (res.status !== 200) throw this.classify(res);
    const parsed = tokenResponse.safeParse(parseJson(res.text));
    if (!parsed.success || (!parsed.data.access_token && !parsed.data.refresh_token)) {
      throw new RefresherError({
        class: 'transient',
        code: 'TOKEN_RESPONSE_INVALID',
        remote: this.remote,
        stage: 'refresh',
        status: res.status,
        message: `${this.remote} token endpoint answered 200 without a usable token (${parsed.success ? 'no access_token' : 'not the JSON of a token response'})`,
        fix: 'Retried on the next run; the stored refresh token is unchanged.',
      });
    }
    const d = parsed.data;
    registerSecret(d.access_token);
    registerSecret(d.refresh_token);
    registerSecret(d.id_token);
    return {
      accessToken: d.access_token ?? '',
      refreshToken: d.refresh_token,
      expiresInSec: d.expires_in === undefined ? undefined : Number(d.expires_in),
      scope: d.scope,
      idToken: d.id_token,
    };
  }

  async redeemRefreshToken(refreshToken: string): Promise<TokenSet> {
    registerSecret(refreshToken);
    // Always send scope: Entra answers AADSTS900144/90009 without it.
    const url = await this.tokenEndpoint('refresh');
    const fields = { grant_type: 'refresh_token', refresh_token: refreshToken, scope: this.scope };
    if (!refreshTokenReuseRevokes(this.credential)) return this.parseTokens(await this.post(url, fields));
    const res = await this.post(url, fields, true, false, {
      replayable: false,
      sentDeadlineAt: this.opts.deadlineAt,
      ambiguous: (info) => this.outcomeUnknown(info),
    });
    // A gateway's 502/504, or a 5xx that is not an OAuth2 error, may stand for a request the server did act on.
    if (res.status >= 500 && res.status !== 503) {
      const body = parseJson(res.text) as ProviderErrorBody | undefined;
      if (!body || typeof body !== 'object' || typeof body.error !== 'string') {
        throw this.outcomeUnknown({
          kind: 'connection',
          code: `HTTP_${res.status}`,
          waitedMs: 0,
          host: hostOf(url),
          attempts: res.attempts,
        });
      }
    }
    return this.parseTokens(res);
  }

  /** A refresh request that may have rotated the token at a provider that revokes on reuse, without its answer. */
  private outcomeUnknown(info: AmbiguousFailure): RefresherError {
    const c = this.credential;
    const what =
      info.kind === 'timeout'
        ? `no answer came within ${Math.round(info.waitedMs / 1000)} s of sending it`
        : info.code.startsWith('HTTP_')
          ? `a gateway answered ${info.code.replace('HTTP_', 'HTTP ')} instead of the token endpoint`
          : `the connection failed (${info.code}) after the request was sent`;
    return new RefresherError({
      class: 'transient',
      code: 'REFRESH_OUTCOME_UNKNOWN',
      remote: this.remote,
      stage: 'refresh',
      message:
        `the refresh request for credential ${c.id} may have reached ${info.host}, but ${what}. It was not sent again: ` +
        'this provider revokes the whole grant when a used refresh token is presented twice (refreshTokenReuse "revokes")',
      fix:
        `The stored refresh token is unchanged. If ${info.host} never received the request, the next run rotates it as usual. ` +
        `If it did, it issued a new token that was lost in transit and will refuse the stored one (and may have revoked the grant): ` +
        `then run \`token-refresher regenerate --credential ${c.id}\` and sign in as ${c.mailbox}. ` +
        `If ${info.host} keeps old tokens valid after rotation, set "refreshTokenReuse": "allowed" on the credential so such requests are retried.`,
    });
  }

  authorizationUrl(p: { redirectUri: string; state: string; codeChallenge: string; loginHint?: string }): string {
    if (!this.endpoints.authorize) {
      throw new RefresherError({
        class: 'configuration',
        code: 'NO_AUTHORIZE_ENDPOINT',
        remote: this.remote,
        stage: 'regenerate',
        message: this.resolved
          ? `credential ${this.credential.id} has no authorization endpoint (neither configured nor in its issuer's OpenID configuration)`
          : `the authorization endpoint of credential ${this.credential.id} comes from OpenID discovery, which has not run yet`,
        fix: this.resolved
          ? 'Set endpoints.authorize in the configuration, or use the device-code flow.'
          : 'Await provider.ready() before authorizationUrl() (resolvedProviderFor does).',
      });
    }
    const u = new URL(this.endpoints.authorize);
    u.searchParams.set('client_id', this.credential.clientId);
    u.searchParams.set('response_type', 'code');
    u.searchParams.set('redirect_uri', p.redirectUri);
    u.searchParams.set('response_mode', 'query');
    u.searchParams.set('scope', this.scope);
    u.searchParams.set('state', p.state);
    u.searchParams.set('code_challenge', p.codeChallenge);
    u.searchParams.set('code_challenge_method', 'S256');
    if (p.loginHint) u.searchParams.set('login_hint', p.loginHint);
    if (this.credential.provider === 'google') {
      // Without both, Google issues no refresh token on a second consent.
      u.searchParams.set('access_type', 'offline');
      u.searchParams.set('prompt', 'consent');
    }
    // OpenID Connect Core 11: offline_access is ignored unless prompt=consent is sent (when the server has no prior
    // consent for it), and then no refresh token comes back.
    if (this.credential.provider === 'oauth2' && this.credential.scopes.includes('offline_access'))
      u.searchParams.set('prompt', 'consent');
    return u.toString();
  }

  async redeemAuthorizationCode(p: { code: string; redirectUri: string; codeVerifier: string }): Promise<TokenSet> {
    registerSecret(p.code);
    registerSecret(p.codeVerifier);
    // A code can be redeemed once: never retry this POST blindly.
    const res = await this.post(
      await this.tokenEndpoint('regenerate'),
      {
        grant_type: 'authorization_code',
        code: p.code,
        redirect_uri: p.redirectUri,
        code_verifier: p.codeVerifier,
        scope: this.scope,
      },
      false,
    );
    return this.parseTokens(res);
  }

  /** Known once discovery ran (an `issuer`): what the authorization response's `iss` must say (RFC 9207). */
  expectedIssuer(): { issuer: string; required: boolean } | undefined {
    if (!this.endpoints.issuer) return undefined;
    return { issuer: this.endpoints.issuer, required: this.endpoints.issParameter === true };
  }

  /** The userinfo claims for an access token (OpenID Connect Core 5.3), or undefined without a userinfo endpoint. */
  async userinfo(accessToken: string): Promise<Record<string, unknown> | undefined> {
    if (!this.endpoints.userinfo && this.credential.issuer) await this.ready('regenerate');
    const url = this.endpoints.userinfo;
    if (!url) return undefined;
    registerSecret(accessToken);
    const res = await httpRequest({
      remote: this.remote,
      stage: 'regenerate',
      method: 'GET',
      url,
      headers: { authorization: `Bearer ${accessToken}`, accept: 'application/json' },
      timeoutMs: this.opts.timeoutMs,
      retries: this.opts.retries,
      baseDelayMs: this.opts.baseDelayMs,
      maxBodyBytes: 64 * 1024,
    });
    const body = res.status === 200 ? parseJson(res.text) : undefined;
    if (!body || typeof body !== 'object' || Array.isArray(body)) {
      throw new RefresherError({
        class: 'configuration',
        code: 'USERINFO_FAILED',
        remote: this.remote,
        stage: 'regenerate',
        status: res.status,
        message: `the userinfo endpoint ${hostOf(url)} answered HTTP ${res.status}${res.status === 200 ? ' with a body that is not a JSON object' : ''}, so the signed-in account is not known; nothing was stored`,
        fix: `Check "endpoints.userinfo" (or the issuer's userinfo_endpoint) of credential ${this.credential.id}, and that the provider releases the "email" claim to client ${this.credential.clientId}.`,
      });
    }
    return body as Record<string, unknown>;
  }

  async startDeviceCode(): Promise<DeviceCodeGrant> {
    if (!this.endpoints.deviceCode && this.credential.issuer) await this.ready('regenerate');
    if (!this.endpoints.deviceCode) {
      throw new RefresherError({
        class: 'configuration',
        code: 'NO_DEVICE_CODE_ENDPOINT',
        remote: this.remote,
        stage: 'regenerate',
        message: `credential ${this.credential.id} has no device-code endpoint`,
        fix: 'Set endpoints.deviceCode or use the browser flow.',
      });
    }
    // RFC 8628 3.1: a confidential client authenticates here as at the token endpoint. Microsoft's and Google's device
    // endpoints take the client id alone (Entra's device flow is a public-client flow).
    const confidential =
      this.credential.provider === 'oauth2' &&
      this.credential.tokenEndpointAuthMethod !== 'none' &&
      (this.opts.clientSecret !== undefined || this.credential.credentialType === 'certificate');
    const res = await this.post(this.endpoints.deviceCode, { scope: this.scope }, true, !confidential);
    if (res.status !== 200) throw this.classify(res, 'device authorization endpoint', this.endpoints.deviceCode);
    const parsed = deviceCodeResponse.safeParse(parseJson(res.text));
    if (!parsed.success) {
      throw new RefresherError({
        class: 'transient',
        code: 'DEVICE_CODE_RESPONSE_INVALID',
        remote: this.remote,
        stage: 'regenerate',
        message: `${this.remote} device-code endpoint answered an unexpected body`,
        fix: 'Retry; check the device-code endpoint.',
      });
    }
    const d = parsed.data;
    registerSecret(d.device_code);
    return {
      deviceCode: d.device_code,
      userCode: d.user_code,
      verificationUri: d.verification_uri ?? d.verification_url ?? '',
      expiresInSec: Number(d.expires_in),
      intervalSec: d.interval === undefined ? 5 : Number(d.interval),
      message: d.message,
    };
  }

  async pollDeviceCode(deviceCode: string): Promise<DevicePoll> {
    const res = await this.post(
      await this.tokenEndpoint('regenerate'),
      { grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: deviceCode },
      false,
    );
    if (res.status === 200) return { status: 'done', tokens: this.parseTokens(res) };
    const body = parseJson(res.text) as OAuthErrorBody | undefined;
    if (body?.error === 'authorization_pending') return { status: 'pending' };
    if (body?.error === 'slow_down') return { status: 'slow_down' };
    if (body?.error === 'authorization_declined' || body?.error === 'access_denied') {
      throw new RefresherError({
        class: 'input',
        code: 'DEVICE_DECLINED',
        remote: this.remote,
        stage: 'regenerate',
        status: res.status,
        message: 'the sign-in was declined on the device-code page',
        fix: `Run \`token-refresher regenerate --credential ${this.credential.id} --device-code\` again and accept as ${this.credential.mailbox}.`,
      });
    }
    if (body?.error === 'expired_token') {
      throw new RefresherError({
        class: 'input',
        code: 'DEVICE_CODE_EXPIRED',
        remote: this.remote,
        stage: 'regenerate',
        status: res.status,
        message: 'the device code expired before the sign-in was completed',
        fix: `Run \`token-refresher regenerate --credential ${this.credential.id} --device-code\` again and finish the sign-in within the time shown.`,
      });
    }
    throw this.classify(res);
  }
}

export function providerFor(credential: Credential, opts: ProviderOptions): OAuth2Provider {
  return new OAuth2Provider(credential, opts);
}

/** A provider whose endpoints are all known, discovery included: what a sign-in (authorizationUrl) needs. */
export async function resolvedProviderFor(credential: Credential, opts: ProviderOptions): Promise<OAuth2Provider> {
  return new OAuth2Provider(credential, opts).ready('regenerate');
}

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return '(no endpoint)';
  }
}

/** An assertion source created on its first use; a KMS-held key has no certificate end date to report (notAfter). */
function kmsAssertionSourceOnDemand(create: () => Promise<ClientAssertionSource>): ClientAssertionSource {
  let source: Promise<ClientAssertionSource> | undefined;
  return {
    assertion: async (audience) => (await (source ??= create())).assertion(audience),
    notAfter: () => undefined,
  };
}
