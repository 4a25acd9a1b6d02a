import { Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';

/**
 * The rule packs the app is held to. Registered as CDK validation plugins (cdk-nag 3), so an unacknowledged error fails
 * `cdk synth`, and every finding, acknowledged or not, lands in the cloud assembly's validation report.
 */
export function addComplianceChecks(app: IConstruct): void {
  // The acknowledgements are also written into each resource's template Metadata (cdk_nag.rules_to_suppress), so a
  // reviewer of the template sees every accepted finding with its reason.
  Validations.of(app).addPlugins(
    new AwsSolutionsChecks(app, { verbose: true, writeSuppressionsToCloudFormation: true }),
    new ServerlessChecks(app, { verbose: true }),
  );
}
