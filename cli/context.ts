import { chmodSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { findCredential, loadConfig, stateTableName } from '../lambdas/config/load.ts';
import type { Config, Credential } from '../lambdas/config/schema.ts';
import { isRefresherError, RefresherError } from '../lambdas/core/errors.ts';
import { redact } from '../lambdas/core/redact.ts';
import type { Alert, Alerter, SecretStore } from '../lambdas/core/types.ts';
import type { RotationDeps } from '../lambdas/pipeline/rotate.ts';
import { readSecretValue, wire, type WiringOptions } from '../lambdas/pipeline/wiring.ts';
import { certificateSecretId } from '../lambdas/refresh/client-assertion.ts';
import { DiscoveryCache } from '../lambdas/refresh/discovery.ts';
import { resolvedProviderFor, type OAuth2Provider, type ProviderOptions } from '../lambdas/refresh/oauth2-provider.ts';
import type { Log } from '../lambdas/report/logger.ts';
import { SesAlerter } from '../lambdas/report/ses-alerter.ts';
import { FileStore } from '../lambdas/store/file-store.ts';
import { SecretsManagerStore } from '../lambdas/store/secrets-manager-store.ts';
import type { StateStore } from '../lambdas/store/state-store.ts';
import { bool, str, type Values } from './args.ts';
import { CliError, Exit, usageError } from './errors.ts';
import type { Io } from './io.ts';
import type { Ui } from './ui.ts';

const NO_METRICS = { count: () => {}, gauge: () => {}, flush: () => {} };

/**
 * Alerts of a CLI run on the file store have nowhere to be mailed: they are shown to the person at the terminal,
 * who is the one who has to act on them anyway.
 */
class TerminalAlerter implements Alerter {
  constructor(private readonly ui: Ui) {}
  async send(alert: Alert): Promise<void> {
    this.ui.progress(
      alert.kind === 'recovered' ? 'ok' : 'warn',
      `alert (${alert.kind}, shown here instead of mailed): ${alert.subject}`,
    );
  }
}

export class Context {
  #config: Config | undefined;
  #store: SecretStore | undefined;
  #state: StateStore | undefined;
  /** One OpenID configuration fetch per issuer and command, as the function has one per run. */
  readonly #discovery = new DiscoveryCache();

  constructor(
    readonly io: Io,
    readonly ui: Ui,
    readonly values: Values,
  ) {}

  get verbose(): boolean {
    return bool(this.values, 'verbose');
  }

  /** The configuration document; a missing or invalid one is a usage error (exit 2) naming every wrong field. */
  config(): Config {
    if (this.#config) return this.#config;
    const file = str(this.values, 'config');
    const env = this.io.env;
    try {
      this.#config = file
        ? loadConfig({ TOKEN_REFRESHER_CONFIG_FILE: resolve(this.io.cwd, file) })
        : loadConfig(
            {
              TOKEN_REFRESHER_CONFIG: env.TOKEN_REFRESHER_CONFIG,
              TOKEN_REFRESHER_CONFIG_FILE: env.TOKEN_REFRESHER_CONFIG_FILE
                ? resolve(this.io.cwd, env.TOKEN_REFRESHER_CONFIG_FILE)
                : undefined,
            },
            resolve(this.io.cwd, 'config.json'),
          );
    } catch (e) {
      if (isRefresherError(e)) throw new CliError(e.message, Exit.usage, e.fix, e.code);
      throw e;
    }
    return this.#config;
  }

  credential(id: string): Credential {
    try {
      return findCredential(this.config(), id);
    } catch (e) {
      if (e instanceof RefresherError) throw new CliError(e.message, Exit.usage, e.fix, e.code);
      throw e;
    }
  }

  get storeKind(): 'secretsmanager' | 'file' {
    const kind = str(this.values, 'store') ?? this.io.env.TOKEN_REFRESHER_STORE ?? 'secretsmanager';
    if (kind !== 'secretsmanager' && kind !== 'file')
      throw usageError(`--store must be "secretsmanager" or "file", got "${kind}"`);
    return kind;
  }

  /**
   * The state store: the DynamoDB table (stateTable, TOKEN_REFRESHER_STATE_TABLE, else <secretPrefix>-state) or, with
   * --store file, <store-dir>/state. Loaded on first use: commands that never read state do not load the DynamoDB client.
   */
  async stateStore(): Promise<StateStore> {
    if (this.#state) return this.#state;
    if (this.storeKind === 'file') {
      const { FileStateStore } = await import('../lambdas/store/file-state-store.ts');
      const dir = resolve(
        this.io.cwd,
        str(this.values, 'store-dir') ?? this.io.env.TOKEN_REFRESHER_STORE_DIR ?? '.token-refresher',
        'state',
      );
      this.#state = new FileStateStore(dir);
    } else {
      const { DynamoStateStore } = await import('../lambdas/store/dynamo-state-store.ts');
      this.#state = new DynamoStateStore({
        tableName: stateTableName(this.config(), this.io.env),
        timeoutMs: this.config().http.timeoutMs,
      });
    }
    return this.#state;
  }

  /**
   * The same store for the pipeline, which takes it synchronously: each call waits for stateStore() first, so nothing
   * is loaded until a run reads state.
   */
  state(): StateStore {
    const get = () => this.stateStore();
    return {
      kind: this.storeKind === 'file' ? 'file' : 'dynamodb',
      acquireLease: async (...a) => (await get()).acquireLease(...a),
      releaseLease: async (...a) => (await get()).releaseLease(...a),
      getState: async (...a) => (await get()).getState(...a),
      putState: async (...a) => (await get()).putState(...a),
      listDeliveries: async (...a) => (await get()).listDeliveries(...a),
      putDelivery: async (...a) => (await get()).putDelivery(...a),
      listFleet: async () => (await get()).listFleet(),
      putOneTime: async (...a) => (await get()).putOneTime(...a),
      consumeOneTime: async (...a) => (await get()).consumeOneTime(...a),
    };
  }

  store(): SecretStore {
    if (this.#store) return this.#store;
    if (this.storeKind === 'file') {
      const dir = resolve(
        this.io.cwd,
        str(this.values, 'store-dir') ?? this.io.env.TOKEN_REFRESHER_STORE_DIR ?? '.token-refresher',
      );
      this.#store = new FileStore(dir);
      // The files hold refresh tokens: the directory is the user's alone even if it existed with wider permissions.
      chmodSync(dir, 0o700);
    } else {
      this.#store = new SecretsManagerStore({ timeoutMs: this.config().http.timeoutMs });
    }
    return this.#store;
  }

  /** An extra CA for the SMTP test (a private relay, the local stand-ins); certificate verification stays on. */
  smtpCa(): string | undefined {
    const file = this.io.env.TOKEN_REFRESHER_SMTP_CA_FILE;
    if (!file) return undefined;
    try {
      return readFileSync(resolve(this.io.cwd, file), 'utf8');
    } catch (e) {
      throw usageError(
        `cannot read TOKEN_REFRESHER_SMTP_CA_FILE (${file}): ${(e as NodeJS.ErrnoException).code ?? 'error'}`,
      );
    }
  }

  log(): Log {
    if (!this.verbose) return { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };
    const line = (level: string) => (msg: string, extra?: Record<string, unknown>) =>
      this.ui.err(
        this.ui.ce(
          'gray',
          `[${level}] ${msg}${extra && Object.keys(extra).length ? ` ${JSON.stringify(redact(extra))}` : ''}`,
        ),
      );
    return { debug: line('debug'), info: line('info'), warn: line('warn'), error: line('error') };
  }

  alerter(): Alerter | undefined {
    const config = this.config();
    if (this.storeKind === 'secretsmanager' && config.alerts)
      return new SesAlerter({ from: config.alerts.from, to: config.alerts.to });
    return new TerminalAlerter(this.ui);
  }

  /**
   * Options of every token provider the CLI builds itself, the same as the function's wiring gives: the configured
   * deadlines, shared discovery, and for certificate credentials where the key document lives and how to read it.
   */
  providerOptions(c: Credential, clientSecret: string | undefined, clientSecretRef: string): ProviderOptions {
    const config = this.config();
    return {
      clientSecret,
      clientSecretRef,
      timeoutMs: config.http.timeoutMs,
      retries: config.http.retries,
      discovery: this.#discovery,
      readSecret: (id) => readSecretValue(this.store(), id),
      certificateSecretId: c.credentialType === 'certificate' ? certificateSecretId(config, c) : undefined,
    };
  }

  /** A provider with every endpoint known (OpenID discovery done for an `issuer`): what a sign-in needs. */
  provider(c: Credential, clientSecret: string | undefined, clientSecretRef: string): Promise<OAuth2Provider> {
    return resolvedProviderFor(c, this.providerOptions(c, clientSecret, clientSecretRef));
  }

  /** The pipeline's dependencies, wired as the function wires them, with the CLI's log, alerts and no metrics. */
  deps(over: Partial<WiringOptions> = {}): RotationDeps {
    return wire({
      config: this.config(),
      store: this.store(),
      state: this.state(),
      log: this.log(),
      metrics: NO_METRICS,
      alerter: this.alerter(),
      smtpCa: this.smtpCa(),
      ...over,
    });
  }
}
