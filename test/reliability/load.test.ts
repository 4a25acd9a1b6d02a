import { describe, expect, it } from 'vitest';
import { loadProblems, runLoad } from './support/load.ts';
import { writeFigures } from './support/results.ts';

/**
 * The load run, small enough for every `npm test`: 40 credentials (80 targets) with 5% of the answers of every peer
 * replaced by transient faults. The 200-credential, 1% run whose figures RELIABILITY.md reports is
 * `npx tsx scripts/reliability-load.ts` (same code, same checks; about 17 s alone on this 2-core machine).
 */
describe('load: many credentials with injected transient faults', () => {
  it('every credential converges within two scheduled runs, none lost, bounded concurrency, no retry storm', async () => {
    const figures = await runLoad({ credentials: 40, faultRate: 0.05, seed: 7, latencyMs: 5 });
    writeFigures('load-small', { ...figures, command: 'npx vitest run test/reliability/load.test.ts' });
    expect(loadProblems(figures)).toEqual([]);
    expect(figures.injected.token + figures.injected.cloudManagerPatch + figures.injected.smtpDropped).toBeGreaterThan(
      0,
    );
  });
});
