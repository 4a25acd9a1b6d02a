import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { startLocalEnv, type LocalEnv } from '../demo/local-env.ts';
import { adobeSecretId, secretIds } from '../lambdas/config/load.ts';
import { FileStore } from '../lambdas/store/file-store.ts';
import { SecretsManagerStore } from '../lambdas/store/secrets-manager-store.ts';
import { startLatencyProxy, type LatencyProxy } from './latency-proxy.ts';

export interface BenchWorld {
  env: LocalEnv;
  /** The FileStore's directory (file worlds): a child process can open the same store (FileStore is safe across processes). */
  storeDir: string;
  /** Honest worlds: the Secrets Manager endpoint the child uses (HTTPS, through the latency proxy, to moto_server). */
  secretsManagerEndpoint?: string;
  /** Honest worlds: the proxy in front of each peer (connections show what the run opened). */
  proxies?: Record<'secretsManager' | 'entra' | 'ims' | 'cloudManager' | 'smtp', LatencyProxy>;
  close(): Promise<void>;
}

export const BENCH_AWS_ENV = {
  AWS_REGION: 'eu-west-1',
  AWS_ACCESS_KEY_ID: 'bench',
  AWS_SECRET_ACCESS_KEY: 'bench',
} as const;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      s.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/** moto_server (the same Secrets Manager peer the tests use), on its own port for this world. */
async function startMoto(): Promise<{ port: number; close(): void }> {
  const port = await freePort();
  const moto = spawn('moto_server', ['-H', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/moto-api/data.json`)).ok)
        return { port, close: () => moto.kill('SIGTERM') };
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  moto.kill('SIGKILL');
  throw new Error('moto_server did not start');
}

const portOf = (url: string) => Number(new URL(url).port);

/**
 * The stand-ins (Entra, IMS, Cloud Manager, SMTP) and a store seeded with a token that is due (8 days old) for every
 * credential, its client secret and the Adobe client secret. The rotations run in a child process
 * (bench/rotation-child.ts).
 *
 * `honest`: every peer sits behind a TCP latency proxy (bench/latency-proxy.ts) and the stand-ins add no delay of their
 * own; Entra, IMS and Cloud Manager are reached over HTTPS, and the store is Secrets Manager through the real SDK
 * against moto_server, over HTTPS through its own proxy. Otherwise (the scale runs): the stand-ins' own per-request
 * delay and a FileStore behind bench/latency-store.ts.
 */
export async function startWorld(o: {
  latencyMs: number;
  credentials: number;
  targetsPerCredential: number;
  maxConcurrency?: number;
  /** smtp-server's pause before the greeting; undefined keeps its 100 ms (see standins/smtp.ts). */
  greetingPauseMs?: number;
  honest?: boolean;
}): Promise<BenchWorld> {
  const storeDir = mkdtempSync(join(tmpdir(), 'tr-bench-store-'));
  const smtpOptions = o.greetingPauseMs === undefined ? undefined : { smtp: { greetingPauseMs: o.greetingPauseMs } };
  if (!o.honest) {
    const env = await startLocalEnv({
      store: new FileStore(storeDir),
      latencyMs: o.latencyMs,
      credentials: o.credentials,
      targetsPerCredential: o.targetsPerCredential,
      secretPrefix: 'tr-bench',
      standins: smtpOptions,
      configure: (doc) => {
        if (o.maxConcurrency !== undefined && doc.http) doc.http.maxConcurrency = o.maxConcurrency;
        // A benchmarked rotation ends with its PATCH, as the floor counts; following AEM's restart is not ours to time.
        for (const c of doc.credentials) c.delivery = { ...c.delivery, confirm: false };
      },
    });
    await env.seed();
    return {
      env,
      storeDir,
      close: async () => {
        await env.close();
        rmSync(storeDir, { recursive: true, force: true });
      },
    };
  }

  const moto = await startMoto();
  const L = o.latencyMs;
  const proxies = {
    secretsManager: await startLatencyProxy({ latencyMs: L, upstreamPort: moto.port, tls: true }),
    entra: await startLatencyProxy({ latencyMs: L, tls: true }),
    ims: await startLatencyProxy({ latencyMs: L, tls: true }),
    cloudManager: await startLatencyProxy({ latencyMs: L, tls: true }),
    // SMTP brings its own TLS (STARTTLS): the proxy only delays, so the handshake's round trip is charged too.
    smtp: await startLatencyProxy({ latencyMs: L }),
  };
  const sm = new SecretsManagerClient({
    endpoint: `http://127.0.0.1:${moto.port}`,
    region: BENCH_AWS_ENV.AWS_REGION,
    credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' },
  });
  const env = await startLocalEnv({
    store: new SecretsManagerStore({ client: sm }),
    latencyMs: 0,
    credentials: o.credentials,
    targetsPerCredential: o.targetsPerCredential,
    secretPrefix: 'tr-bench',
    standins: smtpOptions,
    configure: (doc) => {
      if (o.maxConcurrency !== undefined && doc.http) doc.http.maxConcurrency = o.maxConcurrency;
      for (const c of doc.credentials) c.delivery = { ...c.delivery, confirm: false };
      // Every peer through its proxy: HTTPS on localhost (the test certificate's name) for the HTTP stand-ins.
      for (const c of doc.credentials) {
        const authority = c.authority as string;
        proxies.entra.upstreamPort = portOf(authority);
        c.authority = `https://localhost:${proxies.entra.port}`;
        const smtp = c.validation?.smtp as { port: number } | undefined;
        if (smtp) {
          proxies.smtp.upstreamPort = smtp.port;
          smtp.port = proxies.smtp.port;
        }
      }
      for (const adobe of doc.adobe === undefined ? [] : Array.isArray(doc.adobe) ? doc.adobe : [doc.adobe]) {
        proxies.ims.upstreamPort = portOf(adobe.imsEndpoint as string);
        adobe.imsEndpoint = `https://localhost:${proxies.ims.port}`;
        proxies.cloudManager.upstreamPort = portOf(adobe.cloudManagerEndpoint as string);
        adobe.cloudManagerEndpoint = `https://localhost:${proxies.cloudManager.port}`;
      }
    },
  });
  // As the stack does: the secrets exist (empty) before anything is stored in them.
  const names = new Set<string>([adobeSecretId(env.config)]);
  for (const c of env.config.credentials) for (const id of Object.values(secretIds(env.config, c))) names.add(id);
  for (const name of names) await sm.send(new CreateSecretCommand({ Name: name }));
  await env.seed();
  return {
    env,
    storeDir,
    secretsManagerEndpoint: `https://localhost:${proxies.secretsManager.port}`,
    proxies,
    close: async () => {
      await env.close();
      await Promise.all(Object.values(proxies).map((p) => p.close()));
      sm.destroy();
      moto.close();
      rmSync(storeDir, { recursive: true, force: true });
    },
  };
}
