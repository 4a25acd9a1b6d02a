import { linkSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RefresherError } from '../core/errors.ts';
import { FileLocks } from './file-lock.ts';
import { readStateRecord, type CredentialState } from './records.ts';
import type { DeliveryRecord, FleetEntry, LeaseResult, OneTimeItem, StateStore } from './state-store.ts';

/**
 * The state store in local files (demo, `--store file`), with the semantics of the DynamoDB one:
 *   <dir>/cred/<id>/lease.json | state.json | targets/<key>.json      <dir>/once/<sha256>.json
 * Every read-modify-write of one credential runs under that credential's lock file (lambdas/store/file-lock.ts), so
 * conditional writes hold across processes; every file is written 0600 to a temporary name and renamed into place, so
 * a reader sees the old or the new document, never half of one. The file system stands in for DynamoDB: its errors
 * name the remote 'dynamodb' the way the local secret store's name 'secretsmanager'.
 */
interface Versioned<T> {
  rev: number;
  doc: T;
}

const enc = encodeURIComponent;

export class FileStateStore implements StateStore {
  readonly kind = 'file' as const;
  private readonly locks = new FileLocks(
    (lock) =>
      new RefresherError({
        class: 'transient',
        code: 'FILE_STATE_LOCKED',
        remote: 'dynamodb',
        message: `local state file ${lock} is locked by another process`,
        fix: `Retry; remove ${lock} if no other token-refresher runs.`,
      }),
  );

  constructor(readonly dir: string) {
    mkdirSync(join(dir, 'cred'), { recursive: true, mode: 0o700 });
    mkdirSync(join(dir, 'once'), { recursive: true, mode: 0o700 });
  }

  private credDir(id: string): string {
    return join(this.dir, 'cred', enc(id));
  }

  private exclusive<T>(credentialId: string, fn: () => Promise<T>): Promise<T> {
    mkdirSync(join(this.credDir(credentialId), 'targets'), { recursive: true, mode: 0o700 });
    return this.locks.run(join(this.credDir(credentialId), '.lock'), fn);
  }

  private read<T>(file: string): T | undefined {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw this.corrupt(file, (e as NodeJS.ErrnoException).code ?? 'read error');
    }
    try {
      return JSON.parse(text) as T;
    } catch {
      throw this.corrupt(file, 'not JSON');
    }
  }

  private corrupt(file: string, why: string): RefresherError {
    return new RefresherError({
      class: 'configuration',
      code: 'FILE_STATE_CORRUPT',
      remote: 'dynamodb',
      message: `local state file ${file} cannot be read (${why})`,
      fix: `Inspect, restore or delete ${file} (deleting it loses only alert de-duplication or a delivery record; the next run re-pushes).`,
    });
  }

  private write(file: string, doc: unknown): void {
    const tmp = `${file}.${process.pid}.${Date.now()}.${Math.random().toString(36).slice(2)}.tmp`;
    writeFileSync(tmp, JSON.stringify(doc, null, 2), { mode: 0o600 });
    renameSync(tmp, file);
  }

  private conflict(what: string): RefresherError {
    return new RefresherError({
      class: 'conflict',
      code: 'STATE_RACE',
      remote: 'dynamodb',
      message: `${what} changed since it was read (another run wrote first)`,
      fix: 'Nothing to do: re-read and decide again.',
    });
  }

  async acquireLease(credentialId: string, runId: string, ttlMs: number, now: Date): Promise<LeaseResult> {
    return this.exclusive(credentialId, async () => {
      const file = join(this.credDir(credentialId), 'lease.json');
      const held = this.read<{ runId: string; until: number }>(file);
      if (held && held.runId !== runId && held.until >= now.getTime()) {
        return { acquired: false, heldBy: held.runId, until: new Date(held.until).toISOString() };
      }
      const until = now.getTime() + ttlMs;
      this.write(file, { runId, until });
      return { acquired: true, until: new Date(until).toISOString() };
    });
  }

  async releaseLease(credentialId: string, runId: string): Promise<void> {
    await this.exclusive(credentialId, async () => {
      const file = join(this.credDir(credentialId), 'lease.json');
      if (this.read<{ runId: string }>(file)?.runId === runId) rmSync(file, { force: true });
    });
  }

  async getState(credentialId: string): Promise<{ state: CredentialState; rev: number } | undefined> {
    const v = this.read<Versioned<CredentialState>>(join(this.credDir(credentialId), 'state.json'));
    return v ? { ...readStateRecord(JSON.stringify(v.doc)), rev: v.rev } : undefined;
  }

  private putVersioned<T>(
    credentialId: string,
    file: string,
    doc: T,
    expectedRev: number | undefined,
    what: string,
  ): Promise<number> {
    return this.exclusive(credentialId, async () => {
      const now = this.read<Versioned<T>>(file);
      if (now?.rev !== expectedRev) throw this.conflict(what);
      const rev = (expectedRev ?? 0) + 1;
      this.write(file, { rev, doc });
      return rev;
    });
  }

  async putState(credentialId: string, state: CredentialState, expectedRev: number | undefined): Promise<number> {
    return this.putVersioned(
      credentialId,
      join(this.credDir(credentialId), 'state.json'),
      state,
      expectedRev,
      `the state of ${credentialId}`,
    );
  }

  async listDeliveries(credentialId: string): Promise<DeliveryRecord[]> {
    return this.readTargets(credentialId);
  }

  private readTargets(credentialId: string): DeliveryRecord[] {
    const dir = join(this.credDir(credentialId), 'targets');
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
    const out: DeliveryRecord[] = [];
    for (const n of names.filter((x) => x.endsWith('.json')).sort()) {
      const v = this.read<Versioned<DeliveryRecord>>(join(dir, n));
      if (v) out.push({ ...v.doc, rev: v.rev });
    }
    return out.sort((a, b) => a.targetKey.localeCompare(b.targetKey));
  }

  async putDelivery(record: DeliveryRecord): Promise<number> {
    const { rev, ...doc } = record;
    const file = join(this.credDir(record.credentialId), 'targets', `${enc(record.targetKey)}.json`);
    return this.putVersioned(
      record.credentialId,
      file,
      doc,
      rev,
      `the delivery record of ${record.credentialId} / ${record.targetKey}`,
    );
  }

  async listFleet(): Promise<FleetEntry[]> {
    const out: FleetEntry[] = [];
    for (const name of readdirSync(join(this.dir, 'cred')).sort()) {
      const id = decodeURIComponent(name);
      const state = await this.getState(id);
      const targets = this.readTargets(id);
      if (!state && targets.length === 0) continue;
      out.push({ credentialId: id, ...(state ? { state: state.state } : {}), targets });
    }
    return out.sort((a, b) => a.credentialId.localeCompare(b.credentialId));
  }

  private onceFile(hash: string): string {
    if (!/^[0-9a-f]{16,128}$/i.test(hash)) {
      throw new RefresherError({
        class: 'input',
        code: 'ONE_TIME_HASH_INVALID',
        remote: 'dynamodb',
        message: 'a one-time item is addressed by a hex SHA-256 hash',
        fix: 'Pass the hash of the value, never the value.',
      });
    }
    return join(this.dir, 'once', `${hash.toLowerCase()}.json`);
  }

  async putOneTime(item: OneTimeItem): Promise<void> {
    const file = this.onceFile(item.hash);
    const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
    writeFileSync(tmp, JSON.stringify(item), { mode: 0o600 });
    try {
      // link() creates the name only if it does not exist yet: the create-if-absent of the DynamoDB store.
      linkSync(tmp, file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw this.conflict('a one-time item with this hash');
      throw e;
    } finally {
      rmSync(tmp, { force: true });
    }
  }

  async consumeOneTime(hash: string, now: Date): Promise<OneTimeItem | undefined> {
    const file = this.onceFile(hash);
    const taken = `${file}.${process.pid}.${Date.now()}.${Math.random().toString(36).slice(2)}.taken`;
    try {
      // rename() is atomic: of two concurrent consumers exactly one moves the file away and reads it.
      renameSync(file, taken);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
    try {
      const item = this.read<OneTimeItem>(taken);
      if (!item || Date.parse(item.expiresAt) <= now.getTime()) return undefined;
      return item;
    } finally {
      rmSync(taken, { force: true });
    }
  }
}
