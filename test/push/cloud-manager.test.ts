import { inspect } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import {
  CloudManagerClient,
  type CloudManagerClientOptions,
  type CmVariableUpdate,
} from '../../lambdas/push/cloud-manager.ts';
import { RefresherError } from '../../lambdas/core/errors.ts';
import { sequence, startServer, type Handler, type Reply, type TestServer } from './server.ts';

const TOKEN = 'eyJ-CM-ACCESS-TOKEN-sentinel-1111';
const VALUE = '0.AUEA-REFRESH-TOKEN-VALUE-sentinel-2222';
const SECRET = 'CLIENT-SECRET-VALUE-sentinel-3333';
const ORG = 'ABCDEF0123456789@AdobeOrg';
const VARS: CmVariableUpdate[] = [
  { name: 'SECRET_SMTP_OAUTH_REFRESH_TOKEN', value: VALUE, type: 'secretString', service: 'author' },
  { name: 'SECRET_SMTP_OAUTH_CLIENT_SECRET', value: SECRET, type: 'secretString', service: 'author' },
];

let server: TestServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function client(
  handler: Handler,
  extra: Partial<CloudManagerClientOptions> = {},
): Promise<{ cm: CloudManagerClient; srv: TestServer }> {
  server = await startServer(handler);
  const cm = new CloudManagerClient({
    endpoint: server.url,
    apiKey: 'cm-client-id',
    orgId: ORG,
    token: async () => TOKEN,
    timeoutMs: 1_000,
    retries: 3,
    baseDelayMs: 1,
    maxDelayMs: 5,
    ...extra,
  });
  return { cm, srv: server };
}

/** Asserts the failure is classified and that nothing secret reached any form of the error a log could print. */
async function failure(p: Promise<unknown>): Promise<RefresherError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(RefresherError);
  const err = e as RefresherError;
  expect(err.remote).toBe('cloudmanager');
  for (const text of [err.message, err.fix, JSON.stringify(err), inspect(err, { depth: 5 }), String(err.stack)]) {
    for (const secret of [TOKEN, VALUE, SECRET]) expect(text).not.toContain(secret);
  }
  return err;
}

const patch = (cm: CloudManagerClient) => cm.patchVariables('12345', '67890', VARS);
const accepted: Reply = { status: 204 };
const busy: Reply = {
  status: 412,
  body: { type: 'http://ns.adobe.com/adobecloud/problem/busy', title: 'Environment is busy' },
};

describe('CloudManagerClient.patchVariables', () => {
  it('sends the documented headers and exactly the listed variables', async () => {
    const { cm, srv } = await client(sequence(accepted));
    await patch(cm);
    expect(srv.requests).toHaveLength(1);
    const req = srv.requests[0]!;
    expect(req.method).toBe('PATCH');
    expect(req.path).toBe('/api/program/12345/environment/67890/variables');
    expect(req.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(req.headers['x-api-key']).toBe('cm-client-id');
    expect(req.headers['x-gw-ims-org-id']).toBe(ORG);
    expect(req.headers['content-type']).toBe('application/json');
    expect(JSON.parse(req.body)).toEqual([
      { name: 'SECRET_SMTP_OAUTH_REFRESH_TOKEN', value: VALUE, type: 'secretString', service: 'author' },
      { name: 'SECRET_SMTP_OAUTH_CLIENT_SECRET', value: SECRET, type: 'secretString', service: 'author' },
    ]);
  });

  it('omits service when the variable applies to all services', async () => {
    const { cm, srv } = await client(sequence(accepted));
    await cm.patchVariables('1', '2', [{ name: 'SECRET_X', value: VALUE, type: 'secretString' }]);
    expect(JSON.parse(srv.requests[0]!.body)).toEqual([{ name: 'SECRET_X', value: VALUE, type: 'secretString' }]);
  });

  it('accepts 200 with a body as success', async () => {
    const { cm } = await client(
      sequence({
        status: 200,
        body: { _embedded: { variables: [{ name: 'SECRET_X', type: 'secretString', status: 'updating' }] } },
      }),
    );
    await expect(patch(cm)).resolves.toBeUndefined();
  });

  it('retries a busy environment (412) and succeeds when it is accepted', async () => {
    const { cm, srv } = await client(sequence(busy, busy, accepted));
    await patch(cm);
    expect(srv.requests).toHaveLength(3);
    // The retried PATCH is the same request: safe because PATCH of the same values is idempotent.
    expect(new Set(srv.requests.map((r) => r.body)).size).toBe(1);
  });

  it('reports CM_BUSY (transient) when the environment stays busy', async () => {
    const { cm, srv } = await client(sequence(busy), { retries: 2 });
    const err = await failure(patch(cm));
    expect([err.class, err.code, err.status]).toEqual(['transient', 'CM_BUSY', 412]);
    expect(err.message).toContain('program 12345 / environment 67890');
    expect(err.fix).toMatch(/pipeline/);
    expect(err.fix).toMatch(/next run retries/);
    expect(srv.requests).toHaveLength(3);
  });

  it('honours Retry-After on 429', async () => {
    const { cm, srv } = await client(sequence({ status: 429, headers: { 'retry-after': '1' } }, accepted));
    const started = Date.now();
    await patch(cm);
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(srv.requests).toHaveLength(2);
  });

  it('gives up on a Retry-After longer than maxRetryAfterMs and reports CM_THROTTLED with it', async () => {
    const { cm, srv } = await client(sequence({ status: 429, headers: { 'retry-after': '120' } }), {
      maxRetryAfterMs: 1_000,
    });
    const err = await failure(patch(cm));
    expect([err.class, err.code, err.retryAfterMs]).toEqual(['transient', 'CM_THROTTLED', 120_000]);
    expect(srv.requests).toHaveLength(1);
  });

  it('retries 5xx', async () => {
    const { cm, srv } = await client(sequence({ status: 500 }, { status: 503, body: 'upstream' }, accepted));
    await patch(cm);
    expect(srv.requests).toHaveLength(3);
  });

  it('reports CM_UNAVAILABLE after the retries', async () => {
    const { cm, srv } = await client(sequence({ status: 502 }), { retries: 1 });
    const err = await failure(patch(cm));
    expect([err.class, err.code, err.status]).toEqual(['transient', 'CM_UNAVAILABLE', 502]);
    expect(srv.requests).toHaveLength(2);
  });

  it('classifies 400 problem+json as CM_VALIDATION listing the field messages, never the value', async () => {
    const { cm, srv } = await client(
      sequence({
        status: 400,
        headers: { 'content-type': 'application/problem+json' },
        body: JSON.stringify({
          type: 'http://ns.adobe.com/adobecloud/validation-exception',
          title: 'Validation Error(s)',
          errors: [
            { field: 'variables[0].value', message: `value '${VALUE}' must be less than 500 characters` },
            { field: 'variables[1].type', message: 'type of an existing variable cannot be changed' },
          ],
        }),
      }),
    );
    const err = await failure(patch(cm));
    expect([err.class, err.code, err.status]).toEqual(['configuration', 'CM_VALIDATION', 400]);
    expect(err.message).toContain('variables[0].value: value');
    expect(err.message).toContain('must be less than 500 characters');
    expect(err.message).toContain('variables[1].type: type of an existing variable cannot be changed');
    expect(err.message).toContain('SECRET_SMTP_OAUTH_REFRESH_TOKEN');
    expect(srv.requests).toHaveLength(1);
  });

  it('reads the spec BadRequestError shape (invalidParams) too', async () => {
    const { cm } = await client(
      sequence({
        status: 400,
        body: { status: 400, title: 'Validation failed', invalidParams: [{ name: 'name', reason: 'reserved prefix' }] },
      }),
    );
    const err = await failure(patch(cm));
    expect(err.code).toBe('CM_VALIDATION');
    expect(err.message).toContain('name: reserved prefix');
  });

  it('classifies the gateway 401 as CM_UNAUTHORIZED without echoing the token', async () => {
    const { cm, srv } = await client(
      sequence({ status: 401, body: { error_code: '401013', message: `Oauth token is not valid: Bearer ${TOKEN}` } }),
    );
    const err = await failure(patch(cm));
    expect([err.class, err.code, err.status]).toEqual(['configuration', 'CM_UNAUTHORIZED', 401]);
    expect(err.message).toContain('401013');
    expect(err.message).toContain('Oauth token is not valid');
    expect(err.fix).toMatch(/OAuth Server-to-Server/);
    expect(err.fix).toContain(ORG);
    expect(srv.requests).toHaveLength(1);
  });

  it('with invalidateToken, a 401 is retried once with a fresh token', async () => {
    const rejected: string[] = [];
    let current = `${TOKEN}-old`;
    const { cm, srv } = await client(
      (req) =>
        req.headers.authorization === `Bearer ${TOKEN}-old`
          ? { status: 401, body: { error_code: '401013' } }
          : accepted,
      {
        token: async () => current,
        invalidateToken: (t) => {
          rejected.push(t);
          current = TOKEN;
        },
      },
    );
    await patch(cm);
    expect(rejected).toEqual([`${TOKEN}-old`]);
    expect(srv.requests.map((r) => r.headers.authorization)).toEqual([`Bearer ${TOKEN}-old`, `Bearer ${TOKEN}`]);
  });

  it('with invalidateToken, a 401 that persists is reported after one retry', async () => {
    const { cm, srv } = await client(
      sequence({ status: 401, body: { error_code: '401013', message: 'Oauth token is not valid' } }),
      { invalidateToken: () => undefined },
    );
    const err = await failure(patch(cm));
    expect(err.code).toBe('CM_UNAUTHORIZED');
    expect(srv.requests).toHaveLength(2);
  });

  it('classifies 403 as CM_FORBIDDEN pointing at the Deployment Manager profile', async () => {
    const { cm } = await client(
      sequence({ status: 403, body: { error_code: '403003', message: 'Api Key is invalid' } }),
    );
    const err = await failure(patch(cm));
    expect([err.class, err.code]).toEqual(['configuration', 'CM_FORBIDDEN']);
    expect(err.fix).toContain('Deployment Manager');
  });

  it('classifies 404 as CM_NOT_FOUND naming program and environment', async () => {
    const { cm } = await client(
      sequence({
        status: 404,
        body: { type: 'http://ns.adobe.com/adobecloud/problem/not-found', title: 'Environment not found' },
      }),
    );
    const err = await failure(patch(cm));
    expect([err.class, err.code]).toEqual(['configuration', 'CM_NOT_FOUND']);
    expect(err.message).toContain('program 12345 / environment 67890');
    expect(err.fix).toContain('12345');
    expect(err.fix).toContain('67890');
  });

  it('times out against a server that never answers', async () => {
    const { cm, srv } = await client(() => 'hang', { timeoutMs: 100, retries: 1 });
    const started = Date.now();
    const err = await failure(patch(cm));
    expect([err.class, err.code]).toEqual(['transient', 'TIMEOUT']);
    expect(srv.requests).toHaveLength(2);
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('passes a classified token failure through and sends nothing', async () => {
    const { cm, srv } = await client(sequence(accepted), {
      token: async () => {
        throw new RefresherError({
          class: 'configuration',
          code: 'IMS_INVALID_CLIENT',
          remote: 'ims',
          message: 'no',
          fix: 'fix',
        });
      },
    });
    await expect(patch(cm)).rejects.toMatchObject({ code: 'IMS_INVALID_CLIENT', remote: 'ims' });
    expect(srv.requests).toHaveLength(0);
  });
});

describe('CloudManagerClient reads', () => {
  it('lists variables from _embedded.variables without values, defaulting the type', async () => {
    const { cm, srv } = await client(
      sequence({
        status: 200,
        body: {
          _totalNumberOfItems: 3,
          _embedded: {
            variables: [
              { name: 'PLAIN', value: 'not-returned-by-us', type: 'string' },
              { name: 'SECRET_SMTP_OAUTH_REFRESH_TOKEN', type: 'secretString', service: 'author', status: 'ready' },
              { name: 'NO_TYPE', value: 'x' },
            ],
          },
        },
      }),
    );
    await expect(cm.listVariables('12345', '67890')).resolves.toEqual([
      { name: 'PLAIN', type: 'string' },
      { name: 'SECRET_SMTP_OAUTH_REFRESH_TOKEN', type: 'secretString', service: 'author', status: 'ready' },
      { name: 'NO_TYPE', type: 'string' },
    ]);
    const req = srv.requests[0]!;
    expect([req.method, req.path]).toEqual(['GET', '/api/program/12345/environment/67890/variables']);
    expect(req.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(req.headers['x-api-key']).toBe('cm-client-id');
    expect(req.headers['x-gw-ims-org-id']).toBe(ORG);
  });

  it('an environment without variables lists as empty', async () => {
    const { cm } = await client(sequence({ status: 200, body: { _totalNumberOfItems: 0 } }));
    await expect(cm.listVariables('1', '2')).resolves.toEqual([]);
  });

  it('reads an environment and its status', async () => {
    const { cm, srv } = await client(
      sequence({
        status: 200,
        body: { id: 67890, programId: '12345', name: 'dev', type: 'dev', status: 'ready', _links: {} },
      }),
    );
    await expect(cm.getEnvironment('12345', '67890')).resolves.toEqual({
      id: '67890',
      programId: '12345',
      name: 'dev',
      type: 'dev',
      status: 'ready',
    });
    expect(srv.requests[0]!.path).toBe('/api/program/12345/environment/67890');
  });

  it('a malformed JSON body is a transient CM_BAD_RESPONSE, not a crash', async () => {
    const { cm } = await client(
      sequence({ status: 200, headers: { 'content-type': 'application/json' }, body: '{"_embedded": {"variables": [' }),
    );
    const err = await failure(cm.listVariables('1', '2'));
    expect([err.class, err.code]).toEqual(['transient', 'CM_BAD_RESPONSE']);
    expect(err.message).toMatch(/not JSON/);
  });

  it('a body of the wrong shape is a transient CM_BAD_RESPONSE naming the field, not the content', async () => {
    const { cm } = await client(
      sequence({ status: 200, body: { _embedded: { variables: [{ name: 42, value: VALUE }] } } }),
    );
    const err = await failure(cm.listVariables('1', '2'));
    expect([err.class, err.code]).toEqual(['transient', 'CM_BAD_RESPONSE']);
    expect(err.message).toContain('_embedded.variables.0.name');
    const env = await client(sequence({ status: 200, body: ['not', 'an', 'environment'] }));
    const err2 = await failure(env.cm.getEnvironment('1', '2'));
    expect(err2.code).toBe('CM_BAD_RESPONSE');
  });

  it('404 on a read names program and environment', async () => {
    const { cm } = await client(sequence({ status: 404 }));
    const err = await failure(cm.getEnvironment('12345', '67890'));
    expect(err.code).toBe('CM_NOT_FOUND');
    expect(err.message).toContain('program 12345 / environment 67890');
  });
});
