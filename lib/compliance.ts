import { Validations, type CfnResource } from 'aws-cdk-lib';
import { AwsSolutionsChecks, NagMessageLevel, NagPack, ServerlessChecks, type NagPackProps } from 'cdk-nag';
// Not in any of cdk-nag's packs (v3), hence imported by path.
import { LambdaFunctionUrlAuth } from 'cdk-nag/lib/rules/lambda/index.js';
import type { IConstruct } from 'constructs';

/**
 * Rules of cdk-nag's library that none of its packs applies but that concern what this app deploys: a Function URL
 * without IAM auth (the recovery endpoint) must be acknowledged with its reasoning like any other finding.
 */
export class TokenRefresherChecks extends NagPack {
  readonly name = 'TokenRefresher';

  constructor(scope?: IConstruct, props?: NagPackProps) {
    super(scope, props);
    this.packName = 'TokenRefresher';
  }

  protected checkResource(node: CfnResource): void {
    this.applyRule({
      info: 'The Lambda Function URL is public: its AuthType is NONE.',
      explanation:
        'Anyone who knows the URL can invoke the function; the function itself must authenticate every request and bound what a request can do.',
      level: NagMessageLevel.ERROR,
      rule: LambdaFunctionUrlAuth,
      node,
    });
  }
}

/**
 * The rule packs the app is held to. Registered as CDK validation plugins (cdk-nag 3), so an unacknowledged finding
 * fails `cdk synth` and is written, with its rule and resource, to the cloud assembly's validation report
 * (validation-report.json). Acknowledged findings are not in that report: each is in its resource's template Metadata
 * (cdk_nag.rules_to_suppress) with its reason. test/cdk/least-privilege.test.ts shows both.
 */
export function addComplianceChecks(app: IConstruct): void {
  // The acknowledgements are also written into each resource's template Metadata (cdk_nag.rules_to_suppress), so a
  // reviewer of the template sees every accepted finding with its reason.
  Validations.of(app).addPlugins(
    new AwsSolutionsChecks(app, { verbose: true, writeSuppressionsToCloudFormation: true }),
    new ServerlessChecks(app, { verbose: true }),
    new TokenRefresherChecks(app, { verbose: true, writeSuppressionsToCloudFormation: true }),
  );
}
