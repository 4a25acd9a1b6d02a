import { readFileSync } from 'node:fs';
import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { Context } from 'aws-lambda';
import type { Config } from '../config/schema.ts';
import { asRefresherError } from '../core/errors.ts';
import { redact, redactText } from '../core/redact.ts';
import type { Alerter, SecretStore } from '../core/types.ts';
import type { LinkIssuer } from '../report/recovery-link.ts';
import type { RunResult } from '../pipeline/run.ts';
import type { WiringOptions } from '../pipeline/wiring.ts';
import { createLogger, powertoolsLog, type Log } from '../report/logger.ts';
import type { MetricSink } from '../report/metrics.ts';
import { SecretsManagerStore } from '../store/secrets-manager-store.ts';
import type { StateStore } from '../store/state-store.ts';

/**
 * What a run needs beyond the logger and the store, imported on the first invocation rather than at load: the INIT
 * phase then costs about what a minimal middy + Powertools + Secrets Manager function costs (bench/README.md, cold
 * start). The bundle is split (lib/parts/function-asset.ts), so each of these is its own chunk; the SES alerter is
 * imported only when alerts are configured.
 */
async function loadPipeline() {
  const [
    { findCredential, loadConfig, stateTableName },
    { runRotation },
    { wire },
    { refreshDeadline },
    { powertoolsMetrics },
    { credentialList, parseInvocation },
    { DynamoStateStore },
  ] = await Promise.all([
    import('../config/load.ts'),
    import('../pipeline/run.ts'),
    import('../pipeline/wiring.ts'),
    import('../refresh/oauth2-provider.ts'),
    import('../report/metrics.ts'),
    import('./event.ts'),
    import('../store/dynamo-state-store.ts'),
  ]);
  return {
    findCredential,
    loadConfig,
    runRotation,
    wire,
    refreshDeadline,
    powertoolsMetrics,
    credentialList,
    parseInvocation,
    DynamoStateStore,
    stateTableName,
  };
}
let loaded: ReturnType<typeof loadPipeline> | undefined;
const pipeline = () => (loaded ??= loadPipeline());

// Created once per container and reused by every invocation: SDK clients keep their connections warm.
const logger = createLogger();
const log = powertoolsLog(logger);
let config: Config | undefined;
let store: SecretStore | undefined;
let state: StateStore | undefined;
let alerter: Alerter | undefined;
let linkIssuer: LinkIssuer | undefined;
let smtpCa: string | undefined;

/**
 * What a test or the year simulation may put in place of the function's own peers and clock; the deployed function
 * passes nothing. The handler is otherwise the one the stack deploys (same parsing, wiring, run and redaction).
 */
export interface HandlerOverrides {
  config?: Config;
  store?: SecretStore;
  state?: StateStore;
  alerter?: Alerter;
  log?: Log;
  metrics?: MetricSink;
  wiring?: Partial<WiringOptions>;
}

export function createRotateHandler(
  o: HandlerOverrides = {},
): (event: unknown, context?: Partial<Context>) => Promise<RunResult> {
  return async (event, context) => {
    try {
      const p = await pipeline();
      const inv = p.parseInvocation(event);
      const cfg = o.config ?? (config ??= p.loadConfig());
      // An unknown credential is the caller's mistake: refused before any AWS client is made.
      for (const id of p.credentialList(inv) ?? []) p.findCredential(cfg, id);
      const secretStore = o.store ?? (store ??= new SecretsManagerStore({ timeoutMs: cfg.http.timeoutMs }));
      const stateStore =
        o.state ??
        (state ??= new p.DynamoStateStore({ tableName: p.stateTableName(cfg), timeoutMs: cfg.http.timeoutMs }));
      const metrics = o.metrics ?? p.powertoolsMetrics();
      if (cfg.alerts && !alerter && !o.alerter) {
        // Every channel (SES, the SNS topic AWS Chatbot reads, webhooks) behind one alerter: one decision, fanned out.
        const { alertChannels } = await import('../report/channels.ts');
        const secrets = secretStore;
        alerter = alertChannels({
          config: cfg,
          metrics,
          log,
          readSecret: async (id) => (await secrets.getValue(id, 'AWSCURRENT'))?.value ?? '',
        });
      }
      // The stack sets TOKEN_REFRESHER_RECOVERY_URL only when the recovery endpoint exists (recovery.enabled): then
      // reauthorize alerts carry a sign-in link whose token hash goes into the state table.
      const recoveryUrl = process.env.TOKEN_REFRESHER_RECOVERY_URL;
      if (recoveryUrl && !linkIssuer) {
        const { createLinkIssuer } = await import('../report/recovery-link.ts');
        linkIssuer = createLinkIssuer({
          store: stateStore,
          baseUrl: recoveryUrl,
          ttlHours: cfg.recovery?.linkTtlHours,
          log,
        });
      }
      // A private CA for an internal SMTP relay: added to the trusted roots, verification stays on.
      if (process.env.TOKEN_REFRESHER_SMTP_CA_FILE && smtpCa === undefined)
        smtpCa = readFileSync(process.env.TOKEN_REFRESHER_SMTP_CA_FILE, 'utf8');
      const remaining = context?.getRemainingTimeInMillis?.();
      const deps = p.wire({
        config: cfg,
        store: secretStore,
        state: stateStore,
        // Follow-ups (restart, AEM's log) stop a minute before the function's own timeout; the next run continues them.
        deadlineMs: () => Date.now() + Math.max(10_000, (context?.getRemainingTimeInMillis?.() ?? 300_000) - 60_000),
        log: o.log ?? log,
        metrics,
        alerter: o.alerter ?? alerter,
        linkIssuer,
        smtpCa,
        // The lease must outlive this invocation, never the other way round.
        leaseTtlMs: remaining ? remaining + 30_000 : undefined,
        // A refresh request that must not be replayed is awaited up to the end of this invocation.
        deadlineAt: p.refreshDeadline(remaining, cfg.http.timeoutMs),
        ...o.wiring,
      });
      const result = await p.runRotation(deps, {
        credentials: p.credentialList(inv),
        force: inv.force,
        source: inv.source,
        runId: context?.awsRequestId,
        mode: inv.action,
        pushNow: inv.pushNow === true ? 'all' : inv.pushNow,
      });
      return redact(result);
    } catch (e) {
      const err = asRefresherError(e, 'lambda', 'load');
      (o.log ?? log).error(`invocation refused: ${err.code}`, { error: err.toJSON() });
      // Thrown errors reach the caller (and the dead-letter queue for scheduled runs): message and fix only, no cause.
      // Redacted like every other output: a message can quote the event (e.g. an unknown credential id), whatever it holds.
      const out = new Error(redactText(`${err.code}: ${err.message} -- ${err.fix}`));
      out.name = err.code;
      throw out;
    }
  };
}

const rotate = createRotateHandler();

// Adds the request id and cold-start flag to every log line of the invocation.
export const handler = middy(rotate).use(injectLambdaContext(logger));
export { rotate as rotateHandler };
