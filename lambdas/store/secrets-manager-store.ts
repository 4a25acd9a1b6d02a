import {
  GetSecretValueCommand,
  ListSecretVersionIdsCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import { missingRegionError, RefresherError } from '../core/errors.ts';
import { registerSecret } from '../core/redact.ts';
import type { SecretStore, SecretVersion, VersionInfo } from '../core/types.ts';

export interface SecretsManagerStoreOptions {
  client?: SecretsManagerClient;
  region?: string;
  /** Per-request deadline; the SDK retries throttling and 5xx itself with backoff (standard mode). */
  timeoutMs?: number;
  maxAttempts?: number;
}

function errorName(e: unknown): string {
  return (e as { name?: string })?.name ?? 'Error';
}

function storeError(e: unknown, secretId: string, op: string): RefresherError {
  const name = errorName(e);
  if (name === 'ResourceNotFoundException') {
    return new RefresherError({
      class: 'configuration',
      code: 'SECRET_NOT_FOUND',
      remote: 'secretsmanager',
      message: `Secrets Manager secret ${secretId} does not exist (${op})`,
      fix: `Deploy the stack (it creates the secret) or correct the secret name in the configuration, then run \`token-refresher regenerate\` to put the first token.`,
    });
  }
  if (name === 'AccessDeniedException') {
    return new RefresherError({
      class: 'configuration',
      code: 'SECRET_ACCESS_DENIED',
      remote: 'secretsmanager',
      message: `access to Secrets Manager secret ${secretId} was denied (${op})`,
      fix: 'Grant the function (or your shell role) this action on the secret; the stack does so for the secrets it creates.',
    });
  }
  if (name === 'DecryptionFailure' || name === 'KMSAccessDeniedException' || name === 'EncryptionFailure') {
    return new RefresherError({
      class: 'configuration',
      code: 'SECRET_KMS',
      remote: 'secretsmanager',
      message: `the KMS key of secret ${secretId} cannot be used (${name}, ${op})`,
      fix: "Allow the function kms:Decrypt/GenerateDataKey on the secret's key and check the key is enabled.",
    });
  }
  const region = missingRegionError(e, 'secretsmanager');
  if (region) return region;
  const msg = (e as { message?: string })?.message ?? '';
  return new RefresherError({
    class: 'transient',
    code: name === 'TimeoutError' || name === 'RequestTimeout' ? 'SECRETS_TIMEOUT' : `SECRETS_${name}`,
    remote: 'secretsmanager',
    message: `Secrets Manager ${op} on ${secretId} failed: ${name}${msg ? `: ${msg.slice(0, 200)}` : ''}`,
    fix: 'Retried on the next run; the stored token is unchanged.',
  });
}

/** The store on AWS Secrets Manager, using staging labels as the state machine (docs/PROTOCOLS.md, AWS). */
export class SecretsManagerStore implements SecretStore {
  readonly kind = 'secretsmanager' as const;
  private readonly client: SecretsManagerClient;

  constructor(opts: SecretsManagerStoreOptions = {}) {
    // AWS_ENDPOINT_URL (moto, VPC endpoints) is honoured by the SDK itself.
    this.client =
      opts.client ??
      new SecretsManagerClient({
        region: opts.region,
        maxAttempts: opts.maxAttempts ?? 4,
        // throwOnRequestTimeout: since @smithy/node-http-handler 4.x a requestTimeout alone only logs a warning and the
        // request waits on (until the function's own timeout); with it the deadline ends the attempt and the SDK retries.
        requestHandler: {
          requestTimeout: opts.timeoutMs ?? 5_000,
          connectionTimeout: opts.timeoutMs ?? 5_000,
          throwOnRequestTimeout: true,
        },
      });
  }

  async getValue(secretId: string, stage: string): Promise<SecretVersion | undefined> {
    try {
      // Always name the stage: without VersionStage moto can answer a stale version after a stage move.
      const r = await this.client.send(new GetSecretValueCommand({ SecretId: secretId, VersionStage: stage }));
      if (r.SecretString === undefined || !r.VersionId) return undefined;
      registerSecret(r.SecretString);
      return { versionId: r.VersionId, value: r.SecretString, stages: r.VersionStages ?? [] };
    } catch (e) {
      // An existing secret without a version carrying this label also answers ResourceNotFound; the caller lists
      // versions first, so here it means "no such version".
      if (errorName(e) === 'ResourceNotFoundException') return undefined;
      throw storeError(e, secretId, 'GetSecretValue');
    }
  }

  async listVersions(secretId: string): Promise<VersionInfo[]> {
    const out: VersionInfo[] = [];
    let token: string | undefined;
    try {
      do {
        const r = await this.client.send(
          new ListSecretVersionIdsCommand({ SecretId: secretId, NextToken: token, MaxResults: 100 }),
        );
        for (const v of r.Versions ?? [])
          if (v.VersionId)
            out.push({ versionId: v.VersionId, stages: v.VersionStages ?? [], createdAt: v.CreatedDate });
        token = r.NextToken;
      } while (token);
    } catch (e) {
      throw storeError(e, secretId, 'ListSecretVersionIds');
    }
    return out;
  }

  async putValue(
    secretId: string,
    value: string,
    p: { clientRequestToken: string; stages: string[] },
  ): Promise<string> {
    try {
      const r = await this.client.send(
        new PutSecretValueCommand({
          SecretId: secretId,
          SecretString: value,
          ClientRequestToken: p.clientRequestToken,
          VersionStages: p.stages,
        }),
      );
      return r.VersionId ?? p.clientRequestToken;
    } catch (e) {
      throw storeError(e, secretId, 'PutSecretValue');
    }
  }

  async moveStage(secretId: string, stage: string, p: { toVersionId: string; fromVersionId?: string }): Promise<void> {
    if (p.fromVersionId === p.toVersionId) return;
    try {
      await this.client.send(
        new UpdateSecretVersionStageCommand({
          SecretId: secretId,
          VersionStage: stage,
          MoveToVersionId: p.toVersionId,
          RemoveFromVersionId: p.fromVersionId,
        }),
      );
    } catch (e) {
      if (errorName(e) === 'InvalidParameterException' && p.fromVersionId) {
        // The label is no longer where we read it: another writer moved it first. This is the compare-and-swap losing.
        throw new RefresherError({
          class: 'conflict',
          code: 'STAGE_MOVED',
          remote: 'secretsmanager',
          message: `${stage} of ${secretId} moved since it was read (another run promoted first)`,
          fix: "Nothing to do: the other run's version is current.",
        });
      }
      throw storeError(e, secretId, 'UpdateSecretVersionStage');
    }
  }

  async removeStage(secretId: string, stage: string, fromVersionId: string): Promise<void> {
    try {
      await this.client.send(
        new UpdateSecretVersionStageCommand({
          SecretId: secretId,
          VersionStage: stage,
          RemoveFromVersionId: fromVersionId,
        }),
      );
    } catch (e) {
      // Already detached (a retry after a lost answer, or another run cleared it): the outcome we wanted.
      if (errorName(e) === 'InvalidParameterException') return;
      throw storeError(e, secretId, 'UpdateSecretVersionStage');
    }
  }
}
