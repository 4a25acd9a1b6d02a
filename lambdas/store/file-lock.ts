import { closeSync, openSync, rmSync, statSync } from 'node:fs';

/** A lock file older than this belongs to a process that died holding it. */
const STALE_LOCK_MS = 30_000;

/**
 * Serializes read-modify-write on one key: in-process by a promise chain, across processes by an exclusive lock file
 * (`open(..., 'wx')` fails when the file exists, on every local file system). Used by the local secret store and the
 * local state store so that two processes on one machine cannot interleave their writes.
 */
export class FileLocks {
  private readonly chains = new Map<string, Promise<unknown>>();

  constructor(
    private readonly onTimeout: (lockFile: string) => Error,
    private readonly waitMs = 10_000,
  ) {}

  run<T>(lockFile: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.chains.get(lockFile) ?? Promise.resolve();
    const run = prev
      .catch(() => undefined)
      .then(async () => {
        await this.take(lockFile);
        try {
          return await fn();
        } finally {
          rmSync(lockFile, { force: true });
        }
      });
    this.chains.set(lockFile, run);
    // The chain must not keep a settled run alive for ever: drop it once nothing queued behind it.
    void run
      .finally(() => {
        if (this.chains.get(lockFile) === run) this.chains.delete(lockFile);
      })
      .catch(() => undefined);
    return run;
  }

  private async take(lockFile: string): Promise<void> {
    const deadline = Date.now() + this.waitMs;
    for (;;) {
      try {
        closeSync(openSync(lockFile, 'wx', 0o600));
        return;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        let st: { mtimeMs: number } | undefined;
        try {
          st = statSync(lockFile);
        } catch {
          st = undefined;
        }
        if (st && Date.now() - st.mtimeMs > STALE_LOCK_MS) rmSync(lockFile, { force: true });
        else if (Date.now() > deadline) throw this.onTimeout(lockFile);
        else await new Promise((r) => setTimeout(r, 5 + Math.random() * 20));
      }
    }
  }
}
