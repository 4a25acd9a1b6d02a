import { describe, expect, it } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { runRotation } from '../../lambdas/pipeline/run.ts';
import { DiscoveryCache } from '../../lambdas/refresh/discovery.ts';
import { resolvedProviderFor, resolveEndpoints } from '../../lambdas/refresh/oauth2-provider.ts';
import {
  GENERIC_CLIENT_ID,
  GENERIC_CLIENT_SECRET,
  type OAuth2Standin,
  type OAuth2StandinOptions,
} from '../../standins/oauth2.ts';
import { cmValue, reconfigure, scanAndCloseAfterEach, startVendorWorld, type VendorWorld } from './support.ts';

let w: VendorWorld | undefined;
const outputs = scanAndCloseAfterEach(
  () => w,
  () => (w = undefined),
);

const SCOPES = ['openid', 'email', 'offline_access', 'mail.send'];

function idp(world: VendorWorld): OAuth2Standin {
  return world.h.standins.oauth2!;
}

/** `provider: "oauth2"` known only by its issuer, against a Keycloak-like stand-in; the SMTP relay accepts its tokens. */
async function genericWorld(
  o: { credentials?: number; idp?: OAuth2StandinOptions; cred?: Record<string, unknown>; seed?: boolean } = {},
): Promise<VendorWorld> {
  const world = await startVendorWorld({
    harness: {
      credentials: o.credentials ?? 1,
      targetsPerCredential: 1,
      standins: { oauth2: { flavor: 'generic', rotate: true, ...o.idp }, smtp: { requiredScope: null } },
    },
    patch: (_c, _i, h) => ({
      provider: 'oauth2',
      tenant: undefined,
      issuer: h.standins.oauth2!.issuer,
      clientId: GENERIC_CLIENT_ID,
      scopes: SCOPES,
      mailbox: 'mailer@example.org',
      ...o.cred,
    }),
  });
  const g = idp(world);
  world.secrets.push(() => [...g.issuedRefreshTokens(), ...g.issuedAccessTokens(), GENERIC_CLIENT_SECRET]);
  if (o.seed !== false) {
    for (let i = 0; i < world.config.credentials.length; i++) {
      await world.putSecret(world.ids(i).clientSecret, GENERIC_CLIENT_SECRET);
      await world.putToken(g.issueRefreshToken({ scopes: SCOPES }), { i });
    }
  }
  return world;
}

describe('any standard OAuth2 provider: endpoints from OpenID discovery, RFC 6749 errors', () => {
  it('discovers the token endpoint once per run for every credential of the issuer, rotates, validates and pushes', async () => {
    w = await genericWorld({ credentials: 2 });
    const g = idp(w);
    const before = [await w.current(0), await w.current(1)];
    const result = await runRotation(w.deps(), {});
    outputs.result = JSON.stringify(result);
    expect(result.ok).toBe(true);
    expect(result.results.map((r) => r.outcome)).toEqual(['rotated', 'rotated']);
    // One GET of the configuration serves both credentials; the token endpoint is the discovered one.
    expect(g.faults.count('openid-configuration')).toBe(1);
    expect(g.requests.filter((r) => r.route === 'token')).toHaveLength(2);
    for (let i = 0; i < 2; i++) {
      const now = await w.current(i);
      expect(now?.record.refreshToken).not.toBe(before[i]?.record.refreshToken);
      expect(g.refreshTokenInfo(now!.record.refreshToken)).toBeDefined();
      expect(cmValue(w, 'SECRET_SMTP_OAUTH_REFRESH_TOKEN', i)).toBe(now?.record.refreshToken);
    }
    // A new run (a new wiring) discovers again: the document is cached per run, not forever.
    await runRotation(w.deps(), { force: true });
    expect(g.faults.count('openid-configuration')).toBe(2);
  });

  it('explicit endpoints.token needs no discovery', async () => {
    w = await genericWorld();
    const g = idp(w);
    const config = reconfigure(w.config, () => ({ issuer: undefined, endpoints: { token: g.tokenUrl } }));
    const s = (await runRotation(w.h.wiring({ config }), {})).results[0]!;
    outputs.result = JSON.stringify(s);
    expect(s.failure).toBeUndefined();
    expect(g.faults.count('openid-configuration')).toBe(0);
  });

  it('client_secret_basic: the secret goes in the Authorization header, not the body; the wrong method is invalid_client', async () => {
    w = await genericWorld({ idp: { authMethods: ['client_secret_basic'] } });
    const g = idp(w);
    const wrong = (await runRotation(w.deps(), {})).results[0]!;
    outputs.wrong = JSON.stringify(wrong);
    expect(wrong.failure).toMatchObject({ class: 'configuration', code: 'invalid_client', remote: 'oauth2' });
    expect(wrong.failure?.fix).toContain('tokenEndpointAuthMethod');
    const config = reconfigure(w.config, () => ({ tokenEndpointAuthMethod: 'client_secret_basic' }));
    const ok = (await runRotation(w.h.wiring({ config, now: () => new Date(Date.now() + 10 * 60_000) }), {}))
      .results[0]!;
    outputs.ok = JSON.stringify(ok);
    expect(ok.failure).toBeUndefined();
    const last = g.requests.filter((r) => r.route === 'token').at(-1)!;
    expect(String(last.headers.authorization)).toMatch(/^Basic /);
    expect(new URLSearchParams(last.body).has('client_secret')).toBe(false);
  });

  it('RFC 6749 errors: invalid_grant -> reauthorize, invalid_scope -> configuration, server_error -> transient', async () => {
    w = await genericWorld();
    const g = idp(w);
    const cases: Array<[Parameters<OAuth2Standin['failWith']>[0], string, string]> = [
      [{ status: 400, error: 'invalid_grant', description: 'Token is not active' }, 'reauthorize', 'invalid_grant'],
      [{ status: 400, error: 'invalid_scope', description: 'Invalid scopes' }, 'configuration', 'invalid_scope'],
      [{ status: 400, error: 'unsupported_grant_type' }, 'configuration', 'unsupported_grant_type'],
      [{ status: 500, error: 'server_error' }, 'transient', 'server_error'],
    ];
    let minute = 0;
    for (const [failure, cls, code] of cases) {
      // One answer per attempt. Even the transient 500 is tried once: the server may have rotated the token before
      // failing, and this provider kind revokes the grant when a used token is presented again.
      g.failWith(failure, 1);
      const s = (
        await runRotation(w.deps({ now: () => new Date(Date.now() + ++minute * 10 * 60_000) }), { force: true })
      ).results[0]!;
      outputs[code] = JSON.stringify(s);
      expect(s.failure).toMatchObject({ class: cls, code, remote: 'oauth2', stage: 'refresh' });
      if (cls === 'reauthorize') expect(s.failure?.fix).toContain('token-refresher regenerate --credential aem-mail');
      if (code === 'invalid_scope') expect(s.failure?.fix).toContain('openid email offline_access mail.send');
    }
    // With the queue empty, the stored token still works: none of these failures touched it.
    const ok = (
      await runRotation(w.deps({ now: () => new Date(Date.now() + ++minute * 10 * 60_000) }), { force: true })
    ).results[0]!;
    expect(ok.failure).toBeUndefined();
  });

  const discoveryFaults: Array<{
    name: string;
    idp?: OAuth2StandinOptions;
    arm?: (g: OAuth2Standin) => void;
    cls: string;
    code: string;
    http?: { timeoutMs: number; retries: number };
  }> = [
    {
      name: 'no configuration published (404)',
      idp: { discovery: false },
      cls: 'configuration',
      code: 'DISCOVERY_NOT_FOUND',
    },
    {
      name: 'a document for another issuer',
      idp: { claimedIssuer: 'https://login.example.net/realms/other' },
      cls: 'configuration',
      code: 'DISCOVERY_ISSUER_MISMATCH',
    },
    {
      name: 'not an OpenID configuration',
      arm: (g) => g.inject('openid-configuration', { kind: 'status', status: 200, body: { hello: 'world' } }),
      cls: 'configuration',
      code: 'DISCOVERY_INVALID',
    },
    {
      name: 'an HTML page',
      arm: (g) => g.inject('openid-configuration', { kind: 'html', status: 200 }),
      cls: 'configuration',
      code: 'DISCOVERY_INVALID',
    },
    {
      name: 'a body over the size limit',
      arm: (g) =>
        g.inject('openid-configuration', {
          kind: 'status',
          status: 200,
          body: { issuer: g.issuer, pad: 'x'.repeat(100_000) },
        }),
      cls: 'transient',
      code: 'RESPONSE_TOO_LARGE',
    },
    {
      name: 'no answer (timeout)',
      arm: (g) => g.inject('openid-configuration', { kind: 'hang' }, 3),
      cls: 'transient',
      code: 'TIMEOUT',
      http: { timeoutMs: 300, retries: 1 },
    },
    {
      name: 'a persisting 503',
      arm: (g) => g.inject('openid-configuration', { kind: 'status', status: 503 }, 10),
      cls: 'transient',
      code: 'DISCOVERY_UNAVAILABLE',
      http: { timeoutMs: 2_000, retries: 1 },
    },
  ];
  for (const f of discoveryFaults) {
    it(`discovery fails on ${f.name}: ${f.cls} ${f.code}, and no token request leaves`, async () => {
      w = await genericWorld({ idp: f.idp });
      const g = idp(w);
      f.arm?.(g);
      const config = f.http ? reconfigure(w.config, () => ({}), { http: { ...w.config.http, ...f.http } }) : w.config;
      const before = await w.current();
      const s = (await runRotation(w.h.wiring({ config }), {})).results[0]!;
      outputs.result = JSON.stringify(s);
      expect(s.failure).toMatchObject({ class: f.cls, code: f.code, stage: 'refresh', remote: 'oauth2' });
      expect(g.requests.filter((r) => r.route === 'token')).toHaveLength(0);
      expect((await w.current())?.versionId).toBe(before?.versionId);
    });
  }

  it('a transient discovery failure is retried within the run', async () => {
    w = await genericWorld();
    const g = idp(w);
    g.inject('openid-configuration', { kind: 'status', status: 503, headers: { 'retry-after': '0' } }, 2);
    const s = (await runRotation(w.deps(), {})).results[0]!;
    outputs.result = JSON.stringify(s);
    expect(s.failure).toBeUndefined();
    expect(g.faults.count('openid-configuration')).toBe(3);
  });

  it('regenerate path: a provider resolved from discovery builds the sign-in URL and redeems the code (PKCE)', async () => {
    w = await genericWorld({ seed: false });
    const g = idp(w);
    const c = w.cred();
    // Nothing needed, nothing fetched.
    expect(await resolveEndpoints(c, { timeoutMs: 2_000, retries: 0 }, [])).toEqual({
      token: '',
      authorize: '',
      deviceCode: undefined,
      userinfo: undefined,
    });
    const cache = new DiscoveryCache();
    const provider = await resolvedProviderFor(c, {
      clientSecret: GENERIC_CLIENT_SECRET,
      clientSecretRef: 'test/client-secret',
      timeoutMs: 2_000,
      retries: 0,
      discovery: cache,
    });
    // The issuer and whether it sends `iss` on authorization responses (RFC 9207) come along; this one does not say so.
    expect(provider.endpoints).toEqual({
      token: g.tokenUrl,
      authorize: g.authorizeUrl,
      deviceCode: g.deviceCodeUrl,
      userinfo: undefined,
      issuer: g.issuer,
      issParameter: false,
    });
    const verifier = randomBytes(32).toString('base64url');
    const url = provider.authorizationUrl({
      redirectUri: 'http://localhost:53682/',
      state: 's1',
      codeChallenge: createHash('sha256').update(verifier).digest('base64url'),
    });
    expect(url.startsWith(g.authorizeUrl)).toBe(true);
    const location = new URL(await g.consent(url));
    expect(location.searchParams.get('state')).toBe('s1');
    const tokens = await provider.redeemAuthorizationCode({
      code: location.searchParams.get('code')!,
      redirectUri: 'http://localhost:53682/',
      codeVerifier: verifier,
    });
    expect(tokens.refreshToken && g.refreshTokenInfo(tokens.refreshToken)?.account).toBe('mailer@example.org');
    expect(cache.fetches).toBe(1);
  });
});
