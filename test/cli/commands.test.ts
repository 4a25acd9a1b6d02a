// osgi property by property, rotate (in-process and --remote), client-secret, usage and exit codes, and real
// subprocess runs of the entry point.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { secretIds } from '../../lambdas/config/load.ts';
import { targetKey } from '../../lambdas/push/cloud-manager-target.ts';
import { DEFAULT_CLIENT_SECRET } from '../../standins/entra.ts';
import { assertNoSecrets, checkAndCloseAfterEach, type CliEnv, startCliEnv } from './support.ts';

const OAUTH = 'com.day.cq.mailer.oauth.impl.OAuthConfigurationProviderImpl.cfg.json';
const MAIL = 'com.day.cq.mailer.DefaultMailService.cfg.json';
const REPO = join(import.meta.dirname, '..', '..');

let env: CliEnv | undefined;
checkAndCloseAfterEach(
  () => env,
  () => (env = undefined),
);

describe('osgi', () => {
  it('writes both files with every property the AEM mail OAuth2 documentation names, secrets only as references', async () => {
    env = await startCliEnv();
    const out = join(env.dir, 'osgiconfig');
    const r = await env.run(['osgi', '--credential', 'aem-mail', '--out', out]);
    expect(r.code).toBe(0);
    const oauth = JSON.parse(readFileSync(join(out, OAUTH), 'utf8')) as Record<string, unknown>;
    const mail = JSON.parse(readFileSync(join(out, MAIL), 'utf8')) as Record<string, unknown>;
    const entra = env.standins.entra;
    expect(Object.keys(oauth)).toEqual([
      'authUrl',
      'tokenUrl',
      'clientId',
      'clientSecret',
      'scopes',
      'authCodeRedirectUrl',
      'refreshUrl',
      'refreshToken',
    ]);
    expect(oauth.authUrl).toBe(entra.authorizeUrl);
    expect(oauth.tokenUrl).toBe(entra.tokenUrl);
    expect(oauth.refreshUrl).toBe(entra.tokenUrl);
    expect(oauth.clientId).toBe(env.config.credentials[0]!.clientId);
    expect(oauth.clientSecret).toBe('$[secret:SECRET_SMTP_OAUTH_CLIENT_SECRET]');
    expect(oauth.refreshToken).toBe('$[secret:SECRET_SMTP_OAUTH_REFRESH_TOKEN]');
    expect(oauth.scopes).toEqual(['https://outlook.office.com/SMTP.Send', 'offline_access']);
    expect(oauth.authCodeRedirectUrl).toBe('http://localhost');
    expect(mail).toStrictEqual({
      'smtp.host': '$[env:AEM_PROXY_HOST;default=proxy.tunnel]',
      'smtp.user': 'mailer@contoso.com',
      'smtp.password': 'value not used',
      'smtp.port': 30465,
      'from.address': 'mailer@contoso.com',
      'smtp.ssl': false,
      'smtp.starttls': true,
      'smtp.requiretls': true,
      'debug.email': false,
      'oauth.flow': true,
    });
  });

  it('uses the targets’ variable names, and asks for --target when they differ', async () => {
    env = await startCliEnv({
      configure: (doc) => {
        const t = doc.credentials[0]!.targets!;
        t[0]!.refreshTokenVariable = 'SECRET_MAIL_RT';
        t[0]!.clientSecretVariable = 'SECRET_MAIL_CS';
      },
    });
    const mixed = await env.run(['osgi', '--credential', 'aem-mail']);
    expect(mixed.code).toBe(2);
    expect(mixed.stderr).toContain('--target');
    const r = await env.run(['osgi', '--credential', 'aem-mail', '--target', '10000/20000', '--json']);
    expect(r.code).toBe(0);
    const files = JSON.parse(r.stdout) as Record<string, Record<string, unknown>>;
    expect(files[OAUTH]).toMatchObject({
      clientSecret: '$[secret:SECRET_MAIL_CS]',
      refreshToken: '$[secret:SECRET_MAIL_RT]',
    });
  });
});

describe('rotate', () => {
  it('in-process: prints the summary; a young token is left alone unless --force', async () => {
    env = await startCliEnv();
    await env.seed();
    const first = await env.run(['rotate', '--credential', 'aem-mail']);
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/aem-mail: rotated/);
    expect(first.stdout).toMatch(/validate +test mail accepted: 250/);
    const second = await env.run(['rotate', '--json']);
    expect(second.code).toBe(0);
    const doc = JSON.parse(second.stdout) as { ok: boolean; results: Array<{ outcome: string }> };
    expect(doc).toMatchObject({ ok: true, results: [{ outcome: 'up-to-date' }] });
    const forced = await env.run(['rotate', '--force', '--json']);
    expect((JSON.parse(forced.stdout) as { results: Array<{ outcome: string }> }).results[0]!.outcome).toBe('rotated');
  });

  it('a dead refresh token: exit 3 and the regenerate command named', async () => {
    env = await startCliEnv();
    await env.seed();
    env.standins.entra.expireAll(700082);
    const r = await env.run(['rotate']);
    expect(r.code).toBe(3);
    expect(r.stdout).toContain('reauthorize');
    expect(r.stdout).toContain('token-refresher regenerate --credential aem-mail');
  });

  it('--remote invokes the function with the documented payload and prints its summary', async () => {
    env = await startCliEnv();
    const calls: unknown[] = [];
    const r = await env.run(
      ['rotate', '--remote', '--function-name', 'TokenRefresher-Fn', '--credential', 'aem-mail', '--force'],
      {
        invokeLambda: async (p) => {
          calls.push(p);
          return {
            payload: {
              runId: 'r1',
              ok: false,
              results: [
                {
                  credential: 'aem-mail',
                  runId: 'r1',
                  outcome: 'failed',
                  redeemed: false,
                  promoted: false,
                  targets: [],
                  alert: 'failure',
                  durationsMs: {},
                  failure: {
                    class: 'reauthorize',
                    code: 'AADSTS700082',
                    stage: 'refresh',
                    remote: 'entra',
                    message: 'expired',
                    fix: 'run regenerate',
                  },
                },
              ],
            },
          };
        },
      },
    );
    expect(calls).toEqual([
      {
        functionName: 'TokenRefresher-Fn',
        region: undefined,
        payload: { action: 'rotate', credential: 'aem-mail', force: true, source: 'cli' },
      },
    ]);
    expect(r.code).toBe(3);
    expect(r.stdout).toContain('AADSTS700082');

    const refused = await env.run(['rotate', '--remote', '--function-name', 'F'], {
      invokeLambda: async () => ({
        functionError: 'Unhandled',
        payload: { errorType: 'EVENT_INVALID', errorMessage: 'EVENT_INVALID: bad -- Invoke with {"action":"rotate"}' },
      }),
    });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('what to do: Invoke with');
    expect((await env.run(['rotate', '--remote'])).code).toBe(2);
  });
});

describe('client-secret', () => {
  it('reads the value from stdin, stores it as current, never prints it; --push delivers it with the current token', async () => {
    env = await startCliEnv({
      configure: (doc) => doc.credentials[0]!.targets!.forEach((t) => (t.pushClientSecret = true)),
    });
    await env.seed();
    const c = env.config.credentials[0]!;
    const ids = secretIds(env.config, c);
    const value = 'Zq8Q~new-client-secret-value-from-the-portal';
    const r = await env.run(['client-secret', '--credential', 'aem-mail', '--push'], { input: `${value}\n` });
    expect(r.code).toBe(0);
    expect((await env.store.getValue(ids.clientSecret, 'AWSCURRENT'))?.value).toBe(value);
    const current = await env.store.getValue(ids.token, 'AWSCURRENT');
    const secret = await env.store.getValue(ids.clientSecret, 'AWSCURRENT');
    const records = await env.state.listDeliveries(c.id);
    for (const t of c.targets) {
      expect(env.standins.cloudManager.valueOf(t.programId, t.environmentId, 'SECRET_SMTP_OAUTH_CLIENT_SECRET')).toBe(
        value,
      );
      expect(
        env.standins.cloudManager.valueOf(t.programId, t.environmentId, 'SECRET_SMTP_OAUTH_REFRESH_TOKEN'),
      ).toBeDefined();
      // The delivery record says which token version and which client secret version the target now holds.
      const r = records.find((x) => x.targetKey === targetKey(t));
      expect(r).toMatchObject({
        versionId: current?.versionId,
        clientSecretVersionId: secret?.versionId,
        pushReason: 'forced',
      });
    }
    expect(`${r.stdout}${r.stderr}`).not.toContain(value);
    assertNoSecrets(env.outputs, [value]);
  });

  it('on a terminal: prompts without echo (raw mode), Backspace edits, Enter ends', async () => {
    env = await startCliEnv();
    await env.seed();
    const ids = secretIds(env.config, env.config.credentials[0]!);
    const rawModes: boolean[] = [];
    const stdin = Object.assign(new PassThrough(), { isTTY: true, setRawMode: (m: boolean) => rawModes.push(m) });
    const run = env.start(['client-secret', '--credential', 'aem-mail'], { stdin });
    await run.stderr.waitFor(/input hidden/);
    stdin.write('Zq8Q~typed-secret-valuX');
    stdin.write('\u007fe\r');
    expect(await run.code).toBe(0);
    expect((await env.store.getValue(ids.clientSecret, 'AWSCURRENT'))?.value).toBe('Zq8Q~typed-secret-value');
    expect(rawModes).toEqual([true, false]);
    expect(run.stderr.text).not.toContain('typed-secret');
  });

  it('refuses a GUID (the secret’s ID, AADSTS7000215) and an empty value; --adobe checks the secret with IMS first', async () => {
    env = await startCliEnv();
    await env.seed();
    const ids = secretIds(env.config, env.config.credentials[0]!);
    const guid = await env.run(['client-secret', '--credential', 'aem-mail'], {
      input: '6f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5f\n',
    });
    expect(guid.code).toBe(2);
    expect(guid.stderr).toContain('AADSTS7000215');
    expect((await env.run(['client-secret', '--credential', 'aem-mail'], { input: '' })).code).toBe(2);
    expect((await env.store.getValue(ids.clientSecret, 'AWSCURRENT'))?.value).toBe(DEFAULT_CLIENT_SECRET);

    const wrong = await env.run(['client-secret', '--adobe'], { input: 'not-the-ims-secret\n' });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain('not stored');
    const right = await env.run(['client-secret', '--adobe'], { input: `${env.standins.ims.clientSecret}\n` });
    expect(right.code).toBe(0);
  });
});

describe('usage and exit codes', () => {
  it('help on every command; unknown command, unknown option and a bad configuration exit 2', async () => {
    env = await startCliEnv();
    for (const cmd of ['regenerate', 'rotate', 'status', 'osgi', 'doctor', 'client-secret']) {
      const r = await env.run([cmd, '--help']);
      expect(r.code, cmd).toBe(0);
      expect(r.stdout, cmd).toContain(`Usage: token-refresher ${cmd}`);
      expect(r.stdout, cmd).toContain('--store-dir');
    }
    expect((await env.run(['help', 'doctor'])).stdout).toContain('Usage: token-refresher doctor');
    expect((await env.run(['frobnicate'])).code).toBe(2);
    expect((await env.run(['status', '--bogus'])).code).toBe(2);
    const bad = await env.run(['status', '--json', '--config', join(env.dir, 'missing.json')]);
    expect(bad.code).toBe(2);
    expect(JSON.parse(bad.stdout)).toMatchObject({ error: { code: 'CONFIG_MISSING', exitCode: 2 } });
  });
});

describe('as a program', () => {
  it('npx tsx cli/main.ts --help and osgi, and the installed bin, run as real processes', async () => {
    const config = join(REPO, 'config.example.json');
    // Independent processes: started together, so the test waits for the slowest npx start-up only once.
    const [help, osgi, bin] = await Promise.all([
      exec('npx', ['tsx', 'cli/main.ts', '--help']),
      exec('npx', ['tsx', 'cli/main.ts', 'osgi', '--credential', 'aem-mail', '--config', config, '--json']),
      exec(process.execPath, ['bin/token-refresher.mjs', 'status', '--config', join(REPO, 'nope.json')]),
    ]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: token-refresher <command>');
    expect(osgi.code).toBe(0);
    const files = JSON.parse(osgi.stdout) as Record<string, Record<string, unknown>>;
    expect(files[OAUTH]).toMatchObject({
      tokenUrl: 'https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token',
      authUrl: 'https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/authorize',
    });
    expect(files[MAIL]).toMatchObject({
      'smtp.user': 'aem-noreply@contoso.com',
      'from.address': 'aem-noreply@contoso.com',
    });
    expect(bin.code).toBe(2);
    expect(bin.stderr).toContain('CONFIG_MISSING');
  });
});

function exec(cmd: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: REPO, env: { ...process.env, NO_COLOR: '1' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}
