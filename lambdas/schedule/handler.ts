import { readFileSync } from 'node:fs';
import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { Context } from 'aws-lambda';
import { findCredential, loadConfig } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { asRefresherError } from '../core/errors.ts';
import { redact, redactText } from '../core/redact.ts';
import type { Alerter, SecretStore } from '../core/types.ts';
import type { Log } from '../report/logger.ts';
import type { MetricSink } from '../report/metrics.ts';
import type { StateStore } from '../store/state-store.ts';
import { runRotation, type RunResult } from '../pipeline/run.ts';
import { wire, type WiringOptions } from '../pipeline/wiring.ts';
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

export function createRotateHandler(o: HandlerOverrides = {}): (event: unknown, context?: Partial<Context>) => Promise<RunResult> {
  return async (event, context) => {
    try {
      const inv = parseInvocation(event);
      const cfg = o.config ?? (config ??= loadConfig());
      // An unknown credential is the caller's mistake: refused before any AWS client is made.
      for (const id of credentialList(inv) ?? []) findCredential(cfg, id);
      const secretStore = o.store ?? (store ??= new SecretsManagerStore({ timeoutMs: cfg.http.timeoutMs }));
      const stateStore = o.state ?? (state ??= new DynamoStateStore({ tableName: stateTableName(cfg), timeoutMs: cfg.http.timeoutMs }));
      if (cfg.alerts && !alerter && !o.alerter) alerter = new SesAlerter({ from: cfg.alerts.from, to: cfg.alerts.to });
      // A private CA for an internal SMTP relay: added to the trusted roots, verification stays on.
      if (process.env.TOKEN_REFRESHER_SMTP_CA_FILE && smtpCa === undefined) smtpCa = readFileSync(process.env.TOKEN_REFRESHER_SMTP_CA_FILE, 'utf8');
      const remaining = context?.getRemainingTimeInMillis?.();
      const deps = wire({
        config: cfg,
        store: secretStore,
        state: stateStore,
        // Follow-ups (restart, AEM's log) stop a minute before the function's own timeout; the next run continues them.
        deadlineMs: () => Date.now() + Math.max(10_000, (context?.getRemainingTimeInMillis?.() ?? 300_000) - 60_000),
        log: o.log ?? log,
        metrics: o.metrics ?? powertoolsMetrics(),
        alerter: o.alerter ?? alerter,
        smtpCa,
        // The lease must outlive this invocation, never the other way round.
        leaseTtlMs: remaining ? remaining + 30_000 : undefined,
        // A refresh request that must not be replayed is awaited up to the end of this invocation.
        deadlineAt: refreshDeadline(remaining, cfg.http.timeoutMs),
        ...o.wiring,
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
