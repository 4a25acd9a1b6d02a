// The sign-ins of `regenerate` against a strict, standards-conforming OpenID provider (panva's oidc-provider): claims
// of the email scope only from userinfo (OpenID Connect Core 5.4), offline_access only with prompt=consent (Core 11),
// client authentication at the device authorization endpoint (RFC 8628 3.1), and the iss parameter on the
// authorization response (RFC 9207).
import { afterEach, describe, expect, it } from 'vitest';
import { credentialSchema, type Credential } from '../../lambdas/config/schema.ts';
import { isRefresherError, type RefresherError } from '../../lambdas/core/errors.ts';
import { resolvedProviderFor, type OAuth2Provider } from '../../lambdas/refresh/oauth2-provider.ts';
import {
  accountFor,
  checkTokens,
  interpretRedirect,
  newPkce,
  newState,
  signInScopes,
  startLoopback,
} from '../../cli/sign-in.ts';
import { OIDC_CLIENT_ID, OIDC_CLIENT_SECRET, startOidcProvider, type OidcServer } from '../support/oidc-provider.ts';

const MAILBOX = 'mailer@example.org';
let oidc: OidcServer | undefined;

afterEach(async () => {
  await oidc?.close();
  oidc = undefined;
});

function credential(issuer: string, over: Record<string, unknown> = {}): Credential {
  return credentialSchema.parse({
    id: 'oidc-mail',
    provider: 'oauth2',
    issuer,
    clientId: OIDC_CLIENT_ID,
    scopes: ['openid', 'email', 'offline_access'],
    mailbox: MAILBOX,
    validation: { smtp: { host: 'smtp.example.org' } },
    ...over,
  });
}

async function provider(c: Credential): Promise<OAuth2Provider> {
  return resolvedProviderFor(
    { ...c, scopes: signInScopes(c) },
    { clientSecret: OIDC_CLIENT_SECRET, clientSecretRef: 'oidc/client-secret', timeoutMs: 2000, retries: 0 },
  );
}

/** A browser sign-in through the provider's pages; returns what the loopback listener received and the exchange. */
async function browserSignIn(p: OAuth2Provider, tamper: (url: URL) => void = () => {}) {
  const listener = await startLoopback(0);
  try {
    const pkce = newPkce();
    const state = newState();
    await oidc!.signIn(
      p.authorizationUrl({
        redirectUri: listener.redirectUri,
        state,
        codeChallenge: pkce.challenge,
        loginHint: MAILBOX,
      }),
      MAILBOX,
    );
    const params = await listener.result;
    return {
      params,
      state,
      redeem: (code: string) =>
        p.redeemAuthorizationCode({ code, redirectUri: listener.redirectUri, codeVerifier: pkce.verifier }),
      tamper,
    };
  } finally {
    await listener.close();
  }
}

async function failure(p: Promise<unknown> | (() => unknown)): Promise<RefresherError> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    if (isRefresherError(e)) return e;
    throw e;
  }
  throw new Error('expected a failure');
}

describe('regenerate against a strict OpenID provider', () => {
  it('offline_access is honoured: prompt=consent is sent, and the provider issues a refresh token', async () => {
    oidc = await startOidcProvider();
    const p = await provider(credential(oidc.issuer));
    const url = new URL(p.authorizationUrl({ redirectUri: 'http://localhost:1', state: 's', codeChallenge: 'c' }));
    expect(url.searchParams.get('prompt')).toBe('consent');
    const s = await browserSignIn(p);
    const tokens = await s.redeem(interpretRedirect(s.params, s.state, credential(oidc.issuer), p.expectedIssuer()));
    expect(tokens.refreshToken).toBeTruthy();
  });

  it('the ID token carries no e-mail (Core 5.4): the account comes from userinfo, and its sub must match', async () => {
    oidc = await startOidcProvider();
    const c = credential(oidc.issuer);
    const p = await provider(c);
    const s = await browserSignIn(p);
    const tokens = await s.redeem(interpretRedirect(s.params, s.state, c, p.expectedIssuer()));
    expect(tokens.idToken).toBeTruthy();
    const claims = JSON.parse(Buffer.from(tokens.idToken!.split('.')[1]!, 'base64url').toString('utf8')) as Record<
      string,
      unknown
    >;
    expect(claims.email).toBeUndefined();
    const account = await accountFor(tokens, p);
    expect(account).toBe(MAILBOX);
    expect(checkTokens(tokens, c, account)).toBe(MAILBOX);
  });

  it('NO_ID_TOKEN says what is actually wrong: no identity at all, with the scopes already requested', () => {
    const c = credential('https://id.example.org');
    const err = (() => {
      try {
        checkTokens({ accessToken: 'a', refreshToken: 'r' }, c, undefined);
      } catch (e) {
        return e as RefresherError;
      }
      throw new Error('expected a failure');
    })();
    expect(err.code).toBe('NO_ID_TOKEN');
    expect(err.fix).not.toMatch(/Add "openid"/);
    expect(err.fix).toMatch(/userinfo|email claim/);
  });

  it('RFC 9207: the iss parameter must name the issuer; a forged or missing one is refused before the code is used', async () => {
    oidc = await startOidcProvider();
    const c = credential(oidc.issuer);
    const p = await provider(c);
    expect(p.expectedIssuer()).toEqual({ issuer: oidc.issuer, required: true });
    const s = await browserSignIn(p);
    expect(s.params.iss).toBe(oidc.issuer);
    const forged = await failure(() =>
      interpretRedirect({ ...s.params, iss: 'https://attacker.example' }, s.state, c, p.expectedIssuer()),
    );
    expect(forged.code).toBe('ISSUER_MISMATCH');
    const missing = await failure(() =>
      interpretRedirect({ ...s.params, iss: undefined }, s.state, c, p.expectedIssuer()),
    );
    expect(missing.code).toBe('ISSUER_MISMATCH');
    // The right one passes.
    expect(interpretRedirect(s.params, s.state, c, p.expectedIssuer())).toBe(s.params.code);
  });

  it('device flow for a confidential client: the device authorization request authenticates (RFC 8628 3.1)', async () => {
    oidc = await startOidcProvider();
    const p = await provider(credential(oidc.issuer));
    const grant = await p.startDeviceCode();
    expect(oidc.deviceRequests.at(-1)?.status).toBe(200);
    const complete = `${grant.verificationUri}?user_code=${encodeURIComponent(grant.userCode)}`;
    await oidc.signIn(complete, MAILBOX);
    const polled = await p.pollDeviceCode(grant.deviceCode);
    expect(polled.status).toBe('done');
    if (polled.status === 'done') expect(polled.tokens.refreshToken).toBeTruthy();
  });

  it('a device authorization refusal names the device authorization endpoint, not the token endpoint', async () => {
    oidc = await startOidcProvider();
    const c = credential(oidc.issuer);
    const p = await resolvedProviderFor(
      { ...c, scopes: signInScopes(c) },
      { clientSecret: 'wrong-secret-value-123', clientSecretRef: 'oidc/client-secret', timeoutMs: 2000, retries: 0 },
    );
    const err = await failure(p.startDeviceCode());
    expect(err.class).toBe('configuration');
    expect(err.code).toBe('invalid_client');
    expect(err.message).toMatch(/device authorization endpoint/);
    expect(err.message).not.toMatch(/token endpoint/);
  });
});
