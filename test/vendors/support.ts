import { randomUUID } from 'node:crypto';
import { afterEach } from 'vitest';
import { parseConfig, secretIds } from '../../lambdas/config/load.ts';
import type { Config, Credential } from '../../lambdas/config/schema.ts';
import type { WiringOptions } from '../../lambdas/pipeline/wiring.ts';
import { parseTokenRecord, serializeTokenRecord, type TokenRecord } from '../../lambdas/store/records.ts';
import type { LocalEnvOptions } from '../../demo/local-env.ts';
import { assertNoSecrets, startHarness, type Harness } from '../support/harness.ts';

/**
 * The rotation harness (moto, smtp-server, the stand-ins) with the credentials re-pointed at another vendor after the
 * stand-ins are up: the local configuration is built before their URLs are known, so tests rebuild it and hand the new
 * one to the wiring. Secret names do not change (same prefix and ids), so the harness's seeding is reused and then
 * overwritten with the vendor's token and client secret.
 */
export interface VendorWorld {
  h: Harness;
  config: Config;
  deps(over?: Partial<WiringOptions>): ReturnType<Harness['wiring']>;
  cred(i?: number): Credential;
  ids(i?: number): ReturnType<typeof secretIds>;
  /** Puts a token record as the current version (as `regenerate` would), obtained `ageDays` ago. */
  putToken(refreshToken: string, o?: { i?: number; ageDays?: number }): Promise<void>;
  putSecret(secretId: string, value: string, create?: boolean): Promise<void>;
  current(i?: number): Promise<{ versionId: string; record: TokenRecord } | undefined>;
  /** Extra values the secret scan must look for (vendor tokens, keys, secrets). */
  secrets: Array<() => string[]>;
  close(): Promise<void>;
}

export type CredentialPatch = (c: Credential, i: number, h: Harness) => Record<string, unknown>;

export function reconfigure(
  config: Config,
  patch: (c: Credential, i: number) => Record<string, unknown>,
  top: Record<string, unknown> = {},
): Config {
  return parseConfig(
    { ...config, ...top, credentials: config.credentials.map((c, i) => ({ ...c, ...patch(c, i) })) },
    'test configuration',
  );
}

export async function startVendorWorld(o: {
  harness?: Partial<LocalEnvOptions>;
  patch?: CredentialPatch;
  top?: (h: Harness) => Record<string, unknown>;
}): Promise<VendorWorld> {
  const h = await startHarness(o.harness ?? {});
  await h.seed();
  const config = reconfigure(h.config, (c, i) => (o.patch ? o.patch(c, i, h) : {}), o.top?.(h) ?? {});
  const world: VendorWorld = {
    h,
    config,
    deps: (over = {}) => h.wiring({ config, ...over }),
    cred: (i = 0) => config.credentials[i]!,
    ids: (i = 0) => secretIds(config, config.credentials[i]!),
    async putToken(refreshToken, p = {}) {
      const c = config.credentials[p.i ?? 0]!;
      const record: TokenRecord = {
        v: 1,
        refreshToken,
        obtainedAt: new Date(Date.now() - (p.ageDays ?? 8) * 86_400_000).toISOString(),
        runId: 'seed',
        source: 'regenerate',
        account: c.mailbox,
      };
      await h.store.putValue(secretIds(config, c).token, serializeTokenRecord(record), {
        clientRequestToken: randomUUID(),
        stages: ['AWSCURRENT'],
      });
    },
    async putSecret(secretId, value, create = false) {
      if (create) await h.aws.createSecret(secretId);
      await h.store.putValue(secretId, value, { clientRequestToken: randomUUID(), stages: ['AWSCURRENT'] });
    },
    async current(i = 0) {
      const id = secretIds(config, config.credentials[i]!).token;
      const v = await h.store.getValue(id, 'AWSCURRENT');
      return v && { versionId: v.versionId, record: parseTokenRecord(v.value, id) };
    },
    secrets: [() => h.secrets()],
    close: () => h.close(),
  };
  return world;
}

/** Every test ends by proving that nothing it produced carries a secret. */
export async function scanAndClose(w: VendorWorld | undefined, outputs: Record<string, string>): Promise<void> {
  if (!w) return;
  try {
    const mails = await w.h.alertMails();
    assertNoSecrets(
      {
        ...outputs,
        logs: w.h.logs.join(''),
        alerts: JSON.stringify(mails),
        metrics: JSON.stringify(w.h.metrics.points),
      },
      w.secrets.flatMap((s) => s()),
    );
  } finally {
    await w.close();
  }
}

/** The value a Cloud Manager target holds. */
export function cmValue(
  w: VendorWorld,
  variable = 'SECRET_SMTP_OAUTH_REFRESH_TOKEN',
  i = 0,
  t = 0,
): string | undefined {
  const target = w.cred(i).targets[t]!;
  return w.h.standins.cloudManager.valueOf(target.programId, target.environmentId, variable);
}

/**
 * The afterEach every vendor suite shares: scans the world's logs, alerts, metrics and the returned outputs for secrets,
 * closes it and empties the outputs. Returns the outputs object the tests put what they print into.
 */
export function scanAndCloseAfterEach(get: () => VendorWorld | undefined, clear: () => void): Record<string, string> {
  const outputs: Record<string, string> = {};
  afterEach(async () => {
    await scanAndClose(get(), outputs);
    clear();
    for (const k of Object.keys(outputs)) delete outputs[k];
  });
  return outputs;
}
