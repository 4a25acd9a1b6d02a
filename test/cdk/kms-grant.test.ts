import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  asArray,
  identityStatements,
  KMS_KEYS,
  kmsCertificateConfig,
  resourcesOfType,
  rotationOnly,
  synth,
  type Synthesized,
} from './support.ts';

describe('certificate credentials with certificate.kmsKeyId', () => {
  let s: Synthesized;
  beforeAll(() => {
    s = synth(kmsCertificateConfig());
  });
  afterAll(() => s.cleanup());

  // The rotation function's grants; the recovery endpoint's role gets the same ones (test/cdk/recovery.test.ts).
  const kmsStatements = () =>
    identityStatements(rotationOnly(s.json))
      .map((x) => x.statement)
      .filter((st) => asArray(st.Action).some((a) => a.startsWith('kms:')) && st.Sid !== 'SecretsKeyViaSecretsManager');

  it('grants kms:Sign, and nothing else of KMS, on the configured key ARN and key id', () => {
    const byKey = kmsStatements().find((st) => st.Sid === 'SignWithCertificateKeys');
    expect(byKey?.Action).toBe('kms:Sign');
    expect(byKey?.Condition).toBeUndefined();
    const resources = JSON.stringify(asArray(byKey?.Resource));
    expect(resources).toContain(KMS_KEYS.arn);
    // A bare key id is a key of the stack's own account and region.
    expect(resources).toContain(`:kms:eu-west-1:123456789012:key/${KMS_KEYS.id}`);
    expect(asArray(byKey?.Resource)).toHaveLength(2);
  });

  it('grants an alias as kms:Sign on keys of its account and region only when called by that alias (kms:RequestAlias)', () => {
    const aliased = kmsStatements().filter((st) => st.Sid?.startsWith('SignWithCertificateKeyAliases'));
    expect(aliased).toHaveLength(2);
    const own = aliased.find((st) => JSON.stringify(st.Resource).includes('eu-west-1:123456789012:key/*'));
    expect(own?.Condition).toEqual({ StringEquals: { 'kms:RequestAlias': [KMS_KEYS.alias] } });
    const other = aliased.find((st) => st.Resource === 'arn:aws:kms:eu-central-1:210987654321:key/*');
    expect(other?.Condition).toEqual({ StringEquals: { 'kms:RequestAlias': ['alias/shared-cert'] } });
    for (const st of aliased) expect(st.Action).toBe('kms:Sign');
  });

  it('never grants kms:* or an unconditioned wildcard key, and creates no certificate secret for a KMS-held key', () => {
    for (const st of kmsStatements()) {
      expect(asArray(st.Action)).toEqual(['kms:Sign']);
      if (JSON.stringify(st.Resource).includes('key/*')) expect(st.Condition).toBeDefined();
    }
    const names = resourcesOfType(s.json, 'AWS::SecretsManager::Secret').map(([, r]) => String(r.Properties?.Name));
    expect(names.filter((n) => n.endsWith('/certificate'))).toEqual(['tr-test/mail-de/certificate']);
    expect(s.stack.refresher.credentials.get('kms-arn')?.certificate).toBeUndefined();
  });
});
