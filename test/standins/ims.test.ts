import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { CLOUD_MANAGER_SCOPES, startImsStandin, type ImsStandin } from '../../standins/ims.ts';

describe('IMS stand-in', () => {
  let ims: ImsStandin;
  beforeAll(async () => {
    ims = await startImsStandin();
  });
  afterAll(() => ims.close());

  const tokenRequest = async (
    form: Record<string, string>,
  ): Promise<{ status: number; body: Record<string, unknown> }> => {
    const res = await request(ims.tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(form).toString(),
    });
    return { status: res.statusCode, body: (await res.body.json()) as Record<string, unknown> };
  };
  const good = (): Record<string, string> => ({
    grant_type: 'client_credentials',
    client_id: ims.clientId,
    client_secret: ims.clientSecret,
    scope: CLOUD_MANAGER_SCOPES,
  });

  it('issues a bearer token for client_credentials', async () => {
    const before = ims.tokensIssued;
    const res = await tokenRequest(good());
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ token_type: 'bearer', expires_in: 86399 });
    const token = String(res.body.access_token);
    expect(token.split('.')).toHaveLength(3);
    expect(ims.isValidToken(token)).toBe(true);
    expect(ims.tokenInfo(token)?.scopes).toContain('read_pc.dma_aem_ams');
    expect(ims.tokensIssued).toBe(before + 1);
    expect(ims.isValidToken('forged')).toBe(false);
  });

  it('rejects a wrong client with 400 invalid_client and a bad scope with invalid_scope', async () => {
    const wrongId = await tokenRequest({ ...good(), client_id: 'other' });
    expect(wrongId).toEqual({
      status: 400,
      body: { error: 'invalid_client', error_description: 'invalid client_id parameter' },
    });
    const wrongSecret = await tokenRequest({ ...good(), client_secret: 'nope' });
    expect(wrongSecret.status).toBe(400);
    expect(wrongSecret.body.error).toBe('invalid_client');
    const scope = await tokenRequest({ ...good(), scope: 'openid,admin' });
    expect(scope.body.error).toBe('invalid_scope');
    const grant = await tokenRequest({ ...good(), grant_type: 'authorization_code' });
    expect(grant.body.error).toBe('unsupported_grant_type');
  });

  it('tokens expire after 24 h and revokeAll() invalidates them', async () => {
    const a = ims.issueToken();
    expect(ims.isValidToken(a)).toBe(true);
    ims.clock.advance(86_400_000);
    expect(ims.isValidToken(a)).toBe(false);
    const b = ims.issueToken();
    ims.revokeAll();
    expect(ims.isValidToken(b)).toBe(false);
  });

  it('faults: 503 with Retry-After, then latency', async () => {
    ims.inject('ims-token', {
      kind: 'status',
      status: 503,
      headers: { 'retry-after': '1' },
      body: 'Service Unavailable',
    });
    const res = await request(ims.tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(good()).toString(),
    });
    expect(res.statusCode).toBe(503);
    expect(res.headers['retry-after']).toBe('1');
    expect(await res.body.text()).toBe('Service Unavailable');
    ims.latencyMs = 120;
    const t0 = performance.now();
    expect((await tokenRequest(good())).status).toBe(200);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(110);
    ims.latencyMs = 0;
    expect(ims.faults.count('ims-token')).toBeGreaterThanOrEqual(2);
  });
});
