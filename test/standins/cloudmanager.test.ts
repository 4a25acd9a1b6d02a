import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import {
  CLOUD_MANAGER_ROUTES,
  DEFAULT_ENVIRONMENT_ID,
  DEFAULT_PROGRAM_ID,
  VALIDATION_TYPE,
  assertRoutesInSpec,
  loadCloudManagerSpec,
  startCloudManagerStandin,
  type CloudManagerStandin,
} from '../../standins/cloudmanager.ts';
import { startImsStandin, type ImsStandin } from '../../standins/ims.ts';

type Json = Record<string, unknown>;

describe('Cloud Manager stand-in: spec check at startup', () => {
  it('every served route exists in contracts/cloudmanager-api.yaml', () => {
    expect(() => assertRoutesInSpec(loadCloudManagerSpec(), CLOUD_MANAGER_ROUTES)).not.toThrow();
  });

  it('a route missing from the spec is refused', () => {
    const spec = loadCloudManagerSpec();
    expect(() =>
      assertRoutesInSpec(spec, [
        { method: 'DELETE', pattern: '/api/program/{programId}/environment/{environmentId}/variables' },
      ]),
    ).toThrow(/DELETE \/api\/program\/\{programId\}\/environment\/\{environmentId\}\/variables/);
  });

  it('startup fails against a spec without the variables path', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cm-spec-'));
    const path = join(dir, 'api.yaml');
    writeFileSync(
      path,
      "swagger: '2.0'\npaths:\n  '/api/program/{programId}/environment/{environmentId}':\n    get: {}\ndefinitions: {}\n",
    );
    await expect(startCloudManagerStandin({ specPath: path })).rejects.toThrow(/spec does not define/);
  });
});

describe('Cloud Manager stand-in', () => {
  let ims: ImsStandin;
  let cm: CloudManagerStandin;
  let token: string;
  const envPath = `/api/program/${DEFAULT_PROGRAM_ID}/environment/${DEFAULT_ENVIRONMENT_ID}`;

  beforeAll(async () => {
    ims = await startImsStandin();
    cm = await startCloudManagerStandin({
      apiKey: ims.clientId,
      orgId: ims.orgId,
      isValidToken: (t) => ims.isValidToken(t),
      environments: [
        { programId: DEFAULT_PROGRAM_ID, environmentId: DEFAULT_ENVIRONMENT_ID },
        { programId: DEFAULT_PROGRAM_ID, environmentId: '2', status: 'ready' },
      ],
    });
    token = ims.issueToken();
  });
  afterAll(async () => {
    await cm.close();
    await ims.close();
  });

  const headers = (over: Record<string, string | undefined> = {}): Record<string, string> => {
    const h: Record<string, string | undefined> = {
      authorization: `Bearer ${token}`,
      'x-api-key': ims.clientId,
      'x-gw-ims-org-id': ims.orgId,
      'content-type': 'application/json',
      ...over,
    };
    return Object.fromEntries(Object.entries(h).filter((e): e is [string, string] => e[1] !== undefined));
  };

  async function call(
    method: 'GET' | 'PATCH',
    path: string,
    body?: unknown,
    over: Record<string, string | undefined> = {},
  ): Promise<{ status: number; type: string; body: Json | undefined; headers: Record<string, unknown> }> {
    const res = await request(`${cm.url}${path}`, {
      method,
      headers: headers(over),
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.body.text();
    return {
      status: res.statusCode,
      type: String(res.headers['content-type'] ?? ''),
      body: text ? (JSON.parse(text) as Json) : undefined,
      headers: res.headers,
    };
  }

  const variablesOf = async (path = envPath): Promise<Array<Json>> => {
    const res = await call('GET', `${path}/variables`);
    expect(res.status).toBe(200);
    return (res.body?._embedded as { variables: Json[] }).variables;
  };

  it('checks x-api-key (403), the bearer token (401 gateway body) and the org (403)', async () => {
    const noKey = await call('GET', envPath, undefined, { 'x-api-key': undefined });
    expect(noKey.status).toBe(403);
    expect(noKey.body?.error_code).toBe('403000');
    expect((await call('GET', envPath, undefined, { 'x-api-key': 'other' })).status).toBe(403);
    const badToken = await call('GET', envPath, undefined, { authorization: 'Bearer forged' });
    expect(badToken).toMatchObject({
      status: 401,
      body: { error_code: '401013', message: 'Oauth token is not valid' },
    });
    expect((await call('GET', envPath, undefined, { authorization: undefined })).status).toBe(401);
    const org = await call('GET', envPath, undefined, { 'x-gw-ims-org-id': 'OTHER@AdobeOrg' });
    expect(org.status).toBe(403);
    expect(org.body?.error_code).toBe('403000');
  });

  it('unknown program or environment is 404', async () => {
    expect((await call('GET', `/api/program/999/environment/${DEFAULT_ENVIRONMENT_ID}`)).status).toBe(404);
    const env = await call('GET', `/api/program/${DEFAULT_PROGRAM_ID}/environment/404/variables`);
    expect(env.status).toBe(404);
    expect(env.type).toContain('application/problem+json');
    expect((await call('GET', '/api/programs')).status).toBe(404);
  });

  it('GET environment reports status ready with HAL links', async () => {
    const res = await call('GET', envPath);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: DEFAULT_ENVIRONMENT_ID, programId: DEFAULT_PROGRAM_ID, status: 'ready' });
    expect(res.body?._links).toHaveProperty(['http://ns.adobe.com/adobecloud/rel/variables']);
  });

  it('PATCH stores variables (204); GET never returns secret values', async () => {
    const secret = `rt-${'x'.repeat(1197)}`;
    const res = await call('PATCH', `${envPath}/variables`, [
      { name: 'SECRET_SMTP_OAUTH_REFRESH_TOKEN', value: secret, type: 'secretString' },
      { name: 'SMTP_USER', value: 'mailer@contoso.com', type: 'string', service: 'author' },
    ]);
    expect(res.status).toBe(204);
    expect(res.body).toBeUndefined();
    expect(cm.patchCount).toBe(1);
    expect(cm.valueOf(DEFAULT_PROGRAM_ID, DEFAULT_ENVIRONMENT_ID, 'SECRET_SMTP_OAUTH_REFRESH_TOKEN')).toBe(secret);
    expect(cm.valueOf(DEFAULT_PROGRAM_ID, DEFAULT_ENVIRONMENT_ID, 'SMTP_USER', 'author')).toBe('mailer@contoso.com');
    expect(cm.valueOf(DEFAULT_PROGRAM_ID, DEFAULT_ENVIRONMENT_ID, 'SMTP_USER')).toBeUndefined();
    const list = await call('GET', `${envPath}/variables`);
    expect(list.body).toMatchObject({ _totalNumberOfItems: 2 });
    const vars = (list.body?._embedded as { variables: Json[] }).variables;
    expect(vars).toContainEqual({ name: 'SECRET_SMTP_OAUTH_REFRESH_TOKEN', type: 'secretString', status: 'ready' });
    expect(vars).toContainEqual({
      name: 'SMTP_USER',
      type: 'string',
      value: 'mailer@contoso.com',
      service: 'author',
      status: 'ready',
    });
    expect(JSON.stringify(list.body)).not.toContain(secret);
  });

  it('only the listed variables change; an empty value deletes', async () => {
    await call('PATCH', `${envPath}/variables`, [{ name: 'SMTP_USER', value: '', type: 'string', service: 'author' }]);
    const vars = await variablesOf();
    expect(vars.map((v) => v.name)).toEqual(['SECRET_SMTP_OAUTH_REFRESH_TOKEN']);
  });

  it('invalid items give 400 problem+json validation-exception and change nothing', async () => {
    const before = cm.patchCount;
    const res = await call('PATCH', `${envPath}/variables`, [
      { name: 'OK_NAME', value: 'fine' },
      { name: '1BAD', value: 'x' },
      { name: 'ADOBE_SOMETHING', value: 'x' },
      { name: 'X', value: 'x' },
      { name: 'SVC', value: 'x', service: 'Author' },
      { name: 'TYPE', value: 'x', type: 'secret' },
      { name: 'LONG_SECRET', value: 'y'.repeat(2049), type: 'secretString' },
    ]);
    expect(res.status).toBe(400);
    expect(res.type).toContain('application/problem+json');
    expect(res.body).toMatchObject({ type: VALIDATION_TYPE, status: 400 });
    const errors = res.body?.errors as string[];
    expect(errors.length).toBe(6);
    expect(errors.join('\n')).toContain('variables[1].name');
    expect(errors.join('\n')).toContain('ADOBE_');
    expect(cm.patchCount).toBe(before);
    expect(cm.valueOf(DEFAULT_PROGRAM_ID, DEFAULT_ENVIRONMENT_ID, 'OK_NAME')).toBeUndefined();
  });

  it('the type of an existing variable cannot change; malformed bodies are 400; other content types 415', async () => {
    const change = await call('PATCH', `${envPath}/variables`, [
      { name: 'SECRET_SMTP_OAUTH_REFRESH_TOKEN', value: 'plain', type: 'string' },
    ]);
    expect(change.status).toBe(400);
    expect((change.body?.errors as string[])[0]).toMatch(/cannot be changed/);
    expect((await call('PATCH', `${envPath}/variables`, '{"name":')).status).toBe(400);
    expect((await call('PATCH', `${envPath}/variables`, { name: 'A_B', value: 'x' })).status).toBe(400);
    expect((await call('PATCH', `${envPath}/variables`, '[]', { 'content-type': 'text/plain' })).status).toBe(415);
  });

  it('secret length limit and variable count limit are options', async () => {
    const strict = await startCloudManagerStandin({
      maxSecretLength: 499,
      maxVariables: 2,
      isValidToken: () => true,
      apiKey: 'k',
      orgId: 'o',
    });
    try {
      const send = async (body: unknown): Promise<number> => {
        const res = await request(`${strict.url}${envPath}/variables`, {
          method: 'PATCH',
          headers: {
            authorization: 'Bearer t',
            'x-api-key': 'k',
            'x-gw-ims-org-id': 'o',
            'content-type': 'application/json',
          },
          body: JSON.stringify(body),
        });
        await res.body.dump();
        return res.statusCode;
      };
      expect(await send([{ name: 'S', value: 'x'.repeat(500), type: 'secretString' }])).toBe(400);
      expect(await send([{ name: 'SS', value: 'x'.repeat(499), type: 'secretString' }])).toBe(204);
      expect(
        await send([
          { name: 'A1', value: 'a' },
          { name: 'A2', value: 'b' },
        ]),
      ).toBe(400);
      expect(await send([{ name: 'A1', value: 'a' }])).toBe(204);
    } finally {
      await strict.close();
    }
  });

  it('setBusy(n): n PATCHes get 412 while the environment reports updating, then success', async () => {
    cm.setBusy(2);
    expect((await call('GET', envPath)).body?.status).toBe('updating');
    const first = await call('PATCH', `${envPath}/variables`, [{ name: 'BUSY_TEST', value: '1' }]);
    expect(first.status).toBe(412);
    expect(first.type).toContain('application/problem+json');
    expect((await call('PATCH', `${envPath}/variables`, [{ name: 'BUSY_TEST', value: '1' }])).status).toBe(412);
    expect((await call('PATCH', `${envPath}/variables`, [{ name: 'BUSY_TEST', value: '1' }])).status).toBe(204);
    expect((await call('GET', envPath)).body?.status).toBe('ready');
  });

  it('a technical account without Deployment Manager gets 403 on PATCH', async () => {
    cm.setDeploymentManager(false);
    try {
      expect((await call('PATCH', `${envPath}/variables`, [{ name: 'X_Y', value: '1' }])).status).toBe(403);
    } finally {
      cm.setDeploymentManager(true);
    }
  });

  it('faults: 429 with Retry-After, reset, and 5xx per route', async () => {
    cm.inject('variables-patch', {
      kind: 'status',
      status: 429,
      headers: { 'retry-after': '2' },
      body: { error_code: '429050', message: 'Too many requests' },
    });
    const limited = await call('PATCH', `${envPath}/variables`, [{ name: 'F_1', value: '1' }]);
    expect(limited.status).toBe(429);
    expect(limited.headers['retry-after']).toBe('2');
    expect(cm.valueOf(DEFAULT_PROGRAM_ID, DEFAULT_ENVIRONMENT_ID, 'F_1')).toBeUndefined();

    cm.inject('variables-get', { kind: 'reset' });
    await expect(call('GET', `${envPath}/variables`)).rejects.toThrow();
    cm.inject('environment-get', {
      kind: 'status',
      status: 502,
      body: '<html>Bad Gateway</html>',
      contentType: 'text/html',
    });
    const gw = await request(`${cm.url}${envPath}`, { headers: headers() });
    expect(gw.statusCode).toBe(502);
    expect(gw.headers['content-type']).toBe('text/html');
    await gw.body.dump();
    expect((await call('GET', envPath)).status).toBe(200);
  });

  it('patchReturns200 answers with the VariableList; updateDurationMs shows updating then ready', async () => {
    const alt = await startCloudManagerStandin({
      patchReturns200: true,
      updateDurationMs: 150,
      isValidToken: () => true,
      apiKey: 'k',
      orgId: 'o',
    });
    try {
      const h = {
        authorization: 'Bearer t',
        'x-api-key': 'k',
        'x-gw-ims-org-id': 'o',
        'content-type': 'application/json',
      };
      const res = await request(`${alt.url}${envPath}/variables`, {
        method: 'PATCH',
        headers: h,
        body: JSON.stringify([{ name: 'NEW_ONE', value: 'v' }]),
      });
      expect(res.statusCode).toBe(200);
      const body = (await res.body.json()) as { _embedded: { variables: Json[] } };
      expect(body._embedded.variables).toEqual([{ name: 'NEW_ONE', type: 'string', value: 'v', status: 'creating' }]);
      const env = await request(`${alt.url}${envPath}`, { headers: h });
      expect(((await env.body.json()) as Json).status).toBe('updating');
      await new Promise((r) => setTimeout(r, 170));
      const later = await request(`${alt.url}${envPath}`, { headers: h });
      expect(((await later.body.json()) as Json).status).toBe('ready');
    } finally {
      await alt.close();
    }
  });
});
