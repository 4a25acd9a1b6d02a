// Messages a new operator meets while setting up (issue 12 item 18): a secret that does not exist yet, a client secret
// variable AEM needs but token-refresher does not push, and `status` telling scripts that a credential is failing.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { Finding } from '../../cli/commands/doctor.ts';
import { main } from '../../cli/main.ts';
import { Capture, checkAndCloseAfterEach, type CliEnv, startCliEnv } from './support.ts';

let env: CliEnv | undefined;
checkAndCloseAfterEach(
  () => env,
  () => (env = undefined),
);

/** The Secrets Manager JSON protocol's answer for a secret that does not exist, to every request. */
async function noSecretsManager(): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(400, {
        'content-type': 'application/x-amz-json-1.1',
        'x-amzn-errortype': 'ResourceNotFoundException',
      });
      res.end(
        JSON.stringify({
          __type: 'ResourceNotFoundException',
          message: "Secrets Manager can't find the specified secret.",
        }),
      );
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

const find = (fs: Finding[], check: string) => fs.filter((f) => f.check === check);

describe('status exit code', () => {
  it('0 while every credential is healthy, 1 while one is failing, 3 while one needs a sign-in', async () => {
    env = await startCliEnv();
    await env.seed();
    expect((await env.run(['rotate'])).code).toBe(0);
    expect((await env.run(['status'])).code).toBe(0);
    env.standins.cloudManager.setDeploymentManager(false);
    // Fresh copies are not pushed again by a forced rotation; pushing now is what meets the refusal.
    expect((await env.run(['rotate', '--force', '--push-now'])).code).toBe(1);
    const failing = await env.run(['status']);
    expect(failing.stdout).toContain('CM_FORBIDDEN');
    expect(failing.code).toBe(1);
    expect((await env.run(['status', '--json'])).code).toBe(1);
    env.standins.cloudManager.setDeploymentManager(true);
    env.standins.entra.inject('token', {
      kind: 'status',
      status: 400,
      body: { error: 'invalid_grant', error_codes: [700082], error_description: 'AADSTS700082: expired' },
    });
    expect((await env.run(['rotate', '--force'])).code).toBe(3);
    expect((await env.run(['status'])).code).toBe(3);
  });
});

describe('doctor', () => {
  it('with pushClientSecret false a missing client secret variable is a warning that says who sets it, not a failure', async () => {
    env = await startCliEnv();
    await env.seed();
    expect(env.config.credentials[0]!.targets.every((t) => !t.pushClientSecret)).toBe(true);
    const r = await env.run(['doctor', '--json']);
    const findings = (JSON.parse(r.stdout) as { findings: Finding[] }).findings;
    const cs = find(findings, 'SECRET_SMTP_OAUTH_CLIENT_SECRET');
    expect(cs.length).toBe(2);
    for (const f of cs) {
      expect(f.status).toBe('warn');
      expect(f.fix).toMatch(/AEM/);
    }
    expect(findings.filter((f) => f.status === 'fail')).toEqual([]);
    expect(r.code).toBe(0);
  });

  it('a token secret that does not exist: deploy the stack (not "run regenerate")', async () => {
    env = await startCliEnv();
    const dir = env.dir;
    const stdout = new Capture();
    const stderr = new Capture();
    const saved = { ...process.env };
    // Secrets Manager where the stack was never deployed: every secret is unknown. (moto answers ListSecretVersionIds
    // for an unknown secret with a 500, so this peer speaks the documented ResourceNotFoundException itself.)
    const sm = await noSecretsManager();
    Object.assign(process.env, {
      AWS_ENDPOINT_URL: sm.url,
      AWS_REGION: 'eu-west-1',
      AWS_ACCESS_KEY_ID: 'testing',
      AWS_SECRET_ACCESS_KEY: 'testing',
    });
    let code: number;
    try {
      code = await main(['--config', env.configFile, '--store', 'secretsmanager', 'doctor', '--json', '--no-redeem'], {
        stdout,
        stderr,
        stdin: new PassThrough(),
        env: {},
        cwd: dir,
        openUrl: async () => false,
        sleep: (ms) => new Promise((res) => setTimeout(res, Math.min(ms, 20))),
      });
    } finally {
      for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
      Object.assign(process.env, saved);
      await sm.close();
    }
    env.outputs.push(`${stdout.text}\n${stderr.text}`);
    const findings = (JSON.parse(stdout.text) as { findings: Finding[] }).findings;
    const token = find(findings, 'refresh token')[0]!;
    expect(token.status).toBe('fail');
    expect(token.message).toMatch(/does not exist/);
    expect(token.fix).toMatch(/[Dd]eploy the stack/);
    expect(token.fix).not.toMatch(/^Run `token-refresher regenerate/);
    expect(code).not.toBe(0);
  });
});
