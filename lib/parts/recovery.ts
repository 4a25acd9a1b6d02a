import { cpSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { AssetHashType, CfnOutput, Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { recoverySettings } from '../../lambdas/config/schema.ts';
import { CALLBACK_PATH } from '../../lambdas/report/recovery-link.ts';
import * as metricNames from '../../lambdas/report/metric-names.ts';
import type { RefresherContext } from './context.ts';
import { DEFAULT_LOG_RETENTION } from './function.ts';
import { prebuiltAssetDir, writeFunctionAsset } from './function-asset.ts';
import { addGrants } from './grants.ts';

const DEFAULT_RECOVERY_ENTRY = fileURLToPath(new URL('../../lambdas/recover/handler.ts', import.meta.url));

/** The DynamoDB actions the endpoint sends: one-time items (put, consume = delete), the credential state (get, put). */
export const RECOVERY_TABLE_ACTIONS = [
  'dynamodb:GetItem',
  'dynamodb:PutItem',
  'dynamodb:DeleteItem',
  'dynamodb:Query',
] as const;

/**
 * A sign-in waits for the pipeline: redeem, a test send (SMTP timeout 20 s by default), promote, Cloud Manager pushes with
 * retries. Two minutes covers that with the retries; the browser shows the page when it is done.
 */
export const RECOVERY_TIMEOUT = Duration.minutes(2);

export interface RecoveryPart {
  readonly function: lambda.Function;
  readonly role: iam.Role;
  readonly url: lambda.FunctionUrl;
  /** What to register on the app (Entra ID: Authentication > Web platform; Google: authorized redirect URI). */
  readonly redirectUri: string;
}

/**
 * The recovery endpoint (lambdas/recover/): its own function, role and log group, a Function URL without IAM auth (the
 * link token is the credential; lib/README.md says why that is acceptable), a small reserved concurrency, and the rotation
 * function told the URL so that its reauthorize alerts carry sign-in links. Nothing at all when recovery.enabled is false.
 */
export function addRecovery(
  ctx: RefresherContext,
  o: { table: dynamodb.ITable; entry?: string },
): RecoveryPart | undefined {
  const { scope, config, props, secrets, stack } = ctx;
  const settings = recoverySettings(config);
  if (!settings.enabled) return undefined;

  const logGroup = new logs.LogGroup(scope, 'RecoveryLogGroup', {
    retention: props.logRetention ?? DEFAULT_LOG_RETENTION,
    removalPolicy: RemovalPolicy.RETAIN,
  });
  const role = new iam.Role(scope, 'RecoveryRole', {
    assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
    description:
      'token-refresher recovery endpoint: one-time items and state in the table, the secrets of the regenerate pipeline, its log group',
  });
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      sid: 'OwnLogGroup',
      actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
      resources: [logGroup.logGroupArn],
    }),
  );
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({ sid: 'StateTable', actions: [...RECOVERY_TABLE_ACTIONS], resources: [o.table.tableArn] }),
  );
  if (secrets.key) {
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'StateTableKeyViaDynamoDB',
        actions: ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey', 'kms:DescribeKey'],
        resources: [secrets.key.keyArn],
        conditions: { StringEquals: { 'kms:ViaService': `dynamodb.${stack.region}.amazonaws.com` } },
      }),
    );
  }
  // The same pipeline as the scheduled run: its secrets, certificate keys and the alert sender, nothing more.
  addGrants(ctx, role);

  const fn = new lambda.Function(scope, 'RecoveryFunction', {
    code: recoveryCode(JSON.stringify(config, null, 2), o.entry),
    handler: 'index.handler',
    runtime: lambda.Runtime.NODEJS_24_X,
    architecture: lambda.Architecture.ARM_64,
    memorySize: 256,
    timeout: RECOVERY_TIMEOUT,
    role,
    logGroup,
    tracing: props.tracing ? lambda.Tracing.ACTIVE : lambda.Tracing.DISABLED,
    // A handful of people sign in per incident; this bounds what a flood of requests can cost or do.
    reservedConcurrentExecutions: settings.reservedConcurrency,
    description: 'token-refresher recovery endpoint: sign-in links from reauthorize alerts',
    environment: {
      TOKEN_REFRESHER_CONFIG_FILE: 'config.json',
      TOKEN_REFRESHER_STATE_TABLE: o.table.tableName,
      POWERTOOLS_SERVICE_NAME: metricNames.SERVICE_NAME,
      POWERTOOLS_METRICS_NAMESPACE: metricNames.METRICS_NAMESPACE,
    },
  });
  const url = fn.addFunctionUrl({ authType: lambda.FunctionUrlAuthType.NONE, invokeMode: lambda.InvokeMode.BUFFERED });
  Validations.of(url).acknowledge({
    id: 'TokenRefresher-LambdaFunctionUrlAuth',
    reason:
      'The mailbox owner opens this URL from an alert on any device, without AWS credentials, so IAM auth is impossible; each request is authenticated by a single-use, expiring 256-bit link token bound to one credential (only its SHA-256 is stored), only two routes exist, reserved concurrency and a per-credential daily limit bound abuse (lib/README.md).',
  });
  Validations.of(fn).acknowledge(
    {
      id: 'Serverless-LambdaDLQ',
      reason:
        'Invoked synchronously by its Function URL only: a failed request is answered to the browser, there is no asynchronous event to keep.',
    },
    ...(props.tracing
      ? []
      : [
          {
            id: 'Serverless-LambdaTracing',
            reason:
              'X-Ray is opt-in (prop "tracing"), as for the rotation function; every refusal is a RecoveryRefused metric with its reason.',
          },
        ]),
  );
  if (props.tracing) {
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'xray:PutTraceSegments and xray:PutTelemetryRecords support no resource-level permissions; added only because tracing was switched on.',
    });
  }

  // The Function URL ends with "/"; the paths of lambdas/report/recovery-link.ts start with one.
  const redirectUri = `${url.url}${CALLBACK_PATH.slice(1)}`;
  ctx.function.addEnvironment('TOKEN_REFRESHER_RECOVERY_URL', url.url);
  new CfnOutput(scope, 'RecoveryUrl', {
    value: url.url,
    description: 'The recovery endpoint (sign-in links in reauthorize alerts start here)',
  });
  new CfnOutput(scope, 'RecoveryRedirectUri', {
    value: redirectUri,
    description:
      'Register this redirect URI on the app: Entra ID > App registrations > Authentication > Web platform (Google: Authorized redirect URIs)',
  });
  return { function: fn, role, url, redirectUri };
}

/** The endpoint's asset: its entry built with the rotation function's esbuild options, config.json beside it. */
function recoveryCode(configJson: string, entry: string | undefined): lambda.Code {
  const source = entry ?? DEFAULT_RECOVERY_ENTRY;
  // An installed package ships the endpoint built (dist/recover): copied, with the configuration beside it.
  const prebuilt = entry === undefined ? prebuiltAssetDir('recover') : undefined;
  return lambda.Code.fromAsset(prebuilt ?? path.dirname(source), {
    assetHashType: AssetHashType.OUTPUT,
    bundling: {
      // Never used: the local bundler below always succeeds or throws. CDK requires an image to fall back to.
      image: lambda.Runtime.NODEJS_24_X.bundlingImage,
      local: {
        tryBundle(outputDir: string): boolean {
          if (prebuilt) {
            cpSync(prebuilt, outputDir, { recursive: true });
            writeFileSync(path.join(outputDir, 'config.json'), `${configJson}\n`);
          } else {
            writeFunctionAsset({
              outDir: outputDir,
              entry: source,
              defaultEntry: DEFAULT_RECOVERY_ENTRY,
              configJson: `${configJson}\n`,
            });
          }
          return true;
        },
      },
    },
  });
}
