import type { FailureClass } from '../core/errors.ts';

/**
 * The metric contract between the function (which emits these with Powertools EMF) and the stack (whose alarms and
 * dashboard read them). Both sides import these constants so a rename cannot silently leave an alarm watching nothing.
 *
 * Every metric carries the dimension `credential` (the credential id from the configuration document) and, because
 * Powertools adds it to every metric by default, `service` = SERVICE_NAME. CloudWatch identifies a metric by its full
 * dimension set, so the alarms name both; a metric emitted without `service` would not be seen by them.
 */

/** CloudWatch namespace; also set as POWERTOOLS_METRICS_NAMESPACE on the function. */
export const METRICS_NAMESPACE = 'TokenRefresher';

/** Powertools service name (POWERTOOLS_SERVICE_NAME), used as the `service` dimension Powertools adds by default. */
export const SERVICE_NAME = 'token-refresher';

export const DIMENSION_SERVICE = 'service';
export const DIMENSION_CREDENTIAL = 'credential';
/** The failure class (reauthorize | configuration | transient | conflict | input), see lambdas/core/errors.ts. */
export const DIMENSION_CLASS = 'class';
/** The pipeline stage (load | lease | read | refresh | store | validate | promote | push | report). */
export const DIMENSION_STAGE = 'stage';

/**
 * Count, 1 per run of a credential that ended healthy: the current token is fresh (redeemed in this run, or still younger
 * than `rotation.maxAgeDays`) and every target holds it. Emitted on every healthy scheduled run, not only when a redeem
 * happened, because the "no successful rotation" alarm looks for it once per schedule interval.
 * Dimensions: [service, credential].
 */
export const ROTATION_SUCCESS = 'RotationSuccess';

/** Count, 1 per run that failed. Dimensions: [service, credential, class]. */
export const ROTATION_FAILURE = 'RotationFailure';

/** Count, 1 per test send / SMTP AUTH that rejected a freshly redeemed token. Dimensions: [service, credential]. */
export const VALIDATION_FAILURE = 'ValidationFailure';

/**
 * Gauge, days since the current refresh token was obtained from the provider, emitted on every run that could read it
 * (healthy or not). Dimensions: [service, credential].
 */
export const TOKEN_AGE_DAYS = 'TokenAgeDays';

/**
 * Gauge, days until a client secret expires (negative once it has), emitted on every run of a credential whose expiry is
 * known: `clientSecretExpiresAt`, or the date stored with the secret (`{"clientSecret", "expiresAt"}`). The Adobe
 * OAuth Server-to-Server secret (`adobe.clientSecretExpiresAt`) is emitted with credential = ADOBE_CREDENTIAL_DIMENSION.
 * Dimensions: [service, credential].
 */
export const CLIENT_SECRET_DAYS_LEFT = 'ClientSecretDaysLeft';

/** The `credential` dimension value of the Adobe secret's CLIENT_SECRET_DAYS_LEFT. */
export const ADOBE_CREDENTIAL_DIMENSION = 'adobe';

/** Count, 1 per alert mail SES refused or could not take; the failure is still logged. Dimensions: [service, credential]. */
export const ALERT_FAILURE = 'AlertFailure';

/**
 * Count, 1 per alert one channel (SES, SNS, a webhook) could not take while the alert went out at all; the other channels
 * are not held up. Dimensions: [service, credential = ALERT_CHANNEL_CREDENTIAL_DIMENSION, channel].
 */
export const ALERT_CHANNEL_FAILURE = 'AlertChannelFailure';
export const ALERT_CHANNEL_CREDENTIAL_DIMENSION = 'alerts';
/** "ses", "sns" or "webhook:<name>". */
export const DIMENSION_CHANNEL = 'channel';

/** Count, per sign-in refused by the recovery endpoint. Dimensions: [service, credential, reason]. */
export const RECOVERY_REFUSED = 'RecoveryRefused';

/** The Cloud Manager target (CloudManagerTarget.key, e.g. cm_12345_67890_all) of the per-target delivery metrics. */
export const DIMENSION_TARGET = 'target';

/** Gauge per target, on every run that reads its delivery record: days since the copy it holds was issued. Dimensions: [service, credential, target]. */
export const COPY_AGE_DAYS = 'CopyAgeDays';

/** Gauge per target: days until the copy it holds reaches the 90-day lifetime. Dimensions: [service, credential, target]. */
export const COPY_DAYS_TO_LIVE = 'CopyDaysToLive';

/** Milliseconds spent in one pipeline stage. Dimensions: [service, credential, stage]. */
export const STAGE_DURATION_MS = 'StageDurationMs';

/** The failure classes, so a dashboard can show failures per class without a SEARCH expression. */
export const FAILURE_CLASSES = [
  'reauthorize',
  'configuration',
  'transient',
  'conflict',
  'input',
] as const satisfies readonly FailureClass[];
