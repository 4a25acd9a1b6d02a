import { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import { stateTableName } from '../../lambdas/config/load.ts';
import type { RefresherContext } from './context.ts';

/**
 * The DynamoDB actions lambdas/store/dynamo-state-store.ts sends, and no other: conditional PutItem (lease, state,
 * delivery records, one-time items), DeleteItem (lease release, one-time consume), GetItem, Query (one credential's
 * records) and Scan (the fleet, for `status`).
 */
export const STATE_TABLE_ACTIONS = [
  'dynamodb:GetItem',
  'dynamodb:PutItem',
  'dynamodb:DeleteItem',
  'dynamodb:Query',
  'dynamodb:Scan',
] as const;

/**
 * What DynamoDB needs of the caller to use a customer managed table key, called through DynamoDB only
 * (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/encryption.usagenotes.html,
 * https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-via-service).
 */
export const STATE_TABLE_KEY_ACTIONS = [
  'kms:Decrypt',
  'kms:Encrypt',
  'kms:GenerateDataKey',
  'kms:DescribeKey',
] as const;

export interface StateTablePart {
  readonly table: dynamodb.Table;
}

/**
 * The state table: leases, credential state, one delivery record per target, one-time items (no secret in any of it;
 * the refresh token stays in the token secret). On-demand (a daily fleet makes a few requests per credential and day),
 * point-in-time recovery, encrypted with the stack's customer key when one is configured (else the AWS managed key
 * aws/dynamodb), retained when the stack is deleted: it holds which token version each AEM environment has.
 */
export function addStateTable(ctx: RefresherContext): StateTablePart {
  const { scope, config, secrets, role } = ctx;
  const key = secrets.key;
  const table = new dynamodb.Table(scope, 'StateTable', {
    // The name the function and the CLI derive from the configuration (stateTable, else <secretPrefix>-state).
    tableName: stateTableName(config, {}),
    partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
    sortKey: { name: 'sk', type: dynamodb.AttributeType.STRING },
    billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
    pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
    encryption: key ? dynamodb.TableEncryption.CUSTOMER_MANAGED : dynamodb.TableEncryption.AWS_MANAGED,
    encryptionKey: key,
    // Leases and one-time items carry their expiry; DynamoDB deletes them some time after it (the code checks it too).
    timeToLiveAttribute: 'ttl',
    removalPolicy: RemovalPolicy.RETAIN,
  });
  ctx.function.addEnvironment('TOKEN_REFRESHER_STATE_TABLE', table.tableName);
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({ sid: 'StateTable', actions: [...STATE_TABLE_ACTIONS], resources: [table.tableArn] }),
  );
  if (key) {
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'StateTableKeyViaDynamoDB',
        actions: [...STATE_TABLE_KEY_ACTIONS],
        resources: [key.keyArn],
        conditions: { StringEquals: { 'kms:ViaService': `dynamodb.${ctx.stack.region}.amazonaws.com` } },
      }),
    );
  }
  return { table };
}
