/**
 * panva's oidc-provider (a certified OpenID provider) in-process on loopback, configured as the strict servers users
 * meet: refresh-token rotation with reuse detection (a used refresh token presented again revokes the whole grant,
 * RFC 9700 section 4.14.2), PKCE, the device authorization grant (RFC 8628), claims of the `email` scope only from
 * userinfo (OpenID Connect Core 5.4), `offline_access` honoured only with prompt=consent (Core 11), and the RFC 9207
 * `iss` parameter on authorization responses. A small form-following driver plays the person at its sign-in pages.
 */
import { generateKeyPairSync } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import Provider, { type Configuration } from 'oidc-provider';

export const OIDC_CLIENT_ID = 'aem-mail-oidc';
export const OIDC_CLIENT_SECRET = 'oidc-client-secret-6f1d2c9a8b7e4f30a1c5d9e2b8f7a6c4';
export const OIDC_PUBLIC_CLIENT_ID = 'aem-mail-oidc-public';

export interface OidcServer {
  issuer: string;
  provider: Provider;
  /** Grants the provider revoked (reuse detection, revocation): what a lost grant looks like from outside. */
  revokedGrants: string[];
  /** Every refresh token the provider issued, in order. */
  issuedRefreshTokens: string[];
  /** Every access token the provider issued, in order. */
  issuedAccessTokens: string[];
  /** Token endpoint requests by grant type, as they reached the provider. */
  tokenRequests: Array<{ grantType: string; body: string; authorization?: string; status: number }>;
  /** Device authorization requests as they reached the provider, with the status it answered. */
  deviceRequests: Array<{ body: string; authorization?: string; status: number }>;
  /** Plays the person: follows the pages from `url` (login as `account`, consent, device confirmation) to the end. */
  signIn(url: string, account: string): Promise<{ finalUrl: string; status: number }>;
  close(): Promise<void>;
}

export interface OidcServerOptions {
  /** Overrides of the provider configuration (e.g. features). */
  configure?: (c: Configuration) => Configuration;
}

// One signing key per test process (the provider's built-in development key prints a warning on every start).
const signingKey = {
  ...generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' }),
  kid: 'test-signing-key',
  use: 'sig',
  alg: 'RS256',
};

export async function startOidcProvider(o: OidcServerOptions = {}): Promise<OidcServer> {
  const sockets = new Set<Socket>();
  const server: Server = createServer();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const base: Configuration = {
    clients: [
      {
        client_id: OIDC_CLIENT_ID,
        client_secret: OIDC_CLIENT_SECRET,
        application_type: 'native',
        redirect_uris: ['http://localhost'],
        response_types: ['code'],
        grant_types: ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'],
        token_endpoint_auth_method: 'client_secret_post',
      },
      {
        client_id: OIDC_PUBLIC_CLIENT_ID,
        application_type: 'native',
        redirect_uris: ['http://localhost'],
        response_types: ['code'],
        grant_types: ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'],
        token_endpoint_auth_method: 'none',
      },
    ],
    // The login name is the account and its e-mail address.
    findAccount: (_ctx, sub) => ({ accountId: sub, claims: () => ({ sub, email: sub, email_verified: true }) }),
    claims: { openid: ['sub'], email: ['email', 'email_verified'] },
    scopes: ['openid', 'offline_access', 'email', 'smtp'],
    features: {
      devInteractions: { enabled: true },
      deviceFlow: { enabled: true },
      revocation: { enabled: true },
      userinfo: { enabled: true },
    },
    // Rotate on every use (the provider's default rotates public clients only, or late in the token's life).
    rotateRefreshToken: true,
    pkce: { required: () => true },
    cookies: { keys: ['oidc-test-cookie-key-0123456789'] },
    jwks: { keys: [signingKey] },
    ttl: {
      AccessToken: 3600,
      AuthorizationCode: 60,
      DeviceCode: 600,
      Grant: 14 * 86_400,
      IdToken: 3600,
      Interaction: 3600,
      RefreshToken: 14 * 86_400,
      Session: 86_400,
    },
  };
  const provider = new Provider(issuer, o.configure ? o.configure(base) : base);
  const revokedGrants: string[] = [];
  const issuedRefreshTokens: string[] = [];
  const issuedAccessTokens: string[] = [];
  provider.on('grant.revoked', (_ctx: unknown, grantId: string) => revokedGrants.push(grantId));
  provider.on('refresh_token.saved', (t: { jti: string }) => issuedRefreshTokens.push(t.jti));
  provider.on('access_token.saved', (t: { jti: string }) => issuedAccessTokens.push(t.jti));
  provider.on('access_token.issued', (t: { jti: string }) => issuedAccessTokens.push(t.jti));
  const tokenRequests: OidcServer['tokenRequests'] = [];
  const deviceRequests: OidcServer['deviceRequests'] = [];
  // Recorded after the provider has parsed the request: grant type, and whether the client authenticated.
  provider.use(async (ctx, next) => {
    await next();
    const authorization = typeof ctx.headers.authorization === 'string' ? ctx.headers.authorization : undefined;
    const params = (ctx as unknown as { oidc?: { params?: Record<string, unknown>; body?: Record<string, unknown> } })
      .oidc;
    const body = new URLSearchParams(
      Object.entries(params?.body ?? {}).map(([k, v]): [string, string] => [k, String(v)]),
    ).toString();
    if (ctx.method === 'POST' && ctx.path === '/token')
      tokenRequests.push({
        grantType: String(params?.params?.grant_type ?? ''),
        body,
        authorization,
        status: ctx.status,
      });
    if (ctx.method === 'POST' && ctx.path === '/device/auth')
      deviceRequests.push({ body, authorization, status: ctx.status });
  });
  server.on('request', provider.callback());

  return {
    issuer,
    provider,
    revokedGrants,
    issuedRefreshTokens,
    issuedAccessTokens,
    tokenRequests,
    deviceRequests,
    signIn: (url, account) => drive(url, account, issuer),
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

function attr(tag: string, name: string): string | undefined {
  const m = new RegExp(`\\b${name}="([^"]*)"`).exec(tag);
  return m?.[1]
    ?.replace(/&amp;/g, '&')
    .replace(/&#x2F;/g, '/')
    .replace(/&quot;/g, '"');
}

/**
 * Follows redirects and submits the first form of each page: the dev login (any password), the consent page, the
 * device code input and confirmation. Stops at a redirect that leaves the provider (the client's redirect URI, which
 * is fetched so a listening CLI receives it) or at a page without a form.
 */
async function drive(start: string, account: string, issuer: string): Promise<{ finalUrl: string; status: number }> {
  const jar = new Map<string, string>();
  let url = start;
  let method: 'GET' | 'POST' = 'GET';
  let body: string | undefined;
  for (let i = 0; i < 25; i++) {
    const res = await fetch(url, {
      method,
      body,
      redirect: 'manual',
      headers: {
        cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; '),
        ...(body ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
      },
    });
    for (const c of res.headers.getSetCookie()) {
      const kv = c.split(';')[0] ?? '';
      const eq = kv.indexOf('=');
      if (eq > 0) jar.set(kv.slice(0, eq), kv.slice(eq + 1));
    }
    if (res.status >= 300 && res.status < 400) {
      await res.arrayBuffer();
      const next = new URL(res.headers.get('location') ?? '/', url);
      if (next.origin !== new URL(issuer).origin) {
        const delivered = await fetch(next).catch(() => undefined);
        await delivered?.arrayBuffer();
        return { finalUrl: next.href, status: delivered?.status ?? 0 };
      }
      url = next.href;
      method = 'GET';
      body = undefined;
      continue;
    }
    const html = await res.text();
    const form = /<form\b[^>]*>([\s\S]*?)<\/form>/i.exec(html);
    if (!form) return { finalUrl: url, status: res.status };
    const action = attr(form[0].slice(0, form[0].indexOf('>') + 1), 'action') ?? url;
    const fields = new URLSearchParams();
    for (const input of form[1]?.match(/<input\b[^>]*>/gi) ?? []) {
      const name = attr(input, 'name');
      if (!name) continue;
      if (name === 'login') fields.set(name, account);
      else if (name === 'password') fields.set(name, 'any-password');
      else fields.set(name, attr(input, 'value') ?? '');
    }
    url = new URL(action, url).href;
    method = 'POST';
    body = fields.toString();
  }
  throw new Error(`the sign-in did not finish within 25 pages (last: ${url})`);
}
