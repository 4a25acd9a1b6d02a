import { Stack, type Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import type { Config } from '../../lambdas/config/schema.ts';
import * as metricNames from '../../lambdas/report/metric-names.ts';
import type { Secrets } from './secrets.ts';

/**
 * Encryption of the secrets: the account's AWS-managed key `aws/secretsmanager` (no key policy to manage, no cost), a
 * customer-managed key this construct creates (rotation on, retained with the secrets), or a key you pass in (its key policy
 * must let this account's IAM policies grant use of it, which is the default key policy).
 */
export type SecretsEncryption = 'aws-managed' | 'customer-managed' | kms.IKey;

export interface TokenRefresherProps {
  /** The configuration document, already validated (`loadConfig` / `parseConfig`); it is validated again here and bundled. */
  readonly config: Config;
  /**
   * Another handler module (TypeScript), bundled at synth with the function's esbuild options (needs esbuild installed).
   * Default: the function this package ships (dist/function; in a source checkout lambdas/schedule/handler.ts, built).
   */
  readonly entry?: string;
  /** The recovery endpoint's handler module. Default: lambdas/recover/handler.ts of this repository. */
  readonly recoveryEntry?: string;
  /** Default: 'aws-managed'. */
  readonly secretsEncryption?: SecretsEncryption;
  /**
   * An SES identity that already exists and covers `config.alerts.from` (an e-mail address or its domain), instead of the
   * e-mail identity this construct creates. Give its ARN.
   */
  readonly sesIdentityArn?: string;
  /** Addresses subscribed to the alarm topic. Default: `config.alerts.to`. */
  readonly alarmEmails?: readonly string[];
  /** Default: DEFAULT_MEMORY_MB. */
  readonly memorySize?: number;
  /** Default: DEFAULT_TIMEOUT. */
  readonly timeout?: Duration;
  /** Default: DEFAULT_LOG_RETENTION. */
  readonly logRetention?: logs.RetentionDays;
  /** X-Ray active tracing. Default: false (stage durations are metrics and log fields already). */
  readonly tracing?: boolean;
  /**
   * Reserved concurrency. Default: none. Correctness does not depend on it (see the class comment), and reserving any on an
   * account whose concurrency quota is still the new-account 10 makes the deployment fail.
   */
  readonly reservedConcurrency?: number;
}

export type MetricOptions = cloudwatch.MetricOptions & { extraDimensions?: Record<string, string> };

/**
 * What every part starts from. `scope` is the TokenRefresher construct itself: every part adds its constructs directly
 * under it, so a construct id (and with it the logical id in the template) must be unique across all parts.
 */
export interface PartScope {
  readonly scope: Construct;
  readonly stack: Stack;
  /** The validated configuration (defaults filled in). */
  readonly config: Config;
  readonly props: TokenRefresherProps;
  /**
   * Every alarm of the construct, in creation order. A part that creates an alarm pushes it here; the facade connects each
   * one to the alarm topic and lists it in the dashboard's alarm status widget after all parts ran.
   */
  readonly alarms: cloudwatch.Alarm[];
  /** Alarm names are unique per account and region: the stack name, and the construct id if it is not the default. */
  readonly alarmNamePrefix: string;
  /** The metric the function emits for one credential (lambdas/report/metric-names.ts is the dimension contract). */
  metric(metricName: string, credentialId: string, options?: MetricOptions): cloudwatch.Metric;
}

/**
 * What a part added after the function gets (grants, schedules, alarms, dashboard, and new ones: a state table, more
 * schedules, an endpoint): the secrets, where failures go, and the function with its role and log group. A new part is a
 * function `addX(ctx: RefresherContext): XPart` in lib/parts/x.ts, called from the TokenRefresher constructor; it grants
 * the function what it needs (`ctx.role.addToPrincipalPolicy`, `ctx.function.addEnvironment`) and pushes its alarms into
 * `ctx.alarms`.
 */
export interface RefresherContext extends PartScope {
  readonly secrets: Secrets;
  /** The SES identity alert mail is sent from; undefined without an "alerts" section. */
  readonly sesIdentityArn: string | undefined;
  /** The last stop of undeliverable events and failed runs (its depth is alarmed). */
  readonly deadLetterQueue: sqs.Queue;
  /** CloudWatch alarms notify this topic. */
  readonly alarmTopic: sns.Topic;
  readonly function: lambda.Function;
  readonly role: iam.Role;
  readonly logGroup: logs.LogGroup;
}

export function partScope(scope: Construct, config: Config, props: TokenRefresherProps): PartScope {
  const stack = Stack.of(scope);
  return {
    scope,
    stack,
    config,
    props,
    alarms: [],
    alarmNamePrefix: scope.node.id === 'TokenRefresher' ? stack.stackName : `${stack.stackName}/${scope.node.id}`,
    metric: (metricName, credentialId, options = {}) => {
      const { extraDimensions, ...rest } = options;
      return new cloudwatch.Metric({
        namespace: metricNames.METRICS_NAMESPACE,
        metricName,
        dimensionsMap: {
          [metricNames.DIMENSION_SERVICE]: metricNames.SERVICE_NAME,
          [metricNames.DIMENSION_CREDENTIAL]: credentialId,
          ...extraDimensions,
        },
        ...rest,
      });
    },
  };
}
