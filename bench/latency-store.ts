import type { SecretStore, SecretVersion, VersionInfo } from '../lambdas/core/types.ts';

/** One store call as the benchmark saw it: what, on which secret, when it started and ended (ms since `origin`). */
export interface StoreCall {
  op: 'getValue' | 'listVersions' | 'putValue' | 'moveStage' | 'removeStage';
  secretId: string;
  detail: string;
  start: number;
  end: number;
}

const sleep = (ms: number) => (ms > 0 ? new Promise<void>((r) => setTimeout(r, ms)) : Promise.resolve());

/**
 * A SecretStore decorator that makes every call one network exchange of `latencyMs`, like a Secrets Manager API call
 * seen from Lambda: the delay is paid before the inner store runs (the request travelling), outside the inner store's
 * own serialisation, so concurrent calls overlap the way concurrent HTTPS requests do. It also records each call, so
 * the benchmark can show which store exchanges sat on the critical path.
 */
export class LatencyStore implements SecretStore {
  readonly calls: StoreCall[] = [];
  origin = performance.now();

  constructor(
    private readonly inner: SecretStore,
    public latencyMs: number,
  ) {}

  get kind(): SecretStore['kind'] {
    return this.inner.kind;
  }

  /** Starts a new trace: later calls are timed from now. */
  resetTrace(): void {
    this.calls.length = 0;
    this.origin = performance.now();
  }

  private async exchange<T>(op: StoreCall['op'], secretId: string, detail: string, fn: () => Promise<T>): Promise<T> {
    const start = performance.now() - this.origin;
    try {
      await sleep(this.latencyMs);
      return await fn();
    } finally {
      this.calls.push({ op, secretId, detail, start, end: performance.now() - this.origin });
    }
  }

  getValue(secretId: string, stage: string): Promise<SecretVersion | undefined> {
    return this.exchange('getValue', secretId, stage, () => this.inner.getValue(secretId, stage));
  }

  listVersions(secretId: string): Promise<VersionInfo[]> {
    return this.exchange('listVersions', secretId, '', () => this.inner.listVersions(secretId));
  }

  putValue(secretId: string, value: string, p: { clientRequestToken: string; stages: string[] }): Promise<string> {
    return this.exchange('putValue', secretId, p.stages.join(','), () => this.inner.putValue(secretId, value, p));
  }

  moveStage(secretId: string, stage: string, p: { toVersionId: string; fromVersionId?: string }): Promise<void> {
    return this.exchange('moveStage', secretId, stage, () => this.inner.moveStage(secretId, stage, p));
  }

  removeStage(secretId: string, stage: string, fromVersionId: string): Promise<void> {
    return this.exchange('removeStage', secretId, stage, () => this.inner.removeStage(secretId, stage, fromVersionId));
  }
}
