import { readFileSync } from 'node:fs';
import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { Context } from 'aws-lambda';
import { loadConfig } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { asRefresherError } from '../core/errors.ts';
import { redact, redactText } from '../core/redact.ts';
import type { Alerter } from '../core/types.ts';
import { runRotation, type RunResult } from '../pipeline/run.ts';
import { wire } from '../pipeline/wiring.ts';
import { refreshDeadline } from '../refresh/oauth2-provider.ts';
import { createLogger, powertoolsLog } from '../report/logger.ts';
import { powertoolsMetrics } from '../report/metrics.ts';
import { SesAlerter } from '../report/ses-alerter.ts';
import { SecretsManagerStore } from '../store/secrets-manager-store.ts';
import { DynamoStateStore, stateTableName } from '../store/dynamo-state-store.ts';
import { credentialList, parseInvocation } from './event.ts';

// Created once per container and reused by every invocation: SDK clients keep their connections warm.
const logger = createLogger();
const log = powertoolsLog(logger);
let config: Config | undefined;
let store: SecretsManagerStore | undefined;
let state: DynamoStateStore | undefined;
let alerter: Alerter | undefined;
let smtpCa: string | undefined;

async function rotate(event: unknown, context?: Partial<Context>): Promise<RunResult> {
  try {
    const inv = parseInvocation(event);
    config ??= loadConfig();
    store ??= new SecretsManagerStore({ timeoutMs: config.http.timeoutMs });
    state ??= new DynamoStateStore({ tableName: stateTableName(config), timeoutMs: config.http.timeoutMs });
    if (config.alerts && !alerter) alerter = new SesAlerter({ from: config.alerts.from, to: config.alerts.to });
    // A private CA for an internal SMTP relay: added to the trusted roots, verification stays on.
    if (process.env.TOKEN_REFRESHER_SMTP_CA_FILE && smtpCa === undefined) smtpCa = readFileSync(process.env.TOKEN_REFRESHER_SMTP_CA_FILE, 'utf8');
    const remaining = context?.getRemainingTimeInMillis?.();
    const deps = wire({
      config,
      store,
      state,
      // Follow-ups (restart, AEM's log) stop a minute before the function's own timeout; the next run continues them.
      deadlineMs: () => Date.now() + Math.max(10_000, (context?.getRemainingTimeInMillis?.() ?? 300_000) - 60_000),
      log,
      metrics: powertoolsMetrics(),
      alerter,
      smtpCa,
      // The lease must outlive this invocation, never the other way round.
      leaseTtlMs: remaining ? remaining + 30_000 : undefined,
      // A refresh request that must not be replayed is awaited up to the end of this invocation.
      deadlineAt: refreshDeadline(remaining, config.http.timeoutMs),
    });
    const result = await runRotation(deps, {
      credentials: credentialList(inv),
      force: inv.force,
      source: inv.source,
      runId: context?.awsRequestId,
      mode: inv.action,
      pushNow: inv.pushNow === true ? 'all' : inv.pushNow,
    });
    return redact(result);
  } catch (e) {
    const err = asRefresherError(e, 'lambda', 'load');
    log.error(`invocation refused: ${err.code}`, { error: err.toJSON() });
    // Thrown errors reach the caller (and the dead-letter queue for scheduled runs): message and fix only, no cause.
    // Redacted like every other output: a message can quote the event (e.g. an unknown credential id), whatever it holds.
    const out = new Error(redactText(`${err.code}: ${err.message} -- ${err.fix}`));
    out.name = err.code;
    throw out;
  }
}

// Adds the request id and cold-start flag to every log line of the invocation.
export const handler = middy(rotate).use(injectLambdaContext(logger));
export { rotate as rotateHandler };
