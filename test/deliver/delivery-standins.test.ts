import { afterEach, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../../lambdas/config/schema.ts';
import { runRotation } from '../../lambdas/pipeline/run.ts';
import { targetKey } from '../../lambdas/push/cloud-manager-target.ts';
import { assertNoSecrets, startHarness, type Harness } from '../support/harness.ts';

/**
 * The delivery stage on real peers: the Cloud Manager stand-in restarts an environment after a PATCH (on its clock),
 * runs pipelines and serves AEM's logs; moto's SES receives the alerts. One clock drives the stand-ins and the pipeline.
 */
let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

async function world(configure?: (doc: ConfigInput) => void, startAt = Date.parse('2026-12-01T09:00:00Z')) {
  const clock = { t: startAt };
  const hh = await startHarness({
    standins: { cloudManager: { now: () => clock.t, updateDurationMs: 5 * 60_000 } },
    configure: (doc) => {
      doc.credentials[0]!.delivery = { quietPeriodHours: 2 };
      configure?.(doc);
    },
  });
  // The Entra stand-in's clock runs from real time; move it to the simulated start.
  hh.standins.entra.clock.advance(startAt - Date.now());
  h = hh;
  await hh.seed();
  const advance = (ms: number) => {
    clock.t += ms;
    hh.standins.entra.clock.advance(ms);
  };
  // The pipeline waits for a restart by sleeping on the same clock, as the year simulation does.
  const wiring = () =>
    hh.wiring({
      now: () => new Date(clock.t),
      sleep: async (ms) => advance(ms),
      delivery: { pollMs: 60_000, waitForReadyMs: 15 * 60_000 },
    });
  const c = hh.config.credentials[0]!;
  const env = (i: number) => ({
    programId: c.targets[i]!.programId,
    environmentId: c.targets[i]!.environmentId,
    key: targetKey(c.targets[i]!),
  });
  return { h: hh, clock, advance, wiring, c, env };
}

describe('delivery to AEM on the stand-ins', () => {
  it('a push is deferred while the environment is updating and while a pipeline deploys to it, then happens', async () => {
    const w = await world();
    const e0 = w.env(0);
    const e1 = w.env(1);
    w.h.standins.cloudManager.setUpdating(e0.programId, e0.environmentId, 2 * HOUR);
    const pipeline = w.h.standins.cloudManager.addPipeline(e1.programId, { deploysTo: [e1.environmentId] });
    w.h.standins.cloudManager.startExecution(e1.programId, pipeline);
    const first = (await runRotation(w.wiring(), {})).results[0]!;
    expect(first.failure).toBeUndefined();
    expect(first.targets.map((t) => [t.status, t.code])).toEqual([
      ['deferred', 'CM_ENV_NOT_READY'],
      ['deferred', 'CM_PIPELINE_RUNNING'],
    ]);
    expect(w.h.standins.cloudManager.patchCount).toBe(0);

    w.advance(3 * HOUR);
    w.h.standins.cloudManager.setExecutionStatus(e1.programId, pipeline, 'FINISHED');
    const second = (await runRotation(w.wiring(), { mode: 'deliver' })).results[0]!;
    expect(second.targets.map((t) => t.status)).toEqual(['pushed', 'pushed']);
    expect(w.h.standins.cloudManager.patchCount).toBe(2);
    // The pipeline followed the restart through `updating` back to `ready` (on the shared clock) in the same run.
    expect(second.targets.map((t) => t.phase)).toEqual(['quiet', 'quiet']);
  });

  it("confirmation from AEM's own log, and a mail-auth error AEM logs after the restart is detected and alerted, redacted", async () => {
    const w = await world();
    const e0 = w.env(0);
    const e1 = w.env(1);
    await runRotation(w.wiring(), {});
    expect(w.h.standins.cloudManager.patchCount).toBe(2);
    // After the restart AEM's mail service fails on environment 1 (with a token-like string in the line).
    w.advance(30 * 60_000);
    const leaky =
      'eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJodHRwczovL291dGxvb2sub2ZmaWNlLmNvbSJ9.c2lnbmF0dXJlc2lnbmF0dXJl';
    w.h.standins.cloudManager.appendLog(e1.programId, e1.environmentId, 'author', {
      message: `Failed to send mail: javax.mail.AuthenticationFailedException: 535 5.7.3 Authentication unsuccessful [token ${leaky}]`,
    });
    w.h.standins.cloudManager.appendLog(e0.programId, e0.environmentId, 'author', {
      level: 'INFO',
      logger: 'com.day.cq.mailer.impl.DefaultMailService',
      message: 'mail sent',
    });
    w.advance(3 * HOUR);
    const after = (await runRotation(w.wiring(), { mode: 'deliver' })).results[0]!;
    expect(after.targets.map((t) => t.phase)).toEqual(['confirmed', 'failed']);
    const records = await w.h.state.listDeliveries(w.c.id);
    expect(records.find((r) => r.targetKey === e0.key)?.confirmedAt).toBeDefined();
    const failed = records.find((r) => r.targetKey === e1.key)!;
    expect(failed.lastProblem?.code).toBe('AEM_MAIL_AUTH_FAILED');
    expect(failed.lastProblem?.lines?.join('\n')).toContain('535 5.7.3');
    const mails = await w.h.alertMails();
    const alert = mails.find((m) => m.subject.includes('AEM_MAIL_AUTH_FAILED'))!;
    expect(alert.body).toContain('535 5.7.3 Authentication unsuccessful');
    expect(alert.body).not.toContain(leaky);
    expect(JSON.stringify(records)).not.toContain(leaky);
    assertNoSecrets({ alerts: JSON.stringify(mails), records: JSON.stringify(records), logs: w.h.logs.join('') }, [
      ...w.h.secrets(),
      leaky,
    ]);
  });

  it('a follow-up the function had no time for is picked up by the next invocation', async () => {
    const w = await world();
    w.h.standins.cloudManager.setUpdateDuration(40 * 60_000);
    // No time to wait for the restart in this invocation.
    const first = (
      await runRotation(
        w.h.wiring({ now: () => new Date(w.clock.t), delivery: { waitForReadyMs: 0, pollMs: 60_000 } }),
        {},
      )
    ).results[0]!;
    expect(first.targets.map((t) => t.phase)).toEqual(['restarting', 'restarting']);
    w.advance(45 * 60_000);
    const next = (await runRotation(w.wiring(), { mode: 'deliver' })).results[0]!;
    expect(next.targets.map((t) => t.phase)).toEqual(['quiet', 'quiet']);
    expect(w.h.standins.cloudManager.patchCount).toBe(2);
    w.advance(2.5 * HOUR);
    const last = (await runRotation(w.wiring(), { mode: 'deliver' })).results[0]!;
    expect(last.targets.map((t) => t.phase)).toEqual(['confirmed', 'confirmed']);
    // Nothing left to do: the delivery schedule now finds no work and reads nothing but the table.
    const idle = await runRotation(w.wiring(), { mode: 'deliver' });
    expect(idle.results).toHaveLength(0);
    expect(idle.idle).toBe(1);
    expect(w.h.standins.cloudManager.patchCount).toBe(2);
  });

  it('a target pushed once is pushed again when its copy gets old: the second push reaches every target', async () => {
    const w = await world();
    await runRotation(w.wiring(), {});
    expect(w.h.standins.cloudManager.patchCount).toBe(2);
    w.advance(61 * DAY);
    const s = (await runRotation(w.wiring(), {})).results[0]!;
    expect(s.targets.map((t) => [t.status, t.reason])).toEqual([
      ['pushed', 'age'],
      ['pushed', 'age'],
    ]);
    expect(w.h.standins.cloudManager.patchCount).toBe(4);
    const newest = w.h.standins.entra.latestRefreshToken();
    for (const i of [0, 1])
      expect(
        w.h.standins.cloudManager.valueOf(
          w.env(i).programId,
          w.env(i).environmentId,
          'SECRET_SMTP_OAUTH_REFRESH_TOKEN',
        ),
      ).toBe(newest);
  });

  it('deadline rule: a copy that would die before the next window ends is pushed now, outside the window, and alerted', async () => {
    const w = await world((doc) => {
      doc.credentials[0]!.delivery = {
        quietPeriodHours: 2,
        windows: [{ days: ['sat'], start: '02:00', durationMinutes: 240, timeZone: 'Europe/Zurich' }],
      };
    });
    await runRotation(w.wiring(), { mode: 'deliver', pushNow: 'all' });
    expect(w.h.standins.cloudManager.patchCount).toBe(2);
    // 59 days later (a Wednesday): not due yet. 77 days: due, and the Saturday window would end too late.
    w.advance(59 * DAY);
    const quiet = (await runRotation(w.wiring(), {})).results[0]!;
    expect(quiet.targets.every((t) => t.status !== 'pushed')).toBe(true);
    w.advance(18 * DAY);
    const s = (await runRotation(w.wiring(), {})).results[0]!;
    expect(s.targets.map((t) => [t.status, t.reason, t.outsideWindow])).toEqual([
      ['pushed', 'deadline', true],
      ['pushed', 'deadline', true],
    ]);
    const mails = await w.h.alertMails();
    expect(
      mails.some(
        (m) => m.subject.includes('pushed outside a maintenance window') && m.body.includes('DELIVERY_DEADLINE_PUSH'),
      ),
    ).toBe(true);
    const records = await w.h.state.listDeliveries(w.c.id);
    expect(records.every((r) => r.pushReason === 'deadline' && r.pushedOutsideWindow === true)).toBe(true);
  });

  it('staged rollout: a failure in an earlier stage holds the later one and alerts', async () => {
    const w = await world((doc) => {
      const c = doc.credentials[0]!;
      c.delivery = { quietPeriodHours: 2, stages: ['dev', 'prod'] };
      c.targets![0]!.stage = 'dev';
      c.targets![1]!.stage = 'prod';
    });
    const e0 = w.env(0);
    const first = (await runRotation(w.wiring(), {})).results[0]!;
    // prod waits for dev to be confirmed and to soak.
    expect(first.targets.map((t) => t.status)).toEqual(['pushed', 'held']);
    w.advance(30 * 60_000);
    w.h.standins.cloudManager.appendLog(e0.programId, e0.environmentId, 'author', {
      message: 'Could not send mail: invalid_grant AADSTS50173: The provided grant has expired due to it being revoked',
    });
    w.advance(3 * HOUR);
    const s = (await runRotation(w.wiring(), { mode: 'deliver' })).results[0]!;
    expect(s.targets.map((t) => t.status)).toEqual(['failed', 'held']);
    expect(s.targets[1]!.why).toContain('AEM_MAIL_AUTH_FAILED');
    w.advance(2 * DAY);
    const later = (await runRotation(w.wiring(), {})).results[0]!;
    expect(later.targets[1]!.status).toBe('held');
    expect(w.h.standins.cloudManager.patchCount).toBe(1);
    const mails = await w.h.alertMails();
    expect(mails.some((m) => m.body.includes('DELIVERY_STAGE_HELD'))).toBe(true);
  });
});
