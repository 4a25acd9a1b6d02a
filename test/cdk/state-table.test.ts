import { defaultAdobe } from '../../lambdas/config/adobe.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../lambdas/config/load.ts';
import { functionDescription } from '../../lib/parts/function.ts';
import { STATE_TABLE_ACTIONS, STATE_TABLE_KEY_ACTIONS } from '../../lib/token-refresher.ts';
import {
  asArray,
  identityStatements,
  loadFixtureConfig,
  resourcesOfType,
  rotationOnly,
  synth,
  type CfnResource,
  type Synthesized,
} from './support.ts';

function only(s: Synthesized, type: string): [string, CfnResource] {
  const all = resourcesOfType(s.json, type);
  expect(all).toHaveLength(1);
  return all[0]!;
}

/** Every statement that names a dynamodb: action, and every one that names the table. */
function tableStatements(s: Synthesized, tableId: string) {
  const mentions = (x: unknown): boolean => JSON.stringify(x ?? null).includes(`"${tableId}"`);
  // The rotation function's; the recovery endpoint's narrower grant on the table is asserted in test/cdk/recovery.test.ts.
  return identityStatements(rotationOnly(s.json)).filter(
    ({ statement }) => asArray(statement.Action).some((a) => a.startsWith('dynamodb:')) || mentions(statement.Resource),
  );
}

describe('state table, defaults (AWS managed encryption)', () => {
  let s: Synthesized;
  beforeAll(() => {
    s = synth(loadFixtureConfig('config.example.json'));
  });
  afterAll(() => s.cleanup());

  it('is on-demand, with point-in-time recovery, encryption, TTL, the derived name, and retained', () => {
    const [, table] = only(s, 'AWS::DynamoDB::Table');
    expect(table.DeletionPolicy).toBe('Retain');
    expect(table.UpdateReplacePolicy).toBe('Retain');
    expect(table.Properties).toMatchObject({
      TableName: `${s.stack.refresher.config.secretPrefix}-state`,
      BillingMode: 'PAY_PER_REQUEST',
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      SSESpecification: { SSEEnabled: true },
      TimeToLiveSpecification: { AttributeName: 'ttl', Enabled: true },
    });
    // AWS managed key: no key of ours named.
    expect(table.Properties?.SSESpecification).not.toHaveProperty('KMSMasterKeyId');
  });

  it('tells the function its name and grants exactly the actions the store sends, on the table only', () => {
    const [tableId] = only(s, 'AWS::DynamoDB::Table');
    const fn = resourcesOfType(rotationOnly(s.json), 'AWS::Lambda::Function').find(([, r]) =>
      JSON.stringify(r.Properties?.Environment ?? {}).includes('TOKEN_REFRESHER_STATE_TABLE'),
    );
    expect(
      (fn?.[1].Properties?.Environment as { Variables: Record<string, unknown> }).Variables.TOKEN_REFRESHER_STATE_TABLE,
    ).toEqual({ Ref: tableId });
    const statements = tableStatements(s, tableId);
    expect(statements.map(({ statement }) => statement)).toEqual([
      {
        Sid: 'StateTable',
        Effect: 'Allow',
        Action: [...STATE_TABLE_ACTIONS].sort(),
        Resource: { 'Fn::GetAtt': [tableId, 'Arn'] },
      },
    ]);
    expect(identityStatements(s.json).some(({ statement }) => statement.Sid === 'StateTableKeyViaDynamoDB')).toBe(
      false,
    );
  });
});

describe("state table with the stack's customer managed key", () => {
  let s: Synthesized;
  beforeAll(() => {
    s = synth(loadFixtureConfig('test/cdk/fixtures/config-multi.json'), { secretsEncryption: 'customer-managed' });
  });
  afterAll(() => s.cleanup());

  it('is encrypted with that key, and the function may use the key through DynamoDB only', () => {
    const keys = resourcesOfType(s.json, 'AWS::KMS::Key').filter(([, r]) =>
      String(r.Properties?.Description).includes('token-refresher secrets'),
    );
    expect(keys).toHaveLength(1);
    const [keyId] = keys[0]!;
    const [, table] = only(s, 'AWS::DynamoDB::Table');
    expect(table.Properties?.TableName).toBe('tr-test-state');
    expect(table.Properties?.SSESpecification).toEqual({
      SSEEnabled: true,
      SSEType: 'KMS',
      KMSMasterKeyId: { 'Fn::GetAtt': [keyId, 'Arn'] },
    });
    const key = identityStatements(s.json).find(
      ({ statement }) => statement.Sid === 'StateTableKeyViaDynamoDB',
    )?.statement;
    expect(key).toEqual({
      Sid: 'StateTableKeyViaDynamoDB',
      Effect: 'Allow',
      Action: [...STATE_TABLE_KEY_ACTIONS].sort(),
      Resource: { 'Fn::GetAtt': [keyId, 'Arn'] },
      Condition: { StringEquals: { 'kms:ViaService': 'dynamodb.eu-west-1.amazonaws.com' } },
    });
  });
});

describe('a fleet sharing one Entra app: 30 credentials, one client secret, two Adobe organizations', () => {
  let s: Synthesized;
  beforeAll(() => {
    const base = loadFixtureConfig('test/cdk/fixtures/config-multi.json');
    const template = base.credentials[0]!;
    const config = parseConfig({
      secretPrefix: 'fleet',
      stateTable: 'fleet-table',
      // Two Adobe organizations: each gets its client secret.
      adobe: [
        { name: 'agency-a', imsOrgId: defaultAdobe(base)!.imsOrgId, clientId: defaultAdobe(base)!.clientId },
        { name: 'agency-b', imsOrgId: 'BBBB2222@AdobeOrg', clientId: 'client-b' },
      ],
      credentials: Array.from({ length: 30 }, (_, i) => ({
        id: `mail-${i}`,
        tenant: template.tenant,
        clientId: 'entra-app-shared',
        clientSecret: { secretId: 'fleet/shared/entra-app' },
        scopes: template.scopes,
        mailbox: `noreply-${i}@example.org`,
        validation: { smtp: { host: 'smtp.office365.com' } },
        targets: [{ programId: String(100 + i), environmentId: '1', adobe: i % 2 ? 'agency-b' : 'agency-a' }],
      })),
    });
    s = synth(config, {}, false);
  });
  afterAll(() => s.cleanup());

  it('creates the shared client secret once and one token secret per credential; the table is named by stateTable', () => {
    const names = resourcesOfType(s.json, 'AWS::SecretsManager::Secret').map(([, r]) => r.Properties?.Name as string);
    expect(names.filter((n) => n === 'fleet/shared/entra-app')).toHaveLength(1);
    expect(names.filter((n) => n.endsWith('/refresh-token'))).toHaveLength(30);
    expect(new Set(names).size).toBe(names.length);
    expect(only(s, 'AWS::DynamoDB::Table')[1].Properties?.TableName).toBe('fleet-table');
    const read = identityStatements(s.json).find(({ statement }) => statement.Sid === 'ReadClientSecrets')?.statement;
    expect(names.filter((n) => n.startsWith('fleet/adobe/'))).toEqual([
      'fleet/adobe/agency-a/client-secret',
      'fleet/adobe/agency-b/client-secret',
    ]);
    // The shared secret is named once in the policy too (plus the two Adobe secrets).
    expect(asArray(read?.Resource)).toHaveLength(3);
  });
});

describe('functionDescription', () => {
  it("lists a small fleet and sums up a large one within Lambda's 256 characters", () => {
    expect(functionDescription(['a', 'b'])).toBe('token-refresher: rotates a, b');
    const many = Array.from({ length: 1000 }, (_, i) => `credential-${i}`);
    const d = functionDescription(many);
    expect(d.length).toBeLessThanOrEqual(256);
    expect(d).toMatch(/^token-refresher: rotates 1000 credentials \(credential-0, credential-1, .*\.\.\.\)$/);
  });
});
