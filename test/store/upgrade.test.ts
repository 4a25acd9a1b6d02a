import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { SecretStore } from '../../lambdas/core/types.ts';
import { DynamoStateStore } from '../../lambdas/store/dynamo-state-store.ts';
import { FileStateStore } from '../../lambdas/store/file-state-store.ts';
import { FileStore } from '../../lambdas/store/file-store.ts';
import { serializeTokenRecord, type CredentialState } from '../../lambdas/store/records.ts';
import type { StateStore } from '../../lambdas/store/state-store.ts';
import { upgradeCredentialState } from '../../lambdas/store/upgrade.ts';
import { motoClients } from '../support/aws.ts';
import { createStateTable, dynamoClient, faultProxy, type FaultProxy } from '../support/dynamo.ts';

const proxies: FaultProxy[] = [];
afterAll(async () => {
  for (const p of proxies) await p.close();
});

interface World {
  secrets: SecretStore;
  state: StateStore;
  createSecret(name: string): Promise<void>;
}

const worlds: Array<{ name: string; open(): Promise<World> }> = [
  {
    name: 'Secrets Manager and DynamoDB on moto',
    open: async () => {
      const moto = motoClients();
      const proxy = await faultProxy(undefined, { serialize: true });
      proxies.push(proxy);
      return {
        secrets: moto.store,
        state: new DynamoStateStore({ tableName: await createStateTable(), client: dynamoClient(proxy.url) }),
        createSecret: moto.createSecret,
      };
    },
  },
  {
    name: 'local files',
    open: async () => {
      const dir = mkdtempSync(join(tmpdir(), 'tr-upgrade-'));
      return {
        secrets: new FileStore(join(dir, 'secrets')),
        state: new FileStateStore(join(dir, 'state')),
        createSecret: async () => undefined,
      };
    },
  },
];

const D1 = '2026-10-01T08:00:00.000Z';
const D2 = '2026-11-20T08:00:00.000Z';
const OLD_STATE: CredentialState = {
  v: 1,
  lease: { runId: 'old-run', until: '2099-01-01T00:00:00.000Z' },
  lastRun: { runId: 'r9', at: D2, outcome: 'rotated' },
  lastSuccess: { runId: 'r9', at: D2, versionId: 'v2' },
  secretExpiry: { 'client-secret': { expiresAt: '2027-01-01', threshold: 30, alertedAt: D2 } },
  failure: {
    fingerprint: 'push:CM_403',
    class: 'configuration',
    code: 'CM_403',
    stage: 'push',
    since: D1,
    runs: 3,
    lastAlertAt: D1,
  },
};

/**
 * The layout before the table, as the old pipeline left it: token versions v1 (older, still held by one target) and
 * v2 (current, held by two), a TR_PUSHED_ label per target, a state secret with its lease inside.
 */
async function seedOldLayout(w: World) {
  const prefix = `upgrade-${randomUUID().slice(0, 8)}`;
  const token = `${prefix}/mailbox/refresh-token`;
  const stateSecret = `${prefix}/mailbox/state`;
  await w.createSecret(token);
  await w.createSecret(stateSecret);
  const rec = (rt: string, at: string) =>
    serializeTokenRecord({ v: 1, refreshToken: rt, obtainedAt: at, runId: 'seed', source: 'rotate' });
  const v1 = await w.secrets.putValue(token, rec(`rt-one-${randomUUID()}`, D1), {
    clientRequestToken: randomUUID(),
    stages: ['AWSCURRENT'],
  });
  const v2 = await w.secrets.putValue(token, rec(`rt-two-${randomUUID()}`, D2), {
    clientRequestToken: randomUUID(),
    stages: ['AWSPENDING'],
  });
  await w.secrets.moveStage(token, 'AWSCURRENT', { toVersionId: v2, fromVersionId: v1 });
  const targets = { 'p1-e1-author': v1, 'p1-e2-all': v2, 'p2-e3-publish': v2 };
  for (const [key, v] of Object.entries(targets))
    await w.secrets.moveStage(token, `TR_PUSHED_${key}`, { toVersionId: v });
  await w.secrets.putValue(stateSecret, JSON.stringify(OLD_STATE), {
    clientRequestToken: randomUUID(),
    stages: ['AWSCURRENT'],
  });
  const current = await w.secrets.getValue(token, 'AWSCURRENT');
  return { token, stateSecret, v1, v2, targets, currentValue: current!.value };
}

const labelsOf = async (s: SecretStore, token: string) =>
  (await s.listVersions(token)).flatMap((v) => v.stages.filter((x) => x.startsWith('TR_PUSHED_')));

describe.each(worlds)('upgrade from the secret layout: $name', (world) => {
  it('moves state and one delivery record per target into the table, frees the labels, keeps the token', async () => {
    const w = await world.open();
    const old = await seedOldLayout(w);
    const r = await upgradeCredentialState({
      secrets: w.secrets,
      state: w.state,
      credentialId: 'mailbox',
      tokenSecretId: old.token,
      stateSecretId: old.stateSecret,
    });
    expect(r).toMatchObject({ upgraded: true, labelsRemoved: 3, stateSecretFound: true });

    const { lease: _lease, ...withoutLease } = OLD_STATE;
    expect(await w.state.getState('mailbox')).toEqual({ rev: 1, state: withoutLease });
    const deliveries = await w.state.listDeliveries('mailbox');
    expect(
      deliveries.map(({ targetKey, versionId, issuedAt, pushReason }) => ({
        targetKey,
        versionId,
        issuedAt,
        pushReason,
      })),
    ).toEqual([
      { targetKey: 'p1-e1-author', versionId: old.v1, issuedAt: D1, pushReason: 'upgrade' },
      { targetKey: 'p1-e2-all', versionId: old.v2, issuedAt: D2, pushReason: 'upgrade' },
      { targetKey: 'p2-e3-publish', versionId: old.v2, issuedAt: D2, pushReason: 'upgrade' },
    ]);
    expect(await labelsOf(w.secrets, old.token)).toEqual([]);
    // The token is where it was: no sign-in, no new version.
    const current = await w.secrets.getValue(old.token, 'AWSCURRENT');
    expect(current).toMatchObject({ versionId: old.v2, value: old.currentValue });
    // The old lease means nothing now: a new run takes the table's lease at once.
    expect((await w.state.acquireLease('mailbox', 'new-run', 60_000, new Date(D2))).acquired).toBe(true);

    const again = await upgradeCredentialState({
      secrets: w.secrets,
      state: w.state,
      credentialId: 'mailbox',
      tokenSecretId: old.token,
      stateSecretId: old.stateSecret,
    });
    expect(again).toMatchObject({ upgraded: false, labelsRemoved: 0, state: { rev: 1 } });
    expect(await w.state.listDeliveries('mailbox')).toEqual(deliveries);
  });

  it('a run stopped after one label removal is completed by the next, without rewriting records a newer run wrote', async () => {
    const w = await world.open();
    const old = await seedOldLayout(w);
    let removals = 0;
    // The process dies right after its first label removal: the decorator throws where a crash would stop it.
    const dying: SecretStore = Object.assign(Object.create(w.secrets) as SecretStore, {
      removeStage: async (id: string, stage: string, from: string) => {
        await w.secrets.removeStage(id, stage, from);
        if (++removals === 1) throw new Error('simulated crash');
      },
    });
    await expect(
      upgradeCredentialState({
        secrets: dying,
        state: w.state,
        credentialId: 'mailbox',
        tokenSecretId: old.token,
        stateSecretId: old.stateSecret,
      }),
    ).rejects.toThrow('simulated crash');
    expect(await w.state.getState('mailbox')).toBeUndefined();
    expect(await labelsOf(w.secrets, old.token)).toHaveLength(2);
    // Meanwhile a new-layout push updated one record: the completion must keep it.
    const author = (await w.state.listDeliveries('mailbox')).find((d) => d.targetKey === 'p1-e1-author')!;
    await w.state.putDelivery({ ...author, versionId: old.v2, issuedAt: D2, pushReason: 'age' });

    const r = await upgradeCredentialState({
      secrets: w.secrets,
      state: w.state,
      credentialId: 'mailbox',
      tokenSecretId: old.token,
      stateSecretId: old.stateSecret,
    });
    expect(r).toMatchObject({ upgraded: true, labelsRemoved: 2 });
    expect(await labelsOf(w.secrets, old.token)).toEqual([]);
    const deliveries = await w.state.listDeliveries('mailbox');
    expect(deliveries).toHaveLength(3);
    expect(deliveries.find((d) => d.targetKey === 'p1-e1-author')).toMatchObject({
      versionId: old.v2,
      pushReason: 'age',
      rev: 2,
    });
    expect((await w.state.getState('mailbox'))?.state.failure?.code).toBe('CM_403');
  });

  it('a state secret already gone costs only the alert history', async () => {
    const w = await world.open();
    const old = await seedOldLayout(w);
    const r = await upgradeCredentialState({
      secrets: w.secrets,
      state: w.state,
      credentialId: 'mailbox',
      tokenSecretId: old.token,
      stateSecretId: `${old.stateSecret}-deleted`,
    });
    expect(r).toMatchObject({
      upgraded: true,
      stateSecretFound: false,
      labelsRemoved: 3,
      state: { rev: 1, state: { v: 1 } },
    });
    expect(await w.state.listDeliveries('mailbox')).toHaveLength(3);
  });
});
