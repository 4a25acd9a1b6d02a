/**
 * Lambda sizing from the measured figures. Lambda gives a function CPU in proportion to its memory (one full vCPU at
 * 1,769 MB), so CPU time measured here on a full core stretches by 1769 / memory on a smaller function; network waits
 * do not. Billing is memory (GB) x duration (s); since August 2025 the INIT phase of a cold start is billed too.
 */

export const FULL_VCPU_MB = 1769;
/** Standard sizes considered, MB. */
export const MEMORY_SIZES = [128, 192, 256, 384, 512, 768, 1024] as const;
/** Peak resident memory must stay under memory / HEADROOM. */
export const HEADROOM = 1.5;
/** Lambda list price, arm64 (the stack's architecture), first tier, US East (N. Virginia), USD per GB-second. */
export const ARM64_USD_PER_GB_S = 0.0000133334;

/**
 * V8 heap limits approximating those the Lambda Node.js runtime derives from the function's memory (new space about 5 %,
 * old space about 90 %), so the child processes collect garbage under the same pressure as the function would.
 */
export function lambdaV8Flags(memoryMb: number): string[] {
  return [`--max-semi-space-size=${Math.max(1, Math.floor((memoryMb * 0.05) / 2))}`, `--max-old-space-size=${Math.floor(memoryMb * 0.9)}`];
}

export function cpuShare(memoryMb: number): number {
  return Math.min(1, memoryMb / FULL_VCPU_MB);
}

/** Smallest standard size whose memory leaves HEADROOM over the peak. */
export function recommendMemoryMb(peakBytes: number): number {
  const peakMb = peakBytes / 1024 / 1024;
  return MEMORY_SIZES.find((m) => m >= peakMb * HEADROOM) ?? MEMORY_SIZES[MEMORY_SIZES.length - 1]!;
}

export interface DurationModel {
  /** Wall time of the rotation measured on a full core, ms. */
  wallMs: number;
  /** CPU time of the rotation on a full core, ms (it stretches on a fraction of a vCPU). */
  cpuMs: number;
  /** Import of the bundle (INIT), ms on a full core; 0 for a warm invocation. */
  initMs: number;
}

/** Duration on a function of `memoryMb`: network waits unchanged, CPU time divided by the CPU share. */
export function durationOnLambdaMs(d: DurationModel, memoryMb: number): number {
  const share = cpuShare(memoryMb);
  return d.initMs / share + d.wallMs + d.cpuMs * (1 / share - 1);
}

export function gbSeconds(memoryMb: number, durationMs: number): number {
  return (memoryMb / 1024) * (durationMs / 1000);
}

/**
 * Production latencies per exchange, assumed (not measured) to translate the critical path into a realistic duration:
 * Secrets Manager in the function's region, the Entra token endpoint, one Office 365 SMTP reply (round trip plus the
 * server's work), one Cloud Manager PATCH.
 */
export const ASSUMED_PRODUCTION_MS = { store: 25, entra: 250, smtp: 120, cloudManager: 800 } as const;

/** The 12 critical-path exchanges by kind: 7 store (lease 3, promote, label, state 2), redeem, 3 SMTP replies, PATCH. */
export const CRITICAL_PATH_BY_KIND = { store: 7, entra: 1, smtp: 3, cloudManager: 1 } as const;

export function productionFloorMs(): number {
  return (Object.keys(CRITICAL_PATH_BY_KIND) as Array<keyof typeof CRITICAL_PATH_BY_KIND>).reduce(
    (a, k) => a + CRITICAL_PATH_BY_KIND[k] * ASSUMED_PRODUCTION_MS[k],
    0,
  );
}
