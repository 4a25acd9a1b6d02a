// `regenerate` end to end with a real headless Chromium on the Entra stand-in's consent page: the browser opens the URL
// the CLI printed, the loopback listener receives the code, and the token reaches the store and Cloud Manager. Every
// refusal (cancel, wrong state, timeout, wrong account) leaves the store exactly as it was.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { secretIds } from '../../lambdas/config/load.ts';
import { parseTokenRecord } from '../../lambdas/store/records.ts';
import { assertNoSecrets, startCliEnv, type CliEnv, type CliRun } from './support.ts';
import { headlessChromiumForSuite } from '../support/browser.ts';

const RT_VAR = 'SECRET_SMTP_OAUTH_REFRESH_TOKEN';
const AUTHORIZE_URL = /(http:\/\/127\.0\.0\.1:\d+\/[^\s]+\/oauth2\/v2\.0\/authorize\?\S+)/;

const browser = headlessChromiumForSuite();
let env: CliEnv;
let page: Page;

beforeEach(async () => {
  env = await startCliEnv();
  await env.seed();
  page = await browser().newPage();
});
afterEach(async () => {
  await page.close();
  // Whatever happened, no secret reached the terminal.
  assertNoSecrets(env.outputs, env.secrets());
  await env.close();
});

async function printedUrl(run: CliRun): Promise<string> {
  return (await run.stderr.waitFor(AUTHORIZE_URL))[1] as string;
}

async function currentRecord() {
  const c = env.config.credentials[0]!;
  const ids = secretIds(env.config, c);
  const v = await env.store.getValue(ids.token, 'AWSCURRENT');
  return v && parseTokenRecord(v.value, ids.token);
}

describe('regenerate in a real browser', () => {
  it('consent in the browser: the loopback listener gets the code, the token is current, validated and in Cloud Manager', async () => {
    const oldToken = (await currentRecord())?.refreshToken;
    const run = env.start(['regenerate', '--credential', 'aem-mail']);
    const url = await printedUrl(run);
    const u = new URL(url);
    expect(u.searchParams.get('code_challenge_method')).toBe('S256');
    expect(u.searchParams.get('redirect_uri')).toMatch(/^http:\/\/localhost:\d+$/);
    expect(u.searchParams.get('login_hint')).toBe('mailer@contoso.com');
    expect(u.searchParams.get('scope')).toContain('openid');
    expect(u.searchParams.get('state')?.length).toBeGreaterThanOrEqual(32);

    await page.goto(url);
    expect(await page.inputValue('#account')).toBe('mailer@contoso.com');
    await page.click('#accept');
    await page.waitForURL(/^http:\/\/localhost:\d+\/\?code=/);
    expect(await page.textContent('h1')).toBe('Signed in');

    expect(await run.code).toBe(0);
    const rec = await currentRecord();
    expect(rec?.source).toBe('regenerate');
    expect(rec?.account).toBe('mailer@contoso.com');
    expect(rec?.refreshToken).toBe(env.standins.entra.latestRefreshToken());
    expect(rec?.refreshToken).not.toBe(oldToken);
    for (const t of env.config.credentials[0]!.targets) {
      expect(env.standins.cloudManager.valueOf(t.programId, t.environmentId, RT_VAR)).toBe(rec?.refreshToken);
    }
    // The pipeline's test send went out as the mailbox.
    expect(env.standins.smtp.messages.at(-1)?.account).toBe('mailer@contoso.com');
    expect(run.stderr.text).toContain('signed in as mailer@contoso.com');
    expect(run.stdout.text).toMatch(/aem-mail.*rotated/);
    expect(run.stdout.text).toMatch(/pushed/);
  });

  it('Cancel on the consent page (error=access_denied): a clear message, exit 1, the store unchanged', async () => {
    const before = await env.snapshot();
    const run = env.start(['regenerate', '--credential', 'aem-mail']);
    await page.goto(await printedUrl(run));
    await page.click('#cancel');
    await page.waitForURL(/error=access_denied/);
    expect(await run.code).toBe(1);
    expect(run.stderr.text).toContain('SIGN_IN_DENIED');
    expect(run.stderr.text).toContain('access_denied');
    expect(run.stderr.text).toMatch(/what to do: .*regenerate --credential aem-mail/);
    expect(await env.snapshot()).toBe(before);
  });

  it('a redirect with another state is refused without redeeming the code', async () => {
    const before = await env.snapshot();
    const run = env.start(['regenerate', '--credential', 'aem-mail']);
    const u = new URL(await printedUrl(run));
    u.searchParams.set('state', 'forged-state-value');
    await page.goto(u.toString());
    await page.click('#accept');
    await page.waitForURL(/^http:\/\/localhost:\d+\/\?code=/);
    expect(await run.code).toBe(1);
    expect(run.stderr.text).toContain('STATE_MISMATCH');
    // The code was never presented to the token endpoint.
    expect(
      env.standins.entra.requests.filter(
        (r) => r.route === 'token' && r.body.includes('grant_type=authorization_code'),
      ),
    ).toHaveLength(0);
    expect(await env.snapshot()).toBe(before);
  });

  it('consent as another account: refused naming both accounts, nothing stored', async () => {
    const before = await env.snapshot();
    const run = env.start(['regenerate', '--credential', 'aem-mail']);
    await page.goto(await printedUrl(run));
    await page.fill('#account', 'intruder@contoso.com');
    await page.click('#accept');
    expect(await run.code).toBe(1);
    expect(run.stderr.text).toContain('WRONG_ACCOUNT');
    expect(run.stderr.text).toContain('intruder@contoso.com');
    expect(run.stderr.text).toContain('mailer@contoso.com');
    expect(await env.snapshot()).toBe(before);
  });

  it('no sign-in within --timeout: exit 1 with the timeout named, nothing stored', async () => {
    const before = await env.snapshot();
    const r = await env.run(['regenerate', '--credential', 'aem-mail', '--timeout', '1']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('SIGN_IN_TIMEOUT');
    expect(r.stderr).toContain('--timeout');
    expect(await env.snapshot()).toBe(before);
  });
});
