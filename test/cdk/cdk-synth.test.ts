/**
 * The real thing: `npx cdk synth` from the repository root, as on a fresh clone, with the real handler bundled by local
 * esbuild, no AWS credentials and every HTTP(S) request sent to a dead proxy. Then the cloud assembly is checked as a
 * reviewer would: compliance report, cfn-lint, the bundle runs on Node 24 with its bundled configuration, and no secret value
 * from the fixtures or the environment appears anywhere in it.
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../lambdas/config/load.ts';
import { filesContaining, FIXTURES, REPO, type CfnTemplate } from './support.ts';

const canaries = Object.entries(
  JSON.parse(readFileSync(path.join(FIXTURES, 'secret-store.json'), 'utf8')) as Record<string, string>,
)
  .filter(([k]) => !k.startsWith('_'))
  .map(([, v]) => v);
const ENV_CANARY = 'env-cdk-leak-canary-4b7e0d21';

function cdkSynth(outdir: string, extraArgs: string[] = []): SpawnSyncReturns<string> & { ms: number } {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^(AWS_|CDK_DEFAULT_)/.test(k)) env[k] = v;
  Object.assign(env, {
    AWS_EC2_METADATA_DISABLED: 'true',
    // Offline: any HTTP(S) the CLI or the app tried would go to a port where nothing listens.
    HTTP_PROXY: 'http://127.0.0.1:9',
    HTTPS_PROXY: 'http://127.0.0.1:9',
    NO_PROXY: '',
    CDK_DISABLE_CLI_TELEMETRY: 'true',
    // Secrets a developer might have in the shell; none may reach the assembly.
    AZURE_CLIENT_SECRET: ENV_CANARY,
    TOKEN_REFRESHER_CLIENT_SECRET: ENV_CANARY,
  });
  const started = Date.now();
  const r = spawnSync('npx', ['cdk', 'synth', '--quiet', '--no-notices', '-o', outdir, ...extraArgs], {
    cwd: REPO,
    env,
    encoding: 'utf8',
    timeout: 180_000,
  });
  return { ...r, ms: Date.now() - started };
}

describe('npx cdk synth with config.example.json', () => {
  let outdir: string;
  let run: ReturnType<typeof cdkSynth>;
  let template: CfnTemplate;
  let assetDir: string;
  let recoveryAssetDir: string;

  beforeAll(() => {
    outdir = mkdtempSync(path.join(tmpdir(), 'tr-cdk-cli-'));
    run = cdkSynth(outdir);
    if (run.status !== 0) throw new Error(`cdk synth failed (${run.status}):\n${run.stdout}\n${run.stderr}`);
    console.log(`npx cdk synth took ${run.ms} ms`);
    template = JSON.parse(readFileSync(path.join(outdir, 'TokenRefresher.template.json'), 'utf8')) as CfnTemplate;
    const assets = readdirSync(outdir).filter((n) => n.startsWith('asset.'));
    // The rotation function's and the recovery endpoint's.
    expect(assets).toHaveLength(2);
    const assetOf = (logicalIdPrefix: string) => {
      const fn = Object.entries(template.Resources).find(
        ([id, r]) => r.Type === 'AWS::Lambda::Function' && id.startsWith(logicalIdPrefix),
      )?.[1];
      const key = String((fn?.Properties?.Code as { S3Key?: string } | undefined)?.S3Key);
      return path.join(outdir, `asset.${key.replace(/\.zip$/, '')}`);
    };
    assetDir = assetOf('TokenRefresherFunction');
    recoveryAssetDir = assetOf('TokenRefresherRecoveryFunction');
    expect(assets.map((a) => path.join(outdir, a)).sort()).toEqual([assetDir, recoveryAssetDir].sort());
  }, 200_000);
  afterAll(() => rmSync(outdir, { recursive: true, force: true }));

  it('succeeds offline and writes one stack', () => {
    expect(run.status).toBe(0);
    expect(Object.values(template.Resources).filter((r) => r.Type === 'AWS::Lambda::Function')).toHaveLength(2);
  });

  it('leaves no finding in the validation report', () => {
    const report = JSON.parse(readFileSync(path.join(outdir, 'validation-report.json'), 'utf8')) as {
      pluginReports: Array<{ violations?: unknown[] }>;
    };
    expect(report.pluginReports.filter((r) => (r.violations ?? []).length > 0)).toEqual([]);
    expect(`${run.stdout}${run.stderr}`).not.toMatch(/AwsSolutions-|Serverless-|\[Warning/);
  });

  it('passes cfn-lint (W3005 ignored)', () => {
    const r = spawnSync('cfn-lint', ['-i', 'W3005', '--', path.join(outdir, 'TokenRefresher.template.json')], {
      encoding: 'utf8',
    });
    expect(`${r.stdout}${r.stderr}`.trim()).toBe('');
    expect(r.status).toBe(0);
  });

  it('bundles the real handler as minified ESM split in chunks (no source map) with the validated configuration', () => {
    expect(readdirSync(assetDir).sort()).toEqual(['chunks', 'config.json', 'index.mjs']);
    // The stages a run may not need are chunks of their own, imported on demand.
    expect(readdirSync(path.join(assetDir, 'chunks')).some((f) => f.startsWith('graph-diagnostic-'))).toBe(true);
    // The alert channels (SES, SNS, webhooks) are one chunk, imported only when alerts are configured.
    expect(readdirSync(path.join(assetDir, 'chunks')).some((f) => f.startsWith('channels-'))).toBe(true);
    const bundled = JSON.parse(readFileSync(path.join(assetDir, 'config.json'), 'utf8')) as unknown;
    expect(bundled).toEqual(
      JSON.parse(JSON.stringify(loadConfig({ TOKEN_REFRESHER_CONFIG_FILE: path.join(REPO, 'config.example.json') }))),
    );
  });

  it('the bundle runs on Node 24: it loads its config.json and refuses an unknown credential before any AWS call', () => {
    const script = `
      const m = await import(${JSON.stringify(path.join(assetDir, 'index.mjs'))});
      try { await m.handler({ action: 'rotate', credential: 'no-such-credential', source: 'schedule' }, {}); console.log('RESULT returned'); }
      catch (e) { console.log('RESULT ' + e.name + ' ' + e.message); }`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      cwd: assetDir,
      encoding: 'utf8',
      timeout: 30_000,
      env: {
        PATH: process.env.PATH,
        TOKEN_REFRESHER_CONFIG_FILE: 'config.json',
        AWS_REGION: 'eu-west-1',
        AWS_ENDPOINT_URL: 'http://127.0.0.1:9',
        AWS_ACCESS_KEY_ID: 'test',
        AWS_SECRET_ACCESS_KEY: 'test',
        POWERTOOLS_METRICS_DISABLED: 'true',
      },
    });
    expect(process.versions.node.split('.')[0]).toBe('24');
    expect(r.stdout).toMatch(/RESULT UNKNOWN_CREDENTIAL .*known: aem-mail/);
  });

  it('the recovery bundle runs on Node 24: it loads its config.json and answers an unknown path 404 with the page headers, before any AWS call', () => {
    expect(readdirSync(recoveryAssetDir)).toEqual(expect.arrayContaining(['config.json', 'index.mjs']));
    const script = `
      const m = await import(${JSON.stringify(path.join(recoveryAssetDir, 'index.mjs'))});
      const r = await m.handler({ version: '2.0', rawPath: '/admin', rawQueryString: '', headers: {}, requestContext: { http: { method: 'GET', path: '/admin' }, domainName: 'x.lambda-url.eu-west-1.on.aws' } }, {});
      console.log('RESULT ' + r.statusCode + ' ' + r.headers['cache-control'] + ' ' + r.headers['referrer-policy']);`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      cwd: recoveryAssetDir,
      encoding: 'utf8',
      timeout: 30_000,
      env: {
        PATH: process.env.PATH,
        TOKEN_REFRESHER_CONFIG_FILE: 'config.json',
        TOKEN_REFRESHER_STATE_TABLE: 'token-refresher-state',
        AWS_REGION: 'eu-west-1',
        AWS_ENDPOINT_URL: 'http://127.0.0.1:9',
        AWS_ACCESS_KEY_ID: 'test',
        AWS_SECRET_ACCESS_KEY: 'test',
        POWERTOOLS_METRICS_DISABLED: 'true',
      },
    });
    expect(r.stdout).toContain('RESULT 404 no-store no-referrer');
  });

  it('contains no secret value: none from the fixtures or the environment anywhere in the assembly, no SecretString in the template', () => {
    expect(canaries.length).toBeGreaterThanOrEqual(3);
    // The search itself works: it finds the canaries where they are.
    expect(filesContaining(FIXTURES, canaries).map((h) => path.basename(h.file))).toContain('secret-store.json');
    expect(filesContaining(outdir, [...canaries, ENV_CANARY])).toEqual([]);
    const text = readFileSync(path.join(outdir, 'TokenRefresher.template.json'), 'utf8');
    expect(text).not.toContain('SecretString');
    expect(text).not.toContain('GenerateSecretString');
  });
});

describe('npx cdk synth -c config=...', () => {
  it('rejects an invalid configuration with every wrong field named, before bundling', () => {
    const outdir = mkdtempSync(path.join(tmpdir(), 'tr-cdk-cli-bad-'));
    try {
      const r = cdkSynth(outdir, ['-c', 'config=test/cdk/fixtures/config-invalid.json']);
      expect(r.status).not.toBe(0);
      const out = `${r.stdout}${r.stderr}`;
      expect(out).toContain('test/cdk/fixtures/config-invalid.json is invalid (2 problems)');
      expect(out).toContain('credentials[0].mailbox');
      expect(out).toContain('credentials[0].tenant');
      expect(existsSync(path.join(outdir, 'TokenRefresher.template.json'))).toBe(false);
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
  }, 120_000);
});
