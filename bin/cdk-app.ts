/**
 * The CDK app `cdk.json` runs: reads the configuration document named by `-c config=<file>` (default config.example.json),
 * validates it exactly as the function does, and synthesizes the stack into an explicit environment, so `cdk synth` needs
 * no AWS credentials and makes no lookups.
 */
import { App } from 'aws-cdk-lib';
import { loadConfig } from '../lambdas/config/load.ts';
import type { Config } from '../lambdas/config/schema.ts';
import { addComplianceChecks } from '../lib/compliance.ts';
import { TokenRefresherStack } from '../lib/token-refresher-stack.ts';
import { isRefresherError } from '../lambdas/core/errors.ts';

/** Synth without credentials: these placeholders are replaced by the real account and region on `cdk deploy`. */
const PLACEHOLDER_ACCOUNT = '123456789012';
const PLACEHOLDER_REGION = 'eu-west-1';

const app = new App();
const contextString = (key: string): string | undefined => {
  const v: unknown = app.node.tryGetContext(key);
  return typeof v === 'string' && v.length > 0 ? v : undefined;
};

const configFile = contextString('config') ?? 'config.example.json';
let config: Config;
try {
  config = loadConfig({ TOKEN_REFRESHER_CONFIG_FILE: configFile });
} catch (e) {
  if (isRefresherError(e)) {
    console.error(`${e.message}\n${e.fix}`);
    process.exit(1);
  }
  throw e;
}

const customerManagedKey = contextString('secretsKey') === 'customer-managed';
new TokenRefresherStack(app, contextString('stackName') ?? 'TokenRefresher', {
  description: 'token-refresher: rotates the OAuth2 refresh tokens AEM sends mail with',
  env: {
    account: contextString('account') ?? process.env.CDK_DEFAULT_ACCOUNT ?? PLACEHOLDER_ACCOUNT,
    region: contextString('region') ?? process.env.CDK_DEFAULT_REGION ?? PLACEHOLDER_REGION,
  },
  config,
  secretsEncryption: customerManagedKey ? 'customer-managed' : 'aws-managed',
  sesIdentityArn: contextString('sesIdentityArn'),
  tracing: app.node.tryGetContext('tracing') === true || contextString('tracing') === 'true',
});
addComplianceChecks(app);
