import { defaultAdobe } from '../../lambdas/config/adobe.ts';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../lambdas/config/load.ts';
import { RefresherError } from '../../lambdas/core/errors.ts';
import type { ClassifyContext } from '../../lambdas/refresh/classify-entra.ts';
import { classifyTokenError, type ProviderErrorBody } from '../../lambdas/refresh/classify-oauth2.ts';
import { endpointsFor } from '../../lambdas/refresh/oauth2-provider.ts';

const ctx = (remote: ClassifyContext['remote']): ClassifyContext => ({
  id: 'gmail',
  mailbox: 'mailer@example.org',
  clientId: 'client-1',
  clientSecretRef: 'token-refresher/gmail/client-secret',
  remote,
  scopes: 'https://mail.google.com/',
});

describe('token-endpoint errors per provider (act on error / subtype / codes, never on the description)', () => {
  const google: Array<[number, ProviderErrorBody | undefined, string, string]> = [
    [
      400,
      { error: 'invalid_grant', error_description: 'Token has been expired or revoked.' },
      'reauthorize',
      'invalid_grant',
    ],
    // The description is irrelevant: another wording classifies the same.
    [400, { error: 'invalid_grant', error_description: 'Bad Request' }, 'reauthorize', 'invalid_grant'],
    [400, { error: 'invalid_grant', error_subtype: 'invalid_rapt' }, 'reauthorize', 'invalid_rapt'],
    [
      401,
      { error: 'invalid_client', error_description: 'The OAuth client was not found.' },
      'configuration',
      'invalid_client',
    ],
    [401, { error: 'unauthorized_client', error_description: 'Unauthorized' }, 'configuration', 'unauthorized_client'],
    [400, { error: 'invalid_scope' }, 'configuration', 'invalid_scope'],
    [400, { error: 'admin_policy_enforced' }, 'configuration', 'admin_policy_enforced'],
    [400, { error: 'invalid_request' }, 'configuration', 'invalid_request'],
    [500, { error: 'internal_failure' }, 'transient', 'internal_failure'],
    [503, undefined, 'transient', 'HTTP_503'],
    [429, { error: 'rate_limit_exceeded' }, 'transient', 'rate_limit_exceeded'],
  ];
  for (const [status, body, cls, code] of google) {
    it(`google ${status} ${body?.error ?? '(no body)'}${body?.error_subtype ? `/${body.error_subtype}` : ''} -> ${cls} ${code}`, () => {
      const err = classifyTokenError('google', status, body, ctx('google'));
      expect(err).toBeInstanceOf(RefresherError);
      expect({ class: err.class, code: err.code, remote: err.remote, stage: err.stage }).toEqual({
        class: cls,
        code,
        remote: 'google',
        stage: 'refresh',
      });
      expect(err.fix.length).toBeGreaterThan(20);
    });
  }

  it('google invalid_grant: the fix names all five causes Google documents (docs/PROTOCOLS.md, Google) and how to avoid each', () => {
    const fix = classifyTokenError('google', 400, { error: 'invalid_grant' }, ctx('google')).fix;
    for (const part of [
      '"Testing"',
      '7 days',
      '"In production"',
      'myaccount.google.com/permissions',
      'password',
      '6 months',
      '100 refresh tokens',
      'token-refresher regenerate --credential gmail',
      'prompt=consent',
    ]) {
      expect(fix).toContain(part);
    }
  });

  const generic: Array<[number, ProviderErrorBody, string]> = [
    [400, { error: 'invalid_grant' }, 'reauthorize'],
    [400, { error: 'interaction_required' }, 'reauthorize'],
    [401, { error: 'invalid_client' }, 'configuration'],
    [400, { error: 'unauthorized_client' }, 'configuration'],
    [400, { error: 'unsupported_grant_type' }, 'configuration'],
    [400, { error: 'invalid_scope' }, 'configuration'],
    [400, { error: 'invalid_request' }, 'configuration'],
    [400, { error: 'something_new' }, 'configuration'],
    [503, { error: 'temporarily_unavailable' }, 'transient'],
    [500, { error: 'server_error' }, 'transient'],
    [400, { error: 'server_error' }, 'transient'],
  ];
  for (const [status, body, cls] of generic) {
    it(`oauth2 ${status} ${body.error} -> ${cls}`, () => {
      const err = classifyTokenError('oauth2', status, body, ctx('oauth2'), undefined, 'idp.example.com');
      expect(err.class).toBe(cls);
      expect(err.code).toBe(body.error);
      expect(err.remote).toBe('oauth2');
    });
  }

  const entraCertificate: Array<[number, string]> = [
    [700027, 'Certificates & secrets > Certificates'],
    [700024, 'NTP'],
    [700021, 'clientId'],
    [50012, 'audience'],
    [50027, 'malformed'],
  ];
  for (const [code, hint] of entraCertificate) {
    it(`entra certificate credential AADSTS${code} -> configuration with a specific fix`, () => {
      const err = classifyTokenError(
        'microsoft',
        401,
        { error: 'invalid_client', error_codes: [code] },
        { ...ctx('entra'), id: 'aem-mail', clientSecretRef: 'token-refresher/aem-mail/certificate' },
      );
      expect(err.class).toBe('configuration');
      expect(err.code).toBe(`AADSTS${code}`);
      expect(err.fix).toContain(hint);
    });
  }
});

describe('configuration of the new vendors and credentials', () => {
  const example = JSON.parse(readFileSync(new URL('../../config.example.json', import.meta.url), 'utf8')) as {
    credentials: Array<Record<string, unknown>>;
  } & Record<string, unknown>;
  const base = example.credentials[0]!;
  const withCred = (patch: Record<string, unknown>, top: Record<string, unknown> = {}) => ({
    ...example,
    ...top,
    credentials: [{ ...base, ...patch }],
  });
  const problems = (doc: unknown): string => {
    try {
      parseConfig(doc);
    } catch (e) {
      return (e as RefresherError).message;
    }
    throw new Error('expected the document to be refused');
  };

  it("accepts each vendor's worked example from docs/VENDORS.md", () => {
    const docs = readFileSync(new URL('../../docs/VENDORS.md', import.meta.url), 'utf8');
    const blocks = [...docs.matchAll(/```json\n([\s\S]*?)```/g)].map((m) => m[1]!);
    expect(blocks.length).toBeGreaterThanOrEqual(4);
    for (const block of blocks) {
      const doc = JSON.parse(block) as Record<string, unknown>;
      // A block is either a whole document or one credential of one.
      const full = 'credentials' in doc ? doc : { ...example, credentials: [doc] };
      expect(() => parseConfig(full, 'docs/VENDORS.md')).not.toThrow();
    }
  });

  it('oauth2 needs endpoints.token or an issuer; an issuer alone is enough', () => {
    expect(problems(withCred({ provider: 'oauth2', tenant: undefined }))).toContain(
      'credentials[0].endpoints.token: required for provider "oauth2" (or set "issuer"',
    );
    const c = parseConfig(
      withCred({ provider: 'oauth2', tenant: undefined, issuer: 'https://idp.example.com/realms/mail' }),
    ).credentials[0]!;
    expect(endpointsFor(c).token).toBe('');
    expect(problems(withCred({ provider: 'oauth2', issuer: 'http://idp.example.com' }))).toContain(
      'credentials[0].issuer',
    );
  });

  it('certificate credentials: not for Google, settings only with credentialType certificate, algorithms PS256/RS256', () => {
    expect(problems(withCred({ provider: 'google', tenant: undefined, credentialType: 'certificate' }))).toContain(
      'credentials[0].credentialType: Google OAuth clients',
    );
    expect(problems(withCred({ certificate: { algorithm: 'PS256' } }))).toContain(
      'credentials[0].certificate: only for credentialType "certificate"',
    );
    expect(problems(withCred({ credentialType: 'certificate', certificate: { algorithm: 'ES256' } }))).toContain(
      'credentials[0].certificate.algorithm',
    );
    const c = parseConfig(withCred({ credentialType: 'certificate', certificate: {} })).credentials[0]!;
    expect(c.certificate).toEqual({ algorithm: 'PS256' });
  });

  it('expiry dates: ISO date or date-time, per credential and for Adobe', () => {
    expect(problems(withCred({ clientSecretExpiresAt: '31/12/2027' }))).toContain(
      'credentials[0].clientSecretExpiresAt',
    );
    expect(
      problems(withCred({}, { adobe: { ...(example.adobe as object), clientSecretExpiresAt: 'soon' } })),
    ).toContain('adobe.clientSecretExpiresAt');
    const cfg = parseConfig(
      withCred(
        { clientSecretExpiresAt: '2027-12-31' },
        { adobe: { ...(example.adobe as object), clientSecretExpiresAt: '2028-01-15T00:00:00Z' } },
      ),
    );
    expect(cfg.credentials[0]!.clientSecretExpiresAt).toBe('2027-12-31');
    expect(defaultAdobe(cfg)?.clientSecretExpiresAt).toBe('2028-01-15T00:00:00Z');
  });

  it('the Graph diagnostic is for Microsoft only', () => {
    const validation = { ...(base.validation as object), graphDiagnostic: true };
    expect(problems(withCred({ provider: 'google', tenant: undefined, validation }))).toContain(
      'credentials[0].validation.graphDiagnostic: Microsoft Graph is for provider "microsoft" only',
    );
    expect(() => parseConfig(withCred({ validation }))).not.toThrow();
  });
});
