import { randomUUID } from 'node:crypto';
import type { Credential } from '../config/schema.ts';
import { findCredential } from '../config/load.ts';
import { rotateCredential, type RotationDeps, type RotationSummary } from './rotate.ts';

export interface RunRequest {
  /** One id, several, or every configured credential when absent. */
  credentials?: string[];
  force?: boolean;
  source?: 'schedule' | 'manual' | 'cli';
  runId?: string;
}

export interface RunResult {
  runId: string;
  ok: boolean;
  results: RotationSummary[];
}

/**
 * Rotates the requested credentials with at most `http.maxConcurrency` in flight: the token endpoint and Cloud Manager
 * see a bounded number of requests however many credentials there are, and time grows with the number of waves.
 */
export async function runRotation(deps: RotationDeps, req: RunRequest = {}): Promise<RunResult> {
  const runId = req.runId ?? randomUUID();
  const list: Credential[] = req.credentials?.length ? req.credentials.map((id) => findCredential(deps.config, id)) : deps.config.credentials;
  const limit = Math.max(1, deps.config.http.maxConcurrency);
  const results = new Array<RotationSummary>(list.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, list.length) }, async () => {
      while (next < list.length) {
        const i = next++;
        // Each credential gets its own run id so its pending version token and lease are its own.
        results[i] = await rotateCredential(deps, list[i] as Credential, { force: req.force, source: req.source, runId: list.length > 1 ? `${runId}-${i}` : runId });
      }
    }),
  );
  deps.metrics.flush();
  return { runId, ok: results.every((r) => r.outcome !== 'failed'), results };
}
