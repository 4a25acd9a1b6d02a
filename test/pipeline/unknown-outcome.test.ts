import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterEach, describe, expect, it } from 'vitest';
import { secretIds } from '../../lambdas/config/load.ts';
import { runRotation } from '../../lambdas/pipeline/run.ts';
import { SecretsManagerStore } from '../../lambdas/store/secrets-manager-store.ts';
import { faultProxy, type FaultProxy } from '../support/dynamo.ts';
import { startHarness, type Harness } from '../support/harness.ts';

/**
 * Writes whose outcome is unknown: moto applies the request, the proxy in front of it withholds the answer, the SDK's
 * deadline ends the attempt and its retry reaches moto a second time. Nothing may be lost, doubled or misreported.
 */
let h: Harness | undefined;
let proxy: FaultProxy | undefined;
afterEach(async () => {
  await h?.close();
  await proxy?.close();
  h = undefined;
  proxy = undefined;
});

async function world() {
  proxy = await faultProxy();
  const client = new SecretsManagerClient({
    endpoint: proxy.url,
    region: 'eu-west-1',
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
    maxAttempts: 3,
    requestHandler: { requestTimeout: 1_000, connectionTimeout: 1_000, throwOnRequestTimeout: true },
  });
  h = await startHarness({ store: new SecretsManagerStore({ client }) });
  await h.seed();
  return { h, proxy, ids: secretIds(h.config, h.config.credentials[0]!) };
}

describe('Secrets Manager writes whose answer was lost', () => {
  it('the promotion applied but its answer lost: the retry finds the label moved by this run, which reports it promoted', async () => {
    const w = await world();
    w.proxy.inject('lose-answer', 1, 'secretsmanager.UpdateSecretVersionStage');
    const s = (await runRotation(w.h.wiring(), {})).results[0]!;
    expect(s.failure).toBeUndefined();
    expect(s.promoted).toBe(true);
    expect(s.note ?? '').not.toContain('another run promoted first');
    const current = await w.h.store.getValue(w.ids.token, 'AWSCURRENT');
    expect(current?.versionId).toBe(s.currentVersionId);
    expect(await w.h.store.getValue(w.ids.token, 'AWSPENDING')).toBeUndefined();
    expect(w.proxy.seen.filter((op) => op === 'secretsmanager.UpdateSecretVersionStage').length).toBeGreaterThanOrEqual(
      2,
    );
  });

  it('the pending write applied but its answer lost: the retry with the same request token makes no second version', async () => {
    const w = await world();
    const before = (await w.h.store.listVersions(w.ids.token)).length;
    const seenBefore = w.proxy.seen.length;
    w.proxy.inject('lose-answer', 1, 'secretsmanager.PutSecretValue');
    const s = (await runRotation(w.h.wiring(), {})).results[0]!;
    expect(s.failure).toBeUndefined();
    expect(s.outcome).toBe('rotated');
    expect((await w.h.store.listVersions(w.ids.token)).length).toBe(before + 1);
    expect(w.proxy.seen.slice(seenBefore).filter((op) => op === 'secretsmanager.PutSecretValue').length).toBe(2);
    const current = await w.h.store.getValue(w.ids.token, 'AWSCURRENT');
    expect(JSON.parse(current!.value).refreshToken).toBe(w.h.standins.entra.latestRefreshToken());
  });
});
