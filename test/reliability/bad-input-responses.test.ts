import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalEnv, type LocalEnv } from '../../demo/local-env.ts';
import { parseConfig, secretIds } from '../../lambdas/config/load.ts';
import type { Credential } from '../../lambdas/config/schema.ts';
import { isRefresherError } from '../../lambdas/core/errors.ts';
import { rotateCredential } from '../../lambdas/pipeline/rotate.ts';
import { CloudManagerClient } from '../../lambdas/push/cloud-manager.ts';
import { ImsTokenSource } from '../../lambdas/push/ims.ts';
import { OAuth2Provider } from '../../lambdas/refresh/oauth2-provider.ts';
import { SesAlerter } from '../../lambdas/report/ses-alerter.ts';
import { SecretsManagerStore } from '../../lambdas/store/secrets-manager-store.ts';
import { MemoryMetrics } from '../../lambdas/report/metrics.ts';
import { FileStore } from '../../lambdas/store/file-store.ts';
import { endlessBody, startScriptedHttp, type ScriptedHttp } from './support/peers.ts';
import { versionFingerprint } from './support/invariants.ts';
import { writeFigures } from './support/results.ts';

/**
 * Bad input, property-based: whatever a token endpoint or Cloud Manager answers (any status, any content type, any
 * body), the clients end in a token/list or in a RefresherError with a code, never a TypeError; a rotation against such
 * a token endpoint writes nothing to the token's versions. And every response is size-limited and every connection has
 * a deadline.
 */
const RUNS = Number(process.env.RELIABILITY_PROPERTY_RUNS ?? 100);
const figures: Record<string, { runs: number; accepted: number; refused: Record<string, number>; crashes: number }> =
  {};
const limits: Array<{ client: string; case: string; code: string; ms: number; attempts: number }> = [];
let server: ScriptedHttp;

beforeAll(async () => {
  server = await startScriptedHttp();
});
afterAll(async () => {
  await server?.close();
  writeFigures('bad-input-responses', { runsPerProperty: RUNS, properties: figures, limits });
});

function tally(name: string, outcome: string): void {
  const f = (figures[name] ??= { runs: 0, accepted: 0, refused: {}, crashes: 0 });
  f.runs++;
  if (outcome === 'accepted') f.accepted++;
  else if (outcome.startsWith('crash')) f.crashes++;
  else f.refused[outcome] = (f.refused[outcome] ?? 0) + 1;
}

async function outcomeOf(fn: () => Promise<unknown>): Promise<{ outcome: string; message: string; fix: string }> {
  try {
    await fn();
    return { outcome: 'accepted', message: '', fix: '' };
  } catch (e) {
    // A code must be a name people and alerts can use: a string of word characters, not whatever the remote sent.
    if (isRefresherError(e))
      return {
        outcome:
          typeof e.code === 'string' && /^[\w.:-]{1,80}$/.test(e.code)
            ? e.code
            : `crash: code ${JSON.stringify(e.code)}`,
        message: e.message,
        fix: e.fix,
      };
    return { outcome: `crash: ${(e as Error)?.name}: ${(e as Error)?.message}`, message: '', fix: '' };
  }
}

interface Answer {
  status: number;
  contentType: string | undefined;
  body: string;
  retryAfter: string | undefined;
}

const contentTypes = fc.constantFrom(
  undefined,
  'application/json',
  'application/json; charset=utf-8',
  'text/html',
  'text/plain',
  'application/problem+json',
  'application/octet-stream',
);
const statuses = fc.oneof(
  fc.constantFrom(200, 201, 204, 400, 401, 403, 404, 409, 412, 429, 500, 502, 503),
  fc.integer({ min: 200, max: 599 }),
);
const jsonish = (fields: fc.Arbitrary<Record<string, unknown>>) =>
  fc.oneof(
    fc.string(),
    fc.jsonValue().map((v) => JSON.stringify(v)),
    fields.map((v) => JSON.stringify(v)),
    fields.map((v) => JSON.stringify(v).slice(0, Math.max(1, JSON.stringify(v).length - 3))),
    fc.constant('<!DOCTYPE html><html><body>Sign in</body></html>'),
  );
const answer = (fields: fc.Arbitrary<Record<string, unknown>>): fc.Arbitrary<Answer> =>
  fc.record({
    status: statuses,
    contentType: contentTypes,
    body: jsonish(fields),
    retryAfter: fc.option(
      fc.oneof(
        fc.nat({ max: 5 }).map(String),
        fc.string(),
        fc.date().map((d) => (Number.isNaN(d.getTime()) ? 'x' : d.toUTCString())),
      ),
      { nil: undefined },
    ),
  });

function serve(a: Answer): void {
  server.respond = (_req, res) => {
    const headers: Record<string, string> = {};
    if (a.contentType) headers['content-type'] = a.contentType;
    if (a.retryAfter !== undefined) headers['retry-after'] = a.retryAfter.replace(/[^\x20-\x7e]/g, '');
    res.writeHead(a.status, headers);
    res.end(a.status === 204 || a.status === 304 ? undefined : a.body);
  };
}

const tokenFields = fc.record(
  {
    access_token: fc.oneof(fc.string(), fc.integer(), fc.constant(null)),
    refresh_token: fc.oneof(fc.string(), fc.integer(), fc.constant(null)),
    expires_in: fc.oneof(fc.integer(), fc.string(), fc.constant(null)),
    token_type: fc.oneof(fc.constant('Bearer'), fc.anything()),
    error: fc.oneof(
      fc.constantFrom('invalid_grant', 'invalid_client', 'temporarily_unavailable', 'interaction_required'),
      fc.anything(),
    ),
    error_codes: fc.oneof(fc.array(fc.integer()), fc.anything()),
    error_description: fc.oneof(fc.string(), fc.anything()),
    suberror: fc.oneof(fc.constantFrom('basic_action', 'bad_token'), fc.anything()),
  },
  { requiredKeys: [] },
);

/** A credential of each provider kind whose token endpoint is the scripted server. */
function credential(tokenUrl: string, provider: 'microsoft' | 'google' | 'oauth2' = 'oauth2'): Credential {
  return parseConfig({
    credentials: [
      {
        id: 'prop',
        provider,
        tenant: 'contoso.onmicrosoft.com',
        endpoints: { token: tokenUrl },
        clientId: 'client',
        scopes: ['https://outlook.office.com/SMTP.Send', 'offline_access'],
        mailbox: 'mailer@contoso.com',
        validation: { smtp: { host: 'smtp.office365.com' } },
      },
    ],
  }).credentials[0]!;
}

describe('bad input: token endpoint responses', () => {
  it.each(['microsoft', 'google', 'oauth2'] as const)(
    'OAuth2Provider (%s): tokens, or a RefresherError with a named code, for any answer',
    async (kind) => {
      const provider = new OAuth2Provider(credential(`${server.url}/token`, kind), {
        clientSecret: 'client-secret-value',
        clientSecretRef: 'prop/client-secret',
        timeoutMs: 2_000,
        retries: 1,
        baseDelayMs: 1,
        maxRetryAfterMs: 10,
      });
      await fc.assert(
        fc.asyncProperty(answer(tokenFields), async (a) => {
          serve(a);
          const r = await outcomeOf(() => provider.redeemRefreshToken('old-refresh-token-value'));
          tally(`token endpoint (${kind}): any answer`, r.outcome);
          expect(r.outcome.startsWith('crash')).toBe(false);
          if (r.outcome === 'accepted') expect(a.status).toBe(200);
        }),
        { numRuns: RUNS },
      );
    },
  );

  describe('a rotation against such an answer writes nothing to the token versions', () => {
    let env: LocalEnv;
    let dir: string;
    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'tr-prop-'));
      env = await startLocalEnv({
        store: new FileStore(dir),
        configure: (doc) => void (doc.http = { timeoutMs: 2_000, retries: 1, maxConcurrency: 2 }),
      });
      await env.seed();
    });
    afterAll(async () => {
      await env?.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it('store versions unchanged, nothing pushed, the failure classified', async () => {
      const base = env.config;
      const config = structuredClone(base);
      config.credentials[0]!.endpoints = { token: `${server.url}/token` };
      const c = config.credentials[0]!;
      const ids = secretIds(config, c);
      // A 200 carrying a refresh token is an answer the pipeline must store (as pending): it is not bad input.
      const bad = answer(tokenFields).filter((a) => {
        if (a.status !== 200) return true;
        try {
          const v = JSON.parse(a.body) as { refresh_token?: unknown };
          return !(typeof v?.refresh_token === 'string' && v.refresh_token.length > 0);
        } catch {
          return true;
        }
      });
      let n = 0;
      await fc.assert(
        fc.asyncProperty(bad, async (a) => {
          serve(a);
          const before = versionFingerprint(await env.store.listVersions(ids.token));
          const patches = env.standins.cloudManager.patchCount;
          // A fresh run id and a clock past the previous lease each time.
          const at = new Date(Date.now() + ++n * 10 * 60_000);
          let crash = '';
          const s = await rotateCredential(
            env.deps({ config, metrics: new MemoryMetrics(), baseDelayMs: 1, maxRetryAfterMs: 10, now: () => at }),
            c,
            { force: true },
          ).catch((e: unknown) => {
            crash = `crash: ${(e as Error)?.name}`;
            return undefined;
          });
          const code = s?.failure?.code;
          tally(
            'pipeline: any bad token answer',
            crash || (typeof code === 'string' ? code : `crash: code ${JSON.stringify(code)}`),
          );
          expect(crash).toBe('');
          expect(s?.failure?.class).toBeTruthy();
          expect(typeof code === 'string' && /^[\w.:-]{1,80}$/.test(code)).toBe(true);
          expect(versionFingerprint(await env.store.listVersions(ids.token))).toBe(before);
          expect(env.standins.cloudManager.patchCount).toBe(patches);
        }),
        { numRuns: Math.min(RUNS, 40) },
      );
    });
  });
});

const SENT = 'rt-the-value-sent-to-cloud-manager-0123456789';
const cmFields = fc.record(
  {
    type: fc.oneof(fc.constant('http://ns.adobe.com/adobecloud/validation-exception'), fc.anything()),
    title: fc.oneof(fc.string(), fc.constant(`invalid ${SENT}`)),
    detail: fc.oneof(fc.string(), fc.constant(`value ${SENT} rejected`), fc.anything()),
    errors: fc.oneof(
      fc.array(
        fc.oneof(
          fc.string(),
          fc.constant(`variables[0].value: '${SENT}'`),
          fc.record({ field: fc.string(), message: fc.oneof(fc.string(), fc.constant(SENT)) }),
        ),
      ),
      fc.anything(),
    ),
    error_code: fc.oneof(fc.constantFrom('401013', '403000'), fc.anything()),
    message: fc.oneof(fc.string(), fc.constant(`bad ${SENT}`), fc.anything()),
    id: fc.oneof(fc.string(), fc.integer(), fc.anything()),
    status: fc.oneof(fc.string(), fc.anything()),
    _embedded: fc.oneof(
      fc.record({
        variables: fc.oneof(
          fc.array(
            fc.record({ name: fc.oneof(fc.string(), fc.anything()), type: fc.anything(), value: fc.constant(SENT) }),
          ),
          fc.anything(),
        ),
      }),
      fc.anything(),
    ),
  },
  { requiredKeys: [] },
);

describe('bad input: Cloud Manager responses', () => {
  it('CloudManagerClient: a result, or a RefresherError with a code that never quotes the value sent', async () => {
    const client = new CloudManagerClient({
      endpoint: server.url,
      apiKey: 'api-key',
      orgId: 'ORG@AdobeOrg',
      token: async () => 'ims-access-token-value-123456',
      invalidateToken: () => undefined,
      timeoutMs: 2_000,
      retries: 1,
      baseDelayMs: 1,
      maxRetryAfterMs: 10,
    });
    await fc.assert(
      fc.asyncProperty(
        answer(cmFields),
        fc.constantFrom('getEnvironment', 'listVariables', 'patchVariables'),
        async (a, op) => {
          serve(a);
          const r = await outcomeOf(() =>
            op === 'getEnvironment'
              ? client.getEnvironment('1', '2')
              : op === 'listVariables'
                ? client.listVariables('1', '2')
                : client.patchVariables('1', '2', [
                    { name: 'SECRET_SMTP_OAUTH_REFRESH_TOKEN', value: SENT, type: 'secretString' },
                  ]),
          );
          tally(`Cloud Manager: any answer to ${op}`, r.outcome);
          expect(r.outcome.startsWith('crash')).toBe(false);
          expect(r.message).not.toContain(SENT);
          expect(r.fix).not.toContain(SENT);
        },
      ),
      { numRuns: RUNS },
    );
  });
});

describe('every response is size-limited, every connection has a deadline', () => {
  // Each case has its own server, so the cases (mostly waiting for deadlines) run concurrently.
  // Microsoft's token endpoint: a refresh POST may be repeated there, so the per-attempt deadline applies.
  const provider = (url: string) =>
    new OAuth2Provider(credential(`${url}/token`, 'microsoft'), {
      clientSecret: 'client-secret-value',
      clientSecretRef: 'prop/client-secret',
      timeoutMs: 250,
      retries: 1,
      baseDelayMs: 1,
    });
  // A provider that revokes the grant on reuse: a sent refresh request is awaited up to the caller's deadline, once.
  const rotating = (url: string, deadlineMs: number) =>
    new OAuth2Provider(credential(`${url}/token`, 'oauth2'), {
      clientSecret: 'client-secret-value',
      clientSecretRef: 'prop/client-secret',
      timeoutMs: 250,
      retries: 1,
      baseDelayMs: 1,
      deadlineAt: Date.now() + deadlineMs,
    });
  const ims = (url: string) =>
    new ImsTokenSource({
      endpoint: url,
      clientId: 'c',
      clientSecret: async () => 'ims-client-secret',
      scopes: ['openid'],
      timeoutMs: 250,
      retries: 1,
      baseDelayMs: 1,
    });
  const cm = (url: string) =>
    new CloudManagerClient({
      endpoint: url,
      apiKey: 'k',
      orgId: 'O@AdobeOrg',
      token: async () => 'ims-token-123456',
      timeoutMs: 250,
      retries: 1,
      baseDelayMs: 1,
    });
  const clients: Array<[string, (url: string) => Promise<unknown>]> = [
    ['token endpoint (OAuth2Provider, 1 MiB)', (url) => provider(url).redeemRefreshToken('rt-value-123456')],
    ['Adobe IMS (ImsTokenSource, 64 KiB)', (url) => ims(url).token()],
    ['Cloud Manager (CloudManagerClient, 1 MiB)', (url) => cm(url).listVariables('1', '2')],
  ];

  async function measure(srv: ScriptedHttp, client: string, name: string, fn: () => Promise<unknown>) {
    const requests = srv.requests;
    const t0 = Date.now();
    const r = await outcomeOf(fn);
    const ms = Date.now() - t0;
    limits.push({ client, case: name, code: r.outcome, ms, attempts: srv.requests - requests });
    return { ...r, ms, attempts: srv.requests - requests };
  }

  async function withServer<T>(respond: ScriptedHttp['respond'], fn: (srv: ScriptedHttp) => Promise<T>): Promise<T> {
    const srv = await startScriptedHttp();
    srv.respond = respond;
    try {
      return await fn(srv);
    } finally {
      await srv.close();
    }
  }

  describe.concurrent('HTTP clients', () => {
    it.each(clients)('%s: an endless body is cut at the limit, not retried, and the connection closed', (name, fn) =>
      withServer(endlessBody(Buffer.alloc(64 * 1024, 0x20), 1), async (srv) => {
        const r = await measure(srv, name, 'endless body', () => fn(srv.url));
        expect(r.outcome).toBe('RESPONSE_TOO_LARGE');
        expect(r.attempts).toBe(1);
        await new Promise((res) => setTimeout(res, 50));
        expect(srv.abortedByClient).toBeGreaterThan(0);
      }),
    );

    it.each(clients)('%s: no answer at all ends at the deadline (250 ms per attempt, 2 attempts)', (name, fn) =>
      withServer(
        () => undefined,
        async (srv) => {
          const r = await measure(srv, name, 'no answer', () => fn(srv.url));
          expect(r.outcome).toBe('TIMEOUT');
          // Two attempts of 250 ms; the margin absorbs a busy machine, not a missing deadline (that would take seconds).
          expect(r.ms).toBeLessThan(2 * 250 + 1_500);
        },
      ),
    );

    it.each([
      ['no answer', () => undefined],
      ['trickling body', endlessBody(Buffer.from(' '), 100)],
    ] as Array<[string, ScriptedHttp['respond']]>)(
      'token endpoint of a provider that revokes on reuse (oauth2): %s ends at the invocation deadline, sent once',
      (name, respond) =>
        withServer(respond, async (srv) => {
          const r = await measure(srv, 'token endpoint, rotating provider (deadline 1 s)', name, () =>
            rotating(srv.url, 1_000).redeemRefreshToken('rt-value-123456'),
          );
          expect(r.outcome).toBe('REFRESH_OUTCOME_UNKNOWN');
          expect(r.attempts).toBe(1);
          // Not at the 250 ms per-attempt deadline: at the caller's deadline.
          expect(r.ms).toBeGreaterThanOrEqual(600);
          expect(r.ms).toBeLessThan(1_000 + 1_500);
        }),
    );

    it.each(clients)('%s: a body trickling one byte every 100 ms ends at the deadline', (name, fn) =>
      withServer(endlessBody(Buffer.from(' '), 100), async (srv) => {
        const r = await measure(srv, name, 'trickling body', () => fn(srv.url));
        expect(r.outcome).toBe('TIMEOUT');
        expect(r.ms).toBeLessThan(2 * 250 + 1_500);
      }),
    );
  });

  describe('the AWS SDK clients as the function builds them (Secrets Manager, SES) have deadlines too', () => {
    const saved = { ...process.env };
    beforeAll(() => {
      // Static credentials and an endpoint on this machine: the SDK must not look anywhere else.
      Object.assign(process.env, {
        AWS_ENDPOINT_URL: server.url,
        AWS_ACCESS_KEY_ID: 'testing',
        AWS_SECRET_ACCESS_KEY: 'testing',
        AWS_REGION: 'eu-west-1',
      });
    });
    afterAll(() => {
      for (const k of ['AWS_ENDPOINT_URL', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_REGION']) {
        if (saved[k] === undefined) delete process.env[k];
        else process.env[k] = saved[k];
      }
    });

    it('SecretsManagerStore: no answer ends in a classified transient error (300 ms per attempt, 4 attempts)', async () => {
      server.respond = () => undefined;
      const store = new SecretsManagerStore({ timeoutMs: 300 });
      const r = await measure(server, 'Secrets Manager (SecretsManagerStore)', 'no answer', () =>
        store.getValue('x/refresh-token', 'AWSCURRENT'),
      );
      expect(r.outcome).toMatch(/^SECRETS_/);
      expect(r.ms).toBeLessThan(4 * 300 + 3_000);
    });

    it('SesAlerter: no answer ends in a classified error (300 ms per attempt, 3 attempts)', async () => {
      server.respond = () => undefined;
      const alerter = new SesAlerter({ from: 'a@example.com', to: ['b@example.com'], timeoutMs: 300 });
      const r = await measure(server, 'SES (SesAlerter)', 'no answer', () =>
        alerter.send({ credentialId: 'x', kind: 'failure', subject: 's', text: 't' }),
      );
      expect(r.outcome).toMatch(/^SES_/);
      expect(r.ms).toBeLessThan(3 * 300 + 3_000);
    });
  });
});
