import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloudManagerClient } from '../../lambdas/push/cloud-manager.ts';
import { cloudManagerProbe } from '../../lambdas/deliver/cloud-manager-probe.ts';
import { followUp, type FollowUpLimits } from '../../lambdas/deliver/confirm.ts';
import { DELIVERY_DEFAULTS } from '../../lambdas/config/delivery-schema.ts';
import type { DeliveryRecord } from '../../lambdas/store/state-store.ts';
import { startCloudManagerStandin, type CloudManagerStandin } from '../../standins/cloudmanager.ts';

// The delivery follow-up (restart, quiet period, AEM's log) on the Cloud Manager probe and stand-in, on one
// controlled clock: the contract between the two halves, end to end over HTTP.
const P = '12345';
const E = '67890';
const TOKEN = 'follow-up-token-123456';
const MIN = 60_000;
const HOUR = 60 * MIN;
let t = Date.UTC(2026, 11, 5, 2, 10, 0);

let cm: CloudManagerStandin;
let client: CloudManagerClient;
const target = {
  programId: P,
  environmentId: E,
  services: ['author' as const, 'publish' as const],
  label: `program ${P} / environment ${E}`,
};
const limits = (): FollowUpLimits => ({
  maxLogBytes: 10_000_000,
  // Real time: the follow-up leaves a poll's worth of it before the deadline, and the polls here are virtual.
  deadlineMs: Date.now() + 24 * HOUR,
  waitForReadyMs: 30 * MIN,
  pollMs: MIN,
  sleep: async (ms) => void (t += ms),
  now: () => new Date(t),
});

beforeAll(async () => {
  cm = await startCloudManagerStandin({
    apiKey: 'k',
    orgId: 'O@AdobeOrg',
    isValidToken: (x) => x === TOKEN,
    now: () => t,
    updateDurationMs: 7 * MIN,
  });
  client = new CloudManagerClient({
    endpoint: cm.url,
    apiKey: 'k',
    orgId: 'O@AdobeOrg',
    token: async () => TOKEN,
    timeoutMs: 5_000,
    retries: 1,
    baseDelayMs: 1,
  });
});
afterAll(async () => {
  await cm.close();
});

async function push(): Promise<DeliveryRecord> {
  await client.patchVariables(P, E, [
    { name: 'SECRET_SMTP_OAUTH_REFRESH_TOKEN', value: `refresh-${t}-abcdef`, type: 'secretString' },
  ]);
  const at = new Date(t).toISOString();
  return {
    credentialId: 'aem-mail',
    targetKey: 'cm_12345_67890_all',
    versionId: `v${t}`,
    issuedAt: at,
    pushedAt: at,
    phase: 'restarting',
    phaseSince: at,
  };
}

describe('follow-up of a push through the Cloud Manager probe', () => {
  it('restart seen through to ready, a quiet period without mail-auth errors, then confirmed', async () => {
    const probe = cloudManagerProbe({ client }, { now: () => new Date(t) });
    const pushed = await push();
    expect(cm.environmentStatus(P, E)).toBe('updating');
    const first = await followUp(pushed, target, DELIVERY_DEFAULTS, probe, limits());
    expect(first.events.map((e) => e.kind)).toEqual(['ready']);
    expect(first.record.phase).toBe('quiet');
    cm.appendLog(P, E, 'author', {
      at: t + 10 * MIN,
      level: 'INFO',
      logger: 'com.day.cq.mailer.impl.DefaultMailService',
      message: 'Mail sent',
    });
    t += 2 * HOUR + MIN;
    const second = await followUp(first.record, target, DELIVERY_DEFAULTS, probe, limits());
    expect(second.events.map((e) => e.kind)).toEqual(['confirmed']);
    expect(second.record.logCursor?.author?.offset).toBe(
      cm.logSize(P, E, 'author', new Date(t).toISOString().slice(0, 10)),
    );
  });

  it('a mail-auth failure AEM logs after the restart fails the delivery with the redacted line', async () => {
    const probe = cloudManagerProbe({ client }, { now: () => new Date(t) });
    t += HOUR;
    const pushed = await push();
    const ready = await followUp(pushed, target, DELIVERY_DEFAULTS, probe, limits());
    expect(ready.record.phase).toBe('quiet');
    cm.appendLog(P, E, 'publish', {
      at: t + 5 * MIN,
      message:
        'Failed to send: javax.mail.AuthenticationFailedException: 535 5.7.3 Authentication unsuccessful; token eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9AbC123',
    });
    t += 30 * MIN;
    const failed = await followUp(ready.record, target, DELIVERY_DEFAULTS, probe, limits());
    expect(failed.record.phase).toBe('failed');
    expect(failed.record.lastProblem?.code).toBe('AEM_MAIL_AUTH_FAILED');
    expect(failed.record.lastProblem?.lines).toEqual([
      expect.stringMatching(/^publish: .*535 5\.7\.3 .*\[REDACTED\]$/),
    ]);
    expect(JSON.stringify(failed)).not.toContain('eyJ0eXAiOiJKV1Qi');
  });
});
