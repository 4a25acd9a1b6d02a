/**
 * Every failure the pipeline reports is classified, because the class decides who must act:
 * - reauthorize: a person must sign in again (run `token-refresher regenerate`);
 * - configuration: an administrator must fix something (Entra app, Exchange, Cloud Manager permission, this config);
 * - transient: retry later, nothing to do unless it persists;
 * - conflict: another run got there first (not a failure of the credential);
 * - input: the caller's request was malformed.
 */
export type FailureClass = 'reauthorize' | 'configuration' | 'transient' | 'conflict' | 'input';

export type Remote =
  | 'entra'
  | 'google'
  | 'oauth2'
  | 'smtp'
  | 'secretsmanager'
  | 'dynamodb'
  | 'ims'
  | 'cloudmanager'
  | 'ses'
  | 'sns'
  | 'webhook'
  | 'config'
  | 'event'
  | 'lambda'
  | 'browser';

export type Stage =
  'load' | 'lease' | 'read' | 'refresh' | 'store' | 'validate' | 'promote' | 'push' | 'report' | 'regenerate';

export interface RefresherErrorInit {
  class: FailureClass;
  code: string;
  remote: Remote;
  message: string;
  fix: string;
  stage?: Stage;
  status?: number;
  retryAfterMs?: number;
  cause?: unknown;
}

export class RefresherError extends Error {
  readonly class: FailureClass;
  readonly code: string;
  readonly remote: Remote;
  readonly fix: string;
  stage: Stage | undefined;
  readonly status: number | undefined;
  readonly retryAfterMs: number | undefined;

  constructor(init: RefresherErrorInit) {
    // The cause is deliberately not attached: SDK and HTTP errors carry request headers (bearer tokens) with them.
    super(init.message);
    this.name = 'RefresherError';
    this.class = init.class;
    this.code = init.code;
    this.remote = init.remote;
    this.fix = init.fix;
    this.stage = init.stage;
    this.status = init.status;
    this.retryAfterMs = init.retryAfterMs;
  }

  get transient(): boolean {
    return this.class === 'transient';
  }

  toJSON() {
    return {
      class: this.class,
      code: this.code,
      remote: this.remote,
      stage: this.stage,
      status: this.status,
      message: this.message,
      fix: this.fix,
    };
  }
}

export function isRefresherError(e: unknown): e is RefresherError {
  return e instanceof RefresherError;
}

/**
 * The AWS SDK's "Region is missing" (no AWS_REGION, no profile with a region): a setting to fix, which no later run
 * fixes by itself. Lambda always sets AWS_REGION; this is the CLI on a machine without one.
 */
export function missingRegionError(e: unknown, remote: Remote, stage?: Stage): RefresherError | undefined {
  const message = (e as { message?: unknown } | undefined)?.message;
  if (typeof message !== 'string' || !/^Region is missing\b/.test(message)) return undefined;
  return new RefresherError({
    class: 'configuration',
    code: 'AWS_REGION_MISSING',
    remote,
    stage,
    message: `${remote}: no AWS region is configured, so the AWS SDK cannot reach the service`,
    fix: 'Set AWS_REGION (e.g. `export AWS_REGION=eu-west-1`, the region the stack is deployed in) or choose a profile with a region (AWS_PROFILE).',
  });
}

/** Wraps anything thrown by code we do not own into a classified error without keeping the original object. */
export function asRefresherError(e: unknown, remote: Remote, stage?: Stage): RefresherError {
  if (e instanceof RefresherError) {
    if (!e.stage && stage) e.stage = stage;
    return e;
  }
  const region = missingRegionError(e, remote, stage);
  if (region) return region;
  const err = e as { name?: string; code?: string; message?: string } | undefined;
  return new RefresherError({
    class: 'transient',
    code: err?.code ?? err?.name ?? 'UNEXPECTED',
    remote,
    stage,
    message: `${remote}: ${err?.name ?? 'Error'}: ${err?.message ?? String(e)}`,
    fix: 'Retried on the next run; if it persists, check the logs for this stage and the remote’s health.',
  });
}
