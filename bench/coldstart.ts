import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { bundleLikeCdk, bytesByPackage, type Bundle } from './bundle.ts';
import { NODE_BIN } from './child.ts';
import { median } from './stats.ts';

export interface ProcessSample {
  /** Spawn to exit, seen from this process: the whole cold process (Node's own start-up, the import, the exit). */
  processMs: number;
  /** CPU time of the whole child process when the import has finished (all threads, Node's start-up included). */
  cpuMs: number;
  rssBytes: number;
}

export interface ColdStartSide {
  name: string;
  what: string;
  /** Entry module, and the whole asset (entry and chunks). */
  bytes: number;
  totalBytes: number;
  processMs: number;
  processMsMin: number;
  cpuMs: number;
  cpuMsMin: number;
  rssBytes: number;
}

export interface ColdStartResult {
  spawns: number;
  handler: ColdStartSide;
  floor: ColdStartSide;
  minimal: ColdStartSide;
  /** Whole-process CPU time, median (min) handler / floor: on a 256 MB function, INIT is CPU-bound, so this is its ratio. */
  initRatio: number;
  initRatioMin: number;
  /** The same with the wall time of the whole process. */
  processRatio: number;
  /** The handler asset's bytes by package, largest first (entry and chunks). */
  packages: Array<{ name: string; bytes: number }>;
  /** Bytes of the modules INIT loads (the entry and the chunks it imports statically). */
  initBytes: number;
}

/** Spawns a process and resolves with its stdout and the spawn-to-exit time. */
function spawnTimed(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ out: string; ms: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(NODE_BIN, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (err += c.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0
        ? resolve({ out, ms: performance.now() - t0 })
        : reject(new Error(`node exited with ${code}: ${err.slice(-1500)}`)),
    );
  });
}

const FUNCTION_ENV = {
  POWERTOOLS_SERVICE_NAME: 'token-refresher',
  POWERTOOLS_METRICS_NAMESPACE: 'TokenRefresher',
  TOKEN_REFRESHER_CONFIG_FILE: 'config.json',
  AWS_REGION: 'eu-west-1',
};

/** A fresh Node process that imports the bundle (what Lambda's INIT does) and reports its whole CPU time. */
async function importOnce(file: string): Promise<ProcessSample> {
  const code =
    `await import(${JSON.stringify(pathToFileURL(file).href)}); const c = process.cpuUsage();` +
    ' process.stdout.write(JSON.stringify({ cpuMs: (c.user + c.system) / 1000, rssBytes: process.memoryUsage().rss }));';
  const r = await spawnTimed(['--input-type=module', '-e', code], FUNCTION_ENV);
  return { ...(JSON.parse(r.out) as Omit<ProcessSample, 'processMs'>), processMs: r.ms };
}

/** Bytes of the entry and of every chunk it imports statically: what INIT reads and compiles. */
function staticClosureBytes(b: Bundle): number {
  const outputs = b.metafile.outputs;
  const key = Object.keys(outputs).find((k) => resolve(k) === resolve(b.file));
  const seen = new Set<string>();
  const visit = (k: string) => {
    if (seen.has(k) || !outputs[k]) return;
    seen.add(k);
    for (const i of outputs[k].imports) if (i.kind === 'import-statement' && !i.external) visit(i.path);
  };
  if (key) visit(key);
  return [...seen].reduce((a, k) => a + (outputs[k]?.bytes ?? 0), 0);
}

/**
 * The shipped asset (lambdas/schedule/handler.ts), the floor handler (bench/fixtures/floor-handler.ts: middy, the
 * Powertools logger and a Secrets Manager client) and a minimal middy handler, bundled the same way, each imported
 * `spawns` times in fresh Node 24 processes, round robin, after one unmeasured import each (the page cache).
 */
export async function benchColdStart(o: { workDir: string; spawns: number }): Promise<ColdStartResult> {
  const [handlerBundle, floorBundle, minimalBundle] = await Promise.all([
    bundleLikeCdk('lambdas/schedule/handler.ts', join(o.workDir, 'cold-handler')),
    bundleLikeCdk('bench/fixtures/floor-handler.ts', join(o.workDir, 'cold-floor')),
    bundleLikeCdk('bench/fixtures/minimal-handler.ts', join(o.workDir, 'cold-minimal')),
  ]);
  const plan: Array<{ name: string; what: string; bundle: Bundle }> = [
    { name: 'handler', what: 'lambdas/schedule/handler.ts, the shipped asset', bundle: handlerBundle },
    {
      name: 'floor',
      what: 'bench/fixtures/floor-handler.ts: middy + Powertools logger + Secrets Manager client',
      bundle: floorBundle,
    },
    { name: 'minimal', what: 'bench/fixtures/minimal-handler.ts: middy alone', bundle: minimalBundle },
  ];
  const samples = plan.map(() => [] as ProcessSample[]);
  for (const p of plan) await importOnce(p.bundle.file);
  for (let i = 0; i < o.spawns; i++)
    for (const [k, p] of plan.entries()) samples[k]!.push(await importOnce(p.bundle.file));
  const sides = plan.map((p, k): ColdStartSide => {
    const s = samples[k]!;
    return {
      name: p.name,
      what: p.what,
      bytes: p.bundle.bytes,
      totalBytes: p.bundle.totalBytes,
      processMs: median(s.map((x) => x.processMs)),
      processMsMin: Math.min(...s.map((x) => x.processMs)),
      cpuMs: median(s.map((x) => x.cpuMs)),
      cpuMsMin: Math.min(...s.map((x) => x.cpuMs)),
      rssBytes: median(s.map((x) => x.rssBytes)),
    };
  });
  const [handler, floor, minimal] = sides as [ColdStartSide, ColdStartSide, ColdStartSide];
  return {
    spawns: o.spawns,
    handler,
    floor,
    minimal,
    initRatio: handler.cpuMs / floor.cpuMs,
    initRatioMin: handler.cpuMsMin / floor.cpuMsMin,
    processRatio: handler.processMs / floor.processMs,
    packages: bytesByPackage(handlerBundle.metafile),
    initBytes: staticClosureBytes(handlerBundle),
  };
}

export interface CliHelpResult {
  runs: number;
  cliMs: number;
  cliMsMin: number;
  nodeMs: number;
  nodeMsMin: number;
  ratio: number;
  ratioMin: number;
}

/**
 * `token-refresher --help` as installed (bin/token-refresher.mjs on the dist/cli bundle) against `node -e 0`, spawn to
 * exit, round robin. The bundle must have been built (scripts/build.ts; bench/main.ts builds it first).
 */
export async function benchCliHelp(o: { runs: number }): Promise<CliHelpResult> {
  if (!existsSync('dist/cli/main.mjs')) throw new Error('dist/cli is not built: run `npm run build`');
  const cli: number[] = [];
  const node: number[] = [];
  await spawnTimed(['bin/token-refresher.mjs', '--help']);
  await spawnTimed(['-e', '0']);
  for (let i = 0; i < o.runs; i++) {
    cli.push((await spawnTimed(['bin/token-refresher.mjs', '--help'])).ms);
    node.push((await spawnTimed(['-e', '0'])).ms);
  }
  return {
    runs: o.runs,
    cliMs: median(cli),
    cliMsMin: Math.min(...cli),
    nodeMs: median(node),
    nodeMsMin: Math.min(...node),
    ratio: median(cli) / median(node),
    ratioMin: Math.min(...cli) / Math.min(...node),
  };
}
