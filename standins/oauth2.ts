// Stand-in for a standard OAuth2 / OpenID Connect provider, in two flavors:
// - 'google' (docs/PROTOCOLS.md, Google): Google's paths and error bodies, no refresh-token rotation, refresh tokens only with
//   access_type=offline (and a new one on a repeated consent only with prompt=consent), and the ways Google tokens die:
//   revoked, 6 months unused, password change, more than 100 per account and client, 7 days while the app is "Testing";
// - 'generic': a Keycloak-like realm with RFC 6749 error bodies and optional rotation.
// Both publish /.well-known/openid-configuration, accept client_secret_post and client_secret_basic, and support the
// authorization-code (PKCE) and device-code grants, so the pipeline and the CLI can run against them unchanged.
import { createHash, randomBytes } from 'node:crypto';
import { Clock } from './clock.ts';
import { Faults, withFaultControls, type FaultControls } from './faults.ts';
import {
  basicAuth,
  consentThroughPage,
  escapeHtml,
  formOf,
  html,
  json,
  randomId,
  serveHttp,
  type Reply,
  type RequestRecord,
  type StandinRequest,
} from './http.ts';

export const GOOGLE_CLIENT_ID = '123456789012-t0kenrefresher0standin0example0.apps.googleusercontent.com';
export const GOOGLE_CLIENT_SECRET = 'GOCSPX-test-only-client-secret-not-real';
export const GOOGLE_ACCOUNT = 'mailer@example.org';
export const GMAIL_SCOPE = 'https://mail.google.com/';
export const GENERIC_CLIENT_ID = 'token-refresher';
export const GENERIC_CLIENT_SECRET = 'generic-test-only-client-secret-not-real';

const DAY_MS = 86_400_000;
const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
/** Google refuses Gmail scopes on the device flow ("limited input devices"). */
const GOOGLE_DEVICE_SCOPES = new Set([
  'openid',
  'email',
  'profile',
  'https://www.googleapis.com/auth/userinfo.email',
  'https://www.googleapis.com/auth/userinfo.profile',
  'https://www.googleapis.com/auth/drive.file',
]);

export type OAuth2Flavor = 'google' | 'generic';
export type ClientAuthMethod = 'client_secret_post' | 'client_secret_basic';

export interface OAuth2StandinOptions {
  flavor?: OAuth2Flavor;
  /** clientId -> client secret; default the flavor's test client. */
  clients?: Record<string, string>;
  account?: string;
  /** Issue a new refresh token on every refresh (generic only; Google never does). Default false. */
  rotate?: boolean;
  /** Google OAuth consent screen status: tokens issued while "testing" die after 7 days. Default 'production'. */
  publishingStatus?: 'testing' | 'production';
  accessTokenLifetimeSec?: number;
  /** Google keeps at most this many refresh tokens per account and client; the oldest is dropped. Default 100. */
  maxTokensPerAccountClient?: number;
  /** A refresh token unused this long dies (Google: 6 months). */
  unusedLifetimeSec?: number;
  /** Serve the OpenID configuration; default true. */
  discovery?: boolean;
  /** The `issuer` value the configuration claims; default the stand-in's own issuer URL (tests a mismatch). */
  claimedIssuer?: string;
  /** Client authentication accepted; default both. */
  authMethods?: ClientAuthMethod[];
  deviceCodeIntervalSec?: number;
  latencyMs?: number;
}

export interface OAuth2RefreshTokenInfo {
  token: string;
  account: string;
  clientId: string;
  scopes: string[];
  issuedAt: number;
  lastUsedAt: number;
  /** Issued while the app was in "Testing" status (Google). */
  testing: boolean;
  revoked: boolean;
  revokedBecause?: 'user' | 'password' | 'limit' | 'rotated';
  uses: number;
}

export interface OAuth2AccessTokenInfo {
  account: string;
  clientId: string;
  scopes: string[];
  expiresAt: number;
}

export interface OAuth2Failure {
  status: number;
  error: string;
  description?: string;
  subtype?: string;
  retryAfterSec?: number;
}

export interface OAuth2Standin extends FaultControls {
  flavor: OAuth2Flavor;
  url: string;
  /** What a credential configures as "issuer". */
  issuer: string;
  tokenUrl: string;
  authorizeUrl: string;
  deviceCodeUrl: string;
  discoveryUrl: string;
  clientId: string;
  clientSecret: string;
  account: string;
  clock: Clock;
  requests: RequestRecord[];
  publishingStatus: 'testing' | 'production';
  issueRefreshToken(o?: { account?: string; clientId?: string; scopes?: string[] }): string;
  /** The user (or an administrator) removed the app's access. */
  revoke(refreshToken: string): void;
  /** Password change: every token of the account carrying a Gmail scope dies. */
  changePassword(account?: string): void;
  /** The next `times` token requests fail this way (a Google or RFC 6749 error name, or a full failure). */
  failWith(
    f: 'invalid_grant' | 'invalid_rapt' | 'invalid_client' | 'temporarily_unavailable' | 'server_error' | OAuth2Failure,
    times?: number,
  ): void;
  isValidAccessToken(token: string): OAuth2AccessTokenInfo | undefined;
  refreshTokenInfo(token: string): OAuth2RefreshTokenInfo | undefined;
  issuedRefreshTokens(): string[];
  issuedAccessTokens(): string[];
  latestRefreshToken(): string | undefined;
  approveDevice(userCode: string, account?: string): void;
  /** Like a browser: load the consent page, accept (or cancel), return the redirect Location. */
  consent(authorizeUrl: string, o?: { account?: string; decision?: 'accept' | 'cancel' }): Promise<string>;
  close(): Promise<void>;
}

const GOOGLE_TEXT: Record<string, string> = {
  invalid_grant: 'Token has been expired or revoked.',
  invalid_rapt: 'reauth related error (invalid_rapt)',
  invalid_client: 'The OAuth client was not found.',
  unauthorized_client: 'Unauthorized',
  temporarily_unavailable: 'The service is temporarily unavailable.',
  server_error: 'Internal error.',
};

function token(prefix: string, length: number): string {
  return prefix + randomBytes(length).toString('base64url').slice(0, length);
}

interface Txn {
  clientId: string;
  redirectUri: string;
  scopes: string[];
  state?: string;
  challenge?: string;
  offline: boolean;
  promptConsent: boolean;
}

interface Code extends Omit<Txn, 'state'> {
  account: string;
  expiresAt: number;
  used: boolean;
}

interface Device {
  deviceCode: string;
  userCode: string;
  clientId: string;
  scopes: string[];
  expiresAt: number;
  state: 'pending' | 'approved' | 'redeemed';
  account?: string;
  lastPoll?: number;
}

export async function startOAuth2Standin(opts: OAuth2StandinOptions = {}): Promise<OAuth2Standin> {
  const flavor = opts.flavor ?? 'google';
  const google = flavor === 'google';
  const defaultClientId = google ? GOOGLE_CLIENT_ID : GENERIC_CLIENT_ID;
  const defaultSecret = google ? GOOGLE_CLIENT_SECRET : GENERIC_CLIENT_SECRET;
  const clients = new Map(Object.entries(opts.clients ?? { [defaultClientId]: defaultSecret }));
  const defaultAccount = opts.account ?? GOOGLE_ACCOUNT;
  const rotate = !google && (opts.rotate ?? false);
  const atLifetimeSec = opts.accessTokenLifetimeSec ?? 3599;
  const maxPerAccountClient = opts.maxTokensPerAccountClient ?? 100;
  const unusedMs = (opts.unusedLifetimeSec ?? 183 * 86_400) * 1000;
  const authMethods = new Set<ClientAuthMethod>(opts.authMethods ?? ['client_secret_post', 'client_secret_basic']);
  const deviceInterval = opts.deviceCodeIntervalSec ?? 5;
  const faults = new Faults({ latencyMs: opts.latencyMs });
  const clock = new Clock();
  const prefix = google ? '' : '/realms/mail';
  const paths = google
    ? { token: '/token', authorize: '/o/oauth2/v2/auth', device: '/device/code', deviceLogin: '/device' }
    : {
        token: `${prefix}/protocol/openid-connect/token`,
        authorize: `${prefix}/protocol/openid-connect/auth`,
        device: `${prefix}/protocol/openid-connect/auth/device`,
        deviceLogin: `${prefix}/device`,
      };

  const refreshTokens = new Map<string, OAuth2RefreshTokenInfo>();
  const accessTokens = new Map<string, OAuth2AccessTokenInfo>();
  const txns = new Map<string, Txn>();
  const codes = new Map<string, Code>();
  const devices = new Map<string, Device>();
  const consented = new Set<string>();
  const failQueue: OAuth2Failure[] = [];
  let latest: string | undefined;
  let baseUrl = '';
  let publishingStatus = opts.publishingStatus ?? 'production';

  const errorReply = (f: OAuth2Failure): Reply => {
    const body: Record<string, string> = { error: f.error };
    const description = f.description ?? (google ? GOOGLE_TEXT[f.subtype ?? f.error] : undefined);
    if (description) body.error_description = description;
    if (f.subtype) body.error_subtype = f.subtype;
    const headers: Record<string, string> = {
      'cache-control': 'no-cache, no-store, max-age=0, must-revalidate',
      pragma: 'no-cache',
    };
    if (f.retryAfterSec !== undefined) headers['retry-after'] = String(f.retryAfterSec);
    return json(f.status, body, headers);
  };

  const named = (name: string): OAuth2Failure => {
    switch (name) {
      case 'invalid_rapt':
        return { status: 400, error: 'invalid_grant', subtype: 'invalid_rapt' };
      case 'invalid_client':
        return { status: 401, error: 'invalid_client' };
      case 'temporarily_unavailable':
        return { status: 503, error: 'temporarily_unavailable', retryAfterSec: 1 };
      case 'server_error':
        return { status: 500, error: 'server_error' };
      default:
        return { status: 400, error: name };
    }
  };

  function mintRefreshToken(account: string, clientId: string, scopes: string[]): string {
    const now = clock.now();
    const t = token(google ? '1//0' : 'rt-', google ? 100 : 400);
    refreshTokens.set(t, {
      token: t,
      account,
      clientId,
      scopes,
      issuedAt: now,
      lastUsedAt: now,
      testing: google && publishingStatus === 'testing',
      revoked: false,
      uses: 0,
    });
    latest = t;
    if (google) {
      // Beyond the limit Google drops the oldest token of this account and client, without telling anyone.
      const live = [...refreshTokens.values()]
        .filter((r) => !r.revoked && r.account === account && r.clientId === clientId)
        .sort((a, b) => a.issuedAt - b.issuedAt);
      for (const r of live.slice(0, Math.max(0, live.length - maxPerAccountClient))) {
        r.revoked = true;
        r.revokedBecause = 'limit';
      }
    }
    return t;
  }

  function tokenBody(account: string, clientId: string, scopes: string[], refreshToken?: string): Reply {
    const at = token(google ? 'ya29.a0' : 'at-', google ? 180 : 600);
    accessTokens.set(at, { account, clientId, scopes, expiresAt: clock.now() + atLifetimeSec * 1000 });
    const body: Record<string, unknown> = {
      access_token: at,
      expires_in: atLifetimeSec,
      scope: scopes.join(' '),
      token_type: 'Bearer',
    };
    if (refreshToken) body.refresh_token = refreshToken;
    if (scopes.includes('openid')) {
      const claims = {
        iss: baseUrl + prefix,
        aud: clientId,
        sub: createHash('sha256').update(account).digest('hex').slice(0, 21),
        email: account,
        iat: Math.floor(clock.now() / 1000),
      };
      // Unsigned on purpose: clients only read the claims (to spot a sign-in with the wrong account).
      body.id_token = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.`;
    }
    return json(200, body, { 'cache-control': 'no-cache, no-store, max-age=0, must-revalidate', pragma: 'no-cache' });
  }

  function authenticate(req: StandinRequest, form: URLSearchParams): { clientId: string } | Reply {
    const basic = basicAuth(req);
    const clientId = basic?.id ?? form.get('client_id') ?? '';
    const secret = basic?.secret ?? form.get('client_secret') ?? undefined;
    const method: ClientAuthMethod = basic ? 'client_secret_basic' : 'client_secret_post';
    if (!clients.has(clientId))
      return errorReply({
        status: 401,
        error: 'invalid_client',
        description: google ? GOOGLE_TEXT.invalid_client : 'Invalid client or Invalid client credentials',
      });
    if (secret === undefined || secret !== clients.get(clientId) || !authMethods.has(method)) {
      return errorReply({
        status: 401,
        error: 'invalid_client',
        description: google ? 'Unauthorized' : `Invalid client or Invalid client credentials (${method})`,
      });
    }
    return { clientId };
  }

  function dead(r: OAuth2RefreshTokenInfo): boolean {
    const now = clock.now();
    if (r.revoked) return true;
    if (r.testing && now - r.issuedAt > 7 * DAY_MS) return true;
    return now - r.lastUsedAt > unusedMs;
  }

  function tokenEndpoint(req: StandinRequest): Reply {
    const form = formOf(req);
    const queued = failQueue.shift();
    if (queued) return errorReply(queued);
    const grant = form.get('grant_type');
    if (!grant)
      return errorReply({
        status: 400,
        error: 'invalid_request',
        description: google ? 'Required parameter is missing: grant_type' : 'Missing form parameter: grant_type',
      });
    if (grant === DEVICE_GRANT) return deviceGrant(req, form);
    const auth = authenticate(req, form);
    if ('status' in auth) return auth;
    if (grant === 'refresh_token') {
      const rec = refreshTokens.get(form.get('refresh_token') ?? '');
      if (!rec || dead(rec))
        return errorReply({
          status: 400,
          error: 'invalid_grant',
          description: google ? GOOGLE_TEXT.invalid_grant : 'Token is not active',
        });
      if (rec.clientId !== auth.clientId)
        return errorReply({
          status: 401,
          error: 'unauthorized_client',
          description: google ? 'Unauthorized' : 'Token client and authenticated client do not match',
        });
      const requested = (form.get('scope') ?? '').split(/\s+/).filter(Boolean);
      const scopes = requested.length ? requested : rec.scopes;
      if (scopes.some((s) => !rec.scopes.includes(s) && s !== 'offline_access'))
        return errorReply({
          status: 400,
          error: 'invalid_scope',
          description: google ? 'Bad Request' : 'Invalid scopes',
        });
      rec.uses++;
      rec.lastUsedAt = clock.now();
      let next: string | undefined;
      if (rotate) {
        next = mintRefreshToken(rec.account, rec.clientId, rec.scopes);
      }
      return tokenBody(
        rec.account,
        rec.clientId,
        scopes.filter((s) => s !== 'offline_access'),
        next,
      );
    }
    if (grant === 'authorization_code') {
      const code = codes.get(form.get('code') ?? '');
      if (!code || code.used || clock.now() > code.expiresAt || code.clientId !== auth.clientId) {
        return errorReply({
          status: 400,
          error: 'invalid_grant',
          description: google ? 'Malformed auth code.' : 'Code not valid',
        });
      }
      if (form.get('redirect_uri') !== code.redirectUri)
        return errorReply({ status: 400, error: 'redirect_uri_mismatch', description: 'Bad Request' });
      if (code.challenge) {
        const verifier = form.get('code_verifier') ?? '';
        if (createHash('sha256').update(verifier).digest('base64url') !== code.challenge) {
          return errorReply({
            status: 400,
            error: 'invalid_grant',
            description: google ? 'Invalid code verifier.' : 'PKCE verification failed',
          });
        }
      }
      code.used = true;
      const key = `${code.account}|${code.clientId}`;
      // Google: a refresh token only with access_type=offline, and again after the first consent only with prompt=consent.
      const issue = google
        ? code.offline && (code.promptConsent || !consented.has(key))
        : code.scopes.includes('offline_access') || code.offline;
      consented.add(key);
      const rt = issue ? mintRefreshToken(code.account, code.clientId, code.scopes) : undefined;
      return tokenBody(
        code.account,
        code.clientId,
        code.scopes.filter((s) => s !== 'offline_access'),
        rt,
      );
    }
    return errorReply({
      status: 400,
      error: 'unsupported_grant_type',
      description: google ? 'Invalid grant_type: ' + grant : `Unsupported grant_type ${grant}`,
    });
  }

  function deviceGrant(req: StandinRequest, form: URLSearchParams): Reply {
    const auth = authenticate(req, form);
    if ('status' in auth) return auth;
    const d = devices.get(form.get('device_code') ?? '');
    if (!d || d.clientId !== auth.clientId)
      return errorReply({ status: 400, error: 'invalid_grant', description: 'Malformed device code.' });
    if (clock.now() > d.expiresAt) return errorReply({ status: 400, error: 'expired_token' });
    const last = d.lastPoll;
    d.lastPoll = clock.now();
    if (d.state === 'pending') {
      if (last !== undefined && clock.now() - last < deviceInterval * 1000)
        return errorReply({ status: 428, error: 'slow_down' });
      return errorReply({
        status: 428,
        error: 'authorization_pending',
        description: google ? 'Precondition Required' : undefined,
      });
    }
    if (d.state === 'redeemed')
      return errorReply({ status: 400, error: 'invalid_grant', description: 'Malformed device code.' });
    d.state = 'redeemed';
    const rt = mintRefreshToken(d.account ?? defaultAccount, d.clientId, d.scopes);
    return tokenBody(d.account ?? defaultAccount, d.clientId, d.scopes, rt);
  }

  function deviceCodeEndpoint(req: StandinRequest): Reply {
    const form = formOf(req);
    const clientId = form.get('client_id') ?? '';
    if (!clients.has(clientId))
      return errorReply({
        status: 401,
        error: 'invalid_client',
        description: google ? GOOGLE_TEXT.invalid_client : 'Invalid client',
      });
    const scopes = (form.get('scope') ?? '').split(/\s+/).filter(Boolean);
    if (google) {
      const refused = scopes.filter((s) => !GOOGLE_DEVICE_SCOPES.has(s));
      if (refused.length)
        return errorReply({
          status: 400,
          error: 'invalid_scope',
          description: `Not authorized to request the scopes: [${refused.join(', ')}]`,
        });
    }
    const d: Device = {
      deviceCode: token('AH-1Ng', 60),
      userCode: randomBytes(6)
        .toString('hex')
        .toUpperCase()
        .replace(/(.{4})(.{4})(.{4})/, '$1-$2-$3'),
      clientId,
      scopes,
      expiresAt: clock.now() + 1800 * 1000,
      state: 'pending',
    };
    devices.set(d.deviceCode, d);
    const verification = `${baseUrl}${paths.deviceLogin}`;
    return json(200, {
      device_code: d.deviceCode,
      user_code: d.userCode,
      // Google still says verification_url; RFC 8628 says verification_uri.
      ...(google ? { verification_url: verification } : { verification_uri: verification }),
      expires_in: 1800,
      interval: deviceInterval,
    });
  }

  function authorize(req: StandinRequest): Reply {
    const q = req.url.searchParams;
    const clientId = q.get('client_id') ?? '';
    if (!clients.has(clientId))
      return html(
        401,
        '<!DOCTYPE html><html><body><h1 id="error">Error 401: invalid_client</h1><p>The OAuth client was not found.</p></body></html>',
      );
    const redirectUri = q.get('redirect_uri') ?? '';
    let redirect: URL;
    try {
      redirect = new URL(redirectUri);
    } catch {
      return html(400, '<!DOCTYPE html><html><body><h1 id="error">Error 400: redirect_uri_mismatch</h1></body></html>');
    }
    if (!['localhost', '127.0.0.1'].includes(redirect.hostname))
      return html(400, '<!DOCTYPE html><html><body><h1 id="error">Error 400: redirect_uri_mismatch</h1></body></html>');
    const scopes = (q.get('scope') ?? '').split(/\s+/).filter(Boolean);
    const txn = randomId();
    txns.set(txn, {
      clientId,
      redirectUri,
      scopes,
      state: q.get('state') ?? undefined,
      challenge: q.get('code_challenge') ?? undefined,
      offline: q.get('access_type') === 'offline',
      promptConsent: (q.get('prompt') ?? '').split(' ').includes('consent'),
    });
    const account = q.get('login_hint') || defaultAccount;
    return html(
      200,
      `<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>Sign in - ${google ? 'Google Accounts' : 'Mail realm'}</title></head><body>\n` +
        `<h1>${escapeHtml(clientId)} wants access to your account</h1><ul>${scopes.map((s) => `<li>${escapeHtml(s)}</li>`).join('')}</ul>\n` +
        `<form method="post" action="${paths.authorize}">\n<input type="hidden" name="txn" value="${txn}">\n` +
        `<label for="account">Account</label> <input id="account" name="account" type="text" value="${escapeHtml(account)}">\n` +
        `<button id="accept" type="submit" name="decision" value="accept">Allow</button>\n` +
        `<button id="cancel" type="submit" name="decision" value="cancel">Cancel</button>\n</form></body></html>\n`,
    );
  }

  function consentDecision(req: StandinRequest): Reply {
    const form = formOf(req);
    const txn = txns.get(form.get('txn') ?? '');
    if (!txn)
      return html(400, '<!DOCTYPE html><html><body><h1 id="error">Error 400: invalid_request</h1></body></html>');
    txns.delete(form.get('txn') ?? '');
    const target = new URL(txn.redirectUri);
    if (form.get('decision') !== 'accept') {
      target.searchParams.set('error', 'access_denied');
    } else {
      const code = token(google ? '4/0A' : 'code-', 60);
      codes.set(code, {
        ...txn,
        account: (form.get('account') ?? '').trim() || defaultAccount,
        expiresAt: clock.now() + 10 * 60_000,
        used: false,
      });
      target.searchParams.set('code', code);
      target.searchParams.set('scope', txn.scopes.join(' '));
    }
    if (txn.state) target.searchParams.set('state', txn.state);
    return { status: 302, headers: { location: target.toString() } };
  }

  function openidConfiguration(): Reply {
    if (opts.discovery === false)
      return html(404, '<!DOCTYPE html><html><body><h1>404. That’s an error.</h1></body></html>');
    return json(200, {
      issuer: opts.claimedIssuer ?? baseUrl + prefix,
      authorization_endpoint: baseUrl + paths.authorize,
      token_endpoint: baseUrl + paths.token,
      device_authorization_endpoint: baseUrl + paths.device,
      response_types_supported: ['code'],
      grant_types_supported: ['authorization_code', 'refresh_token', DEVICE_GRANT],
      token_endpoint_auth_methods_supported: [...authMethods],
      code_challenge_methods_supported: ['plain', 'S256'],
      scopes_supported: google ? ['openid', 'email', 'profile'] : ['openid', 'email', 'profile', 'offline_access'],
    });
  }

  const serving = await serveHttp({
    faults,
    routes: [
      { name: 'token', method: 'POST', pattern: paths.token, handler: tokenEndpoint },
      { name: 'authorize', method: 'GET', pattern: paths.authorize, handler: authorize },
      { name: 'consent', method: 'POST', pattern: paths.authorize, handler: consentDecision },
      { name: 'devicecode', method: 'POST', pattern: paths.device, handler: deviceCodeEndpoint },
      {
        name: 'openid-configuration',
        method: 'GET',
        pattern: `${prefix}/.well-known/openid-configuration`,
        handler: openidConfiguration,
      },
    ],
  });
  baseUrl = serving.url;

  const firstClient = (): string => clients.keys().next().value ?? defaultClientId;

  return withFaultControls<OAuth2Standin>(faults, {
    flavor,
    url: baseUrl,
    issuer: baseUrl + prefix,
    tokenUrl: baseUrl + paths.token,
    authorizeUrl: baseUrl + paths.authorize,
    deviceCodeUrl: baseUrl + paths.device,
    discoveryUrl: `${baseUrl}${prefix}/.well-known/openid-configuration`,
    clientId: firstClient(),
    clientSecret: clients.get(firstClient()) ?? '',
    account: defaultAccount,
    clock,
    requests: serving.requests,
    get publishingStatus() {
      return publishingStatus;
    },
    set publishingStatus(s: 'testing' | 'production') {
      publishingStatus = s;
    },
    issueRefreshToken(o = {}) {
      return mintRefreshToken(
        o.account ?? defaultAccount,
        o.clientId ?? firstClient(),
        o.scopes ?? (google ? [GMAIL_SCOPE] : ['openid', 'email', 'offline_access', 'mail.send']),
      );
    },
    revoke(t) {
      const r = refreshTokens.get(t);
      if (!r) throw new Error('unknown refresh token');
      r.revoked = true;
      r.revokedBecause = 'user';
    },
    changePassword(account = defaultAccount) {
      for (const r of refreshTokens.values()) {
        if (r.account === account && r.scopes.includes(GMAIL_SCOPE)) {
          r.revoked = true;
          r.revokedBecause = 'password';
        }
      }
    },
    failWith(f, times = 1) {
      const failure = typeof f === 'string' ? named(f) : f;
      for (let i = 0; i < times; i++) failQueue.push(failure);
    },
    isValidAccessToken(t) {
      const r = accessTokens.get(t);
      return r && clock.now() <= r.expiresAt ? { ...r, scopes: [...r.scopes] } : undefined;
    },
    refreshTokenInfo(t) {
      const r = refreshTokens.get(t);
      return r ? { ...r, scopes: [...r.scopes] } : undefined;
    },
    issuedRefreshTokens: () => [...refreshTokens.keys()],
    issuedAccessTokens: () => [...accessTokens.keys()],
    latestRefreshToken: () => latest,
    approveDevice(userCode, account) {
      for (const d of devices.values()) {
        if (d.userCode === userCode) {
          d.state = 'approved';
          d.account = account ?? defaultAccount;
          return;
        }
      }
      throw new Error(`unknown user code ${userCode}`);
    },
    consent: (authorizeUrl, o = {}) => consentThroughPage(authorizeUrl, baseUrl, o, paths.authorize),
    close: () => serving.close(),
  });
}
