import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { adobeFor, adobeOrgs } from '../../lambdas/config/adobe.ts';
import { adobeSecretId, parseConfig } from '../../lambdas/config/load.ts';
import type { Config } from '../../lambdas/config/schema.ts';
import { wire } from '../../lambdas/pipeline/wiring.ts';
import type { Log } from '../../lambdas/report/logger.ts';
import type { MetricSink } from '../../lambdas/report/metrics.ts';
import { FileStore } from '../../lambdas/store/file-store.ts';
import { FileStateStore } from '../../lambdas/store/file-state-store.ts';
import { startCloudManagerStandin, type CloudManagerStandin } from '../../standins/cloudmanager.ts';
import { startImsStandin, type ImsStandin } from '../../standins/ims.ts';

const quiet: Log = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
const metrics: MetricSink = { count: () => undefined, gauge: () => undefined, flush: () => undefined };

interface Org {
  name: string;
  orgId: string;
  clientId: string;
  clientSecret: string;
  ims: ImsStandin;
  cm: CloudManagerStandin;
}

const running: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  while (running.length) await running.pop()!.close();
});

/** One Adobe organization: its own IMS and Cloud Manager, which accept only its client id and organization id. */
async function org(name: string, orgId: string, environments: Array<[string, string]>): Promise<Org> {
  const clientId = `client-${name}`;
  const clientSecret = `p8e-${name}-${randomUUID()}`;
  const ims = await startImsStandin({ clientId, clientSecret, orgId });
  const cm = await startCloudManagerStandin({
    apiKey: clientId,
    orgId,
    isValidToken: (t) => ims.isValidToken(t),
    environments: environments.map(([programId, environmentId]) => ({ programId, environmentId })),
  });
  running.push(ims, cm);
  return { name, orgId, clientId, clientSecret, ims, cm };
}

const credential = (id: string, targets: Array<{ programId: string; environmentId: string; adobe?: string }>) => ({
  id,
  tenant: 'contoso.onmicrosoft.com',
  clientId: 'entra-app',
  scopes: ['https://outlook.office.com/SMTP.Send', 'offline_access'],
  mailbox: `${id}@contoso.com`,
  validation: { smtp: { host: 'smtp.office365.com' } },
  targets,
});

async function world() {
  const a = await org('agency-a', 'AAAA1111@AdobeOrg', [
    ['100', '1'],
    ['100', '2'],
    ['101', '3'],
  ]);
  const b = await org('agency-b', 'BBBB2222@AdobeOrg', [['200', '9']]);
  const config = parseConfig({
    secretPrefix: 'tr',
    http: { timeoutMs: 2_000, retries: 1 },
    adobe: [a, b].map((o) => ({
      name: o.name,
      imsOrgId: o.orgId,
      clientId: o.clientId,
      imsEndpoint: o.ims.url,
      cloudManagerEndpoint: o.cm.url,
    })),
    credentials: [
      // No "adobe" on a target: the first organization of the list.
      credential('mail-1', [
        { programId: '100', environmentId: '1' },
        { programId: '100', environmentId: '2', adobe: 'agency-a' },
        { programId: '200', environmentId: '9', adobe: 'agency-b' },
      ]),
      credential('mail-2', [{ programId: '101', environmentId: '3', adobe: 'agency-a' }]),
    ],
  });
  const store = new FileStore(mkdtempSync(join(tmpdir(), 'tr-orgs-')));
  for (const o of [a, b]) {
    await store.putValue(
      adobeSecretId(
        config,
        adobeOrgs(config).find((x) => x.name === o.name),
      ),
      o.clientSecret,
      { clientRequestToken: randomUUID(), stages: ['AWSCURRENT'] },
    );
  }
  return { a, b, config, store };
}

const findCred = (config: Config, id: string) => config.credentials.find((c) => c.id === id)!;

describe('two Adobe organizations in one run', () => {
  it('each target is pushed through its own organization, with one IMS token per organization for the whole run', async () => {
    const { a, b, config, store } = await world();
    const deps = wire({
      config,
      store,
      state: new FileStateStore(mkdtempSync(join(tmpdir(), 'tr-multi-org-state-'))),
      log: quiet,
      metrics,
    });
    const values = { refreshToken: `rt-${randomUUID()}` };
    for (const id of ['mail-1', 'mail-2']) {
      deps.prefetchPush?.(findCred(config, id));
      await Promise.all(deps.targets(findCred(config, id)).map((t) => t.push(values)));
    }
    expect(a.ims.tokensIssued).toBe(1);
    expect(b.ims.tokensIssued).toBe(1);
    expect(a.cm.patchCount).toBe(3);
    expect(b.cm.patchCount).toBe(1);
    for (const [cm, p, e] of [
      [a.cm, '100', '1'],
      [a.cm, '100', '2'],
      [a.cm, '101', '3'],
      [b.cm, '200', '9'],
    ] as const) {
      expect(cm.valueOf(p, e, 'SECRET_SMTP_OAUTH_REFRESH_TOKEN')).toBe(values.refreshToken);
    }
  });

  it('a credential whose targets are all in one organization never asks the other one for a token', async () => {
    const { a, b, config, store } = await world();
    const deps = wire({
      config,
      store,
      state: new FileStateStore(mkdtempSync(join(tmpdir(), 'tr-multi-org-state-'))),
      log: quiet,
      metrics,
    });
    deps.prefetchPush?.(findCred(config, 'mail-2'));
    await Promise.all(deps.targets(findCred(config, 'mail-2')).map((t) => t.push({ refreshToken: 'rt-x' })));
    expect(a.ims.tokensIssued).toBe(1);
    expect(b.ims.tokensIssued).toBe(0);
    expect(b.ims.requests).toHaveLength(0);
  });

  it("each named organization has its own client secret, the single unnamed one keeps today's name", () => {
    const multi = parseConfig({
      secretPrefix: 'tr',
      adobe: [
        { name: 'a', imsOrgId: 'A@AdobeOrg', clientId: 'ca' },
        { name: 'b', imsOrgId: 'B@AdobeOrg', clientId: 'cb', clientSecret: { secretId: 'shared/adobe-b' } },
      ],
      credentials: [
        credential('m', [
          { programId: '1', environmentId: '1', adobe: 'b' },
          { programId: '2', environmentId: '2' },
        ]),
      ],
    });
    const [oa, ob] = adobeOrgs(multi);
    expect([adobeSecretId(multi, oa), adobeSecretId(multi, ob), adobeSecretId(multi)]).toEqual([
      'tr/adobe/a/client-secret',
      'shared/adobe-b',
      'tr/adobe/a/client-secret',
    ]);
    expect(multi.credentials[0]!.targets.map((t) => adobeFor(multi, t).name)).toEqual(['b', 'a']);
    const single = parseConfig({
      secretPrefix: 'tr',
      adobe: { imsOrgId: 'A@AdobeOrg', clientId: 'ca' },
      credentials: [credential('m', [{ programId: '1', environmentId: '1' }])],
    });
    expect(adobeSecretId(single)).toBe('tr/adobe/client-secret');
    expect(adobeFor(single, single.credentials[0]!.targets[0]!).imsOrgId).toBe('A@AdobeOrg');
  });
});

describe('the "adobe" list in the configuration', () => {
  const doc = (adobe: unknown, targets: Array<{ programId: string; environmentId: string; adobe?: string }>) => ({
    secretPrefix: 'tr',
    adobe,
    credentials: [credential('m', targets)],
  });
  const problems = (d: unknown) => {
    try {
      parseConfig(d);
    } catch (e) {
      return (e as Error).message;
    }
    return 'valid';
  };
  it('names each wrong field by its path', () => {
    expect(
      problems(
        doc(
          [{ name: 'a', imsOrgId: 'A@AdobeOrg', clientId: 'c' }],
          [{ programId: '1', environmentId: '1', adobe: 'nope' }],
        ),
      ),
    ).toContain('credentials[0].targets[0].adobe: no Adobe credential named "nope" (known: a)');
    expect(
      problems(
        doc(
          [
            { name: 'a', imsOrgId: 'A@AdobeOrg', clientId: 'c' },
            { name: 'a', imsOrgId: 'B@AdobeOrg', clientId: 'd' },
          ],
          [],
        ),
      ),
    ).toContain('adobe[1].name: duplicate Adobe credential name "a"');
    expect(problems(doc([{ imsOrgId: 'A@AdobeOrg', clientId: 'c' }], []))).toContain('adobe[0].name');
    expect(
      problems(doc({ imsOrgId: 'A@AdobeOrg', clientId: 'c' }, [{ programId: '1', environmentId: '1', adobe: 'x' }])),
    ).toContain('credentials[0].targets[0].adobe');
    expect(problems(doc({ imsOrgId: 'A@AdobeOrg', clientId: 'c' }, [{ programId: '1', environmentId: '1' }]))).toBe(
      'valid',
    );
  });
});
