import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { secretIds } from '../../lambdas/config/load.ts';
import { parseTokenRecord } from '../../lambdas/store/records.ts';
import { setHandlerEnvironment, startHarness, type Harness } from '../support/harness.ts';
import { findLeaks, secretsOf } from './support/invariants.ts';
import { writeFigures } from './support/results.ts';

/**
 * Security: (1) redaction, proven by running the real Lambda handler (real Powertools logger and EMF metrics, Secrets
 * Manager and SES on moto) against remotes that echo secrets back, then scanning every output for every secret of the
 * run; (2) TLS verification on everywhere outside tests; (3) dependencies pinned by the lock file; (4) the IAM check of
 * the CDK stack exists (test/cdk, owned by the CDK work) and is referenced here, not duplicated.
 */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const report: Record<string, unknown> = {};
afterAll(() => writeFigures('security', report));

describe('redaction: every output of a run with hostile remotes, scanned for every secret', () => {
  let h: Harness;
  let handler: (event: unknown, context: Context) => Promise<unknown>;
  const outputs: Record<string, string> = {};
  const context = (id: string) => ({ awsRequestId: id, getRemainingTimeInMillis: () => 60_000 }) as unknown as Context;
  const storedToken = async () => {
    const c = h.config.credentials[0]!;
    const ids = secretIds(h.config, c);
    const v = await h.store.getValue(ids.token, 'AWSCURRENT');
    return parseTokenRecord(v!.value, ids.token).refreshToken;
  };
  /** Runs the handler; keeps what it returned or threw. */
  const invoke = async (name: string, event: unknown) => {
    try {
      outputs[`${name}: result`] = JSON.stringify(await handler(event, context(name)));
    } catch (e) {
      outputs[`${name}: thrown error`] = `${(e as Error).name}: ${(e as Error).message}\n${(e as Error).stack ?? ''}`;
    }
  };

  beforeAll(async () => {
    h = await startHarness();
    await h.seed();
    await setHandlerEnvironment(h);
    // Metrics on: their EMF lines are outputs too, and are scanned with the logs.
    process.env.POWERTOOLS_METRICS_DISABLED = 'false';
    ({ handler } = await import('../../lambdas/schedule/handler.ts'));
  });

  afterAll(async () => {
    process.env.POWERTOOLS_METRICS_DISABLED = 'true';
    await h?.close();
  });

  it('no secret in any log line, metric, alert, result, error or state', async () => {
    const { entra, ims, cloudManager, smtp } = h.standins;
    // 1. Entra refuses the token and quotes it back in error_description.
    const old = await storedToken();
    entra.inject('token', {
      kind: 'status',
      status: 400,
      body: {
        error: 'invalid_grant',
        error_codes: [70000],
        error_description: `AADSTS70000: grant ${old} is malformed`,
      },
    });
    await invoke('entra-echo', { action: 'rotate', credential: 'aem-mail', force: true });
    // 2. IMS refuses the client credentials and quotes the client secret back; the token itself rotates.
    ims.inject(
      'ims-token',
      {
        kind: 'status',
        status: 401,
        body: { error: 'invalid_client', error_description: `client_secret ${ims.clientSecret} is not valid` },
      },
      10,
    );
    await invoke('ims-echo', { action: 'rotate', credential: 'aem-mail', force: true });
    ims.faults.clear();
    // 3. The test send fails (an alert with a fix), then Cloud Manager forbids the push.
    smtp.injectFault('535 5.7.139');
    await invoke('smtp-fails', { action: 'rotate', credential: 'aem-mail', force: true });
    cloudManager.setDeploymentManager(false);
    await invoke('cm-forbidden', { action: 'rotate', credential: 'aem-mail' });
    cloudManager.setDeploymentManager(true);
    // 4. Malformed invocations, one of them carrying a secret where an id belongs.
    await invoke('event-with-secret', { action: 'rotate', credential: await storedToken() });
    await invoke('event-malformed', { action: 'rotate', force: `yes ${old}` });
    // 5. Everything recovers.
    await invoke('recovery', { action: 'rotate', credential: 'aem-mail', force: true });

    const c = h.config.credentials[0]!;
    const state = await h.store.getValue(secretIds(h.config, c).state, 'AWSCURRENT');
    const mails = await h.alertMails();
    const haystacks = {
      ...outputs,
      'logs and EMF metrics (stdout/stderr)': h.logs.join(''),
      'SES alert mails': JSON.stringify(mails),
      'state secret': state?.value ?? '',
      'test mails': smtp.messages.map((m) => m.raw).join('\n'),
    };
    const secrets = secretsOf(h);
    const leaks = findLeaks(haystacks, secrets);
    report.redaction = {
      outputsScanned: Object.keys(haystacks).length,
      bytesScanned: Object.values(haystacks).reduce((a, t) => a + t.length, 0),
      secretsChecked: secrets.length,
      alertMails: mails.length,
      logBytes: h.logs.join('').length,
      emfLines: h.logs
        .join('')
        .split('\n')
        .filter((l) => l.includes('"_aws"')).length,
      leaks,
    };
    // The run really went through the hostile paths (else the scan proves little).
    expect(mails.length).toBeGreaterThanOrEqual(3);
    expect(outputs['event-with-secret: thrown error']).toMatch(/UNKNOWN_CREDENTIAL|EVENT_INVALID/);
    expect(h.logs.join('')).toContain('"_aws"');
    expect(leaks).toEqual([]);
  });
});

/** Source files of a folder, recursively (skipping dependencies and generated output). */
function sources(dir: string): string[] {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return [];
  }
  return entries.flatMap((name) => {
    const p = join(dir, name);
    if (['node_modules', 'cdk.out', 'coverage'].includes(name)) return [];
    if (statSync(p).isDirectory()) return sources(p);
    return /\.(ts|mts|js|mjs|cjs)$/.test(name) ? [p] : [];
  });
}

describe('TLS verification is on everywhere outside tests', () => {
  const INSECURE: Array<[string, RegExp]> = [
    ['rejectUnauthorized: false', /rejectUnauthorized\s*:\s*(false|0|!1)/],
    ['NODE_TLS_REJECT_UNAUTHORIZED', /NODE_TLS_REJECT_UNAUTHORIZED/],
    ['checkServerIdentity that accepts anything', /checkServerIdentity\s*:\s*\(\s*\)\s*=>/],
    ['ignoreTLS: true', /ignoreTLS\s*:\s*true/],
    ['a TLS version below 1.2', /minVersion\s*:\s*['"]TLSv1(\.1)?['"]/],
  ];
  const dirs = ['lambdas', 'cli', 'lib', 'bin', 'demo', 'scripts', 'standins'];

  it('no source of the function, CLI, CDK app, demo or scripts turns verification off', () => {
    const files = dirs.flatMap((d) => sources(join(ROOT, d)));
    const findings: string[] = [];
    for (const f of files) {
      const text = readFileSync(f, 'utf8');
      for (const [what, re] of INSECURE) if (re.test(text)) findings.push(`${relative(ROOT, f)}: ${what}`);
    }
    report.tls = { filesScanned: files.length, folders: dirs, patterns: INSECURE.map(([what]) => what), findings };
    expect(files.length).toBeGreaterThan(20);
    expect(findings).toEqual([]);
  });

  it('the SMTP validator pins verification on and only adds a CA', () => {
    const text = readFileSync(join(ROOT, 'lambdas/validate/smtp-validator.ts'), 'utf8');
    expect(text).toMatch(/rejectUnauthorized:\s*true/);
    expect(process.env.NODE_TLS_REJECT_UNAUTHORIZED).toBeUndefined();
  });
});

describe('every AWS SDK client of the function has a deadline that ends the request', () => {
  it('a requestTimeout in lambdas/ always comes with throwOnRequestTimeout (else @smithy/node-http-handler 4 only warns)', () => {
    const files = sources(join(ROOT, 'lambdas'));
    // The object the requestTimeout is in (up to its closing brace), wherever the formatter broke its lines.
    const findings = files.flatMap((f) => {
      const lines = readFileSync(f, 'utf8').split('\n');
      return lines
        .map((line, i) => [line, i] as const)
        .filter(
          ([line]) => /requestTimeout\s*:/.test(line) && !line.trim().startsWith('*') && !line.trim().startsWith('//'),
        )
        .filter(([, i]) => {
          const rest = lines.slice(i).join('\n');
          const object = rest.slice(0, rest.indexOf('}') + 1);
          return !/throwOnRequestTimeout\s*:\s*true/.test(object);
        })
        .map(([, i]) => `${relative(ROOT, f)}:${i + 1}`);
    });
    report.sdkDeadlines = { filesScanned: files.length, findings };
    expect(findings).toEqual([]);
  });
});

describe('dependencies are pinned by the lock file', () => {
  it('every dependency has an exact version, and every installed production package an integrity hash', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
      dependencies?: Record<string, string>;
      devDependencies?: Record<string, string>;
    };
    const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as {
      lockfileVersion: number;
      packages: Record<string, { version?: string; integrity?: string; dev?: boolean; link?: boolean }>;
    };
    const ranged = Object.entries({ ...pkg.dependencies, ...pkg.devDependencies }).filter(
      ([, v]) => !/^\d+\.\d+\.\d+(-[\w.]+)?$/.test(v),
    );
    const prod = Object.entries(lock.packages).filter(([k, v]) => k !== '' && !v.dev && !v.link);
    // Packages bundled inside another package (aws-cdk-lib ships its own node_modules) have no registry integrity.
    const unhashed = prod.filter(
      ([k, v]) =>
        !v.integrity && !lock.packages[k.split('/node_modules/').slice(0, -1).join('/node_modules/')]?.integrity,
    );
    const mismatched = Object.entries(pkg.dependencies ?? {}).filter(
      ([name, v]) => lock.packages[`node_modules/${name}`]?.version !== v,
    );
    report.lockfile = {
      lockfileVersion: lock.lockfileVersion,
      productionPackages: prod.length,
      rangedSpecifiers: ranged.map(([k, v]) => `${k}@${v}`),
      unhashed: unhashed.map(([k]) => k),
      mismatched: mismatched.map(([k]) => k),
    };
    expect(lock.lockfileVersion).toBeGreaterThanOrEqual(2);
    expect(ranged).toEqual([]);
    expect(mismatched).toEqual([]);
    expect(unhashed.map(([k]) => k)).toEqual([]);
  });
});

describe('IAM: no secrets or SES action on a wildcard resource', () => {
  it('the CDK test that checks it exists (test/cdk/stack.test.ts, owned by the CDK work) and is part of the suite', () => {
    const stack = readFileSync(join(ROOT, 'test/cdk/stack.test.ts'), 'utf8');
    const support = readFileSync(join(ROOT, 'test/cdk/support.ts'), 'utf8');
    expect(stack).toContain('never grants a secretsmanager or ses action on a wildcard resource');
    expect(stack).toMatch(/expect\(wildcardSecretOrMailGrants\(s\.json\)\)\.toEqual\(\[\]\)/);
    expect(support).toMatch(/export function wildcardSecretOrMailGrants/);
    report.iam = {
      test: 'test/cdk/stack.test.ts: "never grants a secretsmanager or ses action on a wildcard resource"',
      helper: 'test/cdk/support.ts: wildcardSecretOrMailGrants',
    };
  });
});
