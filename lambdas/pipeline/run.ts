import { randomUUID } from 'node:crypto';
import type { Credential } from '../config/schema.ts';
import { findCredential } from '../config/load.ts';
import { effectiveDelivery } from '../config/delivery-schema.ts';
import { needsFollowUp } from '../deliver/confirm.ts';
import { planDelivery, stageGate } from '../deliver/policy.ts';
import { targetKey, targetLabel } from '../push/cloud-manager-target.ts';
import type { FleetEntry } from '../store/state-store.ts';
import { rotateCredential, type RotationDeps, type RotationSummary } from './rotate.ts';

export interface RunRequest {
  /** One id, several, or every configured credential when absent. */
  credentials?: string[];
  force?: boolean;
  source?: 'schedule' | 'manual' | 'cli';
  runId?: string;
  /** 'deliver': only credentials whose targets have delivery work now (read from the state table in one walk). */
  mode?: 'rotate' | 'deliver';
  /** Push to these target keys (or all) now. */
  pushNow?: readonly string[] | 'all';
}

export interface RunResult {
  runId: string;
  ok: boolean;
  results: RotationSummary[];
  /** deliver mode: credentials looked at and left alone because nothing was due. */
  idle?: number;
}

/**
 * Whether a delivery run has anything to do for this credential, from its table records alone: a follow-up to carry on
 * (restart, quiet period, daily log check) or a push the policy would make now. Most delivery runs find nothing, and
 * then touch neither Secrets Manager nor Cloud Manager.
 */
export function deliveryWork(
  c: Credential,
  entry: FleetEntry | undefined,
  now: Date,
  pushNow?: readonly string[] | 'all',
): boolean {
  if (c.targets.length === 0) return false;
  if (pushNow) return true;
  const current = entry?.state?.current;
  const byKey = new Map((entry?.targets ?? []).map((r) => [r.targetKey, r]));
  const members = c.targets.map((t) => ({
    stage: t.stage,
    record: byKey.get(targetKey(t)),
    settings: effectiveDelivery(c.delivery, t.delivery),
    label: targetLabel(t),
  }));
  return c.targets.some((t, i) => {
    const m = members[i]!;
    if (needsFollowUp(m.record, m.settings, now)) return true;
    if (!current) return !m.record?.versionId;
    const plan = planDelivery({
      record: m.record,
      current,
      settings: m.settings,
      now,
      stage: stageGate(t.stage, c.delivery?.stages, members, now),
    });
    return plan.action === 'push';
  });
}

/**
 * Runs the requested credentials with at most `http.maxConcurrency` in flight: the token endpoint and Cloud Manager
 * see a bounded number of requests however many credentials there are, and time grows with the number of waves.
 */
export async function runRotation(deps: RotationDeps, req: RunRequest = {}): Promise<RunResult> {
  const runId = req.runId ?? randomUUID();
  let list: Credential[] = req.credentials?.length
    ? req.credentials.map((id) => findCredential(deps.config, id))
    : deps.config.credentials;
  let idle: number | undefined;
  if (req.mode === 'deliver') {
    const fleet = new Map((await deps.state.listFleet()).map((e) => [e.credentialId, e]));
    const now = (deps.now ?? (() => new Date()))();
    const withWork = list.filter((c) => deliveryWork(c, fleet.get(c.id), now, req.pushNow));
    idle = list.length - withWork.length;
    list = withWork;
  }
  const limit = Math.max(1, deps.config.http.maxConcurrency);
  const results = new Array<RotationSummary>(list.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, list.length) }, async () => {
      while (next < list.length) {
        const i = next++;
        // Each credential gets its own run id so its pending version token and lease are its own.
        results[i] = await rotateCredential(deps, list[i] as Credential, {
          force: req.force,
          source: req.source,
          mode: req.mode,
          pushNow: req.pushNow,
          runId: list.length > 1 ? `${runId}-${i}` : runId,
        });
      }
    }),
  );
  deps.metrics.flush();
  return { runId, ok: results.every((r) => r.outcome !== 'failed'), results, ...(idle !== undefined ? { idle } : {}) };
}
