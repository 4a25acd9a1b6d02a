// `status` and `doctor` against the stand-ins, healthy and broken (Cloud Manager 403, SMTP 535 5.7.139).
import { describe, expect, it } from 'vitest';
import type { CredentialStatus } from '../../cli/commands/status.ts';
import type { Finding } from '../../cli/commands/doctor.ts';
import { checkAndCloseAfterEach, type CliEnv, startCliEnv } from './support.ts';

let env: CliEnv | undefined;
checkAndCloseAfterEach(
  () => env,
  () => (env = undefined),
);

/** A healthy deployment: seeded, the client secret variable set by an admin in Cloud Manager, one successful run. */
async function healthy(): Promise<CliEnv> {
  env = await startCliEnv();
  await env.seed();
  for (const t of env.config.credentials[0]!.targets) {
    env.standins.cloudManager.setVariable(t.programId, t.environmentId, {
      name: 'SECRET_SMTP_OAUTH_CLIENT_SECRET',
      value: 'set-by-an-admin-once',
      type: 'secretString',
    });
  }
  return env;
}

async function statusOf(e: CliEnv, code = 0): Promise<CredentialStatus> {
  const r = await e.run(['status', '--json']);
  // 1 while the credential's last run failed (test/cli/operator-messages.test.ts).
  expect(r.code).toBe(code);
  return (JSON.parse(r.stdout) as { credentials: CredentialStatus[] }).credentials[0]!;
}

async function doctor(e: CliEnv, ...args: string[]): Promise<{ code: number; findings: Finding[]; stdout: string }> {
  const r = await e.run(['doctor', '--json', ...args]);
  return { code: r.code, findings: (JSON.parse(r.stdout) as { findings: Finding[] }).findings, stdout: r.stdout };
}

const find = (fs: Finding[], check: string, subject?: string) =>
  fs.filter((f) => f.check === check && (!subject || f.subject.includes(subject)));

describe('status', () => {
  it('healthy: token age and days left, validation, every target holds the current token, next run from the schedule', async () => {
    const e = await healthy();
    const seeded = await statusOf(e);
    expect(seeded.token.ageDays).toBeCloseTo(8, 0);
    expect(seeded.token.daysLeft).toBeCloseTo(82, 0);
    expect(seeded.targets.map((t) => t.state)).toEqual(['never-pushed', 'never-pushed']);
    expect(seeded.nextRun.at).toBeUndefined();

    expect((await e.run(['rotate'])).code).toBe(0);
    const s = await statusOf(e);
    expect(s.token).toMatchObject({ present: true, source: 'rotate', limitDays: 90, account: 'mailer@contoso.com' });
    expect(s.token.daysLeft).toBeGreaterThan(89.9);
    expect(s.lastValidation).toMatchObject({ ok: true });
    expect(s.lastValidation?.response).toMatch(/^250 /);
    expect(s.failure).toBeUndefined();
    expect(s.targets.map((t) => t.state)).toEqual(['current', 'current']);
    expect(s.targets[0]!.since).toBe(s.token.obtainedAt);
    // rate(1 day): a day after the run just made.
    const next = Date.parse(s.nextRun.at ?? '');
    expect(next - Date.parse(s.lastRun!.at)).toBe(86_400_000);

    const text = await e.run(['status']);
    expect(text.stdout).toContain('90 days left before the 90-day limit');
    expect(text.stdout).toMatch(/environment 20000 .*current token/);
    expect(text.stdout).not.toContain('\x1b['); // not a terminal: no colour
  });

  it('broken: Cloud Manager refuses the push (403) -> the failure and its class, both targets STALE', async () => {
    const e = await healthy();
    expect((await e.run(['rotate'])).code).toBe(0);
    e.standins.cloudManager.setDeploymentManager(false);
    // A forced rotation alone leaves fresh copies where they are; pushing now is what meets the refusal.
    const r = await e.run(['rotate', '--force', '--push-now']);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('CM_FORBIDDEN');
    const s = await statusOf(e, 1);
    expect(s.failure).toMatchObject({ class: 'configuration', code: 'CM_FORBIDDEN', stage: 'push', runs: 1 });
    expect(s.failure?.fix).toContain('Deployment Manager');
    expect(s.targets.map((t) => t.state)).toEqual(['stale', 'stale']);
    expect(Date.parse(s.targets[0]!.since!)).toBeLessThan(Date.parse(s.token.obtainedAt!));
    const text = (await e.run(['status'])).stdout;
    expect(text).toContain('STALE');
    expect(text).toContain('an administrator must fix configuration: CM_FORBIDDEN');
  });

  it('a cron schedule in a time zone: the next firing is computed', async () => {
    env = await startCliEnv({
      configure: (doc) =>
        void (doc.credentials[0]!.schedule = { expression: 'cron(17 3 * * ? *)', timeZone: 'Europe/Zurich' }),
    });
    await env.seed();
    const s = await statusOf(env);
    const at = new Date(s.nextRun.at!);
    const zurich = new Intl.DateTimeFormat('en-GB', {
      timeZone: 'Europe/Zurich',
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
    }).format(at);
    expect(zurich).toBe('03:17');
    expect(at.getTime() - Date.now()).toBeLessThanOrEqual(86_400_000 + 3_600_000);
    expect(at.getTime()).toBeGreaterThan(Date.now());
  });
});

describe('doctor', () => {
  it('healthy: every check ok, SMTP AUTH by redeeming once, then with the stored access token (no second redeem)', async () => {
    const e = await healthy();
    const first = await doctor(e);
    expect(first.code).toBe(0);
    expect(first.findings.filter((f) => f.status === 'fail')).toEqual([]);
    expect(find(first.findings, 'token endpoint')[0]).toMatchObject({ status: 'ok' });
    expect(find(first.findings, 'SMTP AUTH')[0]).toMatchObject({ status: 'ok' });
    expect(find(first.findings, 'SMTP AUTH')[0]!.message).toContain('235');
    expect(find(first.findings, 'server-to-server credential')[0]).toMatchObject({ status: 'ok' });
    expect(find(first.findings, 'read permission').map((f) => f.status)).toEqual(['ok', 'ok']);
    expect(
      find(first.findings, 'value length').every((f) => f.status === 'ok' && f.message.includes('1200 of 2048')),
    ).toBe(true);
    expect(find(first.findings, 'SECRET_SMTP_OAUTH_CLIENT_SECRET').every((f) => f.status === 'ok')).toBe(true);
    // AUTH only: no test mail, and the redeemed token is stored but not pushed (a push restarts AEM).
    expect(e.standins.smtp.messages).toHaveLength(0);
    expect(e.standins.cloudManager.patchCount).toBe(0);

    const redeems = () => e.standins.entra.requests.filter((r) => r.route === 'token').length;
    const before = redeems();
    const second = await doctor(e, '--probe-write');
    expect(second.code).toBe(0);
    expect(redeems()).toBe(before);
    expect(find(second.findings, 'token endpoint')[0]).toMatchObject({ status: 'skip' });
    expect(find(second.findings, 'SMTP AUTH')[0]).toMatchObject({ status: 'ok' });
    expect(find(second.findings, 'write permission').map((f) => f.status)).toEqual(['ok', 'ok']);

    const text = await e.run(['doctor', '--no-redeem']);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('all checks passed');
  });

  it('names the redirect URI the sign-in links of alerts return to, and where to register it (exact with TOKEN_REFRESHER_RECOVERY_URL)', async () => {
    const e = await healthy();
    const exact = await e.run(['doctor', '--json', '--no-redeem'], {
      env: { TOKEN_REFRESHER_RECOVERY_URL: 'https://abc123.lambda-url.eu-west-1.on.aws/' },
    });
    const link = find((JSON.parse(exact.stdout) as { findings: Finding[] }).findings, 'recovery link')[0]!;
    expect(link.status).toBe('ok');
    expect(link.message).toContain('https://abc123.lambda-url.eu-west-1.on.aws/callback');
    expect(link.fix).toMatch(
      /Authentication > add a platform "Web" with redirect URI https:\/\/abc123\.lambda-url\.eu-west-1\.on\.aws\/callback/,
    );
    const named = find((await doctor(e, '--no-redeem')).findings, 'recovery link')[0]!;
    expect(named.message).toContain('the stack output RecoveryRedirectUri');
    expect(named.fix).toContain('TOKEN_REFRESHER_RECOVERY_URL');
  });

  it('broken: SMTP 535 5.7.139 and a Cloud Manager account without Deployment Manager -> each failure says what to do', async () => {
    const e = await healthy();
    e.standins.smtp.injectFault('535 5.7.139');
    e.standins.cloudManager.setDeploymentManager(false);
    const r = await doctor(e, '--probe-write');
    expect(r.code).toBe(1);
    const smtp = find(r.findings, 'SMTP AUTH')[0]!;
    expect(smtp).toMatchObject({ status: 'fail', class: 'configuration' });
    expect(smtp.message).toContain('5.7.139');
    expect(smtp.fix).toContain('Set-CASMailbox -Identity mailer@contoso.com -SmtpClientAuthenticationDisabled $false');
    const write = find(r.findings, 'write permission');
    expect(write.map((f) => f.status)).toEqual(['fail', 'fail']);
    expect(write[0]!.fix).toContain('Deployment Manager');

    const text = await e.run(['doctor', '--no-redeem']);
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(/✗ last runs: .*5\.7\.139/);
    expect(text.stdout).toMatch(/what to do: .*Set-CASMailbox/);
  });

  it('broken: Cloud Manager answers 403 to reading and the refresh token died -> exit 3 (a sign-in is needed)', async () => {
    const e = await healthy();
    e.standins.cloudManager.inject(
      'variables-get',
      { kind: 'status', status: 403, body: { error_code: '403003', message: 'Api Key is invalid' } },
      2,
    );
    e.standins.entra.expireAll(700082);
    const r = await doctor(e);
    expect(r.code).toBe(3);
    const token = find(r.findings, 'token endpoint')[0]!;
    expect(token).toMatchObject({ status: 'fail', class: 'reauthorize' });
    expect(token.fix).toContain('regenerate --credential aem-mail');
    const read = find(r.findings, 'read permission');
    expect(read.map((f) => f.status)).toEqual(['fail', 'fail']);
    expect(read[0]!.message).toContain('CM_FORBIDDEN');
  });

  it('an unreachable SMTP host is a network failure with the host named', async () => {
    env = await startCliEnv({ configure: (doc) => void (doc.credentials[0]!.validation.smtp.port = 1) });
    await env.seed();
    const r = await doctor(env, '--no-redeem');
    expect(r.code).toBe(1);
    const smtp = r.findings.find((f) => f.subject === 'network' && f.check.startsWith('SMTP'))!;
    expect(smtp).toMatchObject({ status: 'fail' });
    expect(smtp.message).toMatch(/:1: ECONNREFUSED/);
  });
});
