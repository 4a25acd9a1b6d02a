import { runRotationChild } from './child.ts';
import type { StoreCall } from './latency-store.ts';
import type { ChildRun } from './rotation-child.ts';
import { median } from './stats.ts';
import { startWorld } from './world.ts';

/**
 * The exchanges a forced rotation of one credential cannot avoid doing one after another, each costing one latency L
 * in the benchmark's model (every store call, every HTTP request and the SMTP replies the stand-in delays: greeting,
 * AUTH, MAIL FROM, end of data). The reasoning is in bench/README.md; `why` is printed with the result.
 */
export const CRITICAL_PATH: ReadonlyArray<{ exchange: string; count: number; why: string }> = [
  {
    exchange: 'lease: read state, put proposed state, compare-and-swap AWSCURRENT',
    count: 3,
    why: 'each step needs the previous answer (the state to extend, the version id to swap from); the token and client-secret reads and the IMS token run beside it',
  },
  {
    exchange: 'redeem the refresh token (Entra token endpoint)',
    count: 1,
    why: 'needs the stored refresh token and client secret, and must follow the lease: the lease exists so that two runs cannot both redeem',
  },
  {
    exchange: 'test send: AUTH XOAUTH2, MAIL FROM (RCPT and DATA pipelined with it), end of data',
    count: 3,
    why: 'AUTH needs the new access token; the server answers MAIL only after AUTH and the message only after DATA; connecting, the greeting, EHLO, STARTTLS and the TLS handshake need no token and run beside the lease and the redeem; storing the pending version runs beside the send',
  },
  {
    exchange: 'promote: compare-and-swap AWSCURRENT to the new version',
    count: 1,
    why: 'only a stored (pending) and validated token may become current; listing the pushed labels overlaps it',
  },
  {
    exchange: 'push: PATCH the Cloud Manager variables, then move the target label',
    count: 2,
    why: 'every target gets the current version only; all targets go at once (the IMS token was fetched during the lease); the label records what the PATCH delivered, so it follows it',
  },
  {
    exchange: 'final state: put state, compare-and-swap AWSCURRENT (drops the lease)',
    count: 2,
    why: 'the state records the outcome of the pushes and the lease must be held until they end, so it cannot start earlier; the put must exist before the swap',
  },
];

export const CRITICAL_PATH_EXCHANGES = CRITICAL_PATH.reduce((a, s) => a + s.count, 0);

export interface LatencyResult {
  latencyMs: number;
  greetingPauseMs: number | undefined;
  runs: number;
  exchanges: number;
  floorMs: number;
  medianMs: number;
  minMs: number;
  maxMs: number;
  ratio: number;
  /** CPU time of the rotating process per rotation (median), for the cost estimate. */
  cpuMs: number;
  /** Median duration per stage as the pipeline measures it (ms), to show where the time goes. */
  stages: Record<string, number>;
  /** Store calls of the median run, and requests per rotation seen by the stand-ins. */
  storeCalls: number;
  requestsPerRotation: Record<string, number>;
  trace: StoreCall[];
  maxRssBytes: number;
}

export interface LatencyVariant {
  latencyMs: number;
  /** undefined: smtp-server's own pause before the greeting. */
  greetingPauseMs?: number;
}

/**
 * Forced rotations of one credential with two Cloud Manager targets, each with its own wiring (a new invocation), in
 * the bundled child process; the stand-ins answer from this process. The variants are measured in rounds, round robin
 * (each round a child process per variant with `warmup` unmeasured rotations), so that a busy spell on the shared
 * machine spreads over all of them instead of falling on one.
 */
export async function benchLatency(o: {
  childBundle: string;
  workDir: string;
  variants: LatencyVariant[];
  rounds: number;
  runsPerRound: number;
  warmup: number;
  targets?: number;
}): Promise<LatencyResult[]> {
  const worlds: Array<Awaited<ReturnType<typeof startWorld>>> = [];
  try {
    for (const v of o.variants) {
      worlds.push(await startWorld({ latencyMs: v.latencyMs, credentials: 1, targetsPerCredential: o.targets ?? 2, greetingPauseMs: v.greetingPauseMs }));
    }
    const runs: ChildRun[][] = o.variants.map(() => []);
    const maxRss = o.variants.map(() => 0);
    const before = worlds.map(({ env: { standins: s } }) => ({ entra: s.entra.requests.length, ims: s.ims.requests.length, cloudManager: s.cloudManager.requests.length, smtp: s.smtp.stats.connections }));
    for (let round = 0; round < o.rounds; round++) {
      for (const [k, v] of o.variants.entries()) {
        const world = worlds[k]!;
        const child = await runRotationChild(o.childBundle, o.workDir, {
          storeDir: world.storeDir,
          latencyMs: v.latencyMs,
          config: world.env.config,
          smtpCa: world.env.smtpCa,
          runs: o.runsPerRound,
          warmup: o.warmup,
          force: true,
        });
        for (const r of child.runs) {
          if (r.outcomes['rotated+pushed'] !== 1) throw new Error(`benchmark rotation did not rotate and push: ${r.failures.join('; ')}`);
        }
        runs[k]!.push(...child.runs);
        maxRss[k] = Math.max(maxRss[k]!, child.maxRssBytes);
      }
    }
    const all = o.rounds * (o.runsPerRound + o.warmup);
    return o.variants.map((v, k): LatencyResult => {
      const rs = runs[k]!;
      const { entra, ims, cloudManager, smtp } = worlds[k]!.env.standins;
      const b = before[k]!;
      const times = rs.map((r) => r.ms);
      const mid = [...rs].sort((a, c) => a.ms - c.ms)[Math.floor(rs.length / 2)]!;
      const stages = Object.fromEntries(Object.keys(mid.stages).map((n) => [n, median(rs.map((r) => r.stages[n] ?? 0))]));
      const floorMs = CRITICAL_PATH_EXCHANGES * v.latencyMs;
      const med = median(times);
      return {
        latencyMs: v.latencyMs,
        greetingPauseMs: v.greetingPauseMs,
        runs: rs.length,
        exchanges: CRITICAL_PATH_EXCHANGES,
        floorMs,
        medianMs: med,
        minMs: Math.min(...times),
        maxMs: Math.max(...times),
        ratio: med / floorMs,
        cpuMs: median(rs.map((r) => r.cpuMs)),
        stages,
        storeCalls: mid.trace.length,
        requestsPerRotation: {
          entra: (entra.requests.length - b.entra) / all,
          ims: (ims.requests.length - b.ims) / all,
          cloudManager: (cloudManager.requests.length - b.cloudManager) / all,
          smtpConnections: (smtp.stats.connections - b.smtp) / all,
        },
        trace: mid.trace,
        maxRssBytes: maxRss[k]!,
      };
    });
  } finally {
    await Promise.all(worlds.map((w) => w.close()));
  }
}
