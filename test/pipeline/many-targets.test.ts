import { afterEach, describe, expect, it } from 'vitest';
import { runRotation } from '../../lambdas/pipeline/run.ts';
import { targetKey } from '../../lambdas/push/cloud-manager-target.ts';
import { createStateTable, dynamoStore } from '../support/dynamo.ts';
import { startHarness, type Harness } from '../support/harness.ts';

/**
 * One credential with 40 targets on moto's Secrets Manager and DynamoDB: more than the 17 the old staging-label layout
 * allowed (20 labels a secret, https://docs.aws.amazon.com/secretsmanager/latest/userguide/reference_limits.html).
 */
let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

describe('one credential, 40 targets', () => {
  it('rotates and pushes all 40, records each in the state table, and a re-run finds them all holding the current token', async () => {
    const state = await dynamoStore({ tableName: await createStateTable() });
    h = await startHarness({ state, targetsPerCredential: 40 });
    await h.seed();
    const c = h.config.credentials[0]!;
    const first = (await runRotation(h.wiring(), {})).results[0]!;
    expect(first.failure).toBeUndefined();
    expect(first.targets.filter((t) => t.status === 'pushed')).toHaveLength(40);
    const newest = h.standins.entra.latestRefreshToken();
    for (const t of c.targets)
      expect(h.standins.cloudManager.valueOf(t.programId, t.environmentId, t.refreshTokenVariable)).toBe(newest);
    const records = await state.listDeliveries(c.id);
    expect(records).toHaveLength(40);
    expect(new Set(records.map((r) => r.versionId))).toEqual(new Set([first.currentVersionId]));
    // No staging label per target any more: the token secret carries only AWSCURRENT (and AWSPREVIOUS).
    const labels = (await h.store.listVersions(`${h.config.secretPrefix}/${c.id}/refresh-token`)).flatMap(
      (v) => v.stages,
    );
    expect(labels.filter((l) => l.startsWith('TR_PUSHED_'))).toEqual([]);
    const patches = h.standins.cloudManager.patchCount;
    const again = (await runRotation(h.wiring(), {})).results[0]!;
    expect(again.failure).toBeUndefined();
    expect(again.targets.every((t) => t.status === 'up-to-date' || t.status === 'confirming')).toBe(true);
    expect(h.standins.cloudManager.patchCount).toBe(patches);
    expect(new Set(again.targets.map((t) => t.target)).size).toBe(40);
    expect(records.map((r) => r.targetKey).sort()).toEqual(c.targets.map((t) => targetKey(t)).sort());
  });
});
