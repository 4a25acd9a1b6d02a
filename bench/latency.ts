import { fileURLToPath } from 'node:url';
import { runRotationChild } from './child.ts';
import type { StoreCall } from './latency-store.ts';
import type { ChildRun } from './rotation-child.ts';
import { median } from './stats.ts';
import { BENCH_AWS_ENV, startWorld } from './world.ts';

/**
 * The exchanges a forced rotation of one credential cannot avoid doing one after another, each a round trip of L at the
 * TCP level (bench/latency-proxy.ts: connect, each TLS handshake, each HTTP request, each SMTP reply). Two chains meet
 * at the test send's AUTH: the lease and the redeem (4), and the SMTP session opened beside them (5); the longer one
 * counts. The reasoning is in bench/README.md; `why` is printed with the result.
 */
export const CRITICAL_PATH: ReadonlyArray<{ exchange: string; count: number; why: string }> = [
  {
    exchange:
      'SMTP session, opened beside the lease and the redeem: connect and greeting, EHLO, STARTTLS, TLS handshake, EHLO',
    count: 5,
    why: 'each needs the answer before it (STARTTLS only once EHLO offered it, the second EHLO only over TLS; RFC 3207 and RFC 2920 forbid pipelining past STARTTLS); it needs no token, so it overlaps the lease (3) and the redeem (1), which are one exchange shorter: AUTH waits for this chain',
  },
  {
    exchange: 'test send: AUTH XOAUTH2, MAIL FROM (RCPT and DATA pipelined with it), end of data',
    count: 3,
    why: 'AUTH needs the new access token; the server answers MAIL only after AUTH and the message only after DATA; storing the pending version (1) runs beside the send',
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
    why: 'the state records the outcome of the pushes and the lease must be held until they end; the put must exist before the swap',
  },
];

/**
 * A cold process has no connection yet: before its first read the Secrets Manager client connects and shakes hands
 * (2), which makes the lease chain (2 + 3 + redeem 1 = 6) one longer than the SMTP chain. Connections to the token
 * endpoint and Cloud Manager could be opened beside the lease, so they are not on the floor (this client opens them
 * when it first needs them: the measured cold figure pays for that).
 */
export const COLD_EXTRA_EXCHANGES = 1;

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
  /** The first rotation of each fresh child process: no connection yet, code not yet optimised. */
  cold: {
    samples: number;
    floorMs: number;
    /** Process start to the function's modules loaded (Node's start-up and the import), and its CPU time. */
    initMs: number;
    initCpuMs: number;
    /** The first rotation alone, and its CPU time. */
    firstMs: number;
    firstCpuMs: number;
    /** initMs + firstMs: what a cold invocation waits, process start to result. */
    totalMs: number;
  };
  /** Connections the proxies accepted per rotation (each one a connect and, except SMTP, a TLS handshake). */
  connectionsPerRotation: Record<string, number>;
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
      worlds.push(
        await startWorld({
          latencyMs: v.latencyMs,
          credentials: 1,
          targetsPerCredential: o.targets ?? 2,
          greetingPauseMs: v.greetingPauseMs,
          honest: true,
        }),
      );
    }
    const runs: ChildRun[][] = o.variants.map(() => []);
    const colds: Array<Array<{ initMs: number; initCpuMs: number; firstMs: number; firstCpuMs: number }>> =
      o.variants.map(() => []);
    const maxRss = o.variants.map(() => 0);
    const connectionsBefore = worlds.map((w) =>
      Object.fromEntries(Object.entries(w.proxies ?? {}).map(([n, p]) => [n, p.connections])),
    );
    const before = worlds.map(({ env: { standins: s } }) => ({
      entra: s.entra.requests.length,
      ims: s.ims.requests.length,
      cloudManager: s.cloudManager.requests.length,
      smtp: s.smtp.stats.connections,
    }));
    for (let round = 0; round < o.rounds; round++) {
      for (const [k, v] of o.variants.entries()) {
        const world = worlds[k]!;
        // The first rotation of the fresh process is measured as the cold one; the others are the warm rows.
        const child = await runRotationChild(
          o.childBundle,
          o.workDir,
          {
            storeDir: world.storeDir,
            secretsManager: true,
            latencyMs: v.latencyMs,
            config: world.env.config,
            smtpCa: world.env.smtpCa,
            runs: o.runsPerRound + 1,
            warmup: 0,
            force: true,
          },
          [],
          {
            ...BENCH_AWS_ENV,
            AWS_ENDPOINT_URL: world.secretsManagerEndpoint,
            NODE_EXTRA_CA_CERTS: fileURLToPath(new URL('../standins/tls/ca.pem', import.meta.url)),
          },
        );
        for (const r of child.runs) {
          if (r.outcomes['rotated+pushed'] !== 1)
            throw new Error(`benchmark rotation did not rotate and push: ${r.failures.join('; ')}`);
        }
        const [first, ...warm] = child.runs;
        colds[k]!.push({
          initMs: child.initMs,
          initCpuMs: child.initCpuMs,
          firstMs: first!.ms,
          firstCpuMs: first!.cpuMs,
        });
        runs[k]!.push(...warm);
        maxRss[k] = Math.max(maxRss[k]!, child.maxRssBytes);
      }
    }
    const all = o.rounds * (o.runsPerRound + 1);
    return o.variants.map((v, k): LatencyResult => {
      const rs = runs[k]!;
      const { entra, ims, cloudManager, smtp } = worlds[k]!.env.standins;
      const b = before[k]!;
      const times = rs.map((r) => r.ms);
      const mid = [...rs].sort((a, c) => a.ms - c.ms)[Math.floor(rs.length / 2)]!;
      const stages = Object.fromEntries(
        Object.keys(mid.stages).map((n) => [n, median(rs.map((r) => r.stages[n] ?? 0))]),
      );
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
        cold: {
          samples: colds[k]!.length,
          floorMs: (CRITICAL_PATH_EXCHANGES + COLD_EXTRA_EXCHANGES) * v.latencyMs,
          initMs: median(colds[k]!.map((c) => c.initMs)),
          initCpuMs: median(colds[k]!.map((c) => c.initCpuMs)),
          firstMs: median(colds[k]!.map((c) => c.firstMs)),
          firstCpuMs: median(colds[k]!.map((c) => c.firstCpuMs)),
          totalMs: median(colds[k]!.map((c) => c.initMs + c.firstMs)),
        },
        connectionsPerRotation: Object.fromEntries(
          Object.entries(worlds[k]!.proxies ?? {}).map(([n, p]) => [
            n,
            (p.connections - (connectionsBefore[k]![n] ?? 0)) / all,
          ]),
        ),
      };
    });
  } finally {
    await Promise.all(worlds.map((w) => w.close()));
  }
}
