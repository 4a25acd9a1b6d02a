// regenerate without a browser on this machine: the device-code flow (pending, slow_down, success; declined; expired;
// wrong account) and the pasted redirect URL, plus the refusals that happen before any sign-in.
import { describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { secretIds } from '../../lambdas/config/load.ts';
import { parseTokenRecord } from '../../lambdas/store/records.ts';
import { DEFAULT_CLIENT_SECRET } from '../../standins/entra.ts';
import { checkAndCloseAfterEach, type CliEnv, startCliEnv } from './support.ts';

let env: CliEnv | undefined;
checkAndCloseAfterEach(
  () => env,
  () => (env = undefined),
);

async function world(deviceCodeIntervalSec = 1): Promise<CliEnv> {
  env = await startCliEnv({ standins: { entra: { deviceCodeIntervalSec } } });
  await env.seed();
  return env;
}

async function current(e: CliEnv) {
  const c = e.config.credentials[0]!;
  const ids = secretIds(e.config, c);
  const v = await e.store.getValue(ids.token, 'AWSCURRENT');
  return v && parseTokenRecord(v.value, ids.token);
}

/** The CLI's sleeps are recorded (the interval it honours) but last only a few ms. */
function recordingSleep(delays: number[]) {
  return (ms: number) => {
    delays.push(ms);
    return new Promise<void>((r) => setTimeout(r, 5));
  };
}

describe('regenerate --device-code', () => {
  it('polls at the interval, backs off 5 s on slow_down, and stores the token once the user approves', async () => {
    const e = await world(1);
    const delays: number[] = [];
    const run = e.start(['regenerate', '--credential', 'aem-mail', '--device-code'], { sleep: recordingSleep(delays) });
    const userCode = (await run.stderr.waitFor(/enter the code \S*?([A-Z0-9]{9})/))[1] as string;
    // Polling faster than the stand-in's 1 s interval earns a slow_down; the CLI must add 5 s to its interval.
    await run.stderr.waitFor(/poll more slowly; now every 6 s/);
    e.standins.entra.approveDevice(userCode);
    expect(await run.code).toBe(0);

    expect(delays[0]).toBe(1000);
    const firstSlow = delays.indexOf(6000);
    expect(firstSlow).toBeGreaterThan(0);
    expect(delays.slice(0, firstSlow).every((d) => d === 1000)).toBe(true);
    // Pending answers came before the slow_down (the first poll is always pending).
    const polls = e.standins.entra.requests.filter((r) => r.route === 'token' && r.body.includes('device_code'));
    expect(polls.length).toBeGreaterThanOrEqual(3);

    const rec = await current(e);
    expect(rec?.source).toBe('regenerate');
    expect(rec?.refreshToken).toBe(e.standins.entra.latestRefreshToken());
    const t = e.config.credentials[0]!.targets[0]!;
    expect(e.standins.cloudManager.valueOf(t.programId, t.environmentId, 'SECRET_SMTP_OAUTH_REFRESH_TOKEN')).toBe(
      rec?.refreshToken,
    );
  });

  it('declined on the device page: exit 1, DEVICE_DECLINED, nothing stored', async () => {
    const e = await world(0);
    const before = await e.snapshot();
    const run = e.start(['regenerate', '--credential', 'aem-mail', '--device-code']);
    const userCode = (await run.stderr.waitFor(/enter the code \S*?([A-Z0-9]{9})/))[1] as string;
    e.standins.entra.declineDevice(userCode);
    expect(await run.code).toBe(1);
    expect(run.stderr.text).toContain('DEVICE_DECLINED');
    expect(await e.snapshot()).toBe(before);
  });

  it('the code expires before the sign-in: exit 1, DEVICE_CODE_EXPIRED, nothing stored', async () => {
    const e = await world(0);
    const before = await e.snapshot();
    const run = e.start(['regenerate', '--credential', 'aem-mail', '--device-code']);
    await run.stderr.waitFor(/enter the code/);
    e.standins.entra.clock.advance(901_000);
    expect(await run.code).toBe(1);
    expect(run.stderr.text).toContain('DEVICE_CODE_EXPIRED');
    expect(await e.snapshot()).toBe(before);
  });

  it('approved as another account: refused naming both, nothing stored', async () => {
    const e = await world(0);
    const before = await e.snapshot();
    const run = e.start(['regenerate', '--credential', 'aem-mail', '--device-code']);
    const userCode = (await run.stderr.waitFor(/enter the code \S*?([A-Z0-9]{9})/))[1] as string;
    e.standins.entra.approveDevice(userCode, 'someone.else@contoso.com');
    expect(await run.code).toBe(1);
    expect(run.stderr.text).toMatch(/WRONG_ACCOUNT.*someone\.else@contoso\.com.*mailer@contoso\.com/s);
    expect(await e.snapshot()).toBe(before);
  });
});

describe('regenerate --no-browser', () => {
  it('accepts the redirected URL pasted on stdin', async () => {
    const e = await world();
    const run = e.start(['regenerate', '--credential', 'aem-mail', '--no-browser', '--json']);
    const url = (await run.stderr.waitFor(/(http:\/\/127\.0\.0\.1:\d+\/\S+\/authorize\?\S+)/))[1] as string;
    await run.stderr.waitFor(/paste it here/);
    const location = await e.standins.entra.consent(url);
    run.stdin.write('not a url\n');
    run.stdin.write(`${location}\n`);
    expect(await run.code).toBe(0);
    const doc = JSON.parse(run.stdout.text) as { account: string; summary: { outcome: string; promoted: boolean } };
    expect(doc).toMatchObject({ account: 'mailer@contoso.com', summary: { outcome: 'rotated', promoted: true } });
    expect((await current(e))?.refreshToken).toBe(e.standins.entra.latestRefreshToken());
  });

  it('first setup: an empty token secret receives its first token (only the client secrets were stored)', async () => {
    env = await startCliEnv();
    const e = env;
    const ids = secretIds(e.config, e.config.credentials[0]!);
    expect(
      (await e.run(['client-secret', '--credential', 'aem-mail'], { input: `${DEFAULT_CLIENT_SECRET}\n` })).code,
    ).toBe(0);
    expect((await e.run(['client-secret', '--adobe'], { input: `${e.standins.ims.clientSecret}\n` })).code).toBe(0);
    expect(await e.store.listVersions(ids.token)).toEqual([]);
    const run = e.start(['regenerate', '--credential', 'aem-mail', '--no-browser']);
    const url = (await run.stderr.waitFor(/(http:\/\/127\.0\.0\.1:\d+\/\S+\/authorize\?\S+)/))[1] as string;
    run.stdin.write(`${await e.standins.entra.consent(url)}\n`);
    expect(await run.code).toBe(0);
    const rec = await current(e);
    expect(rec).toMatchObject({ source: 'regenerate', account: 'mailer@contoso.com' });
    const status = JSON.parse((await e.run(['status', '--json'])).stdout) as {
      credentials: Array<{ targets: Array<{ state: string }> }>;
    };
    expect(status.credentials[0]!.targets.map((t) => t.state)).toEqual(['current', 'current']);
  });

  it('a pasted redirect of an older sign-in (other state) is refused, nothing stored', async () => {
    const e = await world();
    const before = await e.snapshot();
    const first = e.start(['regenerate', '--credential', 'aem-mail', '--no-browser', '--timeout', '1']);
    const oldUrl = (await first.stderr.waitFor(/(http:\/\/127\.0\.0\.1:\d+\/\S+\/authorize\?\S+)/))[1] as string;
    first.stdin.end();
    expect(await first.code).toBe(1);
    const run = e.start(['regenerate', '--credential', 'aem-mail', '--no-browser']);
    await run.stderr.waitFor(/paste it here/);
    run.stdin.write(`${await e.standins.entra.consent(oldUrl)}\n`);
    expect(await run.code).toBe(1);
    expect(run.stderr.text).toContain('STATE_MISMATCH');
    expect(await e.snapshot()).toBe(before);
  });
});

describe('regenerate refuses before any sign-in', () => {
  it('while another run holds the lease: exit 4', async () => {
    const e = await world();
    const ids = secretIds(e.config, e.config.credentials[0]!);
    const until = new Date(Date.now() + 60_000).toISOString();
    await e.store.putValue(ids.state, JSON.stringify({ v: 1, lease: { runId: 'scheduled-run', until } }), {
      clientRequestToken: randomUUID(),
      stages: ['AWSCURRENT'],
    });
    const r = await e.run(['regenerate', '--credential', 'aem-mail', '--timeout', '1']);
    expect(r.code).toBe(4);
    expect(r.stderr).toContain('scheduled-run');
    expect(r.stderr).not.toContain('authorize?');
  });

  it('without a client secret: exit 2 naming the client-secret command', async () => {
    env = await startCliEnv();
    const r = await env.run(['regenerate', '--credential', 'aem-mail']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('token-refresher client-secret --credential aem-mail');
  });

  it('an unknown credential or missing option is a usage error', async () => {
    env = await startCliEnv();
    expect((await env.run(['regenerate', '--credential', 'nope'])).code).toBe(2);
    expect((await env.run(['regenerate'])).code).toBe(2);
    expect((await env.run(['regenerate', '--credential', 'aem-mail', '--port', 'x'])).code).toBe(2);
    expect((await env.run(['regenerate', '--credential', 'aem-mail', '--device-code', '--no-browser'])).code).toBe(2);
  });
});
