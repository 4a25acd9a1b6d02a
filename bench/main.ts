/**
 * `npm run bench`: the refresher against its physical limit, in one run.
 *
 *   1. latency: forced rotations against stand-ins and a store that delay every exchange by L, versus the floor
 *      (the exchanges that must happen one after another, times L);
 *   2. cold start: the handler bundled as the stack bundles it, imported in fresh Node 24 processes, versus a minimal
 *      middy handler;
 *   3. scale: 1 to 1,000 credentials in one run: wall time against the number of waves, and peak memory;
 *   4. cost: peak memory of one rotation, GB-seconds per rotation, and the recommended memory and timeout.
 *
 * Options: --latency <ms> (25) --runs <n> (15) --spawns <n> (11) --sizes 1,10,100,1000 --memory <MB> (256, the size
 * whose V8 limits the scale runs use) --no-readme (do not rewrite the results block of bench/README.md).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { bundleLikeCdk } from './bundle.ts';
import { spawnSync } from 'node:child_process';
import { benchCliHelp, benchColdStart } from './coldstart.ts';
import { describeRequests, lambdaV8Flags, measureCost, PRICES } from './cost.ts';
import { benchLatency } from './latency.ts';
import { describeMachine } from './machine.ts';
import { renderHeadline, renderReport, type BenchResults } from './report.ts';
import { benchScalePoint, type ScalePoint } from './scale.ts';

const README = 'bench/README.md';
const START = '<!-- bench:results:start -->';
const END = '<!-- bench:results:end -->';

const { values } = parseArgs({
  options: {
    latency: { type: 'string', default: '25' },
    runs: { type: 'string', default: '15' },
    spawns: { type: 'string', default: '11' },
    sizes: { type: 'string', default: '1,10,100,1000' },
    memory: { type: 'string', default: '256' },
    'no-readme': { type: 'boolean', default: false },
  },
});
const latencyMs = Number(values.latency);
const runs = Number(values.runs);
const spawns = Number(values.spawns);
const sizes = values.sizes.split(',').map(Number);
const memoryMb = Number(values.memory);
const targetsPerCredential = 2;
const maxConcurrency = 8;

const log = (msg: string) =>
  process.stderr.write(`[bench ${((performance.now() - started) / 1000).toFixed(1)}s] ${msg}\n`);
const started = performance.now();

async function main(): Promise<void> {
  const machine = await describeMachine();
  log(`${machine.cpuModel} x ${machine.nproc}, ${machine.nodeVersion}, load ${machine.loadAverage.join(' ')}`);
  const workDir = mkdtempSync(join(tmpdir(), 'tr-bench-'));
  try {
    // The shipped build: the CLI and the function asset measured are the ones the package holds.
    const built = spawnSync(process.execPath, ['scripts/build.ts'], { stdio: 'inherit' });
    if (built.status !== 0) throw new Error('npm run build failed');
    const assetBytes = readdirSync('dist/function', { withFileTypes: true, recursive: true })
      .filter((e) => e.isFile())
      .reduce((a, e) => a + statSync(join(e.parentPath, e.name)).size, 0);
    log(`dist/ built (function asset ${Math.round(assetBytes / 1024)} KB)`);
    const child = await bundleLikeCdk('bench/rotation-child.ts', join(workDir, 'rotation-child'));
    log(`rotation child bundled (${Math.round(child.bytes / 1024)} KB)`);

    const [latency, latencyDouble, latencyPause] = await benchLatency({
      childBundle: child.file,
      workDir,
      variants: [{ latencyMs, greetingPauseMs: 0 }, { latencyMs: latencyMs * 2, greetingPauseMs: 0 }, { latencyMs }],
      rounds: 5,
      runsPerRound: Math.ceil(runs / 5),
      warmup: 1,
      targets: targetsPerCredential,
    });
    if (!latency || !latencyDouble || !latencyPause) throw new Error('latency variants missing');
    log(
      `latency L=${latencyMs}: median ${latency.medianMs.toFixed(0)} ms, floor ${latency.floorMs} ms, ratio ${latency.ratio.toFixed(2)}`,
    );
    log(
      `latency L=${latencyMs * 2}: median ${latencyDouble.medianMs.toFixed(0)} ms, ratio ${latencyDouble.ratio.toFixed(2)}`,
    );
    log(
      `latency L=${latencyMs} with smtp-server's greeting pause: median ${latencyPause.medianMs.toFixed(0)} ms, ratio ${latencyPause.ratio.toFixed(2)}`,
    );

    const coldStart = await benchColdStart({ workDir, spawns });
    log(
      `cold start: handler ${coldStart.handler.cpuMs.toFixed(0)} ms CPU, floor ${coldStart.floor.cpuMs.toFixed(0)} ms (x${coldStart.initRatio.toFixed(2)})`,
    );
    const cliHelp = await benchCliHelp({ runs: Math.max(11, spawns) });
    log(
      `cli --help ${cliHelp.cliMs.toFixed(1)} ms, node -e 0 ${cliHelp.nodeMs.toFixed(1)} ms (x${cliHelp.ratio.toFixed(2)})`,
    );

    const scale: ScalePoint[] = [];
    for (const n of sizes) {
      // Small runs last a second or two and a busy neighbour can double one: three of them, the median kept (the
      // highest peak memory of the three). The 1,000-credential run lasts long enough to average the noise itself.
      const repeats = n >= 1000 ? 1 : 3;
      const points: ScalePoint[] = [];
      for (let i = 0; i < repeats; i++) {
        points.push(
          await benchScalePoint({
            childBundle: child.file,
            workDir,
            credentials: n,
            targetsPerCredential,
            latencyMs,
            maxConcurrency,
            greetingPauseMs: 0,
            nodeFlags: lambdaV8Flags(memoryMb),
          }),
        );
      }
      const mid = [...points].sort((a, b) => a.wallMs - b.wallMs)[Math.floor(points.length / 2)]!;
      const point: ScalePoint = { ...mid, runs: repeats, maxRssBytes: Math.max(...points.map((q) => q.maxRssBytes)) };
      scale.push(point);
      log(
        `scale ${n}: ${point.wallMs.toFixed(0)} ms over ${point.waves} waves (${point.msPerWave.toFixed(0)} ms/wave), peak ${(point.maxRssBytes / 2 ** 20).toFixed(0)} MB`,
      );
    }

    // The cost line: requests of a rotation and of a no-op daily run counted on moto, priced for the fleet of COST_FLEET.
    const cost = await measureCost({ memoryMb, initMs: coldStart.handler.cpuMs });
    log(cost.line);

    const results: BenchResults = {
      date: new Date().toISOString(),
      command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
      machine: { ...machine, loadAverageEnd: (await describeMachine()).loadAverage },
      totalSeconds: (performance.now() - started) / 1000,
      options: {
        latencyMs,
        runs,
        spawns,
        sizes,
        memoryMb,
        targetsPerCredential,
        maxConcurrency,
        v8Flags: lambdaV8Flags(memoryMb),
      },
      latency,
      latencyDouble,
      latencyPause,
      coldStart,
      cliHelp,
      assetBytes,
      scale,
    };
    const report = renderReport(results);
    process.stdout.write(`${report}\n`);
    process.stdout.write(
      `\n${cost.line}\n` +
        `  for ${cost.fleet.credentials} credentials, daily runs, ${cost.fleet.targetsPerCredential} targets each, one shared Entra client secret and one Adobe credential: ${cost.fleet.secretsCreated} secrets; list prices of ${PRICES.asOf} (${PRICES.region}, bench/cost.ts)\n` +
        `  rotation (${cost.rotation.wallMs.toFixed(0)} ms here): ${describeRequests(cost.rotation.requests)}\n` +
        `  no-op daily run (${cost.noop.wallMs.toFixed(0)} ms here): ${describeRequests(cost.noop.requests)}\n`,
    );
    process.stdout.write(`\n${renderHeadline(results).join('\n')}\n`);
    if (!values['no-readme']) {
      const text = readFileSync(README, 'utf8');
      const a = text.indexOf(START);
      const b = text.indexOf(END);
      if (a < 0 || b < a) throw new Error(`${README} lacks the ${START} ... ${END} block`);
      writeFileSync(README, `${text.slice(0, a + START.length)}\n${report}\n${text.slice(b)}`);
      log(`results written to ${README}`);
    }
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
