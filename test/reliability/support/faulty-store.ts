import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { SecretStore, SecretVersion, VersionInfo } from '../../../lambdas/core/types.ts';
import { SecretsManagerStore } from '../../../lambdas/store/secrets-manager-store.ts';

export type StoreMethod = 'getValue' | 'listVersions' | 'putValue' | 'moveStage';

/** AWS error names Secrets Manager answers with (the SDK gives up on throttling and 5xx after its own retries). */
export type AwsErrorName =
  | 'ThrottlingException'
  | 'InternalServiceError'
  | 'AccessDeniedException'
  | 'RequestTimeout'
  | 'LimitExceededException';

export interface StoreFault {
  method: StoreMethod;
  /** Which matching call fails first, 1-based. */
  nth: number;
  /** How many matching calls fail from the nth on (default 1). */
  times?: number;
  /** Only calls whose secret id (and stage, for getValue/moveStage) match count. */
  match?: (secretId: string, stage?: string) => boolean;
  error: AwsErrorName;
}

/**
 * moto cannot inject failures, so this decorator of the SecretStore fails the nth matching call of a method. The failing
 * call is not simulated here: it is sent through a real SecretsManagerStore whose SDK client throws the AWS error at its
 * first middleware step, so the error the pipeline sees is the one the production store maps it to.
 */
export class FaultyStore implements SecretStore {
  readonly kind = 'secretsmanager' as const;
  readonly calls: Record<StoreMethod, number> = { getValue: 0, listVersions: 0, putValue: 0, moveStage: 0 };
  /** Calls answered with an injected error. */
  fired = 0;
  private fault: StoreFault | undefined;
  private matching = 0;
  private readonly failing: SecretsManagerStore;
  private errorName: AwsErrorName = 'ThrottlingException';

  constructor(
    private readonly inner: SecretStore,
    endpoint: string,
  ) {
    const client = new SecretsManagerClient({
      endpoint,
      region: 'eu-west-1',
      credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
      maxAttempts: 1,
    });
    client.middlewareStack.add(
      () => async () => {
        const e = new Error(this.errorName === 'ThrottlingException' ? 'Rate exceeded' : `injected ${this.errorName}`);
        throw Object.assign(e, {
          name: this.errorName,
          $fault: this.errorName === 'AccessDeniedException' ? 'client' : 'server',
          $metadata: {},
        });
      },
      { step: 'initialize', name: 'injectFault' },
    );
    this.failing = new SecretsManagerStore({ client });
  }

  arm(fault: StoreFault | undefined): void {
    this.fault = fault;
    this.matching = 0;
    if (fault) this.errorName = fault.error;
  }

  private shouldFail(method: StoreMethod, secretId: string, stage?: string): boolean {
    this.calls[method]++;
    const f = this.fault;
    if (!f || f.method !== method || (f.match && !f.match(secretId, stage))) return false;
    this.matching++;
    const fail = this.matching >= f.nth && this.matching < f.nth + (f.times ?? 1);
    if (fail) this.fired++;
    return fail;
  }

  getValue(secretId: string, stage: string): Promise<SecretVersion | undefined> {
    return (this.shouldFail('getValue', secretId, stage) ? this.failing : this.inner).getValue(secretId, stage);
  }

  listVersions(secretId: string): Promise<VersionInfo[]> {
    return (this.shouldFail('listVersions', secretId) ? this.failing : this.inner).listVersions(secretId);
  }

  putValue(secretId: string, value: string, p: { clientRequestToken: string; stages: string[] }): Promise<string> {
    return (this.shouldFail('putValue', secretId) ? this.failing : this.inner).putValue(secretId, value, p);
  }

  moveStage(secretId: string, stage: string, p: { toVersionId: string; fromVersionId?: string }): Promise<void> {
    return (this.shouldFail('moveStage', secretId, stage) ? this.failing : this.inner).moveStage(secretId, stage, p);
  }
  removeStage(secretId: string, stage: string, fromVersionId: string): Promise<void> {
    return this.inner.removeStage(secretId, stage, fromVersionId);
  }
}
