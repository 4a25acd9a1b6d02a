import { createHash, randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { RefresherError } from '../../lambdas/core/errors.ts';
import { DynamoStateStore } from '../../lambdas/store/dynamo-state-store.ts';
import { FileStateStore } from '../../lambdas/store/file-state-store.ts';
import type { DeliveryRecord, StateStore } from '../../lambdas/store/state-store.ts';
import { createStateTable, dynamoClient, faultProxy, type FaultProxy } from '../support/dynamo.ts';
import { rejection } from '../support/rejection.ts';

const proxies: FaultProxy[] = [];
afterAll(async () => {
  for (const p of proxies) await p.close();
});

/**
 * One contract, two implementations: `open()` gives a fresh, empty store; `second()` gives another store on the same
 * data (another client, another FileStateStore instance) to race against the first as a second process would.
 */
interface Subject {
  name: string;
  open(): Promise<{ a: StateStore; second(): StateStore; page?: (size: number) => StateStore }>;
}

const subjects: Subject[] = [
  {
    name: 'DynamoStateStore on moto',
    open: async () => {
      const tableName = await createStateTable();
      // Through a proxy that hands moto one request at a time: see faultProxy (moto's conditional writes are not atomic).
      const proxy = await faultProxy(undefined, { serialize: true });
      proxies.push(proxy);
      const store = () => new DynamoStateStore({ tableName, client: dynamoClient(proxy.url) });
      return {
        a: store(),
        second: store,
        page: (size) => new DynamoStateStore({ tableName, client: dynamoClient(proxy.url), scanPageSize: size }),
      };
    },
  },
  {
    name: 'FileStateStore on a temp dir',
    open: async () => {
      const dir = mkdtempSync(join(tmpdir(), 'tr-state-'));
      return { a: new FileStateStore(dir), second: () => new FileStateStore(dir) };
    },
  },
];

const hashOf = (v: string) => createHash('sha256').update(v).digest('hex');
const T0 = new Date('2026-12-01T09:00:00Z');
const at = (ms: number) => new Date(T0.getTime() + ms);

describe.each(subjects)('StateStore contract: $name', (subject) => {
  it('two concurrent acquirers: exactly one wins, the loser learns who holds it', async () => {
    const { a, second } = await subject.open();
    const b = second();
    for (let i = 0; i < 8; i++) {
      const id = `cred-${i}`;
      const [ra, rb] = await Promise.all([
        a.acquireLease(id, 'run-a', 60_000, T0),
        b.acquireLease(id, 'run-b', 60_000, T0),
      ]);
      expect([ra.acquired, rb.acquired].filter(Boolean)).toHaveLength(1);
      const loser = ra.acquired ? rb : ra;
      expect(loser.heldBy).toBe(ra.acquired ? 'run-a' : 'run-b');
      expect(loser.until).toBe(at(60_000).toISOString());
    }
  });

  it('a live lease blocks others, its holder may renew it, an expired one is taken over', async () => {
    const { a, second } = await subject.open();
    const b = second();
    expect((await a.acquireLease('c', 'run-a', 1_000, T0)).acquired).toBe(true);
    expect(await b.acquireLease('c', 'run-b', 1_000, at(500))).toMatchObject({ acquired: false, heldBy: 'run-a' });
    expect((await a.acquireLease('c', 'run-a', 1_000, at(900))).acquired).toBe(true);
    // Renewed until 1900: still held at 1500, free after.
    expect((await b.acquireLease('c', 'run-b', 1_000, at(1_500))).acquired).toBe(false);
    expect((await b.acquireLease('c', 'run-b', 1_000, at(2_000))).acquired).toBe(true);
    expect(await a.acquireLease('c', 'run-a', 1_000, at(2_100))).toMatchObject({ acquired: false, heldBy: 'run-b' });
  });

  it("only the holder releases: a stale holder leaves the new owner's lease alone", async () => {
    const { a, second } = await subject.open();
    const b = second();
    await a.acquireLease('c', 'run-a', 1_000, T0);
    await b.releaseLease('c', 'run-b');
    expect((await b.acquireLease('c', 'run-b', 1_000, at(10))).acquired).toBe(false);
    await a.releaseLease('c', 'run-a');
    expect((await b.acquireLease('c', 'run-b', 1_000, at(20))).acquired).toBe(true);
    // run-a comes back after its lease was taken over: its release must not free run-b's lease.
    await a.releaseLease('c', 'run-a');
    expect(await a.acquireLease('c', 'run-c', 1_000, at(30))).toMatchObject({ acquired: false, heldBy: 'run-b' });
    // Leases of other credentials are independent.
    expect((await a.acquireLease('other', 'run-c', 1_000, at(30))).acquired).toBe(true);
  });

  it('putState is a compare-and-swap on the revision', async () => {
    const { a, second } = await subject.open();
    const b = second();
    expect(await a.getState('c')).toBeUndefined();
    expect(
      await a.putState('c', { v: 1, lastRun: { runId: 'r1', at: T0.toISOString(), outcome: 'rotated' } }, undefined),
    ).toBe(1);
    expect((await rejection(b.putState('c', { v: 1 }, undefined))).class).toBe('conflict');
    const read = await b.getState('c');
    expect(read).toEqual({
      rev: 1,
      state: { v: 1, lastRun: { runId: 'r1', at: T0.toISOString(), outcome: 'rotated' } },
    });
    expect(
      await b.putState('c', { v: 1, lastRun: { runId: 'r2', at: T0.toISOString(), outcome: 'up-to-date' } }, 1),
    ).toBe(2);
    const stale = await rejection(a.putState('c', { v: 1 }, 1));
    expect(stale).toMatchObject({ class: 'conflict', remote: 'dynamodb' });
    expect((await a.getState('c'))?.state.lastRun?.runId).toBe('r2');
    // Two writers from the same revision at the same moment: one wins, one is told.
    const results = await Promise.allSettled([
      a.putState('c', { v: 1, lastRun: { runId: 'x', at: 'a', outcome: 'o' } }, 2),
      b.putState('c', { v: 1, lastRun: { runId: 'y', at: 'a', outcome: 'o' } }, 2),
    ]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const lost = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect((lost.reason as RefresherError).class).toBe('conflict');
    const winner = results[0]!.status === 'fulfilled' ? 'x' : 'y';
    expect(await a.getState('c')).toMatchObject({ rev: 3, state: { lastRun: { runId: winner } } });
  });

  it('45 delivery records of one credential, each conditional on its revision, listed in one call', async () => {
    const { a, second } = await subject.open();
    const b = second();
    const rec = (i: number): DeliveryRecord => ({
      credentialId: 'c',
      targetKey: `p1-e${String(i).padStart(2, '0')}-author`,
      versionId: 'v1',
      issuedAt: T0.toISOString(),
      pushedAt: T0.toISOString(),
      pushReason: 'first',
    });
    await Promise.all(Array.from({ length: 45 }, (_, i) => a.putDelivery(rec(i))));
    await a.putDelivery({ credentialId: 'other', targetKey: 'p9-e9-author' });
    const list = await b.listDeliveries('c');
    expect(list).toHaveLength(45);
    expect(list.map((r) => r.targetKey)).toEqual(Array.from({ length: 45 }, (_, i) => rec(i).targetKey));
    expect(list.every((r) => r.rev === 1 && r.versionId === 'v1' && r.credentialId === 'c')).toBe(true);

    const one = list[7]!;
    expect(
      await b.putDelivery({
        ...one,
        versionId: 'v2',
        phase: 'restarting',
        logCursor: { author: { date: '2026-12-01', offset: 42 } },
      }),
    ).toBe(2);
    expect((await rejection(a.putDelivery({ ...one, versionId: 'v3' }))).class).toBe('conflict');
    expect((await rejection(a.putDelivery({ ...rec(7), rev: undefined }))).class).toBe('conflict');
    const after = (await a.listDeliveries('c')).find((r) => r.targetKey === one.targetKey);
    expect(after).toMatchObject({
      rev: 2,
      versionId: 'v2',
      phase: 'restarting',
      logCursor: { author: { date: '2026-12-01', offset: 42 } },
    });
    expect(await a.listDeliveries('nobody')).toEqual([]);
  });

  it('listFleet walks every credential with its state and targets, skipping leases and one-time items', async () => {
    const opened = await subject.open();
    const { a } = opened;
    const n = 60;
    await Promise.all(
      Array.from({ length: n }, async (_, i) => {
        const id = `cred-${String(i).padStart(3, '0')}`;
        await a.putState(id, { v: 1, lastValidation: { at: T0.toISOString(), ok: i % 7 !== 0 } }, undefined);
        for (const t of ['author', 'publish', 'preview'])
          await a.putDelivery({ credentialId: id, targetKey: `p${i}-${t}`, versionId: `v${i}` });
        await a.acquireLease(id, 'run', 60_000, T0);
      }),
    );
    await a.putDelivery({ credentialId: 'targets-only', targetKey: 'k' });
    await a.putOneTime({
      hash: hashOf('link'),
      credentialId: 'cred-000',
      purpose: 'link',
      expiresAt: at(60_000).toISOString(),
    });
    // A small page size makes the walk take many pages (DynamoDB pages at 1 MB): every page must be read.
    const store = opened.page?.(25) ?? a;
    const fleet = await store.listFleet();
    expect(fleet).toHaveLength(n + 1);
    expect(fleet.map((f) => f.credentialId)).toEqual(
      [...Array.from({ length: n }, (_, i) => `cred-${String(i).padStart(3, '0')}`), 'targets-only'].sort(),
    );
    const c7 = fleet.find((f) => f.credentialId === 'cred-007')!;
    expect(c7.state?.lastValidation?.ok).toBe(false);
    expect(c7.targets.map((t) => t.targetKey)).toEqual(['p7-author', 'p7-preview', 'p7-publish']);
    expect(c7.targets.every((t) => t.versionId === 'v7' && t.rev === 1)).toBe(true);
    expect(fleet.find((f) => f.credentialId === 'targets-only')).toEqual({
      credentialId: 'targets-only',
      targets: [expect.objectContaining({ targetKey: 'k' })],
    });
  });

  it('one-time items: returned once, never after expiry, one winner between two consumers', async () => {
    const { a, second } = await subject.open();
    const b = second();
    const h = hashOf(randomUUID());
    await a.putOneTime({
      hash: h,
      credentialId: 'c',
      purpose: 'link',
      expiresAt: at(600_000).toISOString(),
      data: { requestedBy: 'status' },
    });
    expect(
      (await rejection(b.putOneTime({ hash: h, credentialId: 'c', purpose: 'link', expiresAt: at(1).toISOString() })))
        .class,
    ).toBe('conflict');
    expect(await b.consumeOneTime(h, at(1_000))).toEqual({
      hash: h,
      credentialId: 'c',
      purpose: 'link',
      expiresAt: at(600_000).toISOString(),
      data: { requestedBy: 'status' },
    });
    expect(await a.consumeOneTime(h, at(2_000))).toBeUndefined();

    const expired = hashOf(randomUUID());
    await a.putOneTime({ hash: expired, credentialId: 'c', purpose: 'state', expiresAt: at(1_000).toISOString() });
    expect(await b.consumeOneTime(expired, at(1_000))).toBeUndefined();
    // Consuming an expired item removes it too: it cannot come back once the clock is set back.
    expect(await b.consumeOneTime(expired, T0)).toBeUndefined();

    for (let i = 0; i < 5; i++) {
      const race = hashOf(randomUUID());
      await a.putOneTime({ hash: race, credentialId: 'c', purpose: 'state', expiresAt: at(600_000).toISOString() });
      const got = await Promise.all([a.consumeOneTime(race, T0), b.consumeOneTime(race, T0)]);
      expect(got.filter(Boolean)).toHaveLength(1);
    }
  });
});

describe('FileStateStore files', () => {
  it('are 0600 in 0700 directories and leave no temporary file behind', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tr-state-'));
    const s = new FileStateStore(dir);
    await s.acquireLease('c', 'r', 1_000, T0);
    await s.putState('c', { v: 1 }, undefined);
    await s.putDelivery({ credentialId: 'c', targetKey: 'k/with/slashes' });
    await s.putOneTime({ hash: hashOf('x'), credentialId: 'c', purpose: 'link', expiresAt: at(1_000).toISOString() });
    const files: string[] = [];
    const walk = (d: string) => {
      for (const n of readdirSync(d)) {
        const p = join(d, n);
        if (statSync(p).isDirectory()) {
          expect(statSync(p).mode & 0o777).toBe(0o700);
          walk(p);
        } else files.push(p);
      }
    };
    walk(dir);
    expect(files.map((f) => f.slice(dir.length)).sort()).toEqual(
      [
        '/cred/c/lease.json',
        '/cred/c/state.json',
        `/cred/c/targets/${encodeURIComponent('k/with/slashes')}.json`,
        `/once/${hashOf('x')}.json`,
      ].sort(),
    );
    for (const f of files) expect(statSync(f).mode & 0o777).toBe(0o600);
    expect((await s.listDeliveries('c'))[0]?.targetKey).toBe('k/with/slashes');
  });
});
