import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import {
  DEFAULT_ACCOUNT,
  DEFAULT_CLIENT_ID,
  DEFAULT_CLIENT_SECRET,
  DEFAULT_SCOPES,
  DEVICE_CODE_GRANT,
  SMTP_SEND_SCOPE,
  startEntraStandin,
  type EntraStandin,
} from '../../standins/entra.ts';

type Json = Record<string, unknown>;

async function post(
  url: string,
  form: Record<string, string>,
): Promise<{ status: number; headers: Record<string, unknown>; text: string }> {
  const res = await request(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(form).toString(),
  });
  return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
}

async function postJson(
  url: string,
  form: Record<string, string>,
): Promise<{ status: number; headers: Record<string, unknown>; body: Json }> {
  const r = await post(url, form);
  return { status: r.status, headers: r.headers, body: JSON.parse(r.text) as Json };
}

const client = { client_id: DEFAULT_CLIENT_ID, client_secret: DEFAULT_CLIENT_SECRET };
const refreshForm = (refreshToken: string): Record<string, string> => ({
  ...client,
  grant_type: 'refresh_token',
  refresh_token: refreshToken,
  scope: DEFAULT_SCOPES,
});

function claims(idToken: unknown): Json {
  const payload = String(idToken).split('.')[1] ?? '';
  return JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Json;
}

function expectAadError(body: Json, error: string, code: number): void {
  expect(body.error).toBe(error);
  expect(body.error_codes).toEqual([code]);
  expect(String(body.error_description)).toMatch(new RegExp(`^AADSTS${code}: `));
  expect(body).toHaveProperty('timestamp');
  expect(body).toHaveProperty('trace_id');
  expect(body).toHaveProperty('correlation_id');
  expect(String(body.error_uri)).toContain(`code=${code}`);
}

describe('Entra stand-in: refresh_token grant', () => {
  let entra: EntraStandin;
  beforeAll(async () => {
    entra = await startEntraStandin();
  });
  afterAll(() => entra.close());

  it('rotates: every use returns a new long refresh token and the old one stays valid', async () => {
    const first = entra.issueRefreshToken();
    expect(first).toHaveLength(1200);
    const a = await postJson(entra.tokenUrl, refreshForm(first));
    expect(a.status).toBe(200);
    expect(a.body).toMatchObject({ token_type: 'Bearer', expires_in: 3600, ext_expires_in: 3600 });
    expect(String(a.body.scope)).toContain(SMTP_SEND_SCOPE);
    const second = String(a.body.refresh_token);
    expect(second).not.toBe(first);
    expect(second).toMatch(/^rt-[A-Za-z0-9_-]+$/);
    expect(second).toHaveLength(1200);
    expect(entra.latestRefreshToken()).toBe(second);
    expect(String(a.body.access_token)).toMatch(/^at-/);
    expect(entra.isValidAccessToken(String(a.body.access_token))).toMatchObject({
      account: DEFAULT_ACCOUNT,
      audience: 'https://outlook.office.com',
      scopes: [SMTP_SEND_SCOPE],
    });
    expect(claims(a.body.id_token)).toMatchObject({
      preferred_username: DEFAULT_ACCOUNT,
      email: DEFAULT_ACCOUNT,
      aud: DEFAULT_CLIENT_ID,
    });

    const again = await postJson(entra.tokenUrl, refreshForm(first));
    expect(again.status).toBe(200);
    expect(entra.issuedRefreshTokens()).toHaveLength(3);
    expect(entra.refreshTokenInfo(first)?.uses).toBe(2);
    expect(entra.requests.some((r) => r.route === 'token' && r.body.includes('grant_type=refresh_token'))).toBe(true);
  });

  it('accepts client_secret_basic', async () => {
    const rt = entra.issueRefreshToken();
    const res = await request(entra.tokenUrl, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`${DEFAULT_CLIENT_ID}:${encodeURIComponent(DEFAULT_CLIENT_SECRET)}`).toString('base64')}`,
      },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: rt, scope: SMTP_SEND_SCOPE }).toString(),
    });
    expect(res.statusCode).toBe(200);
    await res.body.dump();
  });

  it('requires scope (AADSTS900144) and answers with the real error body shape', async () => {
    const rt = entra.issueRefreshToken();
    const res = await postJson(entra.tokenUrl, { ...client, grant_type: 'refresh_token', refresh_token: rt });
    expect(res.status).toBe(400);
    expectAadError(res.body, 'invalid_request', 900144);
    expect(String(res.body.error_description)).toContain("'scope'");
  });

  it('wrong secret is invalid_client 7000215 (401); an expired secret 7000222', async () => {
    const rt = entra.issueRefreshToken();
    const wrong = await postJson(entra.tokenUrl, { ...refreshForm(rt), client_secret: 'the-secret-id-not-its-value' });
    expect(wrong.status).toBe(401);
    expectAadError(wrong.body, 'invalid_client', 7000215);
    entra.setClientSecretExpired();
    try {
      const expired = await postJson(entra.tokenUrl, refreshForm(rt));
      expect(expired.status).toBe(401);
      expectAadError(expired.body, 'invalid_client', 7000222);
    } finally {
      entra.setClientSecretExpired(false);
    }
  });

  it('unknown client is unauthorized_client 700016; unknown tenant 90002; /common 50194', async () => {
    const rt = entra.issueRefreshToken();
    const unknown = await postJson(entra.tokenUrl, { ...refreshForm(rt), client_id: 'nope' });
    expectAadError(unknown.body, 'unauthorized_client', 700016);
    const tenant = await postJson(`${entra.url}/fabrikam.onmicrosoft.com/oauth2/v2.0/token`, refreshForm(rt));
    expectAadError(tenant.body, 'invalid_request', 90002);
    const common = await postJson(`${entra.url}/common/oauth2/v2.0/token`, refreshForm(rt));
    expectAadError(common.body, 'invalid_request', 50194);
    const byId = await postJson(`${entra.url}/${entra.tenantId}/oauth2/v2.0/token`, refreshForm(rt));
    expect(byId.status).toBe(200);
  });

  it('revoke() gives 50173, expireAll() 700082, 90 days of inactivity 700082', async () => {
    const revoked = entra.issueRefreshToken();
    entra.revoke(revoked);
    expectAadError((await postJson(entra.tokenUrl, refreshForm(revoked))).body, 'invalid_grant', 50173);

    const old = entra.issueRefreshToken();
    entra.expireAll(700082);
    const dead = await postJson(entra.tokenUrl, refreshForm(old));
    expectAadError(dead.body, 'invalid_grant', 700082);
    expect(String(dead.body.error_description)).toContain('inactive for 90.00:00:00');

    const fresh = entra.issueRefreshToken();
    expect((await postJson(entra.tokenUrl, refreshForm(fresh))).status).toBe(200);
    const idle = entra.issueRefreshToken();
    entra.clock.advance(91 * 86_400_000);
    expectAadError((await postJson(entra.tokenUrl, refreshForm(idle))).body, 'invalid_grant', 700082);
  });

  it('access tokens expire with the clock', async () => {
    const res = await postJson(entra.tokenUrl, refreshForm(entra.issueRefreshToken()));
    const at = String(res.body.access_token);
    expect(entra.isValidAccessToken(at)).toBeDefined();
    entra.clock.advance(3601_000);
    expect(entra.isValidAccessToken(at)).toBeUndefined();
  });

  it('a token for an unconsented scope is 65001 consent_required; a Graph-only request gets a Graph token', async () => {
    const rt = entra.issueRefreshToken({ scopes: `${SMTP_SEND_SCOPE} offline_access User.Read` });
    const denied = await postJson(entra.tokenUrl, {
      ...refreshForm(rt),
      scope: 'https://graph.microsoft.com/Mail.Send',
    });
    expectAadError(denied.body, 'invalid_grant', 65001);
    expect(denied.body.suberror).toBe('consent_required');
    const graph = await postJson(entra.tokenUrl, { ...refreshForm(rt), scope: 'User.Read offline_access' });
    expect(graph.status).toBe(200);
    expect(entra.isValidAccessToken(String(graph.body.access_token))?.audience).toBe('https://graph.microsoft.com');
    expect(graph.body.id_token).toBeUndefined();
  });

  it('failWith() produces the documented error classes', async () => {
    const rt = entra.issueRefreshToken();
    entra.failWith(65001);
    entra.failWith(53003);
    entra.failWith('temporarily_unavailable', 1, { retryAfterSec: 7 });
    entra.failWith(90055);
    entra.failWith(7000215);
    const consent = await postJson(entra.tokenUrl, refreshForm(rt));
    expectAadError(consent.body, 'invalid_grant', 65001);
    expect(consent.body.suberror).toBe('consent_required');
    expectAadError((await postJson(entra.tokenUrl, refreshForm(rt))).body, 'invalid_grant', 53003);
    const busy = await postJson(entra.tokenUrl, refreshForm(rt));
    expect(busy.status).toBe(503);
    expect(busy.headers['retry-after']).toBe('7');
    expect(busy.body.error).toBe('temporarily_unavailable');
    const throttled = await postJson(entra.tokenUrl, refreshForm(rt));
    expect(throttled.status).toBe(429);
    expect(throttled.headers['retry-after']).toBe('1');
    const secret = await postJson(entra.tokenUrl, refreshForm(rt));
    expect(secret.status).toBe(401);
    expectAadError(secret.body, 'invalid_client', 7000215);
    expect((await postJson(entra.tokenUrl, refreshForm(rt))).status).toBe(200);
  });
});

describe('Entra stand-in: rotate=false (Google-like)', () => {
  it('returns no refresh_token on refresh', async () => {
    const entra = await startEntraStandin({ rotate: false, refreshTokenLength: 100 });
    try {
      const rt = entra.issueRefreshToken();
      expect(rt).toHaveLength(100);
      const res = await postJson(entra.tokenUrl, refreshForm(rt));
      expect(res.status).toBe(200);
      expect(res.body.refresh_token).toBeUndefined();
      expect(res.body.access_token).toBeDefined();
    } finally {
      await entra.close();
    }
  });
});

describe('Entra stand-in: authorization code with PKCE', () => {
  let entra: EntraStandin;
  beforeAll(async () => {
    entra = await startEntraStandin({ account: 'mailer@contoso.com' });
  });
  afterAll(() => entra.close());

  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const redirectUri = 'http://localhost:53123/';
  const authorizeUrl = (extra: Record<string, string> = {}): string =>
    `${entra.authorizeUrl}?${new URLSearchParams({
      client_id: DEFAULT_CLIENT_ID,
      response_type: 'code',
      redirect_uri: redirectUri,
      response_mode: 'query',
      scope: DEFAULT_SCOPES,
      state: 'st-123',
      code_challenge: challenge,
      code_challenge_method: 'S256',
      ...extra,
    }).toString()}`;

  it('serves a consent page with account field and Accept/Cancel buttons', async () => {
    const res = await request(authorizeUrl({ login_hint: 'ops@contoso.com' }));
    const page = await res.body.text();
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/text\/html/);
    expect(page).toContain('id="account"');
    expect(page).toContain('value="ops@contoso.com"');
    expect(page).toContain('id="accept"');
    expect(page).toContain('id="cancel"');
  });

  it('Accept redirects with code and state; the code redeems once with the right verifier', async () => {
    const location = new URL(await entra.consent(authorizeUrl(), { account: 'other@contoso.com' }));
    expect(`${location.origin}${location.pathname}`).toBe('http://localhost:53123/');
    expect(location.searchParams.get('state')).toBe('st-123');
    const code = location.searchParams.get('code') ?? '';
    expect(code).not.toBe('');
    const form = {
      ...client,
      grant_type: 'authorization_code',
      code,
      redirect_uri: redirectUri,
      code_verifier: verifier,
      scope: DEFAULT_SCOPES,
    };

    const badVerifier = await postJson(entra.tokenUrl, { ...form, code_verifier: 'x'.repeat(43) });
    expectAadError(badVerifier.body, 'invalid_grant', 501481);
    const badRedirect = await postJson(entra.tokenUrl, { ...form, redirect_uri: 'http://localhost/' });
    expectAadError(badRedirect.body, 'invalid_grant', 500112);

    const ok = await postJson(entra.tokenUrl, form);
    expect(ok.status).toBe(200);
    expect(claims(ok.body.id_token).preferred_username).toBe('other@contoso.com');
    expect(entra.refreshTokenInfo(String(ok.body.refresh_token))?.account).toBe('other@contoso.com');
    expect(entra.isValidAccessToken(String(ok.body.access_token))?.account).toBe('other@contoso.com');

    const reused = await postJson(entra.tokenUrl, form);
    expectAadError(reused.body, 'invalid_grant', 54005);
  });

  it('Cancel redirects with access_denied', async () => {
    const location = new URL(await entra.consent(authorizeUrl(), { decision: 'cancel' }));
    expect(location.searchParams.get('error')).toBe('access_denied');
    expect(location.searchParams.get('error_description')).toMatch(/^AADSTS65004/);
    expect(location.searchParams.get('state')).toBe('st-123');
  });

  it('refuses an unregistered redirect URI with an error page, not a redirect', async () => {
    const res = await request(authorizeUrl({ redirect_uri: 'http://evil.example/cb' }));
    expect(res.statusCode).toBe(400);
    expect(await res.body.text()).toContain('AADSTS50011');
  });

  it('a missing code_verifier is rejected when a challenge was sent', async () => {
    const code = new URL(await entra.consent(authorizeUrl())).searchParams.get('code') ?? '';
    const res = await postJson(entra.tokenUrl, {
      ...client,
      grant_type: 'authorization_code',
      code,
      redirect_uri: redirectUri,
    });
    expectAadError(res.body, 'invalid_request', 900144);
  });
});

describe('Entra stand-in: device code', () => {
  let entra: EntraStandin;
  beforeAll(async () => {
    entra = await startEntraStandin({ deviceCodeIntervalSec: 1, deviceCodeExpiresInSec: 600 });
  });
  afterAll(() => entra.close());

  async function start(): Promise<{
    device_code: string;
    user_code: string;
    verification_uri: string;
    interval: number;
    expires_in: number;
    message: string;
  }> {
    const res = await postJson(entra.deviceCodeUrl, { client_id: DEFAULT_CLIENT_ID, scope: DEFAULT_SCOPES });
    expect(res.status).toBe(200);
    return res.body as {
      device_code: string;
      user_code: string;
      verification_uri: string;
      interval: number;
      expires_in: number;
      message: string;
    };
  }
  const poll = (deviceCode: string): Promise<{ status: number; body: Json }> =>
    postJson(entra.tokenUrl, { grant_type: DEVICE_CODE_GRANT, client_id: DEFAULT_CLIENT_ID, device_code: deviceCode });

  it('pending, slow_down, then success for the approving account', async () => {
    const dc = await start();
    expect(dc).toMatchObject({ interval: 1, expires_in: 600, verification_uri: `${entra.url}/devicelogin` });
    expect(dc.message).toContain(dc.user_code);
    const pending = await poll(dc.device_code);
    expect(pending.status).toBe(400);
    expect(pending.body.error).toBe('authorization_pending');
    expect((await poll(dc.device_code)).body.error).toBe('slow_down');
    entra.approveDevice(dc.user_code, 'helpdesk@contoso.com');
    entra.clock.advance(1500);
    const ok = await poll(dc.device_code);
    expect(ok.status).toBe(200);
    expect(entra.refreshTokenInfo(String(ok.body.refresh_token))?.account).toBe('helpdesk@contoso.com');
    expect((await poll(dc.device_code)).body.error).toBe('invalid_grant');
  });

  it('authorization_declined, expired_token and bad_verification_code', async () => {
    const declined = await start();
    entra.declineDevice(declined.user_code);
    expect((await poll(declined.device_code)).body.error).toBe('authorization_declined');

    const late = await start();
    entra.clock.advance(601_000);
    const expired = await poll(late.device_code);
    expect(expired.body.error).toBe('expired_token');
    expect(expired.body.error_codes).toEqual([70020]);

    expect((await poll('dc-unknown')).body.error).toBe('bad_verification_code');
  });

  it('the devicelogin page approves like a person would', async () => {
    const dc = await start();
    const page = await request(dc.verification_uri);
    expect(await page.body.text()).toContain('id="code"');
    const submit = await post(dc.verification_uri, {
      code: dc.user_code.toLowerCase(),
      account: 'web@contoso.com',
      decision: 'accept',
    });
    expect(submit.status).toBe(200);
    expect(entra.deviceCodes().find((d) => d.userCode === dc.user_code)).toMatchObject({
      state: 'approved',
      account: 'web@contoso.com',
    });
  });

  it('without "allow public client flows" the device grant needs the secret (7000218)', async () => {
    entra.registerClient('confidential-only', 'sekret', { allowPublicClientFlows: false });
    const res = await postJson(entra.deviceCodeUrl, { client_id: 'confidential-only', scope: DEFAULT_SCOPES });
    const denied = await postJson(entra.tokenUrl, {
      grant_type: DEVICE_CODE_GRANT,
      client_id: 'confidential-only',
      device_code: String(res.body.device_code),
    });
    expect(denied.status).toBe(401);
    expectAadError(denied.body, 'invalid_client', 7000218);
  });
});

describe('Entra stand-in: faults and latency', () => {
  let entra: EntraStandin;
  beforeAll(async () => {
    entra = await startEntraStandin();
  });
  afterAll(() => entra.close());

  it('status fault: 429 with Retry-After, then normal again', async () => {
    entra.inject('token', {
      kind: 'status',
      status: 429,
      headers: { 'retry-after': '3' },
      body: { error: 'too_many' },
    });
    const rt = entra.issueRefreshToken();
    const limited = await post(entra.tokenUrl, refreshForm(rt));
    expect(limited.status).toBe(429);
    expect(limited.headers['retry-after']).toBe('3');
    expect((await post(entra.tokenUrl, refreshForm(rt))).status).toBe(200);
  });

  it('html, truncated, reset, reset-after and hang', async () => {
    const rt = entra.issueRefreshToken();
    entra.inject('token', { kind: 'html', status: 500 });
    const page = await post(entra.tokenUrl, refreshForm(rt));
    expect(page.status).toBe(500);
    expect(page.headers['content-type']).toMatch(/text\/html/);

    entra.inject('token', { kind: 'truncated' });
    const cut = await post(entra.tokenUrl, refreshForm(rt));
    expect(cut.status).toBe(200);
    expect(() => JSON.parse(cut.text) as unknown).toThrow();

    entra.inject('token', { kind: 'reset' });
    await expect(post(entra.tokenUrl, refreshForm(rt))).rejects.toThrow();

    const before = entra.latestRefreshToken();
    entra.inject('token', { kind: 'reset', after: true });
    await expect(post(entra.tokenUrl, refreshForm(rt))).rejects.toThrow();
    // The rotation happened although the client never saw the new token; the old one still works.
    expect(entra.latestRefreshToken()).not.toBe(before);
    expect((await post(entra.tokenUrl, refreshForm(rt))).status).toBe(200);

    entra.inject('token', { kind: 'hang' });
    await expect(
      request(entra.tokenUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams(refreshForm(rt)).toString(),
        signal: AbortSignal.timeout(100),
      }),
    ).rejects.toThrow();
    await new Promise((r) => setTimeout(r, 20));
    expect(entra.faults.inFlight('token')).toBe(0);
  });

  it('latency applies to every exchange and concurrency is tracked per route', async () => {
    entra.faults.resetStats();
    entra.latencyMs = 150;
    entra.inject('token', { kind: 'delay', ms: 100 });
    try {
      const rt = entra.issueRefreshToken();
      const t0 = performance.now();
      const results = await Promise.all(Array.from({ length: 6 }, () => post(entra.tokenUrl, refreshForm(rt))));
      const elapsed = performance.now() - t0;
      expect(results.every((r) => r.status === 200)).toBe(true);
      expect(elapsed).toBeGreaterThanOrEqual(240);
      expect(entra.faults.count('token')).toBe(6);
      expect(entra.faults.maxInFlight('token')).toBe(6);
      expect(entra.faults.inFlight('token')).toBe(0);
    } finally {
      entra.latencyMs = 0;
    }
  });
});
