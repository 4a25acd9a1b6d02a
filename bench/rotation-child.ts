/**
 * Runs rotations in a process of its own, against stand-ins served by the parent: the parent bundles this file the way
 * the CDK bundles the function and starts it with plain `node`, so what runs (and what is resident) is the function's
 * code, without the stand-ins' server-side work or a TypeScript loader in the same process.
 *
 * Input: the path of a JSON job (ChildJob). Output: one JSON line on stdout (ChildResult).
 */
import { readFileSync } from 'node:fs';
import { parseConfig } from '../lambdas/config/load.ts';
import { registeredSecretCount } from '../lambdas/core/redact.ts';
import { runRotation } from '../lambdas/pipeline/run.ts';
import { wire } from '../lambdas/pipeline/wiring.ts';
import { handler } from '../lambdas/schedule/handler.ts';
import { FileStateStore } from '../lambdas/store/file-state-store.ts';
import { FileStore } from '../lambdas/store/file-store.ts';
import { SecretsManagerStore } from '../lambdas/store/secrets-manager-store.ts';
import { LatencyStore, type StoreCall } from './latency-store.ts';

export interface ChildJob {
  storeDir: string;
  /** Secrets Manager through the SDK (AWS_ENDPOINT_URL and the test CA come in the environment) instead of the FileStore. */
  secretsManager?: boolean;
  latencyMs: number;
  /** The configuration document (as startLocalEnv built it). */
  config: unknown;
  smtpCa: string;
  /** Rotations measured, after `warmup` unmeasured ones; each is one invocation (new wiring, new IMS token). */
  runs: number;
  warmup: number;
  force: boolean;
}

export interface ChildRun {
  ms: number;
  /** CPU time of this process during the run (user + system). */
  cpuMs: number;
  outcomes: Record<string, number>;
  failures: string[];
  stages: Record<string, number>;
  trace: StoreCall[];
}

export interface ChildResult {
  /** When the function's modules were loaded, ms since this process started (Node's start-up and the import). */
  initMs: number;
  /** CPU time of the process by then (its whole INIT). */
  initCpuMs: number;
  /** Resident memory once the function's modules (the handler and what it imports) are loaded. */
  rssAfterImportBytes: number;
  /** The kernel's high-water mark of resident memory for the whole process (getrusage ru_maxrss). */
  maxRssBytes: number;
  heapUsedAfterBytes: number;
  /** Heap still in use after a full garbage collection at the end: what the run retains (needs --expose-gc). */
  liveHeapAfterGcBytes: number;
  /** Values held by the redaction registry at the end (bounded by lambdas/core/redact.ts). */
  registeredSecrets: number;
  runs: ChildRun[];
}

// Loading the handler module makes this process hold everything the function holds (SDK clients, Powertools, middy).
void handler;
const rssAfterImportBytes = process.memoryUsage().rss;
const initMs = performance.now();
const initCpu = process.cpuUsage();

const silent = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };
const noMetrics = { count: () => {}, gauge: () => {}, flush: () => {} };

async function main(): Promise<void> {
  const job = JSON.parse(readFileSync(process.argv[2] as string, 'utf8')) as ChildJob;
  const config = parseConfig(job.config, 'benchmark configuration');
  // The honest runs: the real SDK over HTTPS, the latency in the TCP proxy in front of moto (LatencyStore only traces).
  const store = job.secretsManager
    ? new LatencyStore(new SecretsManagerStore({ timeoutMs: config.http.timeoutMs }), 0)
    : new LatencyStore(new FileStore(job.storeDir), job.latencyMs);
  const state = new FileStateStore(`${job.storeDir}/state`);
  const runs: ChildRun[] = [];
  for (let i = 0; i < job.warmup + job.runs; i++) {
    const deps = wire({ config, store, state, log: silent, metrics: noMetrics, smtpCa: job.smtpCa, baseDelayMs: 20 });
    store.resetTrace();
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    // Every benchmarked rotation pushes (the delivery policy would leave a fresh copy alone): the floor has its PATCH.
    const r = await runRotation(deps, { force: job.force, source: 'manual', pushNow: 'all' });
    const ms = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    if (i < job.warmup) continue;
    const outcomes: Record<string, number> = {};
    const failures: string[] = [];
    for (const s of r.results) {
      const ok = s.outcome === 'rotated' && s.promoted && s.targets.every((t) => t.status === 'pushed');
      outcomes[ok ? 'rotated+pushed' : s.outcome] = (outcomes[ok ? 'rotated+pushed' : s.outcome] ?? 0) + 1;
      if (!ok && failures.length < 5)
        failures.push(`${s.credential}: ${s.failure ? `${s.failure.code} ${s.failure.message}` : s.outcome}`);
    }
    runs.push({
      ms,
      cpuMs: (cpu.user + cpu.system) / 1000,
      outcomes,
      failures,
      stages: r.results.length === 1 ? { ...r.results[0]!.durationsMs } : {},
      trace: r.results.length === 1 ? [...store.calls] : [],
    });
  }
  const heapUsedAfterBytes = process.memoryUsage().heapUsed;
  (globalThis as { gc?: () => void }).gc?.();
  const result: ChildResult = {
    initMs,
    initCpuMs: (initCpu.user + initCpu.system) / 1000,
    rssAfterImportBytes,
    maxRssBytes: process.resourceUsage().maxRSS * 1024,
    heapUsedAfterBytes,
    liveHeapAfterGcBytes: process.memoryUsage().heapUsed,
    registeredSecrets: registeredSecretCount(),
    runs,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
