import { afterEach, describe, expect, it } from 'vitest';
import { secretIds } from '../../lambdas/config/load.ts';
import { rotateCredential, SimulatedCrash, type RotationSummary, type Step } from '../../lambdas/pipeline/rotate.ts';
import { runRotation } from '../../lambdas/pipeline/run.ts';
import { parseTokenRecord } from '../../lambdas/store/records.ts';
import { targetKey } from '../../lambdas/push/cloud-manager-target.ts';
import { assertNoSecrets, startHarness, type Harness } from '../support/harness.ts';

const RT_VAR = 'SECRET_SMTP_OAUTH_REFRESH_TOKEN';
let h: Harness | undefined;
const outputs: Record<string, string> = {};

afterEach(async () => {
  if (h) {
    // Every test ends by proving nothing it produced carries a secret.
    const mails = await h.alertMails();
    assertNoSecrets(
      { ...outputs, logs: h.logs.join(''), alerts: JSON.stringify(mails), metrics: JSON.stringify(h.metrics.points) },
      h.secrets(),
    );
    await h.close();
    h = undefined;
  }
  for (const k of Object.keys(outputs)) delete outputs[k];
});

async function tokenState(hh: Harness) {
  const c = hh.config.credentials[0]!;
  const ids = secretIds(hh.config, c);
  const versions = await hh.store.listVersions(ids.token);
  const current = await hh.store.getValue(ids.token, 'AWSCURRENT');
  const pending = await hh.store.getValue(ids.token, 'AWSPENDING');
  const all: string[] = [];
  for (const v of versions) {
    // Values of every version, to check the newest issued token is somewhere in the store.
    const val = v.stages.includes('AWSCURRENT') ? current : v.stages.includes('AWSPENDING') ? pending : undefined;
    if (val) all.push(parseTokenRecord(val.value, ids.token).refreshToken);
  }
  return {
    versions,
    current: current && parseTokenRecord(current.value, ids.token),
    currentVersionId: current?.versionId,
    pending: pending && parseTokenRecord(pending.value, ids.token),
    stored: all,
  };
}

function cmValue(hh: Harness, t = 0) {
  const target = hh.config.credentials[0]!.targets[t]!;
  return hh.standins.cloudManager.valueOf(target.programId, target.environmentId, RT_VAR);
}

function record(name: string, r: unknown) {
  outputs[name] = JSON.stringify(r);
}

describe('rotation pipeline on real peers (moto, smtp-server, stand-ins)', () => {
  it('happy path: refresh, validate by a test send, store, promote, push to every target, no alert', async () => {
    h = await startHarness();
    await h.seed();
    const before = await tokenState(h);
    const result = await runRotation(h.wiring(), { credentials: ['aem-mail'] });
    record('result', result);
    const s = result.results[0]!;
    expect(s.outcome).toBe('rotated');
    expect(s.redeemed).toBe(true);
    expect(s.promoted).toBe(true);
    expect(s.failure).toBeUndefined();
    expect(s.targets.map((t) => t.status)).toEqual(['pushed', 'pushed']);

    const after = await tokenState(h);
    const newest = h.standins.entra.latestRefreshToken();
    expect(after.current?.refreshToken).toBe(newest);
    expect(after.current?.refreshToken).not.toBe(before.current?.refreshToken);
    expect(after.current?.source).toBe('rotate');
    // The value Cloud Manager holds is the current token, in every target.
    expect(cmValue(h, 0)).toBe(newest);
    expect(cmValue(h, 1)).toBe(newest);
    // Each target's delivery record holds the current version, issued when the token was obtained.
    const records = await h.state.listDeliveries('aem-mail');
    for (const t of h.config.credentials[0]!.targets) {
      const r = records.find((x) => x.targetKey === targetKey(t));
      expect(r?.versionId).toBe(after.currentVersionId);
      expect(r?.issuedAt).toBe(after.current?.obtainedAt);
      expect(r?.pushReason).toBe('first');
    }
    // AWSPENDING is detached after the promotion (the rotation protocol's last step).
    expect(after.pending).toBeUndefined();
    // The mail that arrived names the credential and the run, and came through an authenticated session.
    const mail = h.standins.smtp.messages.at(-1)!;
    expect(mail.subject).toContain('aem-mail');
    expect(mail.subject).toContain(s.runId);
    expect(mail.account).toBe('mailer@contoso.com');
    expect(await h.alertMails()).toHaveLength(0);
    expect(h.metrics.sum('RotationSuccess', 'aem-mail')).toBe(1);
    // A second run within the rotation interval redeems nothing and pushes nothing.
    const again = await runRotation(h.wiring(), {});
    expect(again.results[0]!.outcome).toBe('up-to-date');
    expect(again.results[0]!.redeemed).toBe(false);
    // The targets hold the current token and wait for AEM's quiet period to confirm it: no second push.
    expect(again.results[0]!.targets.map((t) => t.status)).toEqual(['confirming', 'confirming']);
    expect(h.metrics.sum('PushSuccess', 'aem-mail')).toBe(2);
  });

  const crashPoints: Array<{ step: Step; redeemNext: boolean }> = [
    { step: 'redeem', redeemNext: true },
    { step: 'store', redeemNext: false },
    { step: 'validate', redeemNext: false },
    { step: 'promote', redeemNext: false },
    { step: 'push-target', redeemNext: false },
  ];
  for (const { step, redeemNext } of crashPoints) {
    it(`a crash after ${step} loses no token and the next run converges${redeemNext ? '' : ' without a second redeem'}`, async () => {
      h = await startHarness();
      await h.seed();
      const before = await tokenState(h);
      let crashed = false;
      const crashing = h.wiring({
        hooks: {
          afterStep: (s) => {
            if (s === step && !crashed) {
              crashed = true;
              throw new SimulatedCrash(s);
            }
          },
        },
      });
      await expect(rotateCredential(crashing, h.config.credentials[0]!, { force: true })).rejects.toBeInstanceOf(
        SimulatedCrash,
      );
      const mid = await tokenState(h);
      const newest = h.standins.entra.latestRefreshToken()!;
      if (step === 'redeem') {
        // Killed between the provider's answer and the write: the new token existed only in memory, but the stored
        // one was never revoked (Microsoft keeps old refresh tokens valid), so nothing is lost.
        expect(mid.current?.refreshToken).toBe(before.current?.refreshToken);
        expect(h.standins.entra.refreshTokenInfo(before.current!.refreshToken)?.revoked).toBe(false);
      } else {
        expect(mid.stored).toContain(newest);
      }
      const redeemsBefore = h.standins.entra.faults.count('token');
      // The crashed run's lease runs out; the next scheduled run comes after it.
      const later = new Date(Date.now() + 10 * 60_000);
      const next = await rotateCredential(h.wiring({ now: () => later }), h.config.credentials[0]!, {});
      record(`next-${step}`, next);
      expect(next.failure).toBeUndefined();
      expect(next.redeemed).toBe(redeemNext);
      expect(h.standins.entra.faults.count('token') - redeemsBefore).toBe(redeemNext ? 1 : 0);
      const end = await tokenState(h);
      expect(end.current?.refreshToken).toBe(h.standins.entra.latestRefreshToken());
      expect(cmValue(h, 0)).toBe(end.current?.refreshToken);
      expect(cmValue(h, 1)).toBe(end.current?.refreshToken);
    });
  }

  it('a provider that does not rotate keeps the current token and still validates', async () => {
    h = await startHarness({ standins: { entra: { rotate: false } } });
    await h.seed();
    const before = await tokenState(h);
    const s = (await runRotation(h.wiring(), {})).results[0]!;
    record('result', s);
    expect(s.failure).toBeUndefined();
    expect(s.redeemed).toBe(true);
    expect(s.promoted).toBe(false);
    expect(s.validation?.response).toMatch(/^250/);
    const after = await tokenState(h);
    expect(after.currentVersionId).toBe(before.currentVersionId);
    expect(after.pending?.refreshToken ?? after.current?.refreshToken).toBe(before.current?.refreshToken);
    expect(cmValue(h)).toBe(before.current?.refreshToken);
  });

  it('invalid_grant AADSTS700082: a person must re-authorize; the alert names the regenerate command; nothing changes', async () => {
    h = await startHarness();
    await h.seed();
    const before = await tokenState(h);
    h.standins.entra.expireAll(700082);
    const s = (await runRotation(h.wiring(), {})).results[0]!;
    record('result', s);
    expect(s.outcome).toBe('failed');
    expect(s.failure).toMatchObject({ class: 'reauthorize', code: 'AADSTS700082', stage: 'refresh', remote: 'entra' });
    expect(s.failure?.fix).toContain('token-refresher regenerate --credential aem-mail');
    const mails = await h.alertMails();
    expect(mails).toHaveLength(1);
    expect(mails[0]!.subject).toContain('AADSTS700082');
    expect(mails[0]!.body).toContain('token-refresher regenerate --credential aem-mail');
    const ids = (v: Awaited<ReturnType<typeof tokenState>>) =>
      v.versions.map((x) => [x.versionId, [...x.stages].sort()]);
    expect(ids(await tokenState(h))).toEqual(ids(before));
    // The same failure on the next run does not mail again.
    await runRotation(h.wiring(), {});
    expect(await h.alertMails()).toHaveLength(1);
  });

  it('invalid_client AADSTS7000222: an administrator must renew the client secret', async () => {
    h = await startHarness();
    await h.seed();
    h.standins.entra.setClientSecretExpired(true);
    const s = (await runRotation(h.wiring(), {})).results[0]!;
    record('result', s);
    expect(s.failure).toMatchObject({ class: 'configuration', code: 'AADSTS7000222' });
    expect(s.failure?.fix).toMatch(/client secret/i);
    const mails = await h.alertMails();
    expect(mails[0]!.body).toContain('token-refresher client-secret --credential aem-mail');
  });

  it('503 with Retry-After is retried after the advertised delay and then succeeds', async () => {
    h = await startHarness();
    await h.seed();
    h.standins.entra.failWith('temporarily_unavailable', 2, { retryAfterSec: 1 });
    const t0 = Date.now();
    const s = (await runRotation(h.wiring(), {})).results[0]!;
    record('result', s);
    expect(s.outcome).toBe('rotated');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(2_000);
    expect(h.standins.entra.faults.count('token')).toBe(3);
  });

  it('a token endpoint that never answers ends in a classified timeout, without an alert on the first run', async () => {
    h = await startHarness({ configure: (doc) => void (doc.http = { timeoutMs: 300, retries: 1, maxConcurrency: 4 }) });
    await h.seed();
    h.standins.entra.inject('token', { kind: 'hang' }, 5);
    const s = (await runRotation(h.wiring(), {})).results[0]!;
    record('result', s);
    expect(s.failure).toMatchObject({ class: 'transient', code: 'TIMEOUT', remote: 'entra' });
    expect(await h.alertMails()).toHaveLength(0);
  });

  for (const fault of ['535 5.7.3', '535 5.7.139'] as const) {
    it(`SMTP ${fault}: classified alert with the fix; the new token is kept as pending, not promoted or pushed`, async () => {
      h = await startHarness();
      await h.seed();
      const before = await tokenState(h);
      h.standins.smtp.injectFault(fault);
      const s = (await runRotation(h.wiring(), {})).results[0]!;
      record('result', s);
      const code = `SMTP_${fault.replace(' ', '_')}`;
      expect(s.failure).toMatchObject({ class: 'configuration', code, stage: 'validate' });
      const after = await tokenState(h);
      expect(after.currentVersionId).toBe(before.currentVersionId);
      expect(after.pending?.refreshToken).toBe(h.standins.entra.latestRefreshToken());
      expect(cmValue(h)).toBeUndefined();
      const mails = await h.alertMails();
      expect(mails).toHaveLength(1);
      expect(mails[0]!.subject).toContain(code);
      if (fault === '535 5.7.139')
        expect(mails[0]!.body).toContain(
          'Set-CASMailbox -Identity mailer@contoso.com -SmtpClientAuthenticationDisabled $false',
        );
      expect(h.metrics.sum('ValidationFailure', 'aem-mail')).toBe(1);
      // Once fixed, the next run resumes with the pending token: no second redeem, one recovery mail.
      const next = (await runRotation(h.wiring({ now: () => new Date(Date.now() + 10 * 60_000) }), {})).results[0]!;
      expect(next.outcome).toBe('resumed');
      expect(next.redeemed).toBe(false);
      expect(cmValue(h)).toBe(h.standins.entra.latestRefreshToken());
      const all = await h.alertMails();
      expect(all.at(-1)!.subject).toContain('recovered');
    });
  }

  it('Cloud Manager busy (412) on the PATCH after the environment said ready: retried, then accepted', async () => {
    h = await startHarness();
    await h.seed();
    h.standins.cloudManager.inject('variables-patch', { kind: 'status', status: 412 }, 2);
    const s = (await runRotation(h.wiring(), {})).results[0]!;
    record('result', s);
    expect(s.failure).toBeUndefined();
    expect(s.targets.every((t) => t.status === 'pushed')).toBe(true);
    expect(cmValue(h)).toBe(h.standins.entra.latestRefreshToken());
  });

  it('an environment that is updating is not pushed to: deferred without a failure, pushed once it is ready', async () => {
    h = await startHarness();
    await h.seed();
    const t0 = h.config.credentials[0]!.targets[0]!;
    h.standins.cloudManager.setEnvironmentStatus(t0.programId, t0.environmentId, 'updating');
    const s = (await runRotation(h.wiring(), {})).results[0]!;
    record('result', s);
    expect(s.failure).toBeUndefined();
    expect(s.targets.map((t) => [t.status, t.code])).toEqual([
      ['deferred', 'CM_ENV_NOT_READY'],
      ['pushed', undefined],
    ]);
    expect(cmValue(h, 0)).not.toBe(h.standins.entra.latestRefreshToken());
    expect(await h.alertMails()).toHaveLength(0);
    h.standins.cloudManager.setEnvironmentStatus(t0.programId, t0.environmentId, 'ready');
    const next = (await runRotation(h.wiring(), { mode: 'deliver' })).results[0]!;
    expect(next.targets[0]!.status).toBe('pushed');
    expect(cmValue(h, 0)).toBe(h.standins.entra.latestRefreshToken());
  });

  it('a value over the length limit fails clearly before any Cloud Manager request', async () => {
    h = await startHarness();
    await h.seed();
    const s = (await runRotation(h.wiring({ maxSecretLength: 500 }), {})).results[0]!;
    record('result', s);
    expect(s.failure).toMatchObject({ class: 'configuration', code: 'CM_VALUE_TOO_LONG', stage: 'push' });
    expect(s.failure?.message).toContain(RT_VAR);
    expect(s.failure?.message).toMatch(/1200/);
    expect(h.standins.cloudManager.faults.count('variables-patch')).toBe(0);
    // The token itself rotated and is current: only the delivery is blocked.
    expect((await tokenState(h)).current?.refreshToken).toBe(h.standins.entra.latestRefreshToken());
  });

  it('two concurrent runs of one credential: the lease lets exactly one redeem', async () => {
    h = await startHarness();
    await h.seed();
    const c = h.config.credentials[0]!;
    const [a, b] = await Promise.all([
      rotateCredential(h.wiring(), c, { force: true }),
      rotateCredential(h.wiring(), c, { force: true }),
    ]);
    record('a', a);
    record('b', b);
    const outcomes = [a.outcome, b.outcome].sort();
    expect(outcomes).toEqual(['rotated', 'skipped']);
    expect(h.standins.entra.faults.count('token')).toBe(1);
    const end = await tokenState(h);
    expect(cmValue(h, 0)).toBe(end.current?.refreshToken);
    expect(cmValue(h, 1)).toBe(end.current?.refreshToken);
  });

  it('two concurrent runs without the lease: the compare-and-swap allows exactly one promotion and both targets end current', async () => {
    h = await startHarness();
    await h.seed();
    const c = h.config.credentials[0]!;
    const results: RotationSummary[] = await Promise.all([
      rotateCredential(h.wiring({ useLease: false }), c, { force: true }),
      rotateCredential(h.wiring({ useLease: false }), c, { force: true }),
    ]);
    record('results', results);
    expect(results.filter((r) => r.promoted)).toHaveLength(1);
    expect(results.every((r) => r.failure === undefined)).toBe(true);
    const end = await tokenState(h);
    expect(cmValue(h, 0)).toBe(end.current?.refreshToken);
    expect(cmValue(h, 1)).toBe(end.current?.refreshToken);
    // Both issued tokens were written as versions (the loser's stays in the store, unlabelled or pending).
    const lastTwo = h.standins.entra.issuedRefreshTokens().slice(-2);
    expect(lastTwo).toContain(end.current?.refreshToken);
    expect(end.versions.length).toBeGreaterThanOrEqual(3);
  });
});
