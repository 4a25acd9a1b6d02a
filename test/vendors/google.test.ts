import { describe, expect, it } from 'vitest';
import { runRotation } from '../../lambdas/pipeline/run.ts';
import {
  GMAIL_SCOPE,
  GOOGLE_ACCOUNT,
  GOOGLE_CLIENT_ID,
  GOOGLE_CLIENT_SECRET,
  type OAuth2Standin,
} from '../../standins/oauth2.ts';
import { cmValue, scanAndCloseAfterEach, startVendorWorld, type VendorWorld } from './support.ts';

let w: VendorWorld | undefined;
const outputs = scanAndCloseAfterEach(
  () => w,
  () => (w = undefined),
);

function google(world: VendorWorld): OAuth2Standin {
  return world.h.standins.oauth2!;
}

/** A Gmail credential on the Google stand-in and the SMTP stand-in in Google's flavor, seeded like `regenerate` would. */
async function gmailWorld(
  o: { scopes?: string[]; tokenScopes?: string[]; testing?: boolean } = {},
): Promise<VendorWorld> {
  const world = await startVendorWorld({
    harness: {
      standins: {
        oauth2: { flavor: 'google', publishingStatus: o.testing ? 'testing' : 'production' },
        smtp: { flavor: 'google' },
      },
    },
    patch: (_c, _i, h) => ({
      provider: 'google',
      tenant: undefined,
      clientId: GOOGLE_CLIENT_ID,
      // Only the token endpoint is local; authorize/device keep Google's defaults, which a refresh never uses.
      endpoints: { token: h.standins.oauth2!.tokenUrl },
      scopes: o.scopes ?? [GMAIL_SCOPE],
      mailbox: GOOGLE_ACCOUNT,
    }),
  });
  const g = google(world);
  world.secrets.push(() => [...g.issuedRefreshTokens(), ...g.issuedAccessTokens(), GOOGLE_CLIENT_SECRET]);
  await world.putSecret(world.ids().clientSecret, GOOGLE_CLIENT_SECRET);
  await world.putToken(g.issueRefreshToken({ scopes: o.tokenScopes ?? [GMAIL_SCOPE] }));
  return world;
}

describe('Google (Gmail): no rotation, smtp.gmail.com-style validation, death causes classified', () => {
  it('refresh returns no new refresh token: the current one is kept (no new version), validated over SMTP, and pushed unchanged', async () => {
    w = await gmailWorld();
    const before = await w.current();
    const result = await runRotation(w.deps(), {});
    outputs.result = JSON.stringify(result);
    const s = result.results[0]!;
    expect(s.failure).toBeUndefined();
    expect(s.redeemed).toBe(true);
    expect(s.promoted).toBe(false);
    expect(s.outcome).toBe('pushed');
    // Google's reply texts, through an authenticated session of the Gmail account.
    expect(s.validation?.response).toMatch(/^250 2\.0\.0 OK .* - gsmtp$/);
    expect(w.h.standins.smtp.messages.at(-1)?.account).toBe(GOOGLE_ACCOUNT);
    const after = await w.current();
    expect(after?.versionId).toBe(before?.versionId);
    expect(after?.record.refreshToken).toBe(before?.record.refreshToken);
    expect(await w.h.store.getValue(w.ids().token, 'AWSPENDING')).toBeUndefined();
    expect(cmValue(w)).toBe(before?.record.refreshToken);
    expect(cmValue(w, 'SECRET_SMTP_OAUTH_REFRESH_TOKEN', 0, 1)).toBe(before?.record.refreshToken);
    // The refresh was a plain RFC 6749 form POST with the secret in the body and Gmail's scope.
    const req = google(w).requests.find((r) => r.route === 'token')!;
    const form = new URLSearchParams(req.body);
    expect(form.get('grant_type')).toBe('refresh_token');
    expect(form.get('client_id')).toBe(GOOGLE_CLIENT_ID);
    expect(form.get('scope')).toBe(GMAIL_SCOPE);
    expect(await w.h.alertMails()).toHaveLength(0);
    // A kept token's obtainedAt does not move, so every scheduled run redeems it again: that use is what keeps a Google
    // token from dying after 6 months unused. The targets already hold it and receive nothing.
    const again = (await runRotation(w.deps(), {})).results[0]!;
    expect(again.failure).toBeUndefined();
    expect(again.redeemed).toBe(true);
    // Holding the same version, they wait only for AEM's quiet period to confirm the first delivery.
    expect(again.targets.every((t) => t.status === 'up-to-date' || t.status === 'confirming')).toBe(true);
  });

  const deaths: Array<{ name: string; kill: (g: OAuth2Standin, token: string) => void; testing?: boolean }> = [
    { name: 'the user revoked the app', kill: (g, t) => g.revoke(t) },
    { name: 'the password changed', kill: (g) => g.changePassword() },
    { name: '6 months unused', kill: (g) => g.clock.advance(184 * 86_400_000) },
    {
      name: 'more than 100 tokens for the account and client',
      kill: (g) => {
        for (let i = 0; i < 100; i++) g.issueRefreshToken();
      },
    },
    { name: '7 days while the app is in "Testing"', kill: (g) => g.clock.advance(8 * 86_400_000), testing: true },
  ];
  for (const d of deaths) {
    it(`invalid_grant after ${d.name}: reauthorize, and the alert lists every Google cause with its fix`, async () => {
      w = await gmailWorld({ testing: d.testing });
      const token = (await w.current())!.record.refreshToken;
      d.kill(google(w), token);
      expect(google(w).refreshTokenInfo(token)).toBeDefined();
      const s = (await runRotation(w.deps(), {})).results[0]!;
      outputs.result = JSON.stringify(s);
      expect(s.failure).toMatchObject({
        class: 'reauthorize',
        code: 'invalid_grant',
        stage: 'refresh',
        remote: 'google',
      });
      expect(s.failure?.message).toContain('Token has been expired or revoked.');
      const fix = s.failure!.fix;
      expect(fix).toContain('token-refresher regenerate --credential aem-mail');
      expect(fix).toContain('"Testing"');
      expect(fix).toContain('In production');
      expect(fix).toContain('7 days');
      expect(fix).toContain('6 months');
      expect(fix).toMatch(/password/);
      expect(fix).toContain('100 refresh tokens');
      expect(fix).toContain('myaccount.google.com/permissions');
      const mails = await w.h.alertMails();
      expect(mails).toHaveLength(1);
      expect(mails[0]!.subject).toContain('invalid_grant');
      expect(mails[0]!.body).toContain('In production');
      // Nothing was stored or pushed.
      expect(cmValue(w)).toBeUndefined();
    });
  }

  it('a token issued in "Testing" works for 7 days, then dies; one issued after publishing keeps working', async () => {
    w = await gmailWorld({ testing: true });
    const g = google(w);
    g.clock.advance(6 * 86_400_000);
    expect((await runRotation(w.deps(), {})).results[0]!.failure).toBeUndefined();
    g.clock.advance(2 * 86_400_000);
    expect((await runRotation(w.deps(), { force: true })).results[0]!.failure?.code).toBe('invalid_grant');
    g.publishingStatus = 'production';
    await w.putToken(g.issueRefreshToken());
    g.clock.advance(30 * 86_400_000);
    const s = (await runRotation(w.deps({ now: () => new Date(Date.now() + 10 * 60_000) }), { force: true }))
      .results[0]!;
    outputs.result = JSON.stringify(s);
    expect(s.failure).toBeUndefined();
    expect((await w.h.alertMails()).at(-1)?.subject).toContain('recovered');
  });

  it('invalid_rapt (Workspace session control): reauthorize with the administrator fix', async () => {
    w = await gmailWorld();
    google(w).failWith('invalid_rapt');
    const s = (await runRotation(w.deps(), {})).results[0]!;
    outputs.result = JSON.stringify(s);
    expect(s.failure).toMatchObject({ class: 'reauthorize', code: 'invalid_rapt', remote: 'google' });
    expect(s.failure?.fix).toContain('Google Cloud session control');
  });

  it('invalid_client (a wrong client secret stored): configuration, fixed with the client-secret command', async () => {
    w = await gmailWorld();
    await w.putSecret(w.ids().clientSecret, 'GOCSPX-not-the-right-secret-000');
    w.secrets.push(() => ['GOCSPX-not-the-right-secret-000']);
    const s = (await runRotation(w.deps(), {})).results[0]!;
    outputs.result = JSON.stringify(s);
    expect(s.failure).toMatchObject({ class: 'configuration', code: 'invalid_client', remote: 'google' });
    expect(s.failure?.fix).toContain('token-refresher client-secret --credential aem-mail');
    expect((await w.h.alertMails())[0]!.body).toContain('token-refresher client-secret --credential aem-mail');
  });

  it('5xx and 429 are transient: retried within the run, and a persisting one mails only after three runs', async () => {
    w = await gmailWorld();
    google(w).failWith('temporarily_unavailable', 2);
    const ok = (await runRotation(w.deps(), {})).results[0]!;
    expect(ok.failure).toBeUndefined();
    expect(google(w).faults.count('token')).toBe(3);
    google(w).failWith({ status: 429, error: 'rate_limit_exceeded', retryAfterSec: 0 }, 100);
    for (let run = 1; run <= 3; run++) {
      const s = (await runRotation(w.deps({ now: () => new Date(Date.now() + run * 10 * 60_000) }), { force: true }))
        .results[0]!;
      outputs[`run${run}`] = JSON.stringify(s);
      expect(s.failure).toMatchObject({ class: 'transient', code: 'rate_limit_exceeded' });
      expect(await w.h.alertMails()).toHaveLength(run < 3 ? 0 : 1);
    }
  });

  it("Gmail refuses the token over SMTP (334 challenge, then 535 5.7.8): SMTP_535_5.7.8, reauthorize, with Google's status", async () => {
    // A token for gmail.send is a valid Google token, but SMTP needs https://mail.google.com/.
    const gmailSend = 'https://www.googleapis.com/auth/gmail.send';
    w = await gmailWorld({ scopes: [gmailSend], tokenScopes: [gmailSend] });
    const s = (await runRotation(w.deps(), {})).results[0]!;
    outputs.result = JSON.stringify(s);
    expect(s.failure).toMatchObject({
      class: 'reauthorize',
      code: 'SMTP_535_5.7.8',
      stage: 'validate',
      remote: 'smtp',
    });
    expect(s.failure?.message).toContain('status "400"');
    expect(s.failure?.message).toContain('scope "https://mail.google.com/"');
    expect(s.failure?.fix).toContain(GMAIL_SCOPE);
    expect(s.failure?.fix).toContain('"Testing"');
    const mails = await w.h.alertMails();
    expect(mails).toHaveLength(1);
    expect(mails[0]!.subject).toContain('SMTP_535_5.7.8');
    expect(w.h.standins.smtp.stats.authFailures).toBe(1);
    expect(cmValue(w)).toBeUndefined();
  });
});
