import { runRotationChild } from './child.ts';
import { startWorld } from './world.ts';

export interface ScalePoint {
  credentials: number;
  /** Runs of this size; the figures are the median run's, the peak the highest of them. */
  runs: number;
  maxConcurrency: number;
  waves: number;
  wallMs: number;
  msPerWave: number;
  msPerCredential: number;
  cpuMs: number;
  /** Kernel high-water mark of the rotating process's resident memory. */
  maxRssBytes: number;
  rssAfterImportBytes: number;
  /** Peak minus what the process held once its modules were loaded: what the rotations themselves added. */
  rotationRssBytes: number;
  heapUsedAfterBytes: number;
  liveHeapAfterGcBytes: number;
  registeredSecrets: number;
  seedMs: number;
}

/**
 * One run over `n` credentials (each with its Cloud Manager targets) in a fresh child process: wall time of
 * runRotation and the process's peak memory. With at most maxConcurrency credentials in flight, the time should follow
 * the number of waves, ceil(n / maxConcurrency), and memory should not follow n.
 */
export async function benchScalePoint(o: {
  childBundle: string;
  workDir: string;
  credentials: number;
  targetsPerCredential: number;
  latencyMs: number;
  maxConcurrency: number;
  greetingPauseMs?: number;
  nodeFlags?: string[];
}): Promise<ScalePoint> {
  const t0 = performance.now();
  const world = await startWorld({
    latencyMs: o.latencyMs,
    credentials: o.credentials,
    targetsPerCredential: o.targetsPerCredential,
    maxConcurrency: o.maxConcurrency,
    greetingPauseMs: o.greetingPauseMs,
  });
  const seedMs = performance.now() - t0;
  try {
    const child = await runRotationChild(
      o.childBundle,
      o.workDir,
      {
        storeDir: world.storeDir,
        latencyMs: o.latencyMs,
        config: world.env.config,
        smtpCa: world.env.smtpCa,
        runs: 1,
        warmup: 0,
        force: false,
      },
      o.nodeFlags,
    );
    const run = child.runs[0]!;
    if (run.outcomes['rotated+pushed'] !== o.credentials) {
      throw new Error(`scale run of ${o.credentials}: ${JSON.stringify(run.outcomes)} ${run.failures.join('; ')}`);
    }
    const waves = Math.ceil(o.credentials / o.maxConcurrency);
    return {
      credentials: o.credentials,
      runs: 1,
      maxConcurrency: o.maxConcurrency,
      waves,
      wallMs: run.ms,
      msPerWave: run.ms / waves,
      msPerCredential: run.ms / o.credentials,
      cpuMs: run.cpuMs,
      maxRssBytes: child.maxRssBytes,
      rssAfterImportBytes: child.rssAfterImportBytes,
      rotationRssBytes: child.maxRssBytes - child.rssAfterImportBytes,
      heapUsedAfterBytes: child.heapUsedAfterBytes,
      liveHeapAfterGcBytes: child.liveHeapAfterGcBytes,
      registeredSecrets: child.registeredSecrets,
      seedMs,
    };
  } finally {
    await world.close();
  }
}
