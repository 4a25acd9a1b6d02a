import { inspect } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { ImsTokenSource, type ImsTokenSourceOptions } from '../../lambdas/push/ims.ts';
import { RefresherError } from '../../lambdas/core/errors.ts';
import { redactText } from '../../lambdas/core/redact.ts';
import { sequence, startServer, type Handler, type TestServer } from './server.ts';

const CLIENT_SECRET = 'p8e-CLIENT-SECRET-sentinel-0001';
const ACCESS_TOKEN = 'eyJ-IMS-ACCESS-TOKEN-sentinel-0002';
const SCOPES = [
  'openid',
  'AdobeID',
  'read_organizations',
  'additional_info.projectedProductContext',
  'read_pc.dma_aem_ams',
];

let server: TestServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function source(
  handler: Handler,
  extra: Partial<ImsTokenSourceOptions> = {},
): Promise<{ ims: ImsTokenSource; srv: TestServer }> {
  server = await startServer(handler);
  const ims = new ImsTokenSource({
    endpoint: `${server.url}/`,
    clientId: 'cm-client-id',
    clientSecret: async () => CLIENT_SECRET,
    scopes: SCOPES,
    timeoutMs: 1_000,
    retries: 2,
    baseDelayMs: 1,
    maxDelayMs: 5,
    ...extra,
  });
  return { ims, srv: server };
}

const ok = { status: 200, body: { access_token: ACCESS_TOKEN, token_type: 'bearer', expires_in: 86399 } };

async function failure(p: Promise<unknown>): Promise<RefresherError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(RefresherError);
  const err = e as RefresherError;
  for (const text of [err.message, err.fix, JSON.stringify(err), inspect(err), String(err.stack)]) {
    expect(text).not.toContain(CLIENT_SECRET);
    expect(text).not.toContain(ACCESS_TOKEN);
  }
  return err;
}

describe('ImsTokenSource', () => {
  it('posts the client credentials form to /ims/token/v3 and returns the access token', async () => {
    const { ims, srv } = await source(sequence(ok));
    await expect(ims.token()).resolves.toBe(ACCESS_TOKEN);
    expect(srv.requests).toHaveLength(1);
    const req = srv.requests[0]!;
    expect(req.method).toBe('POST');
    expect(req.path).toBe('/ims/token/v3');
    expect(req.headers['content-type']).toBe('application/x-www-form-urlencoded');
    const form = new URLSearchParams(req.body);
    expect(Object.fromEntries(form)).toEqual({
      grant_type: 'client_credentials',
      client_id: 'cm-client-id',
      client_secret: CLIENT_SECRET,
      scope: SCOPES.join(','),
    });
    // Both are registered, so any log line that happens to carry them is masked.
    expect(redactText(`x ${ACCESS_TOKEN} y ${CLIENT_SECRET}`)).toBe('x [REDACTED] y [REDACTED]');
  });

  it('is single-flight: many concurrent callers share one request, later callers reuse the token', async () => {
    const { ims, srv } = await source(async () => {
      await new Promise((r) => setTimeout(r, 50));
      return ok;
    });
    const tokens = await Promise.all(Array.from({ length: 20 }, () => ims.token()));
    expect(new Set(tokens)).toEqual(new Set([ACCESS_TOKEN]));
    await ims.token();
    expect(srv.requests).toHaveLength(1);
  });

  it('fetches a new token when the cached one is about to expire', async () => {
    let now = 1_000_000;
    const { ims, srv } = await source(
      sequence({ status: 200, body: { access_token: ACCESS_TOKEN, expires_in: 3600 } }),
      { now: () => now },
    );
    await ims.token();
    now += 30 * 60_000;
    await ims.token();
    expect(srv.requests).toHaveLength(1);
    now += 28 * 60_000; // within the last five minutes of the hour
    await ims.token();
    expect(srv.requests).toHaveLength(2);
  });

  it('invalidate(rejected) forgets only that token', async () => {
    let n = 0;
    const { ims, srv } = await source(() => ({
      status: 200,
      body: { access_token: `${ACCESS_TOKEN}-${++n}`, expires_in: 86399 },
    }));
    const first = await ims.token();
    ims.invalidate('some-other-token');
    expect(await ims.token()).toBe(first);
    ims.invalidate(first);
    expect(await ims.token()).toBe(`${ACCESS_TOKEN}-2`);
    expect(srv.requests).toHaveLength(2);
  });

  it('prefetch overlaps the request and hands a failure to the next token() call without an unhandled rejection', async () => {
    const { ims, srv } = await source(
      sequence({
        status: 401,
        body: { error: 'invalid_client', error_description: 'invalid client_secret parameter' },
      }),
    );
    ims.prefetch();
    await new Promise((r) => setTimeout(r, 100));
    expect(srv.requests).toHaveLength(1);
    // The failed attempt is not memoized: a later call tries again (the secret may have been fixed).
    const err = await failure(ims.token());
    expect(err.code).toBe('IMS_INVALID_CLIENT');
    expect(srv.requests).toHaveLength(2);
  });

  it('prefetch then token() shares the one request', async () => {
    const { ims, srv } = await source(async () => {
      await new Promise((r) => setTimeout(r, 30));
      return ok;
    });
    ims.prefetch();
    await expect(ims.token()).resolves.toBe(ACCESS_TOKEN);
    expect(srv.requests).toHaveLength(1);
  });

  it.each([400, 401])('classifies %i invalid_client as configuration IMS_INVALID_CLIENT', async (status) => {
    const { ims, srv } = await source(
      sequence({ status, body: { error: 'invalid_client', error_description: `bad secret ${CLIENT_SECRET}` } }),
    );
    const err = await failure(ims.token());
    expect(err.class).toBe('configuration');
    expect(err.code).toBe('IMS_INVALID_CLIENT');
    expect(err.remote).toBe('ims');
    expect(err.status).toBe(status);
    expect(err.fix).toMatch(/Developer Console/);
    expect(err.fix).toMatch(/Secrets Manager/);
    expect(srv.requests).toHaveLength(1); // not retried
  });

  it('retries 5xx and then succeeds', async () => {
    const { ims, srv } = await source(sequence({ status: 503, body: 'down' }, { status: 502 }, ok));
    await expect(ims.token()).resolves.toBe(ACCESS_TOKEN);
    expect(srv.requests).toHaveLength(3);
  });

  it('classifies 429 and 5xx after the retries as transient', async () => {
    const { ims, srv } = await source(sequence({ status: 429, headers: { 'retry-after': '0' } }));
    const err = await failure(ims.token());
    expect(err.class).toBe('transient');
    expect(err.code).toBe('IMS_THROTTLED');
    expect(srv.requests).toHaveLength(3);
    await server?.close();
    const second = await source(sequence({ status: 500 }));
    const err2 = await failure(second.ims.token());
    expect([err2.class, err2.code]).toEqual(['transient', 'IMS_UNAVAILABLE']);
  });

  it('classifies a network failure as transient', async () => {
    const { ims, srv } = await source(sequence(ok));
    await srv.close();
    const err = await failure(ims.token());
    expect(err.class).toBe('transient');
    expect(err.remote).toBe('ims');
  });

  it('a non-JSON 200 is transient IMS_BAD_RESPONSE', async () => {
    const { ims } = await source(
      sequence({ status: 200, headers: { 'content-type': 'text/html' }, body: '<html>login</html>' }),
    );
    const err = await failure(ims.token());
    expect([err.class, err.code]).toEqual(['transient', 'IMS_BAD_RESPONSE']);
  });

  it('a 200 without access_token is transient IMS_NO_ACCESS_TOKEN', async () => {
    const { ims } = await source(sequence({ status: 200, body: { token_type: 'bearer', expires_in: 86399 } }));
    const err = await failure(ims.token());
    expect([err.class, err.code]).toEqual(['transient', 'IMS_NO_ACCESS_TOKEN']);
  });

  it('times out against a server that never answers', async () => {
    const { ims, srv } = await source(() => 'hang', { timeoutMs: 100, retries: 1 });
    const started = Date.now();
    const err = await failure(ims.token());
    expect([err.class, err.code]).toEqual(['transient', 'TIMEOUT']);
    expect(srv.requests).toHaveLength(2);
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('a failing secret read is classified and sends nothing', async () => {
    const { ims, srv } = await source(sequence(ok), {
      clientSecret: async () => {
        throw new Error('AccessDeniedException');
      },
    });
    const err = await failure(ims.token());
    expect(err.remote).toBe('secretsmanager');
    expect(srv.requests).toHaveLength(0);
  });
});
