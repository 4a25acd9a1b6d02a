import { RefresherError } from '../core/errors.ts';
import type { PushTarget, PushValues } from '../core/types.ts';
import { adobeFor, adobeKey, adobeOrgs, adobeSecretIdOf, defaultAdobe } from '../config/adobe.ts';
import type { AdobeSettings, Config, Credential, Target } from '../config/schema.ts';
import { CloudManagerClient, type CmVariableUpdate } from './cloud-manager.ts';
import { ImsTokenSource } from './ims.ts';
import type { HttpTuning } from './common.ts';

/**
 * Longest value pushed, in characters. The sources disagree: the Cloud Manager API spec says secretString values
 * "must be less than 500 characters" (and gives the field maxLength 2048), while the AEM documentation allows values up
 * to 2048. Microsoft refresh tokens are routinely over 1,000 characters, so 500 would refuse nearly every one of them;
 * 2048 follows the AEM documentation and the schema's maxLength. It is configurable because the real limit is Adobe's
 * to change, and checking it ourselves turns a vague 400 (or a silently truncated secret) into a clear message.
 */
export const DEFAULT_MAX_SECRET_LENGTH = 2048;

/** What a target needs from the client; a structural type so the pipeline's tests can pass a fake. */
export type VariablePatcher = Pick<CloudManagerClient, 'patchVariables'>;

export interface CloudManagerTargetOptions {
  maxSecretLength?: number;
}

/** Staging-label fragment: Secrets Manager labels allow more, but letters, digits and `_` survive every consumer. */
export function targetKey(t: Pick<Target, 'programId' | 'environmentId' | 'service'>): string {
  const safe = (s: string) => s.replace(/[^A-Za-z0-9_]/g, '_');
  return `cm_${safe(t.programId)}_${safe(t.environmentId)}_${t.service ?? 'all'}`;
}

export function targetLabel(t: Pick<Target, 'programId' | 'environmentId' | 'service'>): string {
  return `program ${t.programId} / environment ${t.environmentId} (${t.service ?? 'all services'})`;
}

export class CloudManagerTarget implements PushTarget {
  readonly key: string;
  readonly label: string;
  readonly target: Target;
  readonly maxSecretLength: number;
  readonly #client: VariablePatcher;

  constructor(target: Target, client: VariablePatcher, options: CloudManagerTargetOptions = {}) {
    const max = options.maxSecretLength ?? DEFAULT_MAX_SECRET_LENGTH;
    if (!Number.isInteger(max) || max < 1) {
      throw new RefresherError({
        class: 'configuration',
        code: 'CM_MAX_LENGTH_INVALID',
        remote: 'cloudmanager',
        stage: 'push',
        message: `maxSecretLength must be a positive integer, got ${String(max)}`,
        fix: `Leave maxSecretLength unset (default ${DEFAULT_MAX_SECRET_LENGTH}) or set it to the limit Cloud Manager enforces.`,
      });
    }
    this.target = target;
    this.#client = client;
    this.maxSecretLength = max;
    this.key = targetKey(target);
    this.label = targetLabel(target);
  }

  /** One PATCH with every variable, so the refresh token and client secret cannot end up from different rotations. */
  async push(values: PushValues): Promise<void> {
    const t = this.target;
    const service = t.service ? { service: t.service } : {};
    const vars: CmVariableUpdate[] = [
      { name: t.refreshTokenVariable, value: values.refreshToken, type: 'secretString', ...service },
    ];
    if (t.pushClientSecret && values.clientSecret !== undefined) {
      vars.push({ name: t.clientSecretVariable, value: values.clientSecret, type: 'secretString', ...service });
    }
    // Every value is checked before any request: a partial push would leave the environment inconsistent.
    for (const v of vars) this.#check(v);
    await this.#client.patchVariables(t.programId, t.environmentId, vars);
  }

  #check(v: CmVariableUpdate): void {
    if (v.value.length === 0) {
      // Cloud Manager deletes a variable sent with an empty value; a push must never do that by accident.
      throw new RefresherError({
        class: 'input',
        code: 'CM_EMPTY_VALUE',
        remote: 'cloudmanager',
        stage: 'push',
        message: `refusing to push an empty value to ${v.name} on ${this.label}: Cloud Manager would delete the variable`,
        fix: 'The value to push is empty; check the stored secret (a bug upstream of the push, not a Cloud Manager problem).',
      });
    }
    if (v.value.length > this.maxSecretLength) {
      throw new RefresherError({
        class: 'configuration',
        code: 'CM_VALUE_TOO_LONG',
        remote: 'cloudmanager',
        stage: 'push',
        message:
          `the value for ${v.name} on ${this.label} is ${v.value.length} characters, over the limit of ${this.maxSecretLength}; nothing was sent. ` +
          `(The Cloud Manager API spec says secretString values must be under 500 characters, the AEM documentation allows 2048; the limit used here is maxSecretLength.)`,
        fix:
          `Raise maxSecretLength only if Cloud Manager accepts longer values for this environment; otherwise the value cannot be delivered as a Cloud Manager variable. ` +
          `Microsoft refresh tokens are often over 1,000 characters, so a limit of 500 refuses most of them.`,
      });
    }
  }
}

export interface CloudManagerConnection {
  ims: ImsTokenSource;
  client: CloudManagerClient;
}

export interface CloudManagerDeps extends HttpTuning {
  /** Reads a secret value by id; called with adobeClientSecretId(config), only when an IMS token is needed. */
  readSecret: (secretId: string) => Promise<string>;
  /** Injected clock for the IMS token expiry. */
  now?: () => number;
}

export type TargetsDeps = (
  | { connection: CloudManagerConnection; connectionFor?: undefined }
  | { connectionFor: (t: Target) => CloudManagerConnection; connection?: undefined }
  | (CloudManagerDeps & { connection?: undefined; connectionFor?: undefined })
) &
  CloudManagerTargetOptions;

export function adobeClientSecretId(config: Config, org: AdobeSettings | undefined = defaultAdobe(config)): string {
  return adobeSecretIdOf(config, org);
}

function requireAdobe(config: Config): AdobeSettings {
  const org = defaultAdobe(config);
  if (org) return org;
  throw new RefresherError({
    class: 'configuration',
    code: 'CM_NOT_CONFIGURED',
    remote: 'config',
    stage: 'push',
    message: 'Cloud Manager targets are configured but the "adobe" section is missing',
    fix: 'Add the "adobe" section (imsOrgId, clientId) to the configuration.',
  });
}

/**
 * The IMS token source and Cloud Manager client of one Adobe organization (default: the first or only one). Build it
 * once per run and organization, so the whole run uses a single IMS token per organization; call `ims.prefetch()` to
 * overlap it with the refresh.
 */
export function connectCloudManager(
  config: Config,
  deps: CloudManagerDeps,
  org: AdobeSettings = requireAdobe(config),
): CloudManagerConnection {
  // `connection` may ride along from targetsFor's deps; it is not an HTTP knob.
  const {
    readSecret,
    now,
    connection: _unused,
    connectionFor: _unused2,
    ...tuning
  } = deps as CloudManagerDeps & { connection?: unknown; connectionFor?: unknown };
  const secretId = adobeSecretIdOf(config, org);
  const ims = new ImsTokenSource({
    ...tuning,
    endpoint: org.imsEndpoint,
    clientId: org.clientId,
    clientSecret: () => readSecret(secretId),
    scopes: org.scopes,
    timeoutMs: config.http.timeoutMs,
    retries: config.http.retries,
    now,
  });
  const client = new CloudManagerClient({
    ...tuning,
    endpoint: org.cloudManagerEndpoint,
    apiKey: org.clientId,
    orgId: org.imsOrgId,
    token: () => ims.token(),
    invalidateToken: (rejected) => ims.invalidate(rejected),
    timeoutMs: config.http.timeoutMs,
    retries: config.http.retries,
  });
  return { ims, client };
}

/** Connections of a run, one per Adobe organization, each created on first use (an organization no target of the run uses costs nothing). */
export interface CloudManagerConnections {
  forOrg(org: AdobeSettings): CloudManagerConnection;
  forTarget(target: Pick<Target, 'adobe' | 'programId'>): CloudManagerConnection;
  /** The organizations a credential's targets use. */
  orgsOf(credential: Credential): AdobeSettings[];
}

export function cloudManagerConnections(config: Config, deps: CloudManagerDeps): CloudManagerConnections {
  const byKey = new Map<string, CloudManagerConnection>();
  const forOrg = (org: AdobeSettings) => {
    let c = byKey.get(adobeKey(org));
    if (!c) byKey.set(adobeKey(org), (c = connectCloudManager(config, deps, org)));
    return c;
  };
  return {
    forOrg,
    forTarget: (t) => forOrg(adobeFor(config, t)),
    orgsOf: (credential) => [
      ...new Map(
        credential.targets.map((t) => {
          const o = adobeFor(config, t);
          return [adobeKey(o), o] as const;
        }),
      ).values(),
    ],
  };
}

/**
 * One target per configured Cloud Manager environment of the credential. Targets of one organization share one client
 * and one IMS token source: `connectionFor` (a run's connections), else `connection` (a single organization), else
 * connections built here, one per organization.
 */
export function targetsFor(config: Config, credential: Credential, deps: TargetsDeps): CloudManagerTarget[] {
  if (credential.targets.length === 0) return [];
  const { maxSecretLength, ...rest } = deps;
  const single = rest.connection;
  const pick: (t: Target) => CloudManagerConnection = rest.connectionFor
    ? rest.connectionFor
    : single && adobeOrgs(config).length <= 1
      ? () => single
      : cloudManagerConnections(config, rest as CloudManagerDeps).forTarget;
  return credential.targets.map((t) => new CloudManagerTarget(t, pick(t).client, { maxSecretLength }));
}
