// A missing AWS region is a configuration error (nothing will change by the next run), not "transient, retried".
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { asRefresherError, RefresherError } from '../../lambdas/core/errors.ts';
import { SecretsManagerStore } from '../../lambdas/store/secrets-manager-store.ts';

const saved: Record<string, string | undefined> = {};
const KEYS = [
  'AWS_REGION',
  'AWS_DEFAULT_REGION',
  'AWS_PROFILE',
  'AWS_CONFIG_FILE',
  'AWS_SHARED_CREDENTIALS_FILE',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_ENDPOINT_URL',
];

beforeEach(() => {
  for (const k of KEYS) saved[k] = process.env[k];
  delete process.env.AWS_REGION;
  delete process.env.AWS_DEFAULT_REGION;
  delete process.env.AWS_PROFILE;
  // No shared config file to find a region in; static credentials so nothing is looked up elsewhere.
  process.env.AWS_CONFIG_FILE = '/nonexistent/aws-config';
  process.env.AWS_SHARED_CREDENTIALS_FILE = '/nonexistent/aws-credentials';
  process.env.AWS_ACCESS_KEY_ID = 'testing';
  process.env.AWS_SECRET_ACCESS_KEY = 'testing';
  process.env.AWS_ENDPOINT_URL = 'http://127.0.0.1:9';
});

afterEach(() => {
  for (const k of KEYS) {
    if (saved[k] === undefined) delete process.env[k];
    else process.env[k] = saved[k];
  }
});

describe('a missing AWS region', () => {
  it('Secrets Manager: a configuration error naming AWS_REGION', async () => {
    const err = await new SecretsManagerStore({ timeoutMs: 500 })
      .listVersions('token-refresher/x/refresh-token')
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RefresherError);
    expect(err).toMatchObject({ class: 'configuration', code: 'AWS_REGION_MISSING' });
    expect((err as RefresherError).fix).toMatch(/AWS_REGION/);
    expect((err as RefresherError).fix).not.toMatch(/retried/i);
  });

  it('any other AWS client (SES, KMS, Lambda): the same classification', () => {
    const e = new Error('Region is missing');
    expect(asRefresherError(e, 'ses', 'report')).toMatchObject({
      class: 'configuration',
      code: 'AWS_REGION_MISSING',
      remote: 'ses',
    });
  });
});
