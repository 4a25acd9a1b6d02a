import { describe, expect, it } from 'vitest';
import { DELIVERY_DEFAULTS, effectiveDelivery, type DeliverySettings } from '../../lambdas/config/delivery-schema.ts';
import { planDelivery, stageGate, type PlanInput } from '../../lambdas/deliver/policy.ts';
import {
  currentWindow,
  longestWaitDays,
  nextWindow,
  zonedInstant,
  type WeeklyWindow,
} from '../../lambdas/deliver/windows.ts';
import type { DeliveryRecord } from '../../lambdas/store/state-store.ts';

const DAY = 86_400_000;
const PROD: WeeklyWindow = { days: ['sat'], start: '02:00', durationMinutes: 240, timeZone: 'Europe/Zurich' };
const STAGE: WeeklyWindow = { days: ['tue'], start: '22:00', durationMinutes: 240, timeZone: 'Europe/Zurich' };

describe('weekly maintenance windows in a time zone', () => {
  it('Saturday 02:00 Europe/Zurich is 01:00 UTC in winter and 00:00 UTC in summer', () => {
    expect(nextWindow([PROD], new Date('2026-12-01T09:00:00Z'))).toEqual({
      start: new Date('2026-12-05T01:00:00Z'),
      end: new Date('2026-12-05T05:00:00Z'),
    });
    expect(nextWindow([PROD], new Date('2026-07-01T09:00:00Z'))?.start).toEqual(new Date('2026-07-04T00:00:00Z'));
  });

  it('knows when it is inside a window and not after its end', () => {
    expect(currentWindow([PROD], new Date('2026-12-05T02:30:00Z'))?.start).toEqual(new Date('2026-12-05T01:00:00Z'));
    expect(currentWindow([PROD], new Date('2026-12-05T05:00:00Z'))).toBeUndefined();
    expect(currentWindow([PROD], new Date('2026-12-05T00:59:59Z'))).toBeUndefined();
  });

  it('a start in the skipped hour of spring forward opens at the first valid instant after it', () => {
    // 2026-03-29 02:30 does not exist in Zurich (02:00 CET jumps to 03:00 CEST).
    expect(zonedInstant(2026, 3, 29, 2, 30, 'Europe/Zurich').toISOString()).toBe('2026-03-29T01:30:00.000Z');
  });

  it('the windows on two days are both found, the nearest first', () => {
    const both = [PROD, STAGE];
    expect(nextWindow(both, new Date('2026-12-01T09:00:00Z'))?.start).toEqual(new Date('2026-12-01T21:00:00Z'));
    expect(nextWindow(both, new Date('2026-12-02T09:00:00Z'))?.start).toEqual(new Date('2026-12-05T01:00:00Z'));
  });

  it('the longest wait for a weekly window is a week plus its duration', () => {
    expect(longestWaitDays([PROD])).toBeCloseTo(7 + 4 / 24 + 1 / 24, 2);
    expect(longestWaitDays([])).toBe(0);
  });
});

const settings = (over: Partial<DeliverySettings> = {}): DeliverySettings => ({
  ...DELIVERY_DEFAULTS,
  windows: [PROD],
  ...over,
});
const at = (iso: string) => new Date(iso);
const record = (issuedDaysAgo: number, now: Date, over: Partial<DeliveryRecord> = {}): DeliveryRecord => ({
  credentialId: 'c',
  targetKey: 't',
  versionId: 'v-old',
  issuedAt: new Date(now.getTime() - issuedDaysAgo * DAY).toISOString(),
  phase: 'confirmed',
  ...over,
});
const plan = (p: Partial<PlanInput> & { now: Date }) =>
  planDelivery({
    record: undefined,
    current: { versionId: 'v-new', issuedAt: p.now.toISOString() },
    settings: settings(),
    stage: { open: true },
    ...p,
  });

// A Tuesday in December: the next Saturday window opens 2026-12-05T01:00Z.
const TUESDAY = at('2026-12-01T09:00:00Z');
const IN_WINDOW = at('2026-12-05T01:10:00Z');

describe('when a target is pushed', () => {
  it('a target that holds the current token is left alone', () => {
    expect(plan({ now: TUESDAY, record: record(10, TUESDAY, { versionId: 'v-new' }) }).action).toBe('none');
  });

  it('a copy younger than pushAfterDays is left alone, even inside a window', () => {
    const p = plan({ now: IN_WINDOW, record: record(59, IN_WINDOW) });
    expect(p.action).toBe('none');
  });

  it('a copy older than pushAfterDays waits for the next window, then is pushed inside it', () => {
    const wait = plan({ now: TUESDAY, record: record(61, TUESDAY) });
    expect(wait).toMatchObject({ action: 'wait', reason: 'age', until: at('2026-12-05T01:00:00Z') });
    expect(plan({ now: IN_WINDOW, record: record(61, IN_WINDOW) })).toMatchObject({
      action: 'push',
      reason: 'age',
      outsideWindow: false,
    });
  });

  it('no restart is started in the last 30 minutes of a window', () => {
    expect(plan({ now: at('2026-12-05T04:40:00Z'), record: record(61, at('2026-12-05T04:40:00Z')) }).action).toBe(
      'wait',
    );
  });

  it('deadline rule: a copy that would pass hardMaxAgeDays before the next window ends is pushed now, outside the window', () => {
    // 77 days old on Tuesday; the Saturday window ends 3.8 days later, at 80.8 days: too late.
    const p = plan({ now: TUESDAY, record: record(77, TUESDAY) });
    expect(p).toMatchObject({ action: 'push', reason: 'deadline', outsideWindow: true });
    // 76 days old: the window ends at 79.8 days, in time.
    expect(plan({ now: TUESDAY, record: record(76, TUESDAY) })).toMatchObject({ action: 'wait', reason: 'age' });
  });

  it('a known-dead copy is pushed at once, outside the window (pushDeadCopyImmediately)', () => {
    expect(plan({ now: TUESDAY, record: record(3, TUESDAY, { deadSince: TUESDAY.toISOString() }) })).toMatchObject({
      action: 'push',
      reason: 'dead-copy',
      outsideWindow: true,
    });
    const off = plan({
      now: TUESDAY,
      record: record(3, TUESDAY, { deadSince: TUESDAY.toISOString() }),
      settings: settings({ pushDeadCopyImmediately: false }),
    });
    expect(off).toMatchObject({ action: 'wait', reason: 'dead-copy' });
  });

  it('a changed client secret is due, in the window', () => {
    const r = record(5, TUESDAY, { versionId: 'v-new', clientSecretVersionId: 'cs-1' });
    expect(plan({ now: TUESDAY, record: r, clientSecretVersionId: 'cs-2' })).toMatchObject({
      action: 'wait',
      reason: 'client-secret',
    });
    expect(
      plan({
        now: IN_WINDOW,
        record: { ...r, issuedAt: new Date(IN_WINDOW.getTime() - 5 * DAY).toISOString() },
        clientSecretVersionId: 'cs-2',
      }),
    ).toMatchObject({ action: 'push', reason: 'client-secret' });
  });

  it('a person forcing it pushes now', () => {
    expect(plan({ now: TUESDAY, record: record(1, TUESDAY, { versionId: 'v-new' }), forced: true })).toMatchObject({
      action: 'push',
      reason: 'forced',
      outsideWindow: true,
    });
  });

  it('a copy whose age cannot be read is never treated as fresh', () => {
    expect(plan({ now: TUESDAY, record: record(1, TUESDAY, { issuedAt: 'not a date' }) })).toMatchObject({
      action: 'push',
      reason: 'deadline',
    });
  });

  it('a target never pushed by this tool is pushed in its first window', () => {
    expect(plan({ now: TUESDAY, record: undefined })).toMatchObject({ action: 'wait', reason: 'first' });
    expect(plan({ now: IN_WINDOW, record: undefined })).toMatchObject({ action: 'push', reason: 'first' });
  });

  it('no windows means any time', () => {
    expect(plan({ now: TUESDAY, record: record(61, TUESDAY), settings: settings({ windows: [] }) })).toMatchObject({
      action: 'push',
      reason: 'age',
      outsideWindow: false,
    });
  });

  it('a stage that is held waits, unless waiting would pass the deadline', () => {
    const held = { open: false, why: 'held' };
    expect(plan({ now: IN_WINDOW, record: record(61, IN_WINDOW), stage: held })).toMatchObject({
      action: 'wait',
      heldByStage: true,
    });
    // 75 days old inside a window but held: the next window after this one ends at 82.2 days.
    expect(plan({ now: IN_WINDOW, record: record(75, IN_WINDOW), stage: held })).toMatchObject({
      action: 'push',
      reason: 'deadline',
    });
  });
});

describe('staged rollout gates', () => {
  const now = at('2026-12-05T01:10:00Z');
  const s = effectiveDelivery({ soakHours: 24 });
  const order = ['dev', 'stage', 'prod'];
  const member = (stage: string, r: Partial<DeliveryRecord> | undefined) => ({
    stage,
    settings: s,
    label: stage,
    record: r && { credentialId: 'c', targetKey: stage, ...r },
  });
  const confirmed = (hoursAgo: number) => ({
    versionId: 'v',
    issuedAt: new Date(now.getTime() - 3 * DAY).toISOString(),
    phase: 'confirmed' as const,
    confirmedAt: new Date(now.getTime() - hoursAgo * 3_600_000).toISOString(),
  });

  it('the first stage is always open', () => {
    expect(stageGate('dev', order, [member('dev', undefined)], now).open).toBe(true);
  });
  it('a later stage waits until every earlier one is confirmed and has soaked', () => {
    expect(
      stageGate('stage', order, [member('dev', { ...confirmed(1), phase: 'quiet', confirmedAt: undefined })], now),
    ).toMatchObject({ open: false });
    expect(stageGate('stage', order, [member('dev', confirmed(23))], now)).toMatchObject({ open: false });
    expect(stageGate('stage', order, [member('dev', confirmed(25))], now)).toMatchObject({ open: true });
    expect(stageGate('prod', order, [member('dev', confirmed(50)), member('stage', confirmed(2))], now)).toMatchObject({
      open: false,
    });
  });
  it('a failure in an earlier stage holds the later ones and says so', () => {
    const g = stageGate(
      'prod',
      order,
      [
        member('dev', confirmed(50)),
        member('stage', {
          ...confirmed(30),
          phase: 'failed',
          lastProblem: { at: now.toISOString(), code: 'AEM_MAIL_AUTH_FAILED', message: 'x' },
        }),
      ],
      now,
    );
    expect(g).toMatchObject({ open: false, failed: true });
    expect(g.why).toContain('AEM_MAIL_AUTH_FAILED');
  });
  it('a mail-auth error while the earlier stage soaks holds; one found after the soak does not', () => {
    const problem = { at: now.toISOString(), code: 'AEM_MAIL_AUTH_FAILED', message: 'x' };
    expect(stageGate('stage', order, [member('dev', { ...confirmed(10), lastProblem: problem })], now)).toMatchObject({
      open: false,
      failed: true,
    });
    expect(stageGate('stage', order, [member('dev', { ...confirmed(30), lastProblem: problem })], now)).toMatchObject({
      open: true,
    });
  });
  it('an earlier stage still waiting for its own new copy holds the later ones', () => {
    const old = { ...confirmed(30), issuedAt: new Date(now.getTime() - 61 * DAY).toISOString() };
    expect(stageGate('stage', order, [member('dev', old)], now)).toMatchObject({ open: false });
  });
});
