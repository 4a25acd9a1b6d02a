import { inspect } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import {
  CloudManagerTarget,
  DEFAULT_MAX_SECRET_LENGTH,
  adobeClientSecretId,
  connectCloudManager,
  targetsFor,
  type VariablePatcher,
} from '../../lambdas/push/cloud-manager-target.ts';
import type { CmVariableUpdate } from '../../lambdas/push/cloud-manager.ts';
import { parseConfig } from '../../lambdas/config/load.ts';
import { targetSchema, type Config, type ConfigInput } from '../../lambdas/config/schema.ts';
import { RefresherError } from '../../lambdas/core/errors.ts';
import { startServer, type Reply, type TestServer } from './server.ts';

const ADOBE_SECRET = 'p8e-ADOBE-CLIENT-SECRET-sentinel-4444';
const IMS_TOKEN = 'eyJ-IMS-TOKEN-sentinel-5555';
const REFRESH = `0.AUEA-${'r'.repeat(1200)}-sentinel-6666`; // Microsoft refresh tokens are over 1,000 characters
const MAIL_SECRET = 'MAIL-CLIENT-SECRET-sentinel-7777';
const SECRETS = [ADOBE_SECRET, IMS_TOKEN, REFRESH, MAIL_SECRET];

let server: TestServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

/** One server playing both IMS and Cloud Manager, so "zero requests" covers the token request too. */
async function adobe(
  cm: (path: string, i: number) => Reply | Promise<Reply> = () => ({ status: 204 }),
  imsDelayMs = 0,
): Promise<TestServer> {
  let cmCount = 0;
  server = await startServer(async (req) => {
    if (req.path === '/ims/token/v3') {
      await new Promise((r) => setTimeout(r, imsDelayMs));
      return { status: 200, body: { access_token: IMS_TOKEN, token_type: 'bearer', expires_in: 86399 } };
    }
    return cm(req.path, cmCount++);
  });
  return server;
}

function config(
  url: string,
  targets: ConfigInput['credentials'][number]['targets'],
  extra: Partial<ConfigInput> = {},
): Config {
  return parseConfig({
    secretPrefix: 'tr',
    adobe: { imsOrgId: 'ABC123@AdobeOrg', clientId: 'adobe-client-id', imsEndpoint: url, cloudManagerEndpoint: url },
    http: { timeoutMs: 1_000, retries: 2 },
    credentials: [
      {
        id: 'mail',
        tenant: 'contoso.onmicrosoft.com',
        clientId: 'entra-app',
        scopes: ['https://outlook.office.com/SMTP.Send', 'offline_access'],
        mailbox: 'noreply@contoso.com',
        validation: { smtp: { host: 'smtp.office365.com' } },
        targets,
      },
    ],
    ...extra,
  });
}

function secretReader() {
  const reads: string[] = [];
  return {
    reads,
    readSecret: async (id: string) => {
      reads.push(id);
      return ADOBE_SECRET;
    },
  };
}

async function failure(p: Promise<unknown>): Promise<RefresherError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(RefresherError);
  const err = e as RefresherError;
  for (const text of [err.message, err.fix, JSON.stringify(err), inspect(err, { depth: 5 }), String(err.stack)]) {
    for (const s of SECRETS) expect(text).not.toContain(s);
  }
  return err;
}

function recorder(): VariablePatcher & {
  calls: Array<{ programId: string; environmentId: string; vars: readonly CmVariableUpdate[] }>;
} {
  const calls: Array<{ programId: string; environmentId: string; vars: readonly CmVariableUpdate[] }> = [];
  return {
    calls,
    patchVariables: async (programId, environmentId, vars) => {
      calls.push({ programId, environmentId, vars });
    },
  };
}

describe('CloudManagerTarget', () => {
  it('has a label-safe key and a readable label', () => {
    const a = new CloudManagerTarget(
      targetSchema.parse({ programId: '12345', environmentId: '67890', service: 'author' }),
      recorder(),
    );
    const b = new CloudManagerTarget(targetSchema.parse({ programId: '12345', environmentId: '67890' }), recorder());
    expect(a.key).toBe('cm_12345_67890_author');
    expect(b.key).toBe('cm_12345_67890_all');
    for (const k of [a.key, b.key]) expect(k).toMatch(/^[A-Za-z0-9_]+$/);
    expect(a.label).toBe('program 12345 / environment 67890 (author)');
    expect(b.label).toBe('program 12345 / environment 67890 (all services)');
    expect(a.maxSecretLength).toBe(DEFAULT_MAX_SECRET_LENGTH);
  });

  it('pushes only the refresh token unless pushClientSecret is set', async () => {
    const client = recorder();
    const t = new CloudManagerTarget(targetSchema.parse({ programId: '1', environmentId: '2' }), client);
    await t.push({ refreshToken: REFRESH, clientSecret: MAIL_SECRET });
    expect(client.calls).toEqual([
      {
        programId: '1',
        environmentId: '2',
        vars: [{ name: 'SECRET_SMTP_OAUTH_REFRESH_TOKEN', value: REFRESH, type: 'secretString' }],
      },
    ]);
  });

  it('pushes both variables in one PATCH, with the service, when pushClientSecret is set', async () => {
    const srv = await adobe();
    const cfg = config(srv.url, [
      {
        programId: '1',
        environmentId: '2',
        service: 'publish',
        pushClientSecret: true,
        refreshTokenVariable: 'SMTP_RT',
        clientSecretVariable: 'SMTP_CS',
      },
    ]);
    const [t] = targetsFor(cfg, cfg.credentials[0]!, secretReader());
    await t!.push({ refreshToken: REFRESH, clientSecret: MAIL_SECRET });
    const patches = srv.requests.filter((r) => r.method === 'PATCH');
    expect(patches).toHaveLength(1);
    expect(patches[0]!.path).toBe('/api/program/1/environment/2/variables');
    expect(patches[0]!.headers.authorization).toBe(`Bearer ${IMS_TOKEN}`);
    expect(patches[0]!.headers['x-api-key']).toBe('adobe-client-id');
    expect(patches[0]!.headers['x-gw-ims-org-id']).toBe('ABC123@AdobeOrg');
    expect(JSON.parse(patches[0]!.body)).toEqual([
      { name: 'SMTP_RT', value: REFRESH, type: 'secretString', service: 'publish' },
      { name: 'SMTP_CS', value: MAIL_SECRET, type: 'secretString', service: 'publish' },
    ]);
  });

  it('pushClientSecret without a client secret pushes just the refresh token', async () => {
    const client = recorder();
    const t = new CloudManagerTarget(
      targetSchema.parse({ programId: '1', environmentId: '2', pushClientSecret: true }),
      client,
    );
    await t.push({ refreshToken: REFRESH });
    expect(client.calls[0]!.vars.map((v) => v.name)).toEqual(['SECRET_SMTP_OAUTH_REFRESH_TOKEN']);
  });

  it('a value over the limit fails before any request (not even the IMS token)', async () => {
    const srv = await adobe();
    const cfg = config(srv.url, [{ programId: '1', environmentId: '2' }]);
    const reader = secretReader();
    const [t] = targetsFor(cfg, cfg.credentials[0]!, { ...reader, maxSecretLength: 500 });
    const err = await failure(t!.push({ refreshToken: REFRESH }));
    expect([err.class, err.code]).toEqual(['configuration', 'CM_VALUE_TOO_LONG']);
    expect(err.message).toContain('SECRET_SMTP_OAUTH_REFRESH_TOKEN');
    expect(err.message).toContain(String(REFRESH.length));
    expect(err.message).toContain('500');
    expect(err.message).toContain('maxSecretLength');
    expect(err.fix).toContain('maxSecretLength');
    expect(srv.requests).toHaveLength(0);
    expect(reader.reads).toHaveLength(0);
  });

  it('a client secret over the limit stops the refresh token too: nothing is sent', async () => {
    const client = recorder();
    const t = new CloudManagerTarget(
      targetSchema.parse({ programId: '1', environmentId: '2', pushClientSecret: true }),
      client,
      { maxSecretLength: 2048 },
    );
    const err = await failure(
      t.push({ refreshToken: 'short-refresh-token', clientSecret: `${MAIL_SECRET}${'x'.repeat(3000)}` }),
    );
    expect(err.code).toBe('CM_VALUE_TOO_LONG');
    expect(err.message).toContain('SECRET_SMTP_OAUTH_CLIENT_SECRET');
    expect(client.calls).toHaveLength(0);
  });

  it('the limit is configurable upwards', async () => {
    const client = recorder();
    const long = 'y'.repeat(3000);
    const t = new CloudManagerTarget(targetSchema.parse({ programId: '1', environmentId: '2' }), client, {
      maxSecretLength: 4096,
    });
    await t.push({ refreshToken: long });
    expect(client.calls).toHaveLength(1);
    expect(
      () =>
        new CloudManagerTarget(targetSchema.parse({ programId: '1', environmentId: '2' }), client, {
          maxSecretLength: 0,
        }),
    ).toThrow(RefresherError);
  });

  it('never sends an empty value (Cloud Manager would delete the variable)', async () => {
    const client = recorder();
    const t = new CloudManagerTarget(
      targetSchema.parse({ programId: '1', environmentId: '2', pushClientSecret: true }),
      client,
    );
    await expect(t.push({ refreshToken: '' })).rejects.toMatchObject({ code: 'CM_EMPTY_VALUE' });
    await expect(t.push({ refreshToken: REFRESH, clientSecret: '' })).rejects.toMatchObject({ code: 'CM_EMPTY_VALUE' });
    expect(client.calls).toHaveLength(0);
  });
});

describe('targetsFor', () => {
  it('builds one target per configured environment; concurrent pushes share one IMS token', async () => {
    const srv = await adobe(() => ({ status: 204 }), 50);
    const cfg = config(srv.url, [
      { programId: '1', environmentId: '10' },
      { programId: '1', environmentId: '11', service: 'author' },
      { programId: '1', environmentId: '11', service: 'publish' },
      { programId: '2', environmentId: '20' },
    ]);
    const reader = secretReader();
    const targets = targetsFor(cfg, cfg.credentials[0]!, reader);
    expect(targets.map((t) => t.key)).toEqual(['cm_1_10_all', 'cm_1_11_author', 'cm_1_11_publish', 'cm_2_20_all']);
    await Promise.all(targets.map((t) => t.push({ refreshToken: REFRESH })));
    expect(srv.requests.filter((r) => r.path === '/ims/token/v3')).toHaveLength(1);
    expect(srv.requests.filter((r) => r.method === 'PATCH')).toHaveLength(4);
    expect(reader.reads).toEqual(['tr/adobe/client-secret']);
    const ims = srv.requests.find((r) => r.path === '/ims/token/v3')!;
    expect(new URLSearchParams(ims.body).get('client_secret')).toBe(ADOBE_SECRET);
    expect(new URLSearchParams(ims.body).get('client_id')).toBe('adobe-client-id');
  });

  it('a token Cloud Manager rejects (revoked while cached) is replaced once, then the push succeeds', async () => {
    let issued = 0;
    server = await startServer((req) => {
      if (req.path === '/ims/token/v3')
        return { status: 200, body: { access_token: `${IMS_TOKEN}-${++issued}`, expires_in: 86399 } };
      return req.headers.authorization === `Bearer ${IMS_TOKEN}-1`
        ? { status: 401, body: { error_code: '401013', message: 'Oauth token is not valid' } }
        : { status: 204 };
    });
    const cfg = config(server.url, [
      { programId: '1', environmentId: '10' },
      { programId: '1', environmentId: '11' },
    ]);
    const targets = targetsFor(cfg, cfg.credentials[0]!, secretReader());
    await targets[0]!.push({ refreshToken: REFRESH });
    await targets[1]!.push({ refreshToken: REFRESH });
    expect(issued).toBe(2);
    expect(server.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      'POST /ims/token/v3',
      'PATCH /api/program/1/environment/10/variables',
      'POST /ims/token/v3',
      'PATCH /api/program/1/environment/10/variables',
      'PATCH /api/program/1/environment/11/variables',
    ]);
  });

  it('a shared connection gives one IMS token across credentials, and prefetch overlaps it', async () => {
    const srv = await adobe(() => ({ status: 204 }), 30);
    const cfg = config(srv.url, [{ programId: '1', environmentId: '10' }]);
    const connection = connectCloudManager(cfg, secretReader());
    connection.ims.prefetch();
    const first = targetsFor(cfg, cfg.credentials[0]!, { connection });
    const second = targetsFor(
      cfg,
      { ...cfg.credentials[0]!, id: 'other', targets: [targetSchema.parse({ programId: '3', environmentId: '30' })] },
      { connection },
    );
    await Promise.all([...first, ...second].map((t) => t.push({ refreshToken: REFRESH })));
    expect(srv.requests.filter((r) => r.path === '/ims/token/v3')).toHaveLength(1);
    expect(
      srv.requests
        .filter((r) => r.method === 'PATCH')
        .map((r) => r.path)
        .sort(),
    ).toEqual(['/api/program/1/environment/10/variables', '/api/program/3/environment/30/variables']);
  });

  it('uses the configured Adobe client secret id', () => {
    const cfg = config('https://ims.example', [], {
      adobe: { imsOrgId: 'A@AdobeOrg', clientId: 'c', clientSecret: { secretId: 'custom/adobe' } },
    });
    expect(adobeClientSecretId(cfg)).toBe('custom/adobe');
  });

  it('a credential without targets needs no adobe section', () => {
    const cfg = config('https://x.example', []);
    const noAdobe = { ...cfg, adobe: undefined };
    expect(targetsFor(noAdobe, noAdobe.credentials[0]!, secretReader())).toEqual([]);
  });

  it('end to end, errors carry neither the IMS token, the Adobe secret nor the value', async () => {
    const srv = await adobe((_path, i) =>
      i < 2
        ? { status: 401, body: { error_code: '401013', message: `Oauth token is not valid: Bearer ${IMS_TOKEN}` } }
        : {
            status: 400,
            body: {
              type: 'http://ns.adobe.com/adobecloud/validation-exception',
              errors: [{ field: 'value', message: `bad ${REFRESH} / ${MAIL_SECRET}` }],
            },
          },
    );
    const cfg = config(srv.url, [{ programId: '1', environmentId: '2', pushClientSecret: true }]);
    const [t] = targetsFor(cfg, cfg.credentials[0]!, secretReader());
    const unauthorized = await failure(t!.push({ refreshToken: REFRESH, clientSecret: MAIL_SECRET }));
    expect(unauthorized.code).toBe('CM_UNAUTHORIZED');
    // The 401 was retried once with a fresh IMS token before it was reported.
    expect(srv.requests.filter((r) => r.path === '/ims/token/v3')).toHaveLength(2);
    const invalid = await failure(t!.push({ refreshToken: REFRESH, clientSecret: MAIL_SECRET }));
    expect(invalid.code).toBe('CM_VALIDATION');
    expect(invalid.message).toContain('value: bad [REDACTED] / [REDACTED]');
  });
});
