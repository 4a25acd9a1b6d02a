import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig, secretIds, adobeSecretId } from '../lambdas/config/load.ts';
import type { Config, ConfigInput } from '../lambdas/config/schema.ts';
import type { SecretStore } from '../lambdas/core/types.ts';
import { wire, type WiringOptions } from '../lambdas/pipeline/wiring.ts';
import type { RotationDeps } from '../lambdas/pipeline/rotate.ts';
import { serializeTokenRecord } from '../lambdas/store/records.ts';
import { FileStateStore } from '../lambdas/store/file-state-store.ts';
import type { StateStore } from '../lambdas/store/state-store.ts';
import { DEFAULT_ACCOUNT, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, SMTP_SEND_SCOPE } from '../standins/entra.ts';
import { startAllStandins, type AllStandins, type AllStandinsOptions } from '../standins/index.ts';
import { testCa } from '../standins/smtp.ts';

/**
 * A complete local world for the demo, the tests and the benchmarks: the four stand-ins, a configuration document
 * pointing at them (validated like any other), a store, and the secrets a deployment would hold.
 */
export interface LocalEnvOptions {
  store: SecretStore;
  /** Lease, state and delivery records; default a FileStateStore in a fresh temporary directory. */
  state?: StateStore;
  /** Creates an empty secret (Secrets Manager needs the secret to exist, as the stack creates it). */
  createSecret?: (secretId: string) => Promise<void>;
  credentials?: number;
  targetsPerCredential?: number;
  latencyMs?: number;
  secretPrefix?: string;
  standins?: AllStandinsOptions;
  validationMode?: 'send' | 'auth';
  /** Changes the document before it is validated; the stand-ins are up, so their URLs can go in. */
  configure?: (doc: ConfigInput, standins: AllStandins) => void;
}

export interface LocalEnv {
  standins: AllStandins;
  config: Config;
  store: SecretStore;
  state: StateStore;
  smtpCa: string;
  /** Creates the secrets and puts a first refresh token (as `regenerate` would) and the client secrets. */
  seed(): Promise<void>;
  deps(over?: Partial<WiringOptions>): RotationDeps;
  close(): Promise<void>;
}

export async function startLocalEnv(o: LocalEnvOptions): Promise<LocalEnv> {
  const standins = await startAllStandins({ latencyMs: o.latencyMs, ...o.standins });
  const { entra, ims, cloudManager, smtp } = standins;
  const n = o.credentials ?? 1;
  const perCred = o.targetsPerCredential ?? 2;
  const credentials = Array.from({ length: n }, (_, i) => {
    const id = n === 1 ? 'aem-mail' : `aem-mail-${i + 1}`;
    const targets = Array.from({ length: perCred }, (_, t) => {
      const programId = String(10000 + i);
      const environmentId = String(20000 + t);
      cloudManager.addEnvironment(programId, environmentId);
      return { programId, environmentId };
    });
    return {
      id,
      provider: 'microsoft' as const,
      authority: entra.url,
      tenant: entra.tenant,
      clientId: DEFAULT_CLIENT_ID,
      scopes: [SMTP_SEND_SCOPE, 'offline_access'],
      mailbox: DEFAULT_ACCOUNT,
      validation: {
        mode: o.validationMode ?? ('send' as const),
        smtp: { host: smtp.host, port: smtp.port, starttls: true, timeoutMs: 5_000 },
      },
      targets,
      rotation: { maxAgeDays: 7, force: false },
    };
  });
  const doc: ConfigInput = {
    secretPrefix: o.secretPrefix ?? `token-refresher-local-${randomUUID().slice(0, 8)}`,
    adobe: {
      imsOrgId: ims.orgId,
      clientId: ims.clientId,
      imsEndpoint: ims.url,
      cloudManagerEndpoint: cloudManager.url,
    },
    alerts: { from: 'token-refresher@example.com', to: ['mail-admins@example.com'] },
    http: { timeoutMs: 5_000, retries: 3, maxConcurrency: 8 },
    credentials,
  };
  o.configure?.(doc, standins);
  const config = parseConfig(doc, 'local configuration');
  const smtpCa = testCa();
  const state = o.state ?? new FileStateStore(mkdtempSync(join(tmpdir(), 'tr-state-')));

  const seed = async () => {
    const adobe = adobeSecretId(config);
    await o.createSecret?.(adobe);
    await o.store.putValue(adobe, ims.clientSecret, { clientRequestToken: randomUUID(), stages: ['AWSCURRENT'] });
    await Promise.all(
      config.credentials.map(async (c) => {
        const ids = secretIds(config, c);
        await Promise.all([o.createSecret?.(ids.token), o.createSecret?.(ids.clientSecret)]);
        const refreshToken = entra.issueRefreshToken({ account: c.mailbox });
        const record = {
          v: 1 as const,
          refreshToken,
          obtainedAt: new Date(Date.now() - 8 * 86_400_000).toISOString(),
          runId: 'seed',
          source: 'regenerate' as const,
          account: c.mailbox,
        };
        await o.store.putValue(ids.token, serializeTokenRecord(record), {
          clientRequestToken: randomUUID(),
          stages: ['AWSCURRENT'],
        });
        await o.store.putValue(ids.clientSecret, DEFAULT_CLIENT_SECRET, {
          clientRequestToken: randomUUID(),
          stages: ['AWSCURRENT'],
        });
      }),
    );
  };

  return {
    standins,
    config,
    store: o.store,
    state,
    smtpCa,
    seed,
    deps: (over = {}) =>
      wire({
        config,
        store: o.store,
        state,
        log: { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} },
        metrics: { count: () => {}, gauge: () => {}, flush: () => {} },
        smtpCa,
        baseDelayMs: 20,
        ...over,
      }),
    close: () => standins.close(),
  };
}
