import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLocalEnv, type LocalEnv } from '../demo/local-env.ts';
import { FileStore } from '../lambdas/store/file-store.ts';

export interface BenchWorld {
  env: LocalEnv;
  /** The FileStore's directory: a child process can open the same store (FileStore is safe across processes). */
  storeDir: string;
  close(): Promise<void>;
}

/**
 * The stand-ins (Entra, IMS, Cloud Manager, SMTP) with a fixed per-exchange latency and a FileStore seeded with a token
 * that is due (8 days old) for every credential, its client secret and the Adobe client secret. The rotations run in a
 * child process (bench/rotation-child.ts) that opens the same FileStore behind the latency decorator.
 */
export async function startWorld(o: {
  latencyMs: number;
  credentials: number;
  targetsPerCredential: number;
  maxConcurrency?: number;
  /** smtp-server's pause before the greeting; undefined keeps its 100 ms (see standins/smtp.ts). */
  greetingPauseMs?: number;
}): Promise<BenchWorld> {
  const storeDir = mkdtempSync(join(tmpdir(), 'tr-bench-store-'));
  const env = await startLocalEnv({
    store: new FileStore(storeDir),
    latencyMs: o.latencyMs,
    credentials: o.credentials,
    targetsPerCredential: o.targetsPerCredential,
    secretPrefix: 'tr-bench',
    standins: o.greetingPauseMs === undefined ? undefined : { smtp: { greetingPauseMs: o.greetingPauseMs } },
    configure: (doc) => {
      // Benchmarks send many requests: no alerts configured (a success sends none anyway), concurrency as configured.
      if (o.maxConcurrency !== undefined && doc.http) doc.http.maxConcurrency = o.maxConcurrency;
    },
  });
  await env.seed();
  return {
    env,
    storeDir,
    close: async () => {
      await env.close();
      rmSync(storeDir, { recursive: true, force: true });
    },
  };
}
