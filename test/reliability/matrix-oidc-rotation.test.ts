// Fault matrix, a real OpenID provider with refresh-token rotation and reuse detection (panva's oidc-provider), behind
// a proxy that holds or drops the token endpoint's answer after the provider acted. The question of every row: is the
// grant still alive afterwards, and does the refresher hold the newest token (or know that it may not)?
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { credentialSchema } from '../../lambdas/config/schema.ts';
import { isRefresherError } from '../../lambdas/core/errors.ts';
import { providerFor, type ProviderOptions } from '../../lambdas/refresh/oauth2-provider.ts';
import { newPkce, newState, startLoopback } from '../../cli/sign-in.ts';
import { startHoldingProxy, type HoldingProxy, type ProxyAction } from '../support/holding-proxy.ts';
import { OIDC_CLIENT_ID, OIDC_CLIENT_SECRET, startOidcProvider, type OidcServer } from '../support/oidc-provider.ts';
import { MatrixSink } from './support/results.ts';

const sink = new MatrixSink('oidc-rotation');
afterAll(() => sink.flush());
const group = 'OpenID provider with refresh-token rotation and reuse detection (oidc-provider)';
const MAILBOX = 'mailer@example.org';

let oidc: OidcServer | undefined;
let proxy: HoldingProxy | undefined;
afterEach(async () => {
  await proxy?.close();
  await oidc?.close();
  proxy = oidc = undefined;
});

interface Row {
  fault: string;
  reuse?: 'revokes' | 'allowed';
  /** What the proxy does to the first refresh request (later ones pass). */
  first: ProxyAction;
  deadlineMs?: number;
  expected: string;
  /** Outcome code ('rotated' on success) and whether the grant must survive. */
  code: string;
  grantSurvives: boolean;
  requests: number;
}

const rows: Row[] = [
  {
    fault: 'answer held 1.2 s, past the 300 ms attempt timeout',
    first: { kind: 'hold', ms: 1200 },
    deadlineMs: 10_000,
    expected: 'waited for (deadline 10 s), not replayed; new token returned',
    code: 'rotated',
    grantSurvives: true,
    requests: 1,
  },
  {
    fault: 'answer dropped after the provider rotated (reset)',
    first: { kind: 'drop' },
    deadlineMs: 10_000,
    expected: 'REFRESH_OUTCOME_UNKNOWN, not replayed, grant not revoked',
    code: 'REFRESH_OUTCOME_UNKNOWN',
    grantSurvives: true,
    requests: 1,
  },
  {
    fault: 'answer held past the invocation deadline (0.9 s)',
    first: { kind: 'hold', ms: 5000 },
    deadlineMs: 900,
    expected: 'given up at the deadline: REFRESH_OUTCOME_UNKNOWN, not replayed',
    code: 'REFRESH_OUTCOME_UNKNOWN',
    grantSurvives: true,
    requests: 1,
  },
  {
    fault: '503 with Retry-After from a gateway (not forwarded)',
    first: { kind: 'status', status: 503, headers: { 'retry-after': '0' } },
    deadlineMs: 10_000,
    expected: 'retried (the server did not act), rotated',
    code: 'rotated',
    grantSurvives: true,
    requests: 1,
  },
  {
    fault: 'answer held past the timeout, refreshTokenReuse "allowed" (the old behaviour)',
    reuse: 'allowed',
    first: { kind: 'hold', ms: 1200 },
    expected: 'replayed; the provider revokes the grant (why "revokes" is the default for oauth2)',
    code: 'invalid_grant',
    grantSurvives: false,
    requests: 2,
  },
];

async function world(reuse?: 'revokes' | 'allowed') {
  oidc = await startOidcProvider();
  proxy = await startHoldingProxy(oidc.issuer);
  const c = credentialSchema.parse({
    id: 'oidc-mail',
    provider: 'oauth2',
    issuer: oidc.issuer,
    endpoints: { token: `${proxy.url}/token` },
    clientId: OIDC_CLIENT_ID,
    scopes: ['openid', 'email', 'offline_access'],
    mailbox: MAILBOX,
    validation: { smtp: { host: 'smtp.example.org' } },
    ...(reuse ? { refreshTokenReuse: reuse } : {}),
  });
  const opts = (o: Partial<ProviderOptions> = {}): ProviderOptions => ({
    clientSecret: OIDC_CLIENT_SECRET,
    clientSecretRef: 'oidc/client-secret',
    timeoutMs: 300,
    retries: 2,
    baseDelayMs: 10,
    ...o,
  });
  const p = await providerFor(c, opts()).ready();
  const listener = await startLoopback(0);
  const pkce = newPkce();
  await oidc.signIn(
    p.authorizationUrl({ redirectUri: listener.redirectUri, state: newState(), codeChallenge: pkce.challenge }),
    MAILBOX,
  );
  const redirect = await listener.result;
  await listener.close();
  const tokens = await p.redeemAuthorizationCode({
    code: redirect.code!,
    redirectUri: listener.redirectUri,
    codeVerifier: pkce.verifier,
  });
  return { c, opts, refreshToken: tokens.refreshToken! };
}

describe('fault matrix: a provider that revokes the grant when a used refresh token comes back', () => {
  it.each(rows.map((r, i) => [r.fault, r, i] as const))('%s', async (_name, row, order) => {
    const w = await world(row.reuse);
    let first = true;
    proxy!.policy = (r) => {
      if (!r.body.includes('grant_type=refresh_token') || !first) return { kind: 'pass' };
      first = false;
      return row.first;
    };
    const forwardedBefore = proxy!.forwarded.length;
    let code = 'rotated';
    let newest: string | undefined;
    try {
      newest = (
        await providerFor(
          w.c,
          w.opts(row.deadlineMs ? { deadlineAt: Date.now() + row.deadlineMs } : {}),
        ).redeemRefreshToken(w.refreshToken)
      ).refreshToken;
    } catch (e) {
      if (!isRefresherError(e)) throw e;
      code = e.code;
    }
    const requests = proxy!.forwarded
      .slice(forwardedBefore)
      .filter((r) => r.body.includes('grant_type=refresh_token')).length;
    const revoked = oidc!.revokedGrants.length > 0;
    const holdsNewest = newest !== undefined && newest === oidc!.issuedRefreshTokens.at(-1);
    const problems: string[] = [];
    if (code !== row.code) problems.push(`outcome ${code}, expected ${row.code}`);
    if (revoked === row.grantSurvives) problems.push(revoked ? 'grant revoked' : 'grant not revoked');
    if (requests !== row.requests)
      problems.push(`${requests} refresh requests reached the provider, expected ${row.requests}`);
    if (code === 'rotated' && !holdsNewest) problems.push('the returned token is not the newest issued');
    sink.add({
      order,
      group,
      fault: row.fault,
      stage: 'refresh',
      expected: row.expected,
      observed: `${code}; ${requests} request${requests === 1 ? '' : 's'} reached the provider; grant ${revoked ? 'revoked' : 'alive'}${code === 'rotated' ? (holdsNewest ? '; newest token returned' : '; NOT the newest token') : ''}`,
      // Nothing lost: the grant is alive and either the newest token is in hand or the outcome is reported as unknown.
      nothingLost: !revoked && (holdsNewest || code === 'REFRESH_OUTCOME_UNKNOWN'),
      passed: problems.length === 0,
      problems,
    });
    expect(problems).toEqual([]);
  });
});
