import { dynamoError } from '../../../lambdas/store/dynamo-state-store.ts';
import type {
  DeliveryRecord,
  FleetEntry,
  LeaseResult,
  OneTimeItem,
  StateStore,
} from '../../../lambdas/store/state-store.ts';
import type { CredentialState } from '../../../lambdas/store/records.ts';

export type StateMethod = 'acquireLease' | 'getState' | 'putState' | 'listDeliveries' | 'putDelivery';

/**
 * Fails the nth call of a StateStore method with the error the DynamoDB store maps that AWS error to (dynamoError), in
 * front of a real store: the pipeline sees exactly what production would. The DynamoDB store's own mapping of throttling
 * and outages on moto is proven in test/store/dynamo-faults.test.ts.
 */
export class FaultyStateStore implements StateStore {
  readonly kind: StateStore['kind'];
  fired = 0;
  private fault: { method: StateMethod; nth: number; error: string } | undefined;
  private seen = 0;

  constructor(private readonly inner: StateStore) {
    this.kind = inner.kind;
  }

  arm(fault: { method: StateMethod; nth: number; error: string } | undefined): void {
    this.fault = fault;
    this.seen = 0;
  }

  private async call<T>(method: StateMethod, fn: () => Promise<T>): Promise<T> {
    if (this.fault?.method === method && ++this.seen === this.fault.nth) {
      this.fired++;
      throw dynamoError(
        Object.assign(new Error(this.fault.error), { name: this.fault.error }),
        'tr-state-test',
        method,
      );
    }
    return fn();
  }

  acquireLease(id: string, runId: string, ttlMs: number, now: Date): Promise<LeaseResult> {
    return this.call('acquireLease', () => this.inner.acquireLease(id, runId, ttlMs, now));
  }
  releaseLease(id: string, runId: string): Promise<void> {
    return this.inner.releaseLease(id, runId);
  }
  getState(id: string): Promise<{ state: CredentialState; rev: number } | undefined> {
    return this.call('getState', () => this.inner.getState(id));
  }
  putState(id: string, state: CredentialState, rev: number | undefined): Promise<number> {
    return this.call('putState', () => this.inner.putState(id, state, rev));
  }
  listDeliveries(id: string): Promise<DeliveryRecord[]> {
    return this.call('listDeliveries', () => this.inner.listDeliveries(id));
  }
  putDelivery(r: DeliveryRecord): Promise<number> {
    return this.call('putDelivery', () => this.inner.putDelivery(r));
  }
  listFleet(): Promise<FleetEntry[]> {
    return this.inner.listFleet();
  }
  putOneTime(item: OneTimeItem): Promise<void> {
    return this.inner.putOneTime(item);
  }
  consumeOneTime(hash: string, now: Date): Promise<OneTimeItem | undefined> {
    return this.inner.consumeOneTime(hash, now);
  }
}
