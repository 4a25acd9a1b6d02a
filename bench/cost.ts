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
  return [
    `--max-semi-space-size=${Math.max(1, Math.floor((memoryMb * 0.05) / 2))}`,
    `--max-old-space-size=${Math.floor(memoryMb * 0.9)}`,
  ];
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

// ---------------------------------------------------------------------------------------------------------------------
// The cost line: what a fleet costs per credential and month, from counted requests and list prices.

/**
 * List prices, USD, US East (N. Virginia), as published on the dates below; the only place the cost line takes a price
 * from. Sources: https://aws.amazon.com/secrets-manager/pricing/ , https://aws.amazon.com/dynamodb/pricing/on-demand/ ,
 * https://aws.amazon.com/lambda/pricing/ , https://aws.amazon.com/ses/pricing/ , https://aws.amazon.com/kms/pricing/ ,
 * https://aws.amazon.com/eventbridge/pricing/ (Scheduler).
 */
export const PRICES = {
  asOf: '2026-12-01',
  region: 'us-east-1',
  secretPerMonth: 0.4,
  secretsManagerPer10kCalls: 0.05,
  /** On-demand, standard table class: one unit writes up to 1 KB, reads up to 4 KB strongly consistent. */
  dynamoPerMillionWriteUnits: 0.625,
  dynamoPerMillionReadUnits: 0.125,
  dynamoStoragePerGbMonth: 0.25,
  dynamoPitrPerGbMonth: 0.2,
  sesPer1000Mails: 0.1,
  kmsPer10kRequests: 0.03,
  schedulerPerMillionInvocations: 1.0,
  lambdaPerGbSecond: ARM64_USD_PER_GB_S,
  lambdaPerMillionRequests: 0.2,
} as const;

/** The fleet the cost line is for. */
export const COST_FLEET = {
  credentials: 100,
  targetsPerCredential: 3,
  runsPerMonth: 30,
  rotationEveryDays: 7,
} as const;

export type Service = 'secretsmanager' | 'dynamodb' | 'ses' | 'kms' | 'scheduler' | 'other';
export type RequestCounts = Record<Service, Record<string, number>>;

export interface CostReport {
  prices: typeof PRICES;
  fleet: typeof COST_FLEET & { secretsCreated: number; secretsPerCredential: number };
  rotation: { requests: RequestCounts; wallMs: number; cpuMs: number };
  noop: { requests: RequestCounts; wallMs: number; cpuMs: number };
  /** Per credential-month, USD. */
  perCredentialMonth: { total: number; secrets: number; requests: number; table: number; lambda: number };
  line: string;
}

const total = (c: Record<string, number>) => Object.values(c).reduce((a, b) => a + b, 0);

/**
 * An HTTP proxy in front of moto that counts each request by AWS service (from the SigV4 credential scope) and operation
 * (X-Amz-Target for JSON protocols, Action for query protocols such as SES).
 */
async function countingProxy(upstream: string) {
  const { createServer, request } = await import('node:http');
  const counts: RequestCounts = { secretsmanager: {}, dynamodb: {}, ses: {}, kms: {}, scheduler: {}, other: {} };
  const up = new URL(upstream);
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const scope =
        /Credential=[^/]+\/\d+\/[^/]+\/([^/]+)\//.exec(String(req.headers.authorization ?? ''))?.[1] ?? 'other';
      const service: Service =
        scope === 'email'
          ? 'ses'
          : ((['secretsmanager', 'dynamodb', 'kms', 'scheduler'] as const).find((s) => s === scope) ?? 'other');
      const op =
        String(req.headers['x-amz-target'] ?? '')
          .split('.')
          .pop() ||
        new URLSearchParams(body.toString()).get('Action') ||
        'unknown';
      counts[service][op] = (counts[service][op] ?? 0) + 1;
      const fwd = request(
        {
          host: up.hostname,
          port: up.port,
          path: req.url,
          method: req.method,
          headers: { ...req.headers, host: up.host },
        },
        (ur) => {
          res.writeHead(ur.statusCode ?? 502, ur.headers);
          ur.pipe(res);
        },
      );
      fwd.on('error', () => res.destroy());
      fwd.end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    take(): RequestCounts {
      const out = JSON.parse(JSON.stringify(counts)) as RequestCounts;
      for (const s of Object.keys(counts) as Service[]) counts[s] = {};
      return out;
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

async function startMoto(): Promise<{ url: string; stop(): void }> {
  const { spawn } = await import('node:child_process');
  const { createServer } = await import('node:net');
  const port = await new Promise<number>((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (typeof a === 'object' && a ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
  const child = spawn('moto_server', ['-H', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
  const url = `http://127.0.0.1:${port}`;
  for (const until = Date.now() + 20_000; Date.now() < until;) {
    try {
      if ((await fetch(`${url}/moto-api/data.json`)).ok) return { url, stop: () => child.kill('SIGTERM') };
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGTERM');
  throw new Error('moto_server did not start (it is needed for the cost line: the requests are counted against it)');
}

/** The secrets the stack creates for a configuration (lib/parts/secrets.ts itself, on a bare stack: no bundling). */
async function secretsCreated(config: import('../lambdas/config/schema.ts').Config): Promise<number> {
  const { App, Stack } = await import('aws-cdk-lib');
  const { partScope } = await import('../lib/parts/context.ts');
  const { addSecrets } = await import('../lib/parts/secrets.ts');
  const stack = new Stack(new App(), 'Cost', { env: { account: '123456789012', region: 'eu-west-1' } });
  return addSecrets(partScope(stack, config, { config })).all.filter((s) => s.resource !== undefined).length;
}

/**
 * Counts the AWS requests of one forced rotation and of one no-op daily run of a credential with 3 targets, on moto
 * (Secrets Manager, DynamoDB, SES, KMS through a counting proxy) with the stand-ins for Entra, SMTP, IMS and Cloud
 * Manager, and prices a month of the fleet COST_FLEET: 100 credentials sharing one Entra app's client secret and one
 * Adobe credential, a daily schedule (one Scheduler invocation per run), a rotation every 7 days.
 */
export async function measureCost(o: { memoryMb: number; initMs: number }): Promise<CostReport> {
  const { CreateSecretCommand, SecretsManagerClient } = await import('@aws-sdk/client-secrets-manager');
  const { CreateTableCommand, DynamoDBClient } = await import('@aws-sdk/client-dynamodb');
  const { SecretsManagerStore } = await import('../lambdas/store/secrets-manager-store.ts');
  const { DynamoStateStore } = await import('../lambdas/store/dynamo-state-store.ts');
  const { startLocalEnv } = await import('../demo/local-env.ts');
  const { rotateCredential } = await import('../lambdas/pipeline/rotate.ts');
  const { parseConfig } = await import('../lambdas/config/load.ts');

  const moto = await startMoto();
  const proxy = await countingProxy(moto.url);
  const common = {
    endpoint: proxy.url,
    region: 'us-east-1',
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
  };
  try {
    const sm = new SecretsManagerClient(common);
    const ddb = new DynamoDBClient(common);
    const tableName = 'cost-state';
    await ddb.send(
      new CreateTableCommand({
        TableName: tableName,
        AttributeDefinitions: [
          { AttributeName: 'pk', AttributeType: 'S' },
          { AttributeName: 'sk', AttributeType: 'S' },
        ],
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
    const store = new SecretsManagerStore({ client: sm });
    const state = new DynamoStateStore({ tableName, client: ddb });
    const env = await startLocalEnv({
      store,
      createSecret: async (name) => {
        await sm.send(new CreateSecretCommand({ Name: name })).catch((e: { name?: string }) => {
          if (e.name !== 'ResourceExistsException') throw e;
        });
      },
      credentials: 1,
      targetsPerCredential: COST_FLEET.targetsPerCredential,
      secretPrefix: 'cost',
      configure: (doc) => {
        // No alert mail on success, so none is counted; SES would be counted here if one were sent.
        delete doc.alerts;
      },
    });
    try {
      await env.seed();
      // The pipeline on the StateStore takes `state`; the pipeline before it ignores the extra option.
      const deps = env.deps({ state } as Parameters<typeof env.deps>[0]);
      const credential = env.config.credentials[0]!;
      // The first run of a credential upgrades and rotates its 8-day-old token: not a daily run, not counted.
      await rotateCredential(deps, credential);
      proxy.take();
      const measure = async (opts: { force?: boolean }) => {
        const cpu0 = process.cpuUsage();
        const t0 = performance.now();
        const summary = await rotateCredential(deps, credential, opts);
        const wallMs = performance.now() - t0;
        const cpu = process.cpuUsage(cpu0);
        if (summary.outcome === 'failed')
          throw new Error(`the measured run failed: ${JSON.stringify(summary.failure)}`);
        return { requests: proxy.take(), wallMs, cpuMs: (cpu.user + cpu.system) / 1000, outcome: summary.outcome };
      };
      const rotation = await measure({ force: true });
      const noop = await measure({});
      if (noop.outcome !== 'up-to-date') throw new Error(`the no-op run was not a no-op: ${noop.outcome}`);

      // The fleet: 100 credentials, each with its own token secret, one shared Entra client secret, one Adobe credential.
      const fleetDoc = JSON.parse(JSON.stringify(env.config)) as Record<string, unknown> & {
        credentials: Array<Record<string, unknown>>;
      };
      const one = fleetDoc.credentials[0]!;
      fleetDoc.credentials = Array.from({ length: COST_FLEET.credentials }, (_, i) => ({
        ...one,
        id: `mail-${i}`,
        clientSecret: { secretId: 'cost/shared/entra-app' },
      }));
      const created = await secretsCreated(parseConfig(fleetDoc, 'cost fleet'));

      const n = COST_FLEET.credentials;
      const rotations = COST_FLEET.runsPerMonth / COST_FLEET.rotationEveryDays;
      const noops = COST_FLEET.runsPerMonth - rotations;
      const monthly = (f: (r: RequestCounts) => number) => rotations * f(rotation.requests) + noops * f(noop.requests);
      const P = PRICES;
      const secrets = (created * P.secretPerMonth) / n;
      const requests =
        monthly((r) => total(r.secretsmanager)) * (P.secretsManagerPer10kCalls / 10_000) +
        monthly((r) => total(r.ses)) * (P.sesPer1000Mails / 1000) +
        monthly((r) => total(r.kms)) * (P.kmsPer10kRequests / 10_000) +
        COST_FLEET.runsPerMonth * (P.schedulerPerMillionInvocations / 1e6);
      // Every item is under 1 KB (a write unit) and 4 KB (a read unit); a Query or Scan page of one credential's few items
      // is one read unit. Storage: about 5 KB a credential (state, 3 delivery records, lease), with point-in-time recovery.
      const writes = (r: RequestCounts) =>
        (r.dynamodb.PutItem ?? 0) + (r.dynamodb.DeleteItem ?? 0) + (r.dynamodb.UpdateItem ?? 0);
      const reads = (r: RequestCounts) => total(r.dynamodb) - writes(r);
      const storageGb = (5 * 1024) / 1024 ** 3;
      const table =
        monthly(writes) * (P.dynamoPerMillionWriteUnits / 1e6) +
        monthly(reads) * (P.dynamoPerMillionReadUnits / 1e6) +
        storageGb * (P.dynamoStoragePerGbMonth + P.dynamoPitrPerGbMonth);
      // A daily scheduled run is a cold start: INIT (the measured import) plus the run, CPU stretched to the function's
      // share of a vCPU, network waits as assumed in production (ASSUMED_PRODUCTION_MS).
      const networkMs = (r: RequestCounts, extra: number) =>
        (total(r.secretsmanager) + total(r.dynamodb)) * ASSUMED_PRODUCTION_MS.store + extra;
      const gbs = (run: typeof rotation, extraMs: number) =>
        gbSeconds(
          o.memoryMb,
          durationOnLambdaMs(
            { wallMs: run.wallMs + networkMs(run.requests, extraMs), cpuMs: run.cpuMs, initMs: o.initMs },
            o.memoryMb,
          ),
        );
      const rotationNetwork = ASSUMED_PRODUCTION_MS.entra + 3 * ASSUMED_PRODUCTION_MS.smtp;
      const lambdaGbs = rotations * gbs(rotation, rotationNetwork) + noops * gbs(noop, 0);
      const lambda = lambdaGbs * P.lambdaPerGbSecond + COST_FLEET.runsPerMonth * (P.lambdaPerMillionRequests / 1e6);
      const sum = secrets + requests + table + lambda;
      const usd = (x: number) => (x >= 0.01 ? x.toFixed(2) : x.toFixed(4));
      return {
        prices: PRICES,
        fleet: { ...COST_FLEET, secretsCreated: created, secretsPerCredential: created / n },
        rotation: { requests: rotation.requests, wallMs: rotation.wallMs, cpuMs: rotation.cpuMs },
        noop: { requests: noop.requests, wallMs: noop.wallMs, cpuMs: noop.cpuMs },
        perCredentialMonth: { total: sum, secrets, requests, table, lambda },
        line: `cost per credential-month: $${usd(sum)} (secrets $${usd(secrets)}, requests $${usd(requests)}, table $${usd(table)}, lambda $${usd(lambda)})`,
      };
    } finally {
      await env.close();
    }
  } finally {
    await proxy.close();
    moto.stop();
  }
}

/** "Secrets Manager 5 (GetSecretValue 3, ...)" per service, for the report. */
export function describeRequests(r: RequestCounts): string {
  return (
    (Object.keys(r) as Service[])
      .filter((s) => total(r[s]) > 0)
      .map(
        (s) =>
          `${s} ${total(r[s])} (${Object.entries(r[s])
            .map(([op, k]) => `${op} ${k}`)
            .join(', ')})`,
      )
      .join('; ') || 'none'
  );
}
