import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { bundleLikeCdk, bytesByPackage, type Bundle } from './bundle.ts';
import { spawnNode } from './child.ts';
import { median } from './stats.ts';

export interface ImportSample {
  importMs: number;
  /** CPU time of the process during the import (all its threads): steadier than wall time on a busy machine. */
  importCpuMs: number;
  rssBytes: number;
}

export interface ColdStartSide {
  name: string;
  what: string;
  bytes: number;
  mapBytes: number;
  flags: string[];
  importMs: number;
  importMsMin: number;
  importCpuMs: number;
  /** Resident memory right after the import. */
  rssBytes: number;
}

export interface ColdStartResult {
  spawns: number;
  handler: ColdStartSide;
  minimal: ColdStartSide;
  /** Same handler bundle without --enable-source-maps, and a what-if without the bundled undici (import only). */
  variants: ColdStartSide[];
  sizeRatio: number;
  importRatio: number;
  importCpuRatio: number;
  /** The handler bundle's bytes by package, largest first. */
  packages: Array<{ name: string; bytes: number }>;
}

/**
 * Imports a bundle in a fresh process and times the import inside it: performance.now() around `await import()`, so
 * process start-up (the same for every function) is left out.
 */
async function importOnce(file: string, flags: string[]): Promise<ImportSample> {
  const code =
    `const c0 = process.cpuUsage(); const t0 = performance.now(); await import(${JSON.stringify(pathToFileURL(file).href)}); const t1 = performance.now(); const c = process.cpuUsage(c0);` +
    ' process.stdout.write(JSON.stringify({ importMs: t1 - t0, importCpuMs: (c.user + c.system) / 1000, rssBytes: process.memoryUsage().rss }));';
  const out = await spawnNode([...flags, '--input-type=module', '-e', code], {
    env: { POWERTOOLS_SERVICE_NAME: 'token-refresher', POWERTOOLS_METRICS_NAMESPACE: 'TokenRefresher', TOKEN_REFRESHER_CONFIG_FILE: 'config.json' },
    timeoutMs: 60_000,
  });
  return JSON.parse(out) as ImportSample;
}

/**
 * Bundles the function's handler and a minimal middy handler the way the stack does, then imports each `spawns` times
 * in fresh Node 24 processes, round robin, so all see the same machine load. Reports medians and ratios.
 */
export async function benchColdStart(o: { workDir: string; spawns: number }): Promise<ColdStartResult> {
  // The stack runs the function with NODE_OPTIONS=--enable-source-maps (lib/token-refresher.ts).
  const cdkFlags = ['--enable-source-maps'];
  const [handlerBundle, minimalBundle, noUndici] = await Promise.all([
    bundleLikeCdk('lambdas/schedule/handler.ts', join(o.workDir, 'cold-handler')),
    bundleLikeCdk('bench/fixtures/minimal-handler.ts', join(o.workDir, 'cold-minimal')),
    bundleLikeCdk('lambdas/schedule/handler.ts', join(o.workDir, 'cold-handler-no-undici'), { alias: { undici: './bench/fixtures/undici-stub.ts' } }),
  ]);
  const plan: Array<{ name: string; what: string; bundle: Bundle; flags: string[] }> = [
    { name: 'handler', what: 'lambdas/schedule/handler.ts, as deployed', bundle: handlerBundle, flags: cdkFlags },
    { name: 'minimal', what: 'bench/fixtures/minimal-handler.ts (middy, nothing else)', bundle: minimalBundle, flags: cdkFlags },
    { name: 'handler, no source maps', what: 'the same bundle without --enable-source-maps', bundle: handlerBundle, flags: [] },
    { name: 'handler, no bundled undici', what: 'what-if: undici replaced by a stub (import only; Node has fetch built in)', bundle: noUndici, flags: cdkFlags },
  ];
  const samples = plan.map(() => [] as ImportSample[]);
  // One unmeasured import each first: the page cache holds the files afterwards, as it would on a warm host.
  for (const p of plan) await importOnce(p.bundle.file, p.flags);
  for (let i = 0; i < o.spawns; i++) {
    for (const [k, p] of plan.entries()) samples[k]!.push(await importOnce(p.bundle.file, p.flags));
  }
  const sides = plan.map((p, k): ColdStartSide => ({
    name: p.name,
    what: p.what,
    bytes: p.bundle.bytes,
    mapBytes: p.bundle.mapBytes,
    flags: p.flags,
    importMs: median(samples[k]!.map((s) => s.importMs)),
    importMsMin: Math.min(...samples[k]!.map((s) => s.importMs)),
    importCpuMs: median(samples[k]!.map((s) => s.importCpuMs)),
    rssBytes: median(samples[k]!.map((s) => s.rssBytes)),
  }));
  const [handler, minimal, ...variants] = sides as [ColdStartSide, ColdStartSide, ...ColdStartSide[]];
  return {
    spawns: o.spawns,
    handler,
    minimal,
    variants,
    sizeRatio: handler.bytes / minimal.bytes,
    importRatio: handler.importMs / minimal.importMs,
    importCpuRatio: handler.importCpuMs / minimal.importCpuMs,
    packages: bytesByPackage(handlerBundle.metafile),
  };
}
