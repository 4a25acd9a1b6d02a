// Stand-in for the file StateStore until it lands on main: the one-time and credential-state semantics the recovery
// endpoint relies on (consume deletes, expired items are not returned, revisions on putState).
import { RefresherError } from '../../lambdas/core/errors.ts';
import type { CredentialState } from '../../lambdas/store/records.ts';
import type { DeliveryRecord, FleetEntry, LeaseResult, OneTimeItem, StateStore } from '../../lambdas/store/state-store.ts';

export class MemoryStateStore implements StateStore {
  readonly kind = 'file' as const;
  readonly once = new Map<string, OneTimeItem>();
  private readonly states = new Map<string, { state: CredentialState; rev: number }>();
  constructor(readonly dir: string) {}
  async acquireLease(): Promise<LeaseResult> {
    return { acquired: true };
  }
  async releaseLease(): Promise<void> {}
  async getState(id: string) {
    const s = this.states.get(id);
    return s ? { state: structuredClone(s.state), rev: s.rev } : undefined;
  }
  async putState(id: string, state: CredentialState, expectedRev: number | undefined): Promise<number> {
    const now = this.states.get(id);
    if (now?.rev !== expectedRev) throw new RefresherError({ class: 'conflict', code: 'STATE_CONFLICT', remote: 'lambda', message: 'changed', fix: 'retry' });
    const rev = (expectedRev ?? 0) + 1;
    this.states.set(id, { state: structuredClone(state), rev });
    return rev;
  }
  async listDeliveries(): Promise<DeliveryRecord[]> {
    return [];
  }
  async putDelivery(): Promise<number> {
    return 1;
  }
  async listFleet(): Promise<FleetEntry[]> {
    return [];
  }
  async putOneTime(item: OneTimeItem): Promise<void> {
    if (this.once.has(item.hash)) throw new RefresherError({ class: 'conflict', code: 'ONE_TIME_EXISTS', remote: 'lambda', message: 'exists', fix: 'none' });
    this.once.set(item.hash, structuredClone(item));
  }
  async consumeOneTime(hash: string, now: Date): Promise<OneTimeItem | undefined> {
    const item = this.once.get(hash);
    this.once.delete(hash);
    return item && Date.parse(item.expiresAt) > now.getTime() ? item : undefined;
  }
}
