import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RefresherError } from '../core/errors.ts';
import { registerSecret } from '../core/redact.ts';
import type { SecretStore, SecretVersion, VersionInfo } from '../core/types.ts';
import { FileLocks } from './file-lock.ts';

interface FileVersion {
  value: string;
  stages: string[];
  createdAt: string;
}
interface FileSecret {
  versions: Record<string, FileVersion>;
}

const MAX_UNLABELED = 20;

/**
 * A local secret store with the Secrets Manager contract (versions, staging labels, idempotent client request tokens,
 * compare-and-swap label moves), for the demo and for operators without AWS. One 0600 file per secret; writes are
 * atomic renames under a lock file, so two processes on one machine cannot interleave a read-modify-write.
 */
export class FileStore implements SecretStore {
  readonly kind = 'file' as const;
  private readonly locks = new FileLocks(
    (lock) =>
      new RefresherError({
        class: 'transient',
        code: 'FILE_STORE_LOCKED',
        remote: 'secretsmanager',
        message: `local store file ${lock} is locked by another process`,
        fix: `Retry; remove ${lock} if no other token-refresher runs.`,
      }),
  );

  constructor(private readonly dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  }

  private path(secretId: string): string {
    return join(this.dir, `${encodeURIComponent(secretId)}.json`);
  }

  private async read(secretId: string): Promise<FileSecret | undefined> {
    try {
      const doc = JSON.parse(readFileSync(this.path(secretId), 'utf8')) as FileSecret;
      for (const v of Object.values(doc.versions)) registerSecret(v.value);
      return doc;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new RefresherError({
        class: 'configuration',
        code: 'FILE_STORE_CORRUPT',
        remote: 'secretsmanager',
        message: `local store file for ${secretId} cannot be read: ${(e as Error).name}`,
        fix: `Inspect or restore ${this.path(secretId)}.`,
      });
    }
  }

  private async write(secretId: string, doc: FileSecret): Promise<void> {
    const file = this.path(secretId);
    const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
    writeFileSync(tmp, JSON.stringify(doc, null, 2), { mode: 0o600 });
    renameSync(tmp, file);
  }

  /** Serializes read-modify-write per secret, in-process and across processes (lambdas/store/file-lock.ts). */
  private exclusive<T>(secretId: string, fn: () => Promise<T>): Promise<T> {
    return this.locks.run(`${this.path(secretId)}.lock`, fn);
  }

  async getValue(secretId: string, stage: string): Promise<SecretVersion | undefined> {
    const doc = await this.read(secretId);
    if (!doc) return undefined;
    for (const [versionId, v] of Object.entries(doc.versions))
      if (v.stages.includes(stage)) return { versionId, value: v.value, stages: [...v.stages] };
    return undefined;
  }

  async listVersions(secretId: string): Promise<VersionInfo[]> {
    const doc = await this.read(secretId);
    if (!doc) return [];
    return Object.entries(doc.versions).map(([versionId, v]) => ({
      versionId,
      stages: [...v.stages],
      createdAt: new Date(v.createdAt),
    }));
  }

  async putValue(
    secretId: string,
    value: string,
    p: { clientRequestToken: string; stages: string[] },
  ): Promise<string> {
    registerSecret(value);
    return this.exclusive(secretId, async () => {
      const doc = (await this.read(secretId)) ?? { versions: {} };
      const existing = doc.versions[p.clientRequestToken];
      if (existing) {
        if (existing.value === value) return p.clientRequestToken;
        // Secrets Manager rejects a reused token with another value (ResourceExistsException); so do we.
        throw new RefresherError({
          class: 'conflict',
          code: 'VERSION_EXISTS',
          remote: 'secretsmanager',
          message: `version ${p.clientRequestToken} of ${secretId} already exists with another value`,
          fix: 'Nothing to do: a retry of a write that already happened.',
        });
      }
      const stages = [...p.stages];
      if (Object.keys(doc.versions).length === 0 && !stages.includes('AWSCURRENT')) stages.push('AWSCURRENT');
      for (const s of stages) this.detach(doc, s);
      doc.versions[p.clientRequestToken] = { value, stages, createdAt: new Date().toISOString() };
      this.prune(doc);
      await this.write(secretId, doc);
      return p.clientRequestToken;
    });
  }

  async moveStage(secretId: string, stage: string, p: { toVersionId: string; fromVersionId?: string }): Promise<void> {
    if (p.fromVersionId === p.toVersionId) return;
    await this.exclusive(secretId, async () => {
      const doc = await this.read(secretId);
      const target = doc?.versions[p.toVersionId];
      if (!doc || !target)
        throw new RefresherError({
          class: 'configuration',
          code: 'VERSION_NOT_FOUND',
          remote: 'secretsmanager',
          message: `version ${p.toVersionId} of ${secretId} does not exist`,
          fix: 'Re-run; the version list changed.',
        });
      if (p.fromVersionId && !doc.versions[p.fromVersionId]?.stages.includes(stage)) {
        throw new RefresherError({
          class: 'conflict',
          code: 'STAGE_MOVED',
          remote: 'secretsmanager',
          message: `${stage} of ${secretId} moved since it was read (another run promoted first)`,
          fix: "Nothing to do: the other run's version is current.",
        });
      }
      this.detach(doc, stage);
      target.stages.push(stage);
      this.prune(doc);
      await this.write(secretId, doc);
    });
  }

  async removeStage(secretId: string, stage: string, fromVersionId: string): Promise<void> {
    await this.exclusive(secretId, async () => {
      const doc = await this.read(secretId);
      const v = doc?.versions[fromVersionId];
      if (!doc || !v || !v.stages.includes(stage)) return;
      v.stages = v.stages.filter((s) => s !== stage);
      this.prune(doc);
      await this.write(secretId, doc);
    });
  }

  /** Removes a label from whichever version holds it; moving AWSCURRENT leaves AWSPREVIOUS behind, as Secrets Manager does. */
  private detach(doc: FileSecret, stage: string): void {
    for (const v of Object.values(doc.versions)) {
      const i = v.stages.indexOf(stage);
      if (i < 0) continue;
      v.stages.splice(i, 1);
      if (stage === 'AWSCURRENT') {
        for (const o of Object.values(doc.versions)) o.stages = o.stages.filter((s) => s !== 'AWSPREVIOUS');
        v.stages.push('AWSPREVIOUS');
      }
    }
  }

  private prune(doc: FileSecret): void {
    const unlabeled = Object.entries(doc.versions)
      .filter(([, v]) => v.stages.length === 0)
      .sort((a, b) => a[1].createdAt.localeCompare(b[1].createdAt));
    for (const [id] of unlabeled.slice(0, Math.max(0, unlabeled.length - MAX_UNLABELED))) delete doc.versions[id];
  }
}
