import { readFileSync } from 'node:fs';
import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { Context } from 'aws-lambda';
import type { Config } from '../config/schema.ts';
import { asRefresherError } from '../core/errors.ts';
import { redact, redactText } from '../core/redact.ts';
import type { Alerter } from '../core/types.ts';
import type { LinkIssuer } from '../report/recovery-link.ts';
import type { RunResult } from '../pipeline/run.ts';
import { createLogger, powertoolsLog } from '../report/logger.ts';
import { SecretsManagerStore } from '../store/secrets-manager-store.ts';

/**
 * What a run needs beyond the logger and the store, imported on the first invocation rather than at load: the INIT
 * phase then costs about what a minimal middy + Powertools + Secrets Manager function costs (bench/README.md, cold
 * start). The bundle is split (lib/parts/function-asset.ts), so each of these is its own chunk; the SES alerter is
 * imported only when alerts are configured.
 */
async function loadPipeline() {
  const [{ loadConfig }, { runRotation }, { wire }, { refreshDeadline }, { powertoolsMetrics }, { credentialList, parseInvocation }] = await Promise.all([
    import('../config/load.ts'),
    import('../pipeline/run.ts'),
    import('../pipeline/wiring.ts'),
    import('../refresh/oauth2-provider.ts'),
    import('../report/metrics.ts'),
    import('./event.ts'),
  ]);
  return { loadConfig, runRotation, wire, refreshDeadline, powertoolsMetrics, credentialList, parseInvocation };
}
let loaded: ReturnType<typeof loadPipeline> | undefined;
const pipeline = () => (loaded ??= loadPipeline());

// Created once per container and reused by every invocation: SDK clients keep their connections warm.
const logger = createLogger();
const log = powertoolsLog(logger);
let config: Config | undefined;
let store: SecretsManagerStore | undefined;
let alerter: Alerter | undefined;
let linkIssuer: LinkIssuer | undefined;
let smtpCa: string | undefined;

async function rotate(event: unknown, context?: Partial<Context>): Promise<RunResult> {
  try {
    const { loadConfig, runRotation, wire, refreshDeadline, powertoolsMetrics, credentialList, parseInvocation } = await pipeline();
    const inv = parseInvocation(event);
    config ??= loadConfig();
    store ??= new SecretsManagerStore({ timeoutMs: config.http.timeoutMs });
    const metrics = powertoolsMetrics();
    if (config.alerts && !alerter) {
      // Every channel (SES, the SNS topic AWS Chatbot reads, webhooks) behind one alerter: one decision, fanned out.
      const { alertChannels } = await import('../report/channels.ts');
      const secrets = store;
      alerter = alertChannels({ config, metrics, log, readSecret: async (id) => (await secrets.getValue(id, 'AWSCURRENT'))?.value ?? '' });
    }
    // The stack sets TOKEN_REFRESHER_RECOVERY_URL only when the recovery endpoint exists (recovery.enabled): then
    // reauthorize alerts carry a sign-in link whose token hash goes into the state table.
    const recoveryUrl = process.env.TOKEN_REFRESHER_RECOVERY_URL;
    if (recoveryUrl && !linkIssuer) {
      const [{ createLinkIssuer }, { DynamoStateStore }, { stateTableName }] = await Promise.all([
        import('../report/recovery-link.ts'),
        import('../store/dynamo-state-store.ts'),
        import('../config/load.ts'),
      ]);
      const state = new DynamoStateStore({ tableName: stateTableName(config), timeoutMs: config.http.timeoutMs });
      linkIssuer = createLinkIssuer({ store: state, baseUrl: recoveryUrl, ttlHours: config.recovery?.linkTtlHours, log });
    }
    // A private CA for an internal SMTP relay: added to the trusted roots, verification stays on.
    if (process.env.TOKEN_REFRESHER_SMTP_CA_FILE && smtpCa === undefined) smtpCa = readFileSync(process.env.TOKEN_REFRESHER_SMTP_CA_FILE, 'utf8');
    const remaining = context?.getRemainingTimeInMillis?.();
    const deps = wire({
      config,
      store,
      log,
      metrics,
      alerter,
      linkIssuer,
      smtpCa,
      // The lease must outlive this invocation, never the other way round.
      leaseTtlMs: remaining ? remaining + 30_000 : undefined,
      // A refresh request that must not be replayed is awaited up to the end of this invocation.
      deadlineAt: refreshDeadline(remaining, config.http.timeoutMs),
    });
    const result = await runRotation(deps, { credentials: credentialList(inv), force: inv.force, source: inv.source, runId: context?.awsRequestId });
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
