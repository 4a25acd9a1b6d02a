import { afterEach, describe, expect, it } from 'vitest';
import { stateTableName } from '../../lambdas/config/load.ts';
import { DynamoStateStore } from '../../lambdas/store/dynamo-state-store.ts';
import { createStateTable, dynamoClient, dynamoStore, faultProxy, type FaultProxy } from '../support/dynamo.ts';
import { rejection } from '../support/rejection.ts';

/** DynamoDB's failures as the SDK sees them on the wire: a proxy in front of moto answers, withholds or drops. */
const proxies: FaultProxy[] = [];
afterEach(async () => {
  while (proxies.length) await proxies.pop()!.close();
});

async function setup(attempts = 3, timeoutMs = 400) {
  const proxy = await faultProxy();
  proxies.push(proxy);
  const tableName = await createStateTable();
  const viaProxy = new DynamoStateStore({
    tableName,
    client: dynamoClient(proxy.url, { maxAttempts: attempts, timeoutMs }),
  });
  const direct = await dynamoStore({ tableName });
  return { proxy, tableName, viaProxy, direct };
}

const T0 = new Date('2026-12-01T09:00:00Z');

describe('DynamoStateStore under throttling and outages', () => {
  it('throttling within the retry budget is absorbed: the write lands once', async () => {
    const { proxy, viaProxy, direct } = await setup(3);
    proxy.inject('throttle', 2, 'PutItem');
    expect(
      await viaProxy.putState('c', { v: 1, lastRun: { runId: 'r', at: 'now', outcome: 'rotated' } }, undefined),
    ).toBe(1);
    expect(proxy.seen.filter((op) => op === 'PutItem')).toHaveLength(3);
    expect(await direct.getState('c')).toMatchObject({ rev: 1, state: { lastRun: { runId: 'r' } } });
  });

  it('persistent throttling is a transient error and leaves the stored state as it was', async () => {
    const { proxy, viaProxy, direct } = await setup(3);
    await direct.putState('c', { v: 1, lastRun: { runId: 'before', at: 'then', outcome: 'rotated' } }, undefined);
    // Every attempt of the budget (3) is throttled.
    proxy.inject('throttle', 3, 'PutItem');
    const err = await rejection(
      viaProxy.putState('c', { v: 1, lastRun: { runId: 'lost', at: 'now', outcome: 'x' } }, 1),
    );
    expect(err).toMatchObject({ class: 'transient', remote: 'dynamodb', code: 'DYNAMODB_ThrottlingException' });
    expect(err.message).toContain('PutItem');
    expect(proxy.seen.filter((op) => op === 'PutItem')).toHaveLength(3);
    expect(await direct.getState('c')).toMatchObject({ rev: 1, state: { lastRun: { runId: 'before' } } });
    // Once DynamoDB recovers, the same write from the same revision goes through: nothing was half-written.
    expect(await viaProxy.putState('c', { v: 1, lastRun: { runId: 'after', at: 'now', outcome: 'rotated' } }, 1)).toBe(
      2,
    );
    expect(await direct.getState('c')).toMatchObject({ rev: 2, state: { lastRun: { runId: 'after' } } });
  });

  it('a 5xx outage and a refused connection are transient; reads fail the same way', async () => {
    const { proxy, viaProxy } = await setup(2);
    proxy.inject('server-error', 10);
    expect(await rejection(viaProxy.getState('c'))).toMatchObject({
      class: 'transient',
      remote: 'dynamodb',
      status: 500,
    });
    expect(await rejection(viaProxy.listFleet())).toMatchObject({ class: 'transient', remote: 'dynamodb' });
    const down = new DynamoStateStore({
      tableName: viaProxy.tableName,
      client: dynamoClient('http://127.0.0.1:9', { maxAttempts: 2, timeoutMs: 300 }),
    });
    expect(await rejection(down.acquireLease('c', 'r', 1_000, T0))).toMatchObject({
      class: 'transient',
      remote: 'dynamodb',
    });
  });

  it('a request that never answers ends at the deadline as a transient timeout', async () => {
    const { proxy, viaProxy } = await setup(2, 300);
    proxy.inject('hang', 10);
    const t0 = Date.now();
    const err = await rejection(viaProxy.listDeliveries('c'));
    expect(err).toMatchObject({ class: 'transient', remote: 'dynamodb', code: 'STATE_TABLE_TIMEOUT' });
    expect(Date.now() - t0).toBeLessThan(3_000);
  });

  it('an answer lost after the write landed: the retry recognises its own write (no false conflict, no double lease)', async () => {
    const { proxy, viaProxy, direct } = await setup(3, 400);
    proxy.inject('lose-answer', 1, 'PutItem');
    expect(
      await viaProxy.putState('c', { v: 1, lastRun: { runId: 'r', at: 'now', outcome: 'rotated' } }, undefined),
    ).toBe(1);
    expect(await direct.getState('c')).toMatchObject({ rev: 1 });

    proxy.inject('lose-answer', 1, 'PutItem');
    expect(await viaProxy.putDelivery({ credentialId: 'c', targetKey: 'k', versionId: 'v1', rev: undefined })).toBe(1);
    proxy.inject('lose-answer', 1, 'PutItem');
    expect(await viaProxy.putDelivery({ credentialId: 'c', targetKey: 'k', versionId: 'v2', rev: 1 })).toBe(2);
    expect((await direct.listDeliveries('c'))[0]).toMatchObject({ versionId: 'v2', rev: 2 });

    proxy.inject('lose-answer', 1, 'PutItem');
    expect((await viaProxy.acquireLease('c', 'run-a', 60_000, T0)).acquired).toBe(true);
    expect((await direct.acquireLease('c', 'run-b', 60_000, T0)).acquired).toBe(false);
    // A real lost race is still a conflict.
    expect((await rejection(viaProxy.putState('c', { v: 1 }, undefined))).class).toBe('conflict');
  });

  it('a missing table is a configuration error naming the table and what to do', async () => {
    const store = new DynamoStateStore({ tableName: 'tr-state-does-not-exist', client: dynamoClient() });
    const err = await rejection(store.getState('c'));
    expect(err).toMatchObject({ class: 'configuration', code: 'STATE_TABLE_NOT_FOUND', remote: 'dynamodb' });
    expect(err.message).toContain('tr-state-does-not-exist');
    expect(err.fix).toContain('TOKEN_REFRESHER_STATE_TABLE');
    expect((await rejection(store.acquireLease('c', 'r', 1, T0))).code).toBe('STATE_TABLE_NOT_FOUND');
  });
});

describe('stateTableName', () => {
  it("takes the stack's environment variable, then the document, then the name the stack derives from the prefix", () => {
    expect(stateTableName({ stateTable: 'from-config' }, { TOKEN_REFRESHER_STATE_TABLE: 'from-stack' })).toBe(
      'from-stack',
    );
    expect(stateTableName({ stateTable: 'from-config', secretPrefix: 'p' }, {})).toBe('from-config');
    expect(stateTableName({ secretPrefix: 'token-refresher' }, {})).toBe('token-refresher-state');
    expect(stateTableName({ secretPrefix: 'team/mail+ops@x' }, {})).toBe('team-mail-ops-x-state');
  });
});
