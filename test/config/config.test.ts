import { defaultAdobe } from '../../lambdas/config/adobe.ts';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadConfig, parseConfig, parseConfigText, secretIds } from '../../lambdas/config/load.ts';
import { configJsonSchema } from '../../lambdas/config/schema.ts';
import { RefresherError } from '../../lambdas/core/errors.ts';

const example = JSON.parse(readFileSync(new URL('../../config.example.json', import.meta.url), 'utf8')) as Record<
  string,
  unknown
>;

function problems(doc: unknown): string {
  try {
    parseConfig(doc);
  } catch (e) {
    expect(e).toBeInstanceOf(RefresherError);
    expect((e as RefresherError).code).toBe('CONFIG_INVALID');
    return (e as RefresherError).message;
  }
  throw new Error('expected the document to be refused');
}

describe('configuration document', () => {
  it('the example parses, with defaults filled in', () => {
    const c = parseConfig(example);
    const cred = c.credentials[0]!;
    expect(cred.authority).toBe('https://login.microsoftonline.com');
    expect(cred.targets[0]!.refreshTokenVariable).toBe('SECRET_SMTP_OAUTH_REFRESH_TOKEN');
    expect(defaultAdobe(c)?.imsEndpoint).toBe('https://ims-na1.adobelogin.com');
    expect(secretIds(c, cred)).toEqual({
      token: 'token-refresher/aem-mail/refresh-token',
      state: 'token-refresher/aem-mail/state',
      clientSecret: 'token-refresher/aem-mail/client-secret',
    });
  });

  it('names every wrong field by its path, in one error', () => {
    const msg = problems({
      bogus: true,
      credentials: [
        {
          id: 'Bad Id',
          provider: 'microsoft',
          clientId: '',
          scopes: [],
          mailbox: 'not-an-address',
          validation: { smtp: { host: 'smtp.office365.com', port: 70000 } },
          targets: [{ programId: 'abc', environmentId: '1', refreshTokenVariable: 'ADOBE_X' }],
        },
      ],
    });
    for (const path of [
      '(document): Unrecognized key: "bogus"',
      'credentials[0].id',
      'credentials[0].clientId',
      'credentials[0].scopes',
      'credentials[0].mailbox',
      'credentials[0].validation.smtp.port',
      'credentials[0].targets[0].programId',
      'credentials[0].targets[0].refreshTokenVariable',
    ]) {
      expect(msg).toContain(path);
    }
  });

  it('cross-field rules: tenant for microsoft, token endpoint for oauth2, adobe for targets, unique ids', () => {
    const base = example.credentials as Array<Record<string, unknown>>;
    const cred = { ...base[0]!, tenant: undefined };
    expect(problems({ ...example, credentials: [cred] })).toContain(
      'credentials[0].tenant: required for provider "microsoft"',
    );
    expect(problems({ ...example, credentials: [{ ...base[0]!, provider: 'oauth2' }] })).toContain(
      'credentials[0].endpoints.token: required',
    );
    expect(problems({ ...example, adobe: undefined })).toContain(
      'adobe: required because credential "aem-mail" has Cloud Manager targets',
    );
    expect(problems({ ...example, credentials: [base[0], base[0]] })).toContain(
      'credentials[1].id: duplicate credential id',
    );
  });

  it('refuses plain http:// except to a local stand-in', () => {
    const base = example.credentials as Array<Record<string, unknown>>;
    expect(problems({ ...example, credentials: [{ ...base[0]!, authority: 'http://login.example.com' }] })).toContain(
      'credentials[0].authority',
    );
    expect(() =>
      parseConfig({ ...example, credentials: [{ ...base[0]!, authority: 'http://127.0.0.1:8080' }] }),
    ).not.toThrow();
  });

  it('reports JSON syntax and a missing file with what to do', () => {
    expect(() => parseConfigText('{', 'x.json')).toThrow(/x.json is not valid JSON/);
    expect(() => loadConfig({ TOKEN_REFRESHER_CONFIG_FILE: '/nonexistent/config.json' })).toThrow(
      /cannot read the configuration file \/nonexistent\/config.json: ENOENT/,
    );
  });

  it('the published JSON Schema is up to date (npm run schema)', () => {
    const committed = JSON.parse(readFileSync(new URL('../../config.schema.json', import.meta.url), 'utf8')) as Record<
      string,
      unknown
    >;
    const { $id: _id, title: _t, ...rest } = committed;
    expect(rest).toEqual(configJsonSchema());
  });
});
