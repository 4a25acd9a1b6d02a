import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { secretIds } from '../../lambdas/config/load.ts';
import { runRotation } from '../../lambdas/pipeline/run.ts';
import { parseTokenRecord, serializeTokenRecord } from '../../lambdas/store/records.ts';
import type { CredentialState } from '../../lambdas/store/records.ts';
import { startHarness, type Harness } from '../support/harness.ts';

/** The token record and the state record as runs find them, including what a person or another tool left there. */
let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

async function world() {
  h = await startHarness();
  await h.seed();
  const c = h.config.credentials[0]!;
  return { h, c, ids: secretIds(h.config, c) };
}

describe('records a run finds in the store', () => {
  it('a pending version older than a token a person put by hand is detached, never resumed over it', async () => {
    const w = await world();
    // A run whose test send fails leaves its new token pending.
    w.h.standins.smtp.injectFault('535 5.7.3');
    const failed = (await runRotation(w.h.wiring(), {})).results[0]!;
    expect(failed.failure?.stage).toBe('validate');
    const stale = await w.h.store.getValue(w.ids.token, 'AWSPENDING');
    expect(stale).toBeDefined();
    // A person signs in elsewhere and puts the bare refresh token in the console (it becomes AWSCURRENT).
    await new Promise((r) => setTimeout(r, 1_100)); // the store's creation times have one-second resolution
    const byHand = w.h.standins.entra.issueRefreshToken({ account: w.c.mailbox });
    await w.h.store.putValue(w.ids.token, byHand, { clientRequestToken: randomUUID(), stages: ['AWSCURRENT'] });
    const next = (await runRotation(w.h.wiring(), {})).results[0]!;
    expect(next.failure).toBeUndefined();
    expect(next.outcome).toBe('rotated');
    // The run redeemed the person's token (not the stale pending one) and its result is current; nothing is pending.
    const current = parseTokenRecord((await w.h.store.getValue(w.ids.token, 'AWSCURRENT'))!.value, w.ids.token);
    expect(current.refreshToken).toBe(w.h.standins.entra.latestRefreshToken());
    const staleToken = parseTokenRecord(stale!.value, w.ids.token).refreshToken;
    const redeemed = w.h.standins.entra.requests.map((r) => new URLSearchParams(r.body).get('refresh_token'));
    expect(redeemed).toContain(byHand);
    expect(redeemed.filter((t) => t === staleToken)).toHaveLength(0);
    expect(await w.h.store.getValue(w.ids.token, 'AWSPENDING')).toBeUndefined();
    expect(w.h.logs.join('')).toContain('a pending version older than the current one was detached');
  });

  it('a token record whose obtainedAt cannot be read is rotated at once and reported, never treated as fresh', async () => {
    const w = await world();
    const cur = parseTokenRecord((await w.h.store.getValue(w.ids.token, 'AWSCURRENT'))!.value, w.ids.token);
    await w.h.store.putValue(w.ids.token, serializeTokenRecord({ ...cur, obtainedAt: 'last tuesday' }), {
      clientRequestToken: randomUUID(),
      stages: ['AWSCURRENT'],
    });
    const s = (await runRotation(w.h.wiring(), {})).results[0]!;
    expect(s.outcome).toBe('rotated');
    expect(s.redeemed).toBe(true);
    expect(s.note).toContain('TOKEN_AGE_UNKNOWN');
    const after = parseTokenRecord((await w.h.store.getValue(w.ids.token, 'AWSCURRENT'))!.value, w.ids.token);
    expect(Number.isFinite(Date.parse(after.obtainedAt))).toBe(true);
    // Every TokenAgeDays point is a number (no NaN reaches the age alarm).
    const ages = w.h.metrics.points.filter((p) => p.name === 'TokenAgeDays').map((p) => p.value);
    expect(ages.length).toBeGreaterThan(0);
    expect(ages.every((v) => Number.isFinite(v))).toBe(true);
  });

  it('a state record that cannot be read is reported and replaced, not silently emptied', async () => {
    const w = await world();
    await runRotation(w.h.wiring(), {});
    const st = await w.h.state.getState(w.c.id);
    // Another tool wrote something that is not a state record (a wrong version, a failure without its fields).
    const junk = { v: 7, failure: { code: 42 } } as unknown as CredentialState;
    await w.h.state.putState(w.c.id, junk, st?.rev);
    const s = (await runRotation(w.h.wiring(), {})).results[0]!;
    expect(s.note).toContain('STATE_RECORD_INVALID');
    expect(w.h.metrics.sum('StateRecordInvalid', w.c.id)).toBe(1);
    expect(w.h.logs.join('')).toContain('STATE_RECORD_INVALID');
    const replaced = await w.h.state.getState(w.c.id);
    expect(replaced?.state.v).toBe(1);
  });
});
