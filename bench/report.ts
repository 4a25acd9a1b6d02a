import type { CliHelpResult, ColdStartResult, ColdStartSide } from './coldstart.ts';
import {
  ARM64_USD_PER_GB_S,
  ASSUMED_PRODUCTION_MS,
  CRITICAL_PATH_BY_KIND,
  cpuShare,
  durationOnLambdaMs,
  FULL_VCPU_MB,
  gbSeconds,
  HEADROOM,
  productionFloorMs,
  recommendMemoryMb,
  type DurationModel,
} from './cost.ts';
import { COLD_EXTRA_EXCHANGES, CRITICAL_PATH, type LatencyResult } from './latency.ts';
import type { Machine } from './machine.ts';
import type { ScalePoint } from './scale.ts';
import { round } from './stats.ts';

export interface BenchResults {
  date: string;
  command: string;
  machine: Machine & { loadAverageEnd: number[] };
  totalSeconds: number;
  options: {
    latencyMs: number;
    runs: number;
    spawns: number;
    sizes: number[];
    memoryMb: number;
    targetsPerCredential: number;
    maxConcurrency: number;
    v8Flags: string[];
  };
  latency: LatencyResult;
  latencyDouble: LatencyResult;
  latencyPause: LatencyResult;
  coldStart: ColdStartResult;
  cliHelp: CliHelpResult;
  /** Bytes of the shipped function asset (dist/function, entry and chunks). */
  assetBytes: number;
  scale: ScalePoint[];
}

/** The recommended Lambda timeout, seconds, and why (see timeoutReasoning). */
export const RECOMMENDED_TIMEOUT_S = 300;

const MB = 1024 * 1024;
const ms = (x: number) => `${round(x)} ms`;
const mb = (bytes: number) => `${round(bytes / MB)} MB`;
const x2 = (x: number) => round(x, 2).toFixed(2);
const kb = (bytes: number) => (bytes >= MB ? `${round(bytes / MB, 2)} MB` : `${round(bytes / 1024, 1)} KB`);

function latencyRow(label: string, r: LatencyResult): string {
  return `| ${label} | ${r.latencyMs} ms | ${ms(r.floorMs)} | ${ms(r.medianMs)} (${ms(r.minMs)} to ${ms(r.maxMs)}) | ${ms(r.medianMs - r.floorMs)} | **${x2(r.ratio)}** |`;
}

function coldRow(s: ColdStartSide, floor: ColdStartSide): string {
  return `| ${s.name} | ${s.what} | ${kb(s.bytes)} (asset ${kb(s.totalBytes)}) | ${round(s.processMs, 1)} ms (min ${round(s.processMsMin, 1)}) | ${x2(s.processMs / floor.processMs)} | ${round(s.cpuMs, 1)} ms (min ${round(s.cpuMsMin, 1)}) | **${x2(s.cpuMs / floor.cpuMs)}** | ${mb(s.rssBytes)} |`;
}

/** A cold invocation as Lambda runs it at `memoryMb`: INIT and the first rotation, CPU stretched by the CPU share. */
function coldOnLambdaMs(lat: LatencyResult, memoryMb: number): number {
  return durationOnLambdaMs(
    { wallMs: lat.cold.firstMs, cpuMs: lat.cold.firstCpuMs, initMs: lat.cold.initCpuMs },
    memoryMb,
  );
}

/** The lines `npm run bench` prints first (and writes at the top of the results block). */
export function renderHeadline(r: BenchResults): string[] {
  const { latency: lat, coldStart: cold, cliHelp: cli } = r;
  const mem = r.options.memoryMb;
  const coldLambda = coldOnLambdaMs(lat, mem);
  const warmLambda = durationOnLambdaMs({ wallMs: lat.medianMs, cpuMs: lat.cpuMs, initMs: 0 }, mem);
  return [
    `cold rotation (fresh process, process start to result): ${ms(lat.cold.totalMs)} (INIT ${ms(lat.cold.initMs)} + first rotation ${ms(lat.cold.firstMs)}); ${mem} MB-equivalent ${ms(coldLambda)}; warm beside it: ${ms(lat.medianMs)} (${mem} MB-equivalent ${ms(warmLambda)}), at L = ${lat.latencyMs} ms`,
    `latency ratio to floor: ${x2(lat.ratio)} (warm median ${ms(lat.medianMs)} against ${lat.exchanges} x L = ${ms(lat.floorMs)}; cold ${x2(lat.cold.firstMs / lat.cold.floorMs)} against ${lat.exchanges + COLD_EXTRA_EXCHANGES} x L; target at most 1.20: ${lat.ratio <= 1.2 ? 'met' : 'NOT met'})`,
    `init ratio to floor handler: ${x2(cold.initRatio)} (whole-process CPU, median of ${cold.spawns}; min ${x2(cold.initRatioMin)}; wall ${x2(cold.processRatio)}; target at most 1.20: ${cold.initRatio <= 1.2 ? 'met' : 'NOT met'}); asset ${kb(r.assetBytes)}, of which INIT loads ${kb(cold.initBytes)}`,
    `cli --help ratio to node -e 0: ${x2(cli.ratio)} (median ${round(cli.cliMs, 1)} ms against ${round(cli.nodeMs, 1)} ms over ${cli.runs} runs; min ${x2(cli.ratioMin)}; target at most 3: ${cli.ratio <= 3 ? 'met' : 'NOT met'})`,
    `cost per rotation at ${mem} MB: cold ${gbSeconds(mem, coldLambda).toFixed(4)} GB-s, warm ${gbSeconds(mem, warmLambda).toFixed(4)} GB-s (bench latencies; production estimate in section 4)`,
  ];
}

export function renderReport(r: BenchResults): string {
  const { latency: lat, coldStart: cold, scale, options: o, machine: m } = r;
  const out: string[] = [];
  const p = (line = '') => out.push(line);

  for (const line of renderHeadline(r)) p(`- ${line}`);
  p();
  p(`Run of ${r.date.slice(0, 16).replace('T', ' ')} UTC: \`${r.command}\`, ${round(r.totalSeconds)} s in all.`);
  p(
    `Machine: ${m.cpuModel}, ${m.nproc} CPUs (nproc), ${m.memoryGiB} GiB, ${m.os}; measured processes on Node ${m.nodeVersion} (node_modules/.bin/node), orchestrated on Node ${m.orchestratorNodeVersion} under tsx.`,
  );
  p(
    `Load average (1/5/15 min) at the start ${m.loadAverage.join(' / ')}, at the end ${m.loadAverageEnd.join(' / ')}: the machine is shared, so medians are reported and every ratio compares figures taken in this one run.`,
  );
  p();

  // 1 ---------------------------------------------------------------------------------------------------------------
  p('### 1. Latency against the floor');
  p();
  p(
    `Every round trip costs L at the TCP level (bench/latency-proxy.ts in front of every peer): connect, each TLS handshake, each HTTP request, each SMTP reply. Entra, IMS and Cloud Manager are reached over HTTPS; the store is Secrets Manager through the real SDK against moto_server, over HTTPS through the same kind of proxy. ` +
      `One credential with ${o.targetsPerCredential} Cloud Manager targets; ${lat.runs} warm forced rotations per row, each a new invocation (new wiring, new IMS token), run by the bundled code in child processes while this process serves the stand-ins; the rows are measured in ${lat.cold.samples} rounds, round robin, and the first rotation of each child process is the cold one (no connection yet).`,
  );
  p();
  p('| exchanges that must follow one another | count | why |');
  p('| --- | ---: | --- |');
  for (const s of CRITICAL_PATH) p(`| ${s.exchange} | ${s.count} | ${s.why} |`);
  p(
    `| **critical path** | **${lat.exchanges}** | floor = ${lat.exchanges} x L (a cold process: ${lat.exchanges + COLD_EXTRA_EXCHANGES} x L, the Secrets Manager connection and handshake come first) |`,
  );
  p();
  p('| run | L | floor | measured median (min to max) | over the floor | ratio |');
  p('| --- | ---: | ---: | --- | ---: | ---: |');
  p(latencyRow('greeting pause 0 (the model)', lat));
  p(latencyRow('greeting pause 0, L doubled', r.latencyDouble));
  p(latencyRow("smtp-server's 100 ms greeting pause kept", r.latencyPause));
  p();
  p(
    `**Latency ratio ${x2(lat.ratio)} at L = ${lat.latencyMs} ms (target at most 1.20: ${lat.ratio <= 1.2 ? 'met' : 'NOT met'}).** ` +
      `Over the floor: ${ms(lat.medianMs - lat.floorMs)} at L = ${lat.latencyMs} ms and ${ms(r.latencyDouble.medianMs - r.latencyDouble.floorMs)} at ${r.latencyDouble.latencyMs} ms: what grows with L is waiting the client could still remove (bench/README.md names it), what stays is per-exchange work (SDK signing, TLS, JSON, moto and the stand-ins). ` +
      `Cold (the first rotation of a fresh process): ${ms(lat.cold.firstMs)} against a floor of ${ms(lat.cold.floorMs)}, after an INIT of ${ms(lat.cold.initMs)} (${ms(lat.cold.initCpuMs)} CPU). ` +
      `Keeping smtp-server's own 100 ms pause before every greeting (a library default, not part of the model) adds ${ms(r.latencyPause.medianMs - lat.medianMs)}.`,
  );
  p();
  p(
    `Connections per rotation seen by the proxies: ${Object.entries(lat.connectionsPerRotation)
      .map(([n, c]) => `${n} ${round(c, 2)}`)
      .join(', ')} (a warm process keeps its HTTPS connections; SMTP opens one per test send).`,
  );
  p();
  const stageOrder = ['read', 'refresh', 'store', 'validate', 'promote', 'push', 'total'];
  p(
    `Median per stage at L = ${lat.latencyMs} ms (ms; 'read' is the lease with the reads beside it, 'store' the pending version beside 'validate', the final state write is the rest of 'total'):`,
  );
  p();
  p(`| ${stageOrder.join(' | ')} |`);
  p(`| ${stageOrder.map(() => '---:').join(' | ')} |`);
  p(`| ${stageOrder.map((s) => round(lat.stages[s] ?? 0)).join(' | ')} |`);
  p();
  const rq = lat.requestsPerRotation;
  p(
    `Per rotation: ${lat.storeCalls} store calls (7 of them on the critical path), ${rq.entra} Entra, ${rq.ims} IMS and ${rq.cloudManager} Cloud Manager requests, ${rq.smtpConnections} SMTP connection; ` +
      `CPU of the rotating process ${ms(lat.cpuMs)} per rotation (median).`,
  );
  p();
  p('Store calls of the median run (ms from its start; the secret is the last part of its name):');
  p();
  p('| call | secret | stage | start | end |');
  p('| --- | --- | --- | ---: | ---: |');
  for (const c of lat.trace)
    p(`| ${c.op} | ${c.secretId.split('/').at(-1)} | ${c.detail} | ${round(c.start)} | ${round(c.end)} |`);
  p();

  // 2 ---------------------------------------------------------------------------------------------------------------
  p('### 2. Cold start');
  p();
  p(
    `Each entry bundled exactly as the package and the stack bundle the function (lib/parts/function-asset.ts: ESM split in chunks, minified with names kept, node24, the createRequire banner, no source map, the AWS SDK bundled), ` +
      `then imported in a fresh \`node\` process, as Lambda's INIT does: the wall time from spawn to exit and the CPU time of the whole process when the import has finished (Node's own start-up included). ` +
      `${cold.spawns} spawns each, round robin, after one unmeasured import each. On a ${o.memoryMb} MB function INIT is CPU-bound (${x2(cpuShare(o.memoryMb))} of a vCPU), so the CPU ratio is the ratio of INIT durations there.`,
  );
  p();
  p(
    '| bundle | what | entry (asset) | process wall, median (min) | wall / floor | process CPU, median (min) | CPU / floor | RSS after import |',
  );
  p('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  p(coldRow(cold.handler, cold.floor));
  p(coldRow(cold.floor, cold.floor));
  p(coldRow(cold.minimal, cold.floor));
  p();
  p(
    `**init ratio to floor handler: ${x2(cold.initRatio)}** (target at most 1.20: ${cold.initRatio <= 1.2 ? 'met' : 'NOT met'}). INIT loads ${kb(cold.initBytes)} of the ${kb(cold.handler.totalBytes)} asset: the logger, middy and the Secrets Manager client. ` +
      'The configuration, the pipeline, the providers, the SMTP validator and Cloud Manager are imported on the first invocation (their cost is in the cold rotation of section 1); the SES alerter, the Graph diagnostic and KMS signing only when a run uses them. Largest parts of the asset:',
  );
  p();
  p(
    `${cold.packages
      .slice(0, 10)
      .map((x) => `${x.name} ${kb(x.bytes)}`)
      .join(', ')}.`,
  );
  p();
  p(
    `CLI: \`token-refresher --help\` (bin/token-refresher.mjs on dist/cli) ${round(r.cliHelp.cliMs, 1)} ms against \`node -e 0\` ${round(r.cliHelp.nodeMs, 1)} ms, median of ${r.cliHelp.runs} runs each, round robin: **cli --help ratio to node -e 0: ${x2(r.cliHelp.ratio)}** (min ${x2(r.cliHelp.ratioMin)}).`,
  );
  p();

  // 3 ---------------------------------------------------------------------------------------------------------------
  p('### 3. Scale');
  p();
  p(
    `One run over n credentials (${o.targetsPerCredential} Cloud Manager targets each) at L = ${o.latencyMs} ms, http.maxConcurrency = ${o.maxConcurrency}, in a fresh child process with V8 limits like a ${o.memoryMb} MB function (${o.v8Flags.join(' ')}). ` +
      "Waves = ceil(n / maxConcurrency); sizes under 1,000 run three times (median run shown, highest peak). Peak = the kernel's high-water mark of the process's resident memory (getrusage maxrss), which includes the loaded code; retained = heap in use after a full collection at the end.",
  );
  p();
  const base = scale[0];
  p(
    '| credentials | runs | waves | wall time | per wave | per wave / first | per credential | CPU | peak RSS | peak / first | retained heap | redaction registry |',
  );
  p('| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const s of scale) {
    p(
      `| ${s.credentials} | ${s.runs} | ${s.waves} | ${ms(s.wallMs)} | ${ms(s.msPerWave)} | ${base ? x2(s.msPerWave / base.msPerWave) : ''} | ${ms(s.msPerCredential)} | ${ms(s.cpuMs)} | ${mb(s.maxRssBytes)} | ${base ? x2(s.maxRssBytes / base.maxRssBytes) : ''} | ${mb(s.liveHeapAfterGcBytes)} | ${s.registeredSecrets} values |`,
    );
  }
  p();
  const last = scale.at(-1);
  if (base && last) {
    p(
      `**Scale: from ${base.credentials} to ${last.credentials} credentials the wall time grows ${round(last.wallMs / base.wallMs)}x for ${round(last.waves / base.waves)}x the waves (${ms(base.msPerWave)} to ${ms(last.msPerWave)} per wave), not ${round(last.credentials / base.credentials)}x; peak memory grows ${x2(last.maxRssBytes / base.maxRssBytes)}x (${mb(base.maxRssBytes)} to ${mb(last.maxRssBytes)}).** ` +
        `The one-credential run is slower per wave than the others: its process also warms up (its first rotation takes ${ms(base.cpuMs)} of CPU, later ones about ${ms(last.cpuMs / last.credentials)} each). ` +
        `What a run keeps grows by about ${round((last.liveHeapAfterGcBytes - base.liveHeapAfterGcBytes) / Math.max(1, last.credentials - base.credentials) / 1024, 1)} KB per credential (the summaries and the secret values held for redaction, bounded at 20,000 values by lambdas/core/redact.ts).`,
    );
  }
  p();

  // 4 ---------------------------------------------------------------------------------------------------------------
  p('### 4. Cost and sizing');
  p();
  const one = scale.find((s) => s.credentials === 1) ?? base;
  const peakAll = Math.max(...scale.map((s) => s.maxRssBytes));
  const rec = recommendMemoryMb(peakAll);
  const warm: DurationModel = { wallMs: lat.medianMs, cpuMs: lat.cpuMs, initMs: 0 };
  const cold1: DurationModel = { wallMs: lat.cold.firstMs, cpuMs: lat.cold.firstCpuMs, initMs: lat.cold.initCpuMs };
  const prodFloor = productionFloorMs();
  const overhead = lat.medianMs - lat.floorMs;
  const prodWarm: DurationModel = { wallMs: prodFloor + overhead, cpuMs: lat.cpuMs, initMs: 0 };
  const prodCold: DurationModel = {
    wallMs: prodFloor + overhead,
    cpuMs: lat.cold.firstCpuMs,
    initMs: lat.cold.initCpuMs,
  };
  p(
    `Peak memory of one rotation: **${mb(one?.maxRssBytes ?? 0)}** (1 credential, fresh process, handler modules loaded; ${mb(one?.rssAfterImportBytes ?? 0)} of it right after loading). ` +
      `Largest peak in this run: ${mb(peakAll)} (${scale.find((s) => s.maxRssBytes === peakAll)?.credentials} credentials). ` +
      `Smallest size with ${HEADROOM}x headroom over it: **${rec} MB**.`,
  );
  p();
  p(
    `Duration on Lambda = network waits + CPU time / CPU share (one vCPU at ${FULL_VCPU_MB} MB); a cold start adds the import (INIT, billed since August 2025; counted here at the same CPU share, an upper bound) and a first rotation that runs not yet optimised code. ` +
      `Measured here: warm rotation ${ms(warm.wallMs)} with ${ms(warm.cpuMs)} CPU; first rotation in a fresh process ${ms(cold1.wallMs)} with ${ms(cold1.cpuMs)} CPU; INIT ${ms(lat.cold.initCpuMs)} of CPU. ` +
      `Production row: the same CPU with the critical path at assumed latencies (${Object.entries(CRITICAL_PATH_BY_KIND)
        .map(([k, n]) => `${n} ${k} x ${ASSUMED_PRODUCTION_MS[k as keyof typeof ASSUMED_PRODUCTION_MS]} ms`)
        .join(', ')} = ${ms(prodFloor)}, plus the ${ms(overhead)} measured over the floor).`,
  );
  p();
  p(
    '| memory | CPU share | bench warm | GB-s | bench cold | GB-s | production warm (assumed) | GB-s | production cold (assumed) | GB-s | USD per 1,000 production cold rotations (arm64) |',
  );
  p('| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const mem of [128, rec, rec * 2].filter((v, i, a) => a.indexOf(v) === i)) {
    const cells = [warm, cold1, prodWarm, prodCold].map((d) => {
      const dur = durationOnLambdaMs(d, mem);
      return { dur, gbs: gbSeconds(mem, dur) };
    });
    const room = (mem * MB) / Math.max(1, peakAll);
    const fits = room >= HEADROOM ? '' : room > 1 ? ` (only ${x2(room)}x the peak)` : ' (below the peak)';
    p(
      `| ${mem} MB${mem === rec ? ' (recommended)' : fits} | ${x2(cpuShare(mem))} | ${cells.map((c) => `${ms(c.dur)} | ${c.gbs.toFixed(4)}`).join(' | ')} | ${(cells[3]!.gbs * ARM64_USD_PER_GB_S * 1000).toFixed(4)} |`,
    );
  }
  p();
  const prodWave = durationOnLambdaMs(prodWarm, rec);
  const perInvocation = Math.floor((RECOMMENDED_TIMEOUT_S * 1000) / prodWave) * o.maxConcurrency;
  p(
    `**Recommendation for the CDK stack: memory ${rec} MB, timeout ${RECOMMENDED_TIMEOUT_S} s.** ` +
      `Memory: ${rec} MB is the smallest size with ${HEADROOM}x headroom over every peak measured (one rotation ${mb(one?.maxRssBytes ?? 0)}, ${last?.credentials ?? ''} credentials ${mb(last?.maxRssBytes ?? 0)}); 128 MB would leave ${x2((128 * MB) / Math.max(1, one?.maxRssBytes ?? 1))}x the peak of one rotation, which is the loaded code (${mb(one?.rssAfterImportBytes ?? 0)}) plus the rotation. ` +
      `A larger size buys CPU (shorter cold runs) at a higher GB-s price for a function that mostly waits on the network. ` +
      `Timeout: a healthy rotation takes about ${ms(durationOnLambdaMs(prodCold, rec))} cold at ${rec} MB with the assumed latencies, but a run must survive its retries: every HTTP call makes up to 4 attempts of 10 s with backoff (up to 5 s) or Retry-After (up to 30 s), and the test send has a 60 s overall deadline, so one credential whose token endpoint and Cloud Manager both retry can legitimately need 2 to 4 minutes; ` +
      `${RECOMMENDED_TIMEOUT_S} s covers that, keeps a hung run's lease short (the lease lasts the remaining time plus 30 s), and lets a manual "all credentials" run rotate about ${perInvocation} credentials (${o.maxConcurrency} at a time, ${ms(prodWave)} per wave); larger fleets are rotated per credential, as the schedules do.`,
  );
  return out.join('\n');
}
