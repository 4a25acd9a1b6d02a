import { describe, expect, it } from 'vitest';
import { simulate } from '../../scripts/simulation/year.ts';

/**
 * A shorter span of `npm run simulate:year`: the same handler, stand-ins, schedule and kinds of fault, over 70 days with
 * a revocation after the first age-driven pushes, so every rule is met once: staged pushes in windows, the dead-copy
 * push after a new sign-in, a Cloud Manager outage, environments updating and pipelines running, an AEM mail error.
 */
describe('delivery over simulated weeks', () => {
  it('keeps every copy alive, pushes outside windows only for a dead copy or the deadline (alerted), confirms every delivery and sees the AEM error', async () => {
    const r = await simulate({
      days: 70,
      seed: 7,
      revokeDay: 58,
      outage: [20, 23],
      mailErrorDay: 40,
      updatingChance: 0.01,
      pipelineChance: 0.01,
    });
    expect(r.failed).toBe(false);
    expect(r.maxCopyAgeDays).toBeLessThanOrEqual(80);
    expect(r.unconfirmed).toBe(0);
    expect(r.mailErrors).toEqual({ injected: 1, detected: 1 });
    expect(r.outsideWindow.other).toBe(0);
    expect(r.outsideWindow.alerted).toBe(r.outsideWindow.total);
    // The age-driven push (day ~52) and the dead-copy push after the sign-in (day 60), at most, per environment.
    expect(Math.max(...Object.values(r.restarts))).toBeLessThanOrEqual(2);
    expect(r.restarts.dev).toBeGreaterThanOrEqual(1);
    expect(r.lines).toHaveLength(5);
  }, 600_000);
});
