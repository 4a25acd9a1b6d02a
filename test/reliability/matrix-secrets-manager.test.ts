import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { secretIds } from '../../lambdas/config/load.ts';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileStateStore } from '../../lambdas/store/file-state-store.ts';
import { FaultyStateStore, type StateMethod } from './support/faulty-state-store.ts';
import { serializeTokenRecord } from '../../lambdas/store/records.ts';
import { motoClients } from '../support/aws.ts';
import type { Harness } from '../support/harness.ts';
import { FaultyStore, type StoreFault } from './support/faulty-store.ts';
import { runRow, type RowSpec } from './support/matrix.ts';
import { MatrixSink } from './support/results.ts';

/**
 * Fault matrix, Secrets Manager on moto. moto cannot fail on purpose, so a decorator of the store sends the nth matching
 * call through a real SecretsManagerStore whose SDK client throws the AWS error (after the SDK's own retries, as it
 * were): the pipeline sees exactly the error the production store maps it to.
 */
const sink = new MatrixSink('secrets-manager');
afterAll(() => sink.flush());

const group = 'Secrets Manager';
const isToken = (id: string) => id.endsWith('/refresh-token');

type StoreRow = Omit<RowSpec, 'group' | 'inject' | 'harness' | 'clear'> & { fault: string; storeFault: StoreFault };

function storeRow(r: StoreRow): RowSpec {
  let faulty: FaultyStore | undefined;
  const { storeFault, expect: ex, ...rest } = r;
  return {
    ...rest,
    group,
    harness: () => {
      const aws = motoClients();
      faulty = new FaultyStore(aws.store, aws.endpoint);
      return { store: faulty };
    },
    // Armed after seeding, so only the rotation meets the fault; re-armed for every faulted run.
    inject: () => faulty!.arm(storeFault),
    clear: () => faulty!.arm(undefined),
    expect: {
      ...ex,
      extra: async (h, runs) => [
        ...(faulty!.fired > 0 ? [] : ['the store fault never fired']),
        ...((await ex.extra?.(h, runs)) ?? []),
      ],
    },
  };
}

type StateRow = Omit<RowSpec, 'group' | 'inject' | 'harness' | 'clear'> & {
  fault: string;
  stateFault: { method: StateMethod; nth: number; error: string };
};

/** The same, for the state table: a decorator of a real store that fails the nth call with the error DynamoDB's maps to. */
function stateRow(r: StateRow): RowSpec {
  let faulty: FaultyStateStore | undefined;
  const { stateFault, expect: ex, ...rest } = r;
  return {
    ...rest,
    group: 'DynamoDB state table',
    harness: () => {
      faulty = new FaultyStateStore(new FileStateStore(mkdtempSync(join(tmpdir(), 'tr-faulty-state-'))));
      return { state: faulty };
    },
    inject: () => faulty!.arm(stateFault),
    clear: () => faulty!.arm(undefined),
    expect: {
      ...ex,
      extra: async (h, runs) => [
        ...(faulty!.fired > 0 ? [] : ['the state fault never fired']),
        ...((await ex.extra?.(h, runs)) ?? []),
      ],
    },
  };
}

const rows: RowSpec[] = [
  storeRow({
    stage: 'read',
    fault: 'ThrottlingException reading the token',
    storeFault: {
      method: 'getValue',
      nth: 1,
      match: (id, stage) => isToken(id) && stage === 'AWSCURRENT',
      error: 'ThrottlingException',
    },
    expect: { failure: { class: 'transient', code: 'SECRETS_ThrottlingException' }, alerts: 0 },
  }),
  storeRow({
    stage: 'read',
    fault: 'InternalServiceError listing the token versions',
    storeFault: { method: 'listVersions', nth: 1, match: isToken, error: 'InternalServiceError' },
    expect: { failure: { class: 'transient', code: 'SECRETS_InternalServiceError' }, alerts: 0 },
  }),
  storeRow({
    stage: 'read',
    fault: 'AccessDeniedException reading the token (policy changed)',
    runs: 2,
    storeFault: {
      method: 'getValue',
      nth: 1,
      match: (id, stage) => isToken(id) && stage === 'AWSCURRENT',
      error: 'AccessDeniedException',
    },
    expect: { failure: { class: 'configuration', code: 'SECRET_ACCESS_DENIED' }, alerts: 1 },
  }),
  storeRow({
    stage: 'store',
    fault: 'ThrottlingException on the pending write of the new token',
    storeFault: { method: 'putValue', nth: 1, match: isToken, error: 'ThrottlingException' },
    expect: {
      failure: { class: 'transient', code: 'SECRETS_ThrottlingException', stage: 'store' },
      alerts: 0,
      window: true,
    },
    note: 'not promoted, nothing pushed',
  }),
  storeRow({
    stage: 'store',
    fault: 'InternalServiceError on the pending write of the new token',
    storeFault: { method: 'putValue', nth: 1, match: isToken, error: 'InternalServiceError' },
    expect: {
      failure: { class: 'transient', code: 'SECRETS_InternalServiceError', stage: 'store' },
      alerts: 0,
      window: true,
    },
  }),
  storeRow({
    stage: 'promote',
    fault: 'ThrottlingException on the promotion (AWSCURRENT compare-and-swap)',
    storeFault: {
      method: 'moveStage',
      nth: 1,
      match: (id, stage) => isToken(id) && stage === 'AWSCURRENT',
      error: 'ThrottlingException',
    },
    expect: {
      failure: { class: 'transient', code: 'SECRETS_ThrottlingException', stage: 'promote' },
      alerts: 0,
      nextRedeemed: false,
    },
    note: 'the pending version is promoted by the next run',
  }),
  storeRow({
    stage: 'promote',
    fault: 'InternalServiceError on the promotion',
    storeFault: {
      method: 'moveStage',
      nth: 1,
      match: (id, stage) => isToken(id) && stage === 'AWSCURRENT',
      error: 'InternalServiceError',
    },
    expect: {
      failure: { class: 'transient', code: 'SECRETS_InternalServiceError', stage: 'promote' },
      alerts: 0,
      nextRedeemed: false,
    },
  }),
  {
    group,
    stage: 'promote',
    fault: 'concurrent writer: another version made current between read and promotion',
    inject: (h: Harness) => ({
      hooks: {
        afterStep: async (step) => {
          if (step !== 'validate') return;
          const c = h.config.credentials[0]!;
          // What an operator's import or a second, lease-less run does: a newer token, straight to AWSCURRENT.
          const refreshToken = h.standins.entra.issueRefreshToken({ account: c.mailbox });
          const record = {
            v: 1 as const,
            refreshToken,
            obtainedAt: new Date().toISOString(),
            runId: 'concurrent-writer',
            source: 'regenerate' as const,
            account: c.mailbox,
          };
          await h.store.putValue(secretIds(h.config, c).token, serializeTokenRecord(record), {
            clientRequestToken: randomUUID(),
            stages: ['AWSCURRENT'],
          });
        },
      },
    }),
    expect: {
      outcome: 'rotated',
      alerts: 0,
      extra: (_h, runs) => [
        ...(runs[0]?.promoted ? ['promoted over the concurrent writer'] : []),
        ...(runs[0]?.note?.includes('another run promoted first') ? [] : ['the lost compare-and-swap is not reported']),
      ],
    },
    note: 'the compare-and-swap loses; the winner is pushed',
  },
  {
    group,
    stage: 'lease',
    fault: 'concurrent run holds the lease (conditional write on the state table)',
    inject: async (h: Harness) => {
      await h.state.acquireLease(h.config.credentials[0]!.id, 'another-run', 6 * 60_000, new Date());
    },
    expect: {
      outcome: 'skipped',
      alerts: 0,
      extra: (h) =>
        h.standins.entra.faults.count('token') === 0 ? [] : ['redeemed although another run held the lease'],
    },
    note: 'the next run, after the lease ran out, rotates',
  },
  stateRow({
    stage: 'lease',
    fault: 'ThrottlingException taking the lease (DynamoDB)',
    stateFault: { method: 'acquireLease', nth: 1, error: 'ThrottlingException' },
    expect: { failure: { class: 'transient', code: 'DYNAMODB_ThrottlingException' }, alerts: 0 },
  }),
  stateRow({
    stage: 'push',
    fault: 'ThrottlingException writing the delivery record after the push (DynamoDB)',
    stateFault: { method: 'putDelivery', nth: 1, error: 'ThrottlingException' },
    expect: {
      failure: { class: 'transient', code: 'DYNAMODB_ThrottlingException', stage: 'push' },
      alerts: 0,
      nextRedeemed: false,
    },
    note: 'Cloud Manager has the value; the record does not say so, so the next run delivers again (idempotent PATCH) and records it',
  }),
  stateRow({
    stage: 'report',
    fault: 'ThrottlingException writing the final state (DynamoDB)',
    stateFault: { method: 'putState', nth: 2, error: 'ThrottlingException' },
    expect: {
      outcome: 'rotated',
      alerts: 0,
      extra: (h) =>
        h.logs.join('').includes('could not write the credential state')
          ? []
          : ['the failed state write was not logged'],
    },
    note: 'the rotation stands; the lease is released',
  }),
];

// Rows are independent worlds (own stand-ins, secrets and alert recipient): they run concurrently.
describe.concurrent('fault matrix: Secrets Manager (moto)', () => {
  rows.forEach((row, i) => {
    it(row.fault, async () => {
      expect(await runRow(sink, row, i)).toEqual([]);
    });
  });
});
