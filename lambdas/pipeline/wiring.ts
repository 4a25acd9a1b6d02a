import { secretIds } from '../config/load.ts';
import type { Config, Credential } from '../config/schema.ts';
import { RefresherError } from '../core/errors.ts';
import type { Alerter, PushValues, SecretStore } from '../core/types.ts';
import { defaultAdobe } from '../config/adobe.ts';
import { cloudManagerConnections, targetsFor } from '../push/cloud-manager-target.ts';
import { certificateSecretId } from '../refresh/client-assertion.ts';
import { DiscoveryCache } from '../refresh/discovery.ts';
import { providerFor, type ProviderOptions } from '../refresh/oauth2-provider.ts';
import type { Log } from '../report/logger.ts';
import type { MetricSink } from '../report/metrics.ts';
import { validatorFor } from '../validate/smtp-validator.ts';
import { cloudManagerProbeForTargets } from '../deliver/cloud-manager-probe.ts';
import type { EnvironmentProbe } from '../deliver/probe.ts';
import type { StateStore } from '../store/state-store.ts';
import { upgradeCredentialState } from '../store/upgrade.ts';
import type { RotationDeps } from './rotate.ts';

export interface WiringOptions {
  config: Config;
  store: SecretStore;
  /** Lease, credential state and delivery records. */
  state: StateStore;
  /** Environment status, pipelines and AEM's log (default: the Cloud Manager probe, built on first use). */
  probe?: EnvironmentProbe;
  sleep?: (ms: number) => Promise<void>;
  /** Absolute Date.now() by which delivery follow-ups stop. */
  deadlineMs?: () => number;
  delivery?: RotationDeps['delivery'];
  upgrade?: RotationDeps['upgrade'];
  log: Log;
  metrics: MetricSink;
  alerter?: Alerter;
  /** Sign-in links for `reauthorize` alerts (createLinkIssuer in lambdas/report/recovery-link.ts). */
  linkIssuer?: RotationDeps['linkIssuer'];
  /** Extra certificate authority for the test send (local stand-ins only; verification stays on). */
  smtpCa?: string;
  now?: () => Date;
  /** Backoff tuning for tests and benchmarks. */
  baseDelayMs?: number;
  maxRetryAfterMs?: number;
  maxSecretLength?: number;
  leaseTtlMs?: number;
  hooks?: RotationDeps['hooks'];
  useLease?: boolean;
  /** Signs for certificate credentials with certificate.kmsKeyId (tests: a client on moto); default one per key region. */
  kms?: ProviderOptions['kms'];
  /** The invocation's end, less the time to store a token: how long a sent refresh request is awaited (see refreshDeadline). */
  deadlineAt?: number;
}

export async function readSecretValue(store: SecretStore, secretId: string): Promise<string> {
  const v = await store.getValue(secretId, 'AWSCURRENT');
  if (!v) {
    throw new RefresherError({
      class: 'configuration',
      code: 'SECRET_EMPTY',
      remote: 'secretsmanager',
      message: `${secretId} holds no value`,
      fix: `Put the value with \`aws secretsmanager put-secret-value --secret-id ${secretId} --secret-string file://...\` (or the CLI's client-secret command).`,
    });
  }
  return v.value;
}

/**
 * A counting semaphore. A released slot passes straight to the next waiter, so a caller arriving meanwhile cannot
 * squeeze in and exceed `max`.
 */
function limiter(max: number): <T>(fn: () => Promise<T>) => Promise<T> {
  let active = 0;
  const waiting: Array<() => void> = [];
  return async (fn) => {
    if (active >= max) await new Promise<void>((resolve) => waiting.push(resolve));
    else active++;
    try {
      return await fn();
    } finally {
      const next = waiting.shift();
      if (next) next();
      else active--;
    }
  };
}

/** The Cloud Manager probe, built (and its IMS token fetched) only when a delivery first asks something. */
function lazyProbe(make: () => EnvironmentProbe): EnvironmentProbe {
  let probe: EnvironmentProbe | undefined;
  const get = () => (probe ??= make());
  return {
    environmentStatus: (p, e) => get().environmentStatus(p, e),
    runningPipeline: (p, e) => get().runningPipeline(p, e),
    scanMailLog: (p, e, q) => get().scanMailLog(p, e, q),
  };
}

/**
 * Builds the pipeline's dependencies for one run. One Cloud Manager connection (one IMS token) per Adobe organization
 * serves every credential of the run, and it is only created when a target of that organization is pushed to.
 */
export function wire(o: WiringOptions): RotationDeps {
  const http = {
    timeoutMs: o.config.http.timeoutMs,
    retries: o.config.http.retries,
    baseDelayMs: o.baseDelayMs,
    maxRetryAfterMs: o.maxRetryAfterMs,
  };
  const cm = cloudManagerConnections(o.config, {
    readSecret: (id) => readSecretValue(o.store, id),
    baseDelayMs: o.baseDelayMs,
    maxRetryAfterMs: o.maxRetryAfterMs,
  });
  // Credentials run up to maxConcurrency at a time and each pushes to its targets in parallel: without a limit shared by
  // every credential, Cloud Manager would see up to maxConcurrency x targets requests at once.
  const pushSlot = limiter(Math.max(1, o.config.http.maxConcurrency));
  // One OpenID configuration fetch per issuer and run, shared by every credential of the run.
  const discovery = new DiscoveryCache();
  const providerOptions = (
    c: Credential,
    clientSecret: string | undefined,
    clientSecretRef: string,
  ): ProviderOptions => ({
    clientSecret,
    clientSecretRef,
    ...http,
    discovery,
    // Certificate credentials read their key document on first use; it never passes through the pipeline itself.
    readSecret: (id) => readSecretValue(o.store, id),
    certificateSecretId: c.credentialType === 'certificate' ? certificateSecretId(o.config, c) : undefined,
    kms: o.kms,
    deadlineAt: o.deadlineAt,
  });
  return {
    config: o.config,
    store: o.store,
    state: o.state,
    probe:
      o.probe ??
      lazyProbe(() =>
        cloudManagerProbeForTargets(
          o.config.credentials.flatMap((c) => c.targets),
          cm,
          { now: o.now },
        ),
      ),
    sleep: o.sleep,
    deadlineMs: o.deadlineMs,
    delivery: o.delivery,
    // The layout before the state table (a state secret, TR_PUSHED_ labels) is read into the table on the first run.
    upgrade:
      o.upgrade ??
      (async (c: Credential) => {
        const ids = secretIds(o.config, c);
        await upgradeCredentialState({
          secrets: o.store,
          state: o.state,
          credentialId: c.id,
          tokenSecretId: ids.token,
          stateSecretId: ids.state,
        });
      }),
    log: o.log,
    metrics: o.metrics,
    alerter: o.alerter,
    linkIssuer: o.linkIssuer,
    now: o.now,
    leaseTtlMs: o.leaseTtlMs,
    useLease: o.useLease,
    hooks: o.hooks,
    pushConcurrency: o.config.http.maxConcurrency,
    provider: (c: Credential, clientSecret, clientSecretRef) =>
      providerFor(c, providerOptions(c, clientSecret, clientSecretRef)),
    // Imported when a credential asks for it (validation.graphDiagnostic): most runs never load it.
    graphDiagnostic: async (c, p) => {
      const v = c.validation;
      const { graphCredential, graphDiagnostic } = await import('../validate/graph-diagnostic.ts');
      return graphDiagnostic({
        credential: c,
        provider: providerFor(graphCredential(c), providerOptions(c, p.clientSecret, p.clientSecretRef)),
        refreshToken: p.refreshToken,
        smtp: p.smtp,
        to: v.to ?? c.mailbox,
        subject: `token-refresher Graph diagnostic: ${c.id} (run ${p.runId})`,
        text: `This message was sent through Microsoft Graph sendMail as a diagnostic beside the SMTP XOAUTH2 check of credential "${c.id}". It does not prove anything about SMTP.\nRun: ${p.runId}\n`,
        timeoutMs: o.config.http.timeoutMs,
        retries: o.config.http.retries,
      });
    },
    validator: (c: Credential) => validatorFor(c, { ca: o.smtpCa }),
    // No targets, no Cloud Manager connection: the "adobe" section is needed only with targets (the schema says so).
    targets: (c: Credential) =>
      c.targets.length === 0
        ? []
        : targetsFor(o.config, c, { connectionFor: cm.forTarget, maxSecretLength: o.maxSecretLength }).map((t) => ({
            key: t.key,
            label: t.label,
            target: t.target,
            push: (v: PushValues) => pushSlot(() => t.push(v)),
          })),
    // With a credential: the IMS tokens of the organizations its targets use; without one (older callers): the default one.
    prefetchPush: (c?: Credential) => {
      const orgs = c ? cm.orgsOf(c) : [defaultAdobe(o.config)].filter((x) => x !== undefined);
      for (const org of orgs) cm.forOrg(org).ims.prefetch();
    },
  };
}
