import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { AssetHashType, Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as destinations from 'aws-cdk-lib/aws-lambda-destinations';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Config } from '../../lambdas/config/schema.ts';
import * as metricNames from '../../lambdas/report/metric-names.ts';
import type { AlertsPart } from './alerts.ts';
import { prebuiltAssetDir, writeFunctionAsset } from './function-asset.ts';
import type { PartScope, RefresherContext } from './context.ts';

/** The handler of a source checkout (this file is lib/parts/function.ts there); an installed package ships it built. */
const DEFAULT_ENTRY = fileURLToPath(new URL('../../lambdas/schedule/handler.ts', import.meta.url));

/**
 * Set from `npm run bench` (bench/README.md). 256 MB: one rotation peaks at 128 MB resident (102 MB of it loaded code) and a
 * run of 1,000 credentials at 151 MB; 256 MB is the smallest size with 1.5x headroom, and on arm64 CPU share grows with
 * memory, which shortens the TLS handshakes a run is made of. 300 s: a healthy rotation takes about 5 s cold, but one
 * credential whose token endpoint and Cloud Manager both retry (4 attempts of 10 s, backoff or Retry-After up to 30 s, a
 * 60 s test-send deadline) can need 2 to 4 minutes; the lease outlives the timeout by 30 s, so a hung run cannot hold it long.
 */
export const DEFAULT_MEMORY_MB = 256;
export const DEFAULT_TIMEOUT = Duration.minutes(5);

/** Log retention: long enough to look back over two scheduled rotations (7 days apart by default) and a holiday. */
export const DEFAULT_LOG_RETENTION = logs.RetentionDays.ONE_MONTH;

/**
 * Lambda's own retry of a failed asynchronous (scheduled) run. One retry absorbs a transient failure a minute later; the
 * next scheduled run is the real retry, and every attempt alerts only on a change of state, so retries do not spam.
 */
export const ASYNC_RETRY_ATTEMPTS = 1;
export const ASYNC_MAX_EVENT_AGE = Duration.hours(1);

export type FunctionPart = Pick<RefresherContext, 'function' | 'role' | 'logGroup'>;

/**
 * The rotation function: its log group, a role with no permission yet (lib/parts/grants.ts and later parts add them) and
 * the ESM bundle with the validated configuration written next to it.
 */
export function addFunction(part: PartScope, alerts: AlertsPart): FunctionPart {
  const { scope, config, props } = part;
  const logGroup = new logs.LogGroup(scope, 'LogGroup', {
    retention: props.logRetention ?? DEFAULT_LOG_RETENTION,
    removalPolicy: RemovalPolicy.RETAIN,
  });

  // An explicit role so the only log permissions are on this log group (the managed basic-execution policy allows all).
  const role = new iam.Role(scope, 'FunctionRole', {
    assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
    description: 'token-refresher function: its own secrets, its log group, mail from the alert sender',
  });
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      sid: 'OwnLogGroup',
      actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
      resources: [logGroup.logGroupArn],
    }),
  );

  const fn = new lambda.Function(scope, 'Function', {
    code: functionCode(config, props.entry),
    // The asset's entry is index.mjs (lib/parts/function-asset.ts).
    handler: 'index.handler',
    runtime: lambda.Runtime.NODEJS_24_X,
    architecture: lambda.Architecture.ARM_64,
    memorySize: props.memorySize ?? DEFAULT_MEMORY_MB,
    timeout: props.timeout ?? DEFAULT_TIMEOUT,
    role,
    logGroup,
    tracing: props.tracing ? lambda.Tracing.ACTIVE : lambda.Tracing.DISABLED,
    reservedConcurrentExecutions: props.reservedConcurrency,
    retryAttempts: ASYNC_RETRY_ATTEMPTS,
    maxEventAge: ASYNC_MAX_EVENT_AGE,
    onFailure: new destinations.SqsDestination(alerts.deadLetterQueue),
    // Lambda caps a description at 256 characters: a fleet is summed up, not listed.
    description: functionDescription(config.credentials.map((c) => c.id)),
    environment: {
      TOKEN_REFRESHER_CONFIG_FILE: 'config.json',
      POWERTOOLS_SERVICE_NAME: metricNames.SERVICE_NAME,
      POWERTOOLS_METRICS_NAMESPACE: metricNames.METRICS_NAMESPACE,
    },
  });
  if (!props.tracing) {
    Validations.of(fn).acknowledge({
      id: 'Serverless-LambdaTracing',
      reason:
        'X-Ray is opt-in (prop "tracing"): a run is a few sequential remote calls whose durations are already the StageDurationMs metric and log fields.',
    });
  } else {
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'xray:PutTraceSegments and xray:PutTelemetryRecords support no resource-level permissions; added only because tracing was switched on.',
    });
  }
  Validations.of(fn).acknowledge({
    id: 'Serverless-LambdaDLQ',
    reason:
      'Failed asynchronous runs go to the on-failure destination (the same dead-letter queue), which records the error with the event; a DeadLetterConfig as well would deliver each failure twice.',
  });
  return { function: fn, role, logGroup };
}

/**
 * The function's asset: the code (the package's prebuilt dist/function, or `entry` / the handler of a source checkout
 * built with the same esbuild options, lib/parts/function-asset.ts) and `config.json` beside it. The configuration is
 * re-serialized from the parsed object (defaults filled in, unknown keys impossible); it holds no secret values, only
 * where they live. Built in this process (CDK's local bundling), so neither Docker nor a shell is involved; the asset
 * hash is that of the output, so a change of configuration or code is a new asset and nothing else is.
 */
function functionCode(config: Config, entry: string | undefined): lambda.Code {
  const configJson = `${JSON.stringify(config, null, 2)}\n`;
  const source = entry === undefined ? (prebuiltAssetDir() ?? path.dirname(DEFAULT_ENTRY)) : path.dirname(entry);
  return lambda.Code.fromAsset(source, {
    assetHashType: AssetHashType.OUTPUT,
    bundling: {
      // Never used: the local bundler below always succeeds or throws. CDK requires an image to fall back to.
      image: lambda.Runtime.NODEJS_24_X.bundlingImage,
      local: {
        tryBundle(outputDir: string): boolean {
          writeFunctionAsset({ outDir: outputDir, entry, defaultEntry: DEFAULT_ENTRY, configJson });
          return true;
        },
      },
    },
  });
}

/** "token-refresher: rotates a, b, c", or with a fleet too long to list "token-refresher: rotates 1000 credentials (a, b, ...)". */
export function functionDescription(ids: readonly string[]): string {
  const all = `token-refresher: rotates ${ids.join(', ')}`;
  if (all.length <= 256) return all;
  const head = `token-refresher: rotates ${ids.length} credentials (`;
  let list = '';
  for (const id of ids) {
    const next = list ? `${list}, ${id}` : id;
    if (head.length + next.length + ', ...)'.length > 256) break;
    list = next;
  }
  return `${head}${list}${list ? ', ' : ''}...)`;
}
