// A lost token response against a real OpenID provider with refresh-token rotation and reuse detection (panva's
// oidc-provider): the refresh POST reaches the server, the server rotates the token, and the answer is held past the
// per-attempt timeout or dropped. Replaying the POST presents a used refresh token, and the server revokes the whole
// grant (RFC 9700 section 4.14.2): a person must sign in again. The refresher must wait for the answer instead, and
// never replay once the request may have been delivered.
import { afterEach, describe, expect, it } from 'vitest';
import { credentialSchema, type Credential } from '../../lambdas/config/schema.ts';
import { isRefresherError, type RefresherError } from '../../lambdas/core/errors.ts';
import { providerFor, refreshDeadline, type ProviderOptions } from '../../lambdas/refresh/oauth2-provider.ts';
import { newPkce, newState, startLoopback } from '../../cli/sign-in.ts';
import { startHoldingProxy, type HoldingProxy } from '../support/holding-proxy.ts';
import { OIDC_CLIENT_ID, OIDC_CLIENT_SECRET, startOidcProvider, type OidcServer } from '../support/oidc-provider.ts';

const MAILBOX = 'mailer@example.org';
let oidc: OidcServer | undefined;
let proxy: HoldingProxy | undefined;

afterEach(async () => {
  await proxy?.close();
  await oidc?.close();
  proxy = undefined;
  oidc = undefined;
});

function credential(o: { tokenUrl: string; issuer: string; reuse?: 'revokes' | 'allowed' }): Credential {
  return credentialSchema.parse({
    id: 'oidc-mail',
    provider: 'oauth2',
    issuer: o.issuer,
    endpoints: { token: o.tokenUrl },
    clientId: OIDC_CLIENT_ID,
    scopes: ['openid', 'email', 'offline_access'],
    mailbox: MAILBOX,
    validation: { smtp: { host: 'smtp.example.org' } },
    ...(o.reuse ? { refreshTokenReuse: o.reuse } : {}),
  });
}

async function world(reuse?: 'revokes' | 'allowed') {
  oidc = await startOidcProvider();
  proxy = await startHoldingProxy(oidc.issuer);
  const c = credential({ tokenUrl: `${proxy.url}/token`, issuer: oidc.issuer, reuse });
  const opts = (o: Partial<ProviderOptions> = {}): ProviderOptions => ({
    clientSecret: OIDC_CLIENT_SECRET,
    clientSecretRef: 'oidc/client-secret',
    timeoutMs: 300,
    retries: 2,
    baseDelayMs: 10,
    ...o,
  });
  // The first refresh token, from a real sign-in (authorization code with PKCE) through the provider's pages.
  const signInProvider = await providerFor(c, opts()).ready();
  const listener = await startLoopback(0);
  const pkce = newPkce();
  const state = newState();
  const url = signInProvider.authorizationUrl({
    redirectUri: listener.redirectUri,
    state,
    codeChallenge: pkce.challenge,
  });
  // prompt=consent makes the provider honour offline_access (OpenID Connect Core 11).
  await oidc.signIn(url.includes('prompt=') ? url : `${url}&prompt=consent`, MAILBOX);
  const redirect = await listener.result;
  await listener.close();
  const tokens = await signInProvider.redeemAuthorizationCode({
    code: redirect.code!,
    redirectUri: listener.redirectUri,
    codeVerifier: pkce.verifier,
  });
  expect(tokens.refreshToken).toBeTruthy();
  return { c, opts, refreshToken: tokens.refreshToken! };
}

const refreshRequests = (p: HoldingProxy) =>
  p.forwarded.filter((r) => r.path === '/token' && r.body.includes('grant_type=refresh_token'));

/** Holds the answer to the first refresh POST only: a replay gets the server's verdict at once. */
function holdFirstRefresh(ms: number): HoldingProxy['policy'] {
  let held = false;
  return (r) => {
    if (held || !r.body.includes('grant_type=refresh_token')) return { kind: 'pass' };
    held = true;
    return { kind: 'hold', ms };
  };
}

async function failure(p: Promise<unknown>): Promise<RefresherError> {
  try {
    await p;
  } catch (e) {
    if (isRefresherError(e)) return e;
    throw e;
  }
  throw new Error('expected a failure');
}

describe('lost token responses on a provider that revokes the grant when a used refresh token comes back', () => {
  it('an answer held past the per-attempt timeout is waited for (up to the deadline), not replayed: the grant survives', async () => {
    const w = await world();
    proxy!.policy = holdFirstRefresh(1200);
    const provider = providerFor(w.c, w.opts({ deadlineAt: Date.now() + 10_000 }));
    const tokens = await provider.redeemRefreshToken(w.refreshToken);
    expect(refreshRequests(proxy!)).toHaveLength(1);
    expect(oidc!.revokedGrants).toEqual([]);
    expect(tokens.refreshToken).toBe(oidc!.issuedRefreshTokens.at(-1));
    // The newest token is alive: it rotates again.
    proxy!.policy = () => ({ kind: 'pass' });
    const again = await providerFor(w.c, w.opts()).redeemRefreshToken(tokens.refreshToken!);
    expect(again.refreshToken).toBeTruthy();
    expect(oidc!.revokedGrants).toEqual([]);
  });

  it('without a deadline from the caller (the CLI) the answer is still waited for past the per-attempt timeout', async () => {
    const w = await world();
    proxy!.policy = holdFirstRefresh(1200);
    const tokens = await providerFor(w.c, w.opts()).redeemRefreshToken(w.refreshToken);
    expect(tokens.refreshToken).toBe(oidc!.issuedRefreshTokens.at(-1));
    expect(refreshRequests(proxy!)).toHaveLength(1);
    expect(oidc!.revokedGrants).toEqual([]);
  });

  it('an answer dropped after the server acted: REFRESH_OUTCOME_UNKNOWN, one request, no replay, no revocation', async () => {
    const w = await world();
    proxy!.policy = (r) => (r.body.includes('grant_type=refresh_token') ? { kind: 'drop' } : { kind: 'pass' });
    const err = await failure(
      providerFor(w.c, w.opts({ deadlineAt: Date.now() + 10_000 })).redeemRefreshToken(w.refreshToken),
    );
    expect(err.code).toBe('REFRESH_OUTCOME_UNKNOWN');
    expect(err.class).toBe('transient');
    expect(err.message).toMatch(/may have reached/);
    expect(err.fix).toMatch(/regenerate --credential oidc-mail/);
    expect(refreshRequests(proxy!)).toHaveLength(1);
    expect(oidc!.revokedGrants).toEqual([]);
  });

  it('an answer held past the invocation deadline: given up at the deadline as REFRESH_OUTCOME_UNKNOWN, not replayed', async () => {
    const w = await world();
    proxy!.policy = (r) =>
      r.body.includes('grant_type=refresh_token') ? { kind: 'hold', ms: 5000 } : { kind: 'pass' };
    const started = Date.now();
    const err = await failure(
      providerFor(w.c, w.opts({ deadlineAt: Date.now() + 900 })).redeemRefreshToken(w.refreshToken),
    );
    const took = Date.now() - started;
    expect(err.code).toBe('REFRESH_OUTCOME_UNKNOWN');
    // undici's coarse timers may fire a little early; well past the 300 ms per-attempt deadline either way.
    expect(took).toBeGreaterThanOrEqual(600);
    expect(took).toBeLessThan(3000);
    expect(refreshRequests(proxy!)).toHaveLength(1);
    expect(oidc!.revokedGrants).toEqual([]);
  });

  it('an answer (503 with Retry-After) is retried: the server said it did not act', async () => {
    const w = await world();
    let n = 0;
    proxy!.policy = (r) =>
      r.body.includes('grant_type=refresh_token') && n++ === 0
        ? { kind: 'status', status: 503, headers: { 'retry-after': '0' } }
        : { kind: 'pass' };
    const tokens = await providerFor(w.c, w.opts({ deadlineAt: Date.now() + 10_000 })).redeemRefreshToken(
      w.refreshToken,
    );
    expect(tokens.refreshToken).toBe(oidc!.issuedRefreshTokens.at(-1));
    expect(oidc!.revokedGrants).toEqual([]);
  });

  it('refreshTokenReuse "allowed" keeps replaying after a timeout, which is why "revokes" is the default for oauth2', async () => {
    const w = await world('allowed');
    proxy!.policy = holdFirstRefresh(1200);
    const err = await failure(providerFor(w.c, w.opts()).redeemRefreshToken(w.refreshToken));
    // The replay presented the used token: this server revokes the grant, exactly what the default avoids.
    expect(err.class).toBe('reauthorize');
    expect(refreshRequests(proxy!).length).toBeGreaterThanOrEqual(2);
    expect(oidc!.revokedGrants.length).toBe(1);
  });
});

describe('refreshDeadline: how long a Lambda invocation waits for a sent refresh request', () => {
  it('the remaining time less two attempt timeouts and a margin to store the token; none without a context', () => {
    expect(refreshDeadline(300_000, 10_000, 1_000)).toBe(1_000 + 300_000 - 22_000);
    // A nearly spent invocation keeps half its time for the store.
    expect(refreshDeadline(10_000, 10_000, 0)).toBe(5_000);
    expect(refreshDeadline(undefined, 10_000)).toBeUndefined();
    expect(refreshDeadline(0, 10_000)).toBeUndefined();
  });
});
