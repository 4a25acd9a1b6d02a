// One-click recovery end to end with a real headless Chromium: a token dies (reauthorize), the alert mail is read back
// from SES on moto, its link is opened in the browser, the mailbox signs in on the Entra stand-in's consent page, and the
// recovery handler (behind a local Function URL) runs the regenerate pipeline: stored, validated, promoted, pushed.
// Each refusal leaves every secret version and Cloud Manager exactly as it was, and nothing secret leaks anywhere.
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { secretIds } from '../../lambdas/config/load.ts';
import { hashOf, newSecretValue, sealVerifier } from '../../lambdas/recover/secrets.ts';
import { createLinkIssuer } from '../../lambdas/report/recovery-link.ts';
import { parseTokenRecord } from '../../lambdas/store/records.ts';
import { DEFAULT_ACCOUNT } from '../../standins/entra.ts';
import { GMAIL_SCOPE, GOOGLE_ACCOUNT, GOOGLE_CLIENT_ID, GOOGLE_CLIENT_SECRET } from '../../standins/oauth2.ts';
import { findLeaks } from './scan.ts';
import { startRecoveryWorld, type RecoveryWorld } from './support.ts';
import { headlessChromiumForSuite } from '../support/browser.ts';

const RT_VAR = 'SECRET_SMTP_OAUTH_REFRESH_TOKEN';

const browser = headlessChromiumForSuite();
let w: RecoveryWorld;
let page: Page;

async function world(o: Parameters<typeof startRecoveryWorld>[0] = {}): Promise<RecoveryWorld> {
  w = await startRecoveryWorld(o);
  return w;
}

beforeEach(async () => {
  page = await browser().newPage();
});
afterEach(async () => {
  await page.close();
  if (!w) return;
  try {
    scanEverything(w);
  } finally {
    await w.close();
  }
});

/** Every secret of the run, and every place it must not be (the mail may carry the link; only the authorize Location the state). */
function scanEverything(world: RecoveryWorld): void {
  const { entra } = world.standins;
  const links = world.endpoint.exchanges
    .filter((e) => e.url.startsWith('/link'))
    .map((e) => new URL(e.url, 'http://x').searchParams.get('t') ?? '');
  const callbacks = world.endpoint.exchanges
    .filter((e) => e.url.startsWith('/callback'))
    .map((e) => new URL(e.url, 'http://x').searchParams);
  const states = world.endpoint.exchanges
    .flatMap((e) => (e.headers.location ? [new URL(e.headers.location).searchParams.get('state') ?? ''] : []))
    .concat(callbacks.map((q) => q.get('state') ?? ''));
  const codes = callbacks.map((q) => q.get('code') ?? '');
  const verifiers = entra.requests.map((r) => new URLSearchParams(r.body).get('code_verifier') ?? '');
  const tokens = world.secrets();
  const pages = Object.fromEntries(
    world.endpoint.exchanges.map((e, i) => [`page #${i} (${e.method} ${e.url.split('?')[0]} ${e.status})`, e.body]),
  );
  const headers = (omitAuthorizeLocation: boolean) =>
    Object.fromEntries(
      world.endpoint.exchanges.map((e, i) => [
        `headers #${i}`,
        JSON.stringify({ ...e.headers, ...(omitAuthorizeLocation && e.method === 'POST' ? { location: '' } : {}) }),
      ]),
    );
  const logs = { logs: world.logs.join('\n'), metrics: JSON.stringify(world.metrics.points) };
  const leaks = [
    ...findLeaks({ ...pages, ...headers(false), ...logs }, [
      { kind: 'link token', values: links },
      { kind: 'authorization code', values: codes },
      { kind: 'token or client secret', values: tokens },
      { kind: 'PKCE verifier', values: verifiers },
    ]),
    ...findLeaks({ ...pages, ...headers(true), ...logs }, [{ kind: 'OAuth state', values: states }]),
  ];
  expect(leaks).toEqual([]);
}

async function currentRecord(i = 0) {
  const c = w.credential(i);
  const ids = secretIds(w.config, c);
  const v = await w.store.getValue(ids.token, 'AWSCURRENT');
  return v && parseTokenRecord(v.value, ids.token);
}

/** The token family dies (password reset) and the scheduled run mails a reauthorize alert with a link. */
async function killAndAlert(i = 0): Promise<string> {
  w.standins.entra.revokeAccount(w.credential(i).mailbox);
  const before = (await w.mailedLinks()).length;
  const s = await w.rotate(i);
  expect(s.failure?.class).toBe('reauthorize');
  const links = await w.mailedLinks();
  expect(links.length).toBe(before + 1);
  return links.at(-1) as string;
}

async function signIn(link: string, o: { account?: string; decision?: 'accept' | 'cancel' } = {}): Promise<void> {
  await page.goto(link);
  await page.click('#continue');
  await page.waitForURL(/\/oauth2\/v2\.0\/authorize\?/);
  if (o.account) await page.fill('#account', o.account);
  await page.click(o.decision === 'cancel' ? '#cancel' : '#accept');
  await page.waitForURL(/\/callback\?/);
}

describe('one-click recovery in a real browser', () => {
  it('the alert link -> sign-in as the mailbox -> stored, validated, promoted, pushed; the page says so stage by stage', async () => {
    await world();
    const link = await killAndAlert();
    const mail = (await w.alertMails()).at(-1)!;
    expect(mail.body).toContain('Click this link and sign in as mailer@contoso.com');
    expect(mail.body).toContain(`${w.endpoint.url}/callback`);
    const old = (await currentRecord())?.refreshToken;
    const versionsBefore = (await w.store.listVersions(secretIds(w.config, w.credential()).token)).length;

    // The first GET (what a mail scanner does) reads and writes nothing: the link still works after it.
    const scanned = await fetch(link);
    expect(scanned.status).toBe(200);
    expect(scanned.headers.get('cache-control')).toBe('no-store');

    await page.goto(link);
    expect(await page.textContent('h1')).toContain('aem-mail');
    await page.click('#continue');
    await page.waitForURL(/\/oauth2\/v2\.0\/authorize\?/);
    const authorize = new URL(page.url());
    expect(authorize.searchParams.get('code_challenge_method')).toBe('S256');
    expect(authorize.searchParams.get('login_hint')).toBe(DEFAULT_ACCOUNT);
    expect(authorize.searchParams.get('redirect_uri')).toBe(`${w.endpoint.url}/callback`);
    expect(authorize.searchParams.get('scope')).toContain('openid');
    expect(await page.inputValue('#account')).toBe(DEFAULT_ACCOUNT);
    await page.click('#accept');
    await page.waitForURL(/\/callback\?/);
    expect(await page.textContent('h1')).toBe('Done: mail from AEM works again');
    const steps = await page.locator('#steps li').allTextContents();
    expect(steps[0]).toContain(`Signed in as ${DEFAULT_ACCOUNT}`);
    expect(steps.join('\n')).toMatch(/✔ Stored as the pending token/);
    expect(steps.join('\n')).toMatch(/✔ Tested: a test mail was sent/);
    expect(steps.join('\n')).toMatch(/✔ Made the current token/);
    expect(steps.filter((s) => s.includes('handed to AEM'))).toHaveLength(2);

    const rec = await currentRecord();
    expect(rec?.source).toBe('regenerate');
    expect(rec?.account).toBe(DEFAULT_ACCOUNT);
    expect(rec?.refreshToken).toBe(w.standins.entra.latestRefreshToken());
    expect(rec?.refreshToken).not.toBe(old);
    expect((await w.store.listVersions(secretIds(w.config, w.credential()).token)).length).toBe(versionsBefore + 1);
    for (const t of w.credential().targets)
      expect(w.standins.cloudManager.valueOf(t.programId, t.environmentId, RT_VAR)).toBe(rec?.refreshToken);
    expect(w.standins.smtp.messages.at(-1)?.account).toBe(DEFAULT_ACCOUNT);
    // The pipeline's report: the failure is resolved, and a "recovered" mail follows.
    expect((await w.alertMails()).at(-1)?.subject).toContain('recovered');

    // Every page the endpoint served carries the protective headers.
    for (const e of w.endpoint.exchanges) {
      expect(e.headers['cache-control']).toBe('no-store');
      expect(e.headers['referrer-policy']).toBe('no-referrer');
      expect(e.headers['content-security-policy']).toMatch(/^default-src 'none'; /);
    }
    // The only Location is the authorize redirect; it holds the state and the challenge, not the link token or a verifier.
    const locations = w.endpoint.exchanges.flatMap((e) => (e.headers.location ? [e.headers.location] : []));
    expect(locations).toHaveLength(1);
    expect(new URL(locations[0]!).origin).toBe(new URL(w.standins.entra.url).origin);

    // Replayed link: refused, nothing stored.
    const before = await w.snapshot();
    await page.goto(link);
    await page.click('#continue');
    expect(await page.textContent('h1')).toBe('This sign-in link is used up or expired');
    // Replayed state: the callback address once more.
    const callback = w.endpoint.exchanges.find((e) => e.url.startsWith('/callback'))!.url;
    await page.goto(`${w.endpoint.url}${callback}`);
    expect(await page.textContent('h1')).toBe('This sign-in was already finished or has expired');
    expect(await w.snapshot()).toBe(before);
  });

  it('signed in as another account: refused naming who must sign in, nothing stored, and the same link works again', async () => {
    await world();
    const link = await killAndAlert();
    const before = await w.snapshot();
    await signIn(link, { account: 'intruder@contoso.com' });
    expect(await page.textContent('h1')).toBe(`Sign in as ${DEFAULT_ACCOUNT}`);
    const text = await page.textContent('body');
    expect(text).toContain('intruder@contoso.com');
    expect(text).toContain('Nothing was stored.');
    expect(await w.snapshot()).toBe(before);
    await signIn(link);
    expect(await page.textContent('h1')).toBe('Done: mail from AEM works again');
  });

  it('Cancel on the consent page: refused, nothing stored', async () => {
    await world();
    const link = await killAndAlert();
    const before = await w.snapshot();
    await signIn(link, { decision: 'cancel' });
    expect(await page.textContent('h1')).toBe('The sign-in was cancelled');
    expect(await w.snapshot()).toBe(before);
  });

  it('expired, tampered and foreign-credential links and a missing verifier are refused; unknown paths are 404', async () => {
    await world({ credentials: 2 });
    const link = await killAndAlert(0);
    const before = [await w.snapshot(0), await w.snapshot(1)];

    // Expired: issued 73 hours ago with the default 72-hour lifetime.
    const old = await createLinkIssuer({
      store: w.state,
      baseUrl: w.endpoint.url,
      now: () => new Date(Date.now() - 73 * 3_600_000),
    })(w.credential(0).id);
    await page.goto(old!.url);
    await page.click('#continue');
    expect(await page.textContent('h1')).toBe('This sign-in link is used up or expired');

    // Tampered: one character of the token changed.
    const t = new URL(link);
    const token = t.searchParams.get('t')!;
    t.searchParams.set('t', `${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`);
    await page.goto(t.toString());
    await page.click('#continue');
    expect(await page.textContent('h1')).toBe('This sign-in link is used up or expired');

    // Foreign: a link of credential 1 presented for credential 2.
    const foreign = new URL(link);
    foreign.searchParams.set('c', w.credential(1).id);
    await page.goto(foreign.toString());
    await page.click('#continue');
    expect(await page.textContent('h1')).toBe('This sign-in link is not valid');

    // A state whose item lost its verifier (or whose verifier was sealed for another state): refused before any redeem.
    for (const data of [
      {} as Record<string, string>,
      { verifier: sealVerifier(newSecretValue(), newSecretValue(), w.credential(0).id) },
    ]) {
      const state = newSecretValue();
      await w.state.putOneTime({
        hash: hashOf(state),
        credentialId: w.credential(0).id,
        purpose: 'state',
        expiresAt: new Date(Date.now() + 60_000).toISOString(),
        data,
      });
      await page.goto(`${w.endpoint.url}/callback?code=not-a-real-code-value&state=${state}`);
      expect(await page.textContent('h1')).toBe('This sign-in cannot be finished');
      expect(await page.textContent('body')).toContain('PKCE verifier');
    }
    expect(
      w.standins.entra.requests.filter((r) => r.route === 'token' && r.body.includes('grant_type=authorization_code')),
    ).toHaveLength(0);

    for (const path of ['/', '/link/extra', '/callback/', '/favicon.ico', '/.well-known/openid-configuration']) {
      expect((await fetch(`${w.endpoint.url}${path}`)).status).toBe(404);
    }
    expect([await w.snapshot(0), await w.snapshot(1)]).toEqual(before);
  });

  it("Google: the link leads to Google's consent (offline access, consent prompt, login_hint), then stored, test-sent through Gmail, pushed", async () => {
    await world({
      standins: { oauth2: { flavor: 'google' }, smtp: { flavor: 'google' } },
      configure: (doc, s) => {
        const c = doc.credentials[0] as Record<string, unknown>;
        Object.assign(c, {
          provider: 'google',
          tenant: undefined,
          clientId: GOOGLE_CLIENT_ID,
          scopes: [GMAIL_SCOPE],
          mailbox: GOOGLE_ACCOUNT,
        });
        c.endpoints = {
          token: s.oauth2!.tokenUrl,
          authorize: s.oauth2!.authorizeUrl,
          deviceCode: s.oauth2!.deviceCodeUrl,
        };
        delete c.authority;
      },
    });
    const ids = secretIds(w.config, w.credential());
    await w.store.putValue(ids.clientSecret, GOOGLE_CLIENT_SECRET, {
      clientRequestToken: randomUUID(),
      stages: ['AWSCURRENT'],
    });
    const g = w.standins.oauth2!;
    const link = (await w.linkIssuer(w.credential().id))!;
    await page.goto(link.url);
    await page.click('#continue');
    await page.waitForURL((u) => u.toString().startsWith(g.authorizeUrl));
    const authorize = new URL(page.url());
    expect(authorize.searchParams.get('access_type')).toBe('offline');
    expect(authorize.searchParams.get('prompt')).toBe('consent');
    expect(authorize.searchParams.get('login_hint')).toBe(GOOGLE_ACCOUNT);
    expect(authorize.searchParams.get('scope')).toBe(`${GMAIL_SCOPE} openid email`);
    await page.click('#accept');
    await page.waitForURL(/\/callback\?/);
    expect(await page.textContent('h1')).toBe('Done: mail from AEM works again');
    const rec = await currentRecord();
    expect(rec).toMatchObject({ source: 'regenerate', account: GOOGLE_ACCOUNT, refreshToken: g.latestRefreshToken() });
    expect(w.standins.smtp.messages.at(-1)?.account).toBe(GOOGLE_ACCOUNT);
    for (const t of w.credential().targets)
      expect(w.standins.cloudManager.valueOf(t.programId, t.environmentId, RT_VAR)).toBe(rec?.refreshToken);
    // Google's tokens are secrets of this run too.
    const leaks = findLeaks({ logs: w.logs.join('\n'), pages: w.endpoint.exchanges.map((e) => e.body).join('\n') }, [
      { kind: 'Google token', values: [...g.issuedRefreshTokens(), ...g.issuedAccessTokens(), GOOGLE_CLIENT_SECRET] },
    ]);
    expect(leaks).toEqual([]);
  });

  it('one link, two sign-ins started at the same moment: exactly one reaches the provider', async () => {
    await world();
    const link = (await w.linkIssuer(w.credential().id))!;
    const answers = await Promise.all([0, 1, 2].map(() => fetch(link.url, { method: 'POST', redirect: 'manual' })));
    expect(answers.map((a) => a.status).sort()).toEqual([303, 410, 410]);
  });

  it('the per-credential limit: past maxLinkUsesPerDay a valid link is refused (and kept for later), nothing stored', async () => {
    await world({ recovery: { maxLinkUsesPerDay: 1 } });
    const first = await killAndAlert();
    await signIn(first, { decision: 'cancel' });
    const before = await w.snapshot();
    await page.goto(first);
    await page.click('#continue');
    expect(await page.textContent('h1')).toBe('Too many sign-ins for this credential today');
    expect(await w.snapshot()).toBe(before);
  });
});
