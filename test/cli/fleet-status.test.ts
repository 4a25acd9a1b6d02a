import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { main } from '../../cli/main.ts';
import { targetKey } from '../../lambdas/push/cloud-manager-target.ts';
import { DynamoStateStore } from '../../lambdas/store/dynamo-state-store.ts';
import { FileStateStore } from '../../lambdas/store/file-state-store.ts';
import type { StateStore } from '../../lambdas/store/state-store.ts';
import { createStateTable, dynamoClient, faultProxy } from '../support/dynamo.ts';
import { Capture } from './support.ts';

const NOW = new Date('2026-12-01T10:00:00.000Z');
const daysAgo = (d: number) => new Date(NOW.getTime() - d * 86_400_000).toISOString();

const cred = (id: string, programs: string[]) => ({
  id,
  tenant: 'contoso.onmicrosoft.com',
  clientId: 'entra-app',
  scopes: ['https://outlook.office.com/SMTP.Send', 'offline_access'],
  mailbox: `${id}@contoso.com`,
  validation: { smtp: { host: 'smtp.office365.com' } },
  targets: programs.map((p) => ({ programId: p, environmentId: '1' })),
});

/**
 * A fleet of four credentials as the table would hold it: one healthy, one whose copy in AEM dies in 5 days, one that
 * needs a sign-in, one with a fresh transient failure; plus one with no run at all.
 */
async function seed(s: StateStore) {
  const record = (
    credentialId: string,
    programId: string,
    issuedDaysAgo: number,
    extra: Record<string, unknown> = {},
  ) =>
    s.putDelivery({
      credentialId,
      targetKey: targetKey({ programId, environmentId: '1' }),
      versionId: `v-${credentialId}`,
      issuedAt: daysAgo(issuedDaysAgo),
      pushedAt: daysAgo(issuedDaysAgo),
      pushReason: 'age',
      phase: 'confirmed',
      confirmedAt: daysAgo(issuedDaysAgo - 0.1),
      ...extra,
    });
  const ok = {
    v: 1 as const,
    lastRun: { runId: 'r', at: daysAgo(0.2), outcome: 'up-to-date' },
    lastValidation: { at: daysAgo(3), ok: true },
  };
  await s.putState('healthy', { ...ok, current: { versionId: 'v-healthy', issuedAt: daysAgo(10) } }, undefined);
  await record('healthy', '100', 10);
  await record('healthy', '101', 10);
  await s.putState('dying', { ...ok, current: { versionId: 'v-new', issuedAt: daysAgo(0.5) } }, undefined);
  await record('dying', '200', 85);
  await record('dying', '201', 2);
  await s.putState(
    'signin',
    {
      ...ok,
      failure: {
        fingerprint: 'x',
        class: 'reauthorize',
        code: 'AADSTS700082',
        stage: 'refresh',
        since: daysAgo(1),
        runs: 2,
      },
    },
    undefined,
  );
  await record('signin', '300', 20);
  await s.putState(
    'blip',
    {
      ...ok,
      failure: {
        fingerprint: 'y',
        class: 'transient',
        code: 'ENTRA_503',
        stage: 'refresh',
        since: daysAgo(0.1),
        runs: 1,
      },
    },
    undefined,
  );
  await record('blip', '400', 5);
}

function world() {
  const dir = mkdtempSync(join(tmpdir(), 'tr-fleet-'));
  const storeDir = join(dir, 'store');
  const configFile = join(dir, 'config.json');
  writeFileSync(
    configFile,
    JSON.stringify({
      secretPrefix: 'tr',
      adobe: { imsOrgId: 'A@AdobeOrg', clientId: 'c' },
      credentials: [
        cred('healthy', ['100', '101']),
        cred('dying', ['200', '201']),
        cred('signin', ['300']),
        cred('blip', ['400']),
        cred('fresh', ['500']),
      ],
    }),
  );
  const run = async (
    args: string[],
    store: string[] = ['--store', 'file', '--store-dir', storeDir],
    env: Record<string, string> = {},
  ) => {
    const stdout = new Capture();
    const stderr = new Capture();
    const code = await main(['--config', configFile, ...store, 'status', ...args], {
      stdout,
      stderr,
      stdin: new PassThrough(),
      env,
      cwd: dir,
      openUrl: async () => false,
      sleep: async () => undefined,
      now: () => NOW,
    });
    return { code, stdout: stdout.text, stderr: stderr.text };
  };
  return { storeDir, run };
}

describe('status --fleet', () => {
  it('one summary line, then a row per credential and target; --check says whether a person must act', async () => {
    const w = world();
    await seed(new FileStateStore(join(w.storeDir, 'state')));
    const r = await w.run(['--fleet']);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toBe('5 credentials, 7 targets: 1 healthy, 3 need action, 1 failing');
    expect(lines[1]).toMatch(
      /^credential +target +copy age +dies +last push +confirmation +next window +next push +status$/,
    );
    const row = (s: string) => lines.find((l) => l.includes(s)) ?? '';
    expect(row('program 200 ')).toMatch(
      /85 d +2026-12-06 \(5 d\) +2026-09-07 age +confirmed 2026-09-07 .* NEEDS ACTION: the copy in AEM dies in 5 days/,
    );
    expect(row('program 100 ')).toMatch(/10 d +2027-02-19 \(80 d\) .* ok$/);
    // The delivery policy's plan: the 85-day copy is pushed now; the healthy one when it reaches pushAfterDays (60).
    expect(row('program 200 ')).toMatch(/any time +2026-12-01 \(age\)/);
    expect(row('program 100 ')).toMatch(/any time +2027-01-20 \(age\)/);
    expect(row('signin')).toContain('NEEDS ACTION: AADSTS700082 at refresh (reauthorize)');
    expect(row('blip')).toContain('failing: ENTRA_503');
    expect(lines.find((l) => l.startsWith('fresh '))).toContain('NEEDS ACTION: no run recorded');
    expect(row('program 500 ')).toContain('failing: never pushed');
    // A sign-in is needed: 3, like rotate.
    expect((await w.run(['--check'])).code).toBe(3);
  });

  it('filters by credential, program and failing, and gives the same rows as JSON', async () => {
    const w = world();
    await seed(new FileStateStore(join(w.storeDir, 'state')));
    const byProgram = JSON.parse((await w.run(['--program', '201', '--json'])).stdout) as {
      summary: Record<string, number>;
      credentials: Array<{
        credential: string;
        health: string;
        targets: Array<{ programId: string; daysLeft: number; health: string }>;
      }>;
    };
    expect(byProgram.summary).toEqual({ credentials: 1, targets: 1, healthy: 1, needsAction: 0, failing: 0 });
    expect(byProgram.credentials[0]).toMatchObject({
      credential: 'dying',
      targets: [{ programId: '201', daysLeft: 88, health: 'healthy' }],
    });

    const failing = JSON.parse((await w.run(['--failing', '--json'])).stdout) as {
      credentials: Array<{ credential: string }>;
    };
    expect(failing.credentials.map((c) => c.credential).sort()).toEqual(['blip', 'dying', 'fresh', 'signin']);

    const one = await w.run(['--fleet', '--credential', 'healthy', '--check']);
    expect(one.code).toBe(0);
    expect(one.stdout.split('\n')[0]).toBe('1 credentials, 2 targets: 1 healthy, 0 need action, 0 failing');
    const dying = await w.run(['--fleet', '--credential', 'dying', '--check']);
    expect(dying.code).toBe(1);
  });

  it('reads the DynamoDB table in one paginated walk, whatever the fleet size', async () => {
    const tableName = await createStateTable();
    const proxy = await faultProxy(undefined, { serialize: true });
    try {
      const s = new DynamoStateStore({ tableName, client: dynamoClient(proxy.url) });
      await seed(s);
      proxy.seen.length = 0;
      const w = world();
      // The SDK reads its endpoint and credentials from the process environment, as on an operator's shell.
      const aws = {
        AWS_ENDPOINT_URL: proxy.url,
        AWS_ACCESS_KEY_ID: 'testing',
        AWS_SECRET_ACCESS_KEY: 'testing',
        AWS_REGION: 'eu-west-1',
      };
      const saved = Object.fromEntries(Object.keys(aws).map((k) => [k, process.env[k]]));
      Object.assign(process.env, aws);
      let r: Awaited<ReturnType<typeof w.run>>;
      try {
        r = await w.run(['--fleet', '--json'], [], { TOKEN_REFRESHER_STATE_TABLE: tableName });
      } finally {
        for (const [k, v] of Object.entries(saved))
          if (v === undefined) delete process.env[k];
          else process.env[k] = v;
      }
      expect(r.stderr).toBe('');
      expect((JSON.parse(r.stdout) as { summary: { credentials: number } }).summary.credentials).toBe(5);
      // One Scan for the whole fleet (DynamoDB pages at 1 MB; this fleet fits one page): no request per credential.
      expect(proxy.seen).toEqual(['Scan']);
    } finally {
      await proxy.close();
    }
  });
});
