import { describe, expect, it } from 'vitest';
import { measureCost, PRICES } from '../../bench/cost.ts';

describe('the cost line', () => {
  it('counts a rotation and a no-op run on moto and prices the fleet at most $0.45 per credential-month', async () => {
    const r = await measureCost({ memoryMb: 256, initMs: 500 });
    expect(r.line).toMatch(
      /^cost per credential-month: \$\d+\.\d+ \(secrets \$\d+\.\d+, requests \$\d+\.\d+, table \$\d+\.\d+, lambda \$\d+\.\d+\)$/,
    );
    // One token secret per credential, the shared Entra client secret and the Adobe one once for the whole fleet.
    expect(r.fleet.secretsCreated).toBe(r.fleet.credentials + 2);
    expect(r.perCredentialMonth.secrets).toBeCloseTo(1.02 * PRICES.secretPerMonth, 6);
    expect(r.perCredentialMonth.total).toBeLessThanOrEqual(0.45);
    // A rotation writes a new token version and promotes it; a no-op run reads the token and makes fewer requests.
    const sm = (x: Record<string, number>) => Object.values(x).reduce((a, b) => a + b, 0);
    expect(r.rotation.requests.secretsmanager.PutSecretValue ?? 0).toBeGreaterThan(0);
    expect(sm(r.rotation.requests.secretsmanager)).toBeGreaterThan(sm(r.noop.requests.secretsmanager));
    expect(r.noop.requests.secretsmanager.GetSecretValue ?? 0).toBeGreaterThan(0);
  });
});
