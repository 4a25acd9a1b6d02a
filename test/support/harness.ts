import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { vi } from 'vitest';
import { startLocalEnv, type LocalEnv, type LocalEnvOptions } from '../../demo/local-env.ts';
import type { WiringOptions } from '../../lambdas/pipeline/wiring.ts';
import { createLogger, powertoolsLog } from '../../lambdas/report/logger.ts';
import { MemoryMetrics } from '../../lambdas/report/metrics.ts';
import { SesAlerter } from '../../lambdas/report/ses-alerter.ts';
import { DEFAULT_CLIENT_SECRET } from '../../standins/entra.ts';
import { motoClients, uniqueRecipient } from './aws.ts';
import { scanForSecrets } from './leaks.ts';
import { createStateTable } from './dynamo.ts';

/**
 * A local world on real peers: moto's Secrets Manager and SES, the stand-ins, the real Powertools logger (its output
 * captured), so every test can scan everything that left the process for secrets.
 */
export interface Harness extends LocalEnv {
  aws: ReturnType<typeof motoClients>;
  recipient: string;
  metrics: MemoryMetrics;
  logs: string[];
  alerter: SesAlerter;
  wiring(over?: Partial<WiringOptions>): ReturnType<LocalEnv['deps']>;
  alertMails(): Promise<Array<{ subject: string; body: string }>>;
  /** Every secret value the run could have touched: tokens issued by the stand-ins and the client secrets. */
  secrets(): string[];
}

export async function startHarness(opts: Partial<LocalEnvOptions> = {}): Promise<Harness> {
  const aws = motoClients();
  const recipient = uniqueRecipient();
  const sender = 'token-refresher@example.com';
  await aws.verifySender(sender);
  const env = await startLocalEnv({
    store: aws.store,
    createSecret: aws.createSecret,
    ...opts,
    configure: (doc, standins) => {
      doc.alerts = { from: sender, to: [recipient] };
      opts.configure?.(doc, standins);
    },
  });
  const metrics = new MemoryMetrics();
  const logs: string[] = [];
  const logger = createLogger('token-refresher-test');
  const log = powertoolsLog(logger);
  // Capture what the real logger writes, without letting it reach the test output.
  for (const stream of [process.stdout, process.stderr]) {
    vi.spyOn(stream, 'write').mockImplementation((chunk: string | Uint8Array) => {
      logs.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
      return true;
    });
  }
  const alerter = new SesAlerter({ from: sender, to: [recipient], client: aws.ses });
  return {
    ...env,
    aws,
    recipient,
    metrics,
    logs,
    alerter,
    wiring: (over = {}) => env.deps({ log, metrics, alerter, ...over }),
    alertMails: () => aws.sentMails(recipient),
    secrets: () => {
      const { entra, ims } = env.standins;
      return [...entra.issuedRefreshTokens(), ...entra.issuedAccessTokens(), DEFAULT_CLIENT_SECRET, ims.clientSecret];
    },
    close: async () => {
      vi.restoreAllMocks();
      await env.close();
    },
  };
}

/** Fails with the place where a secret leaked (whole, a piece, or encoded), never with the secret itself. */
export function assertNoSecrets(haystacks: Record<string, string>, secrets: string[]): void {
  const leaks = scanForSecrets(haystacks, secrets);
  if (leaks.length > 0) throw new Error(leaks.join('\n'));
}

/**
 * The function reads everything from its environment, as in Lambda: the document inline, Secrets Manager and SES via
 * moto, and the stand-ins' CA for the test send. Call before importing the handler (it caches on first use).
 */
export async function setHandlerEnvironment(h: Harness): Promise<void> {
  const caFile = join(mkdtempSync(join(tmpdir(), 'tr-handler-')), 'ca.pem');
  writeFileSync(caFile, h.smtpCa);
  process.env.TOKEN_REFRESHER_CONFIG = JSON.stringify(h.config);
  process.env.TOKEN_REFRESHER_SMTP_CA_FILE = caFile;
  process.env.AWS_ENDPOINT_URL = h.aws.endpoint;
  process.env.AWS_ACCESS_KEY_ID = 'testing';
  process.env.AWS_SECRET_ACCESS_KEY = 'testing';
  process.env.AWS_REGION = 'eu-west-1';
  process.env.TOKEN_REFRESHER_STATE_TABLE = await createStateTable();
}
