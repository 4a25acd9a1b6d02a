// The CLI for every vendor and credential type: regenerate for Google (browser flow only) and for an OAuth2 provider
// known by its issuer (OpenID discovery), certificate credentials without a client secret (client-secret --certificate,
// regenerate, rotate, status, doctor, osgi), and client-secret expiry (--expires, status, doctor).
import { randomUUID, X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Finding } from '../../cli/commands/doctor.ts';
import type { CredentialStatus } from '../../cli/commands/status.ts';
import { secretIds } from '../../lambdas/config/load.ts';
import { certificateSecretId } from '../../lambdas/refresh/client-assertion.ts';
import { parseTokenRecord } from '../../lambdas/store/records.ts';
import { DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, testClientCertificate } from '../../standins/entra.ts';
import {
  GENERIC_CLIENT_ID,
  GENERIC_CLIENT_SECRET,
  GMAIL_SCOPE,
  GOOGLE_ACCOUNT,
  GOOGLE_CLIENT_ID,
  GOOGLE_CLIENT_SECRET,
} from '../../standins/oauth2.ts';
import { checkAndCloseAfterEach, type CliEnv, type CliRun, startCliEnv } from './support.ts';

const OAUTH = 'com.day.cq.mailer.oauth.impl.OAuthConfigurationProviderImpl.cfg.json';
const DAY = 86_400_000;

let env: CliEnv | undefined;
checkAndCloseAfterEach(
  () => env,
  () => (env = undefined),
);

async function put(e: CliEnv, secretId: string, value: string): Promise<void> {
  await e.store.putValue(secretId, value, { clientRequestToken: randomUUID(), stages: ['AWSCURRENT'] });
}

async function current(e: CliEnv) {
  const ids = secretIds(e.config, e.config.credentials[0]!);
  const v = await e.store.getValue(ids.token, 'AWSCURRENT');
  return v && parseTokenRecord(v.value, ids.token);
}

function cmValue(e: CliEnv, variable: string, t = 0): string | undefined {
  const target = e.config.credentials[0]!.targets[t]!;
  return e.standins.cloudManager.valueOf(target.programId, target.environmentId, variable);
}

/** The sign-in address regenerate prints (indented on its own line on stderr). */
async function signInUrl(run: CliRun): Promise<URL> {
  return new URL((await run.stderr.waitFor(/\n {2}(http:\/\/127\.0\.0\.1:\d+\/\S+)\n/))[1] as string);
}

async function statusOf(
  e: CliEnv,
  io: Parameters<CliEnv['run']>[1] = {},
): Promise<CredentialStatus & { adobe?: unknown }> {
  const r = await e.run(['status', '--json'], io);
  expect(r.code, r.stderr).toBe(0);
  const doc = JSON.parse(r.stdout) as { credentials: CredentialStatus[]; adobe?: unknown };
  return { ...doc.credentials[0]!, adobe: doc.adobe };
}

async function doctor(
  e: CliEnv,
  args: string[] = [],
  io: Parameters<CliEnv['run']>[1] = {},
): Promise<{ code: number; findings: Finding[] }> {
  const r = await e.run(['doctor', '--json', ...args], io);
  return { code: r.code, findings: (JSON.parse(r.stdout) as { findings: Finding[] }).findings };
}

/** As an administrator would have done once: AEM's client-secret variable exists on every target. */
function setClientSecretVariables(e: CliEnv): void {
  for (const t of e.config.credentials[0]!.targets) {
    e.standins.cloudManager.setVariable(t.programId, t.environmentId, {
      name: 'SECRET_SMTP_OAUTH_CLIENT_SECRET',
      value: 'set-by-an-admin-once',
      type: 'secretString',
    });
  }
}

const finding = (fs: Finding[], check: string, subject = 'aem-mail') =>
  fs.find((f) => f.check === check && f.subject === subject);

describe('regenerate for Google (Gmail)', () => {
  async function gmail(): Promise<CliEnv> {
    env = await startCliEnv({
      standins: { oauth2: { flavor: 'google' }, smtp: { flavor: 'google' } },
      // Google's endpoints, served locally.
      patch: (_c, _i, s) => ({
        provider: 'google',
        tenant: undefined,
        clientId: GOOGLE_CLIENT_ID,
        endpoints: {
          token: s.oauth2!.tokenUrl,
          authorize: s.oauth2!.authorizeUrl,
          deviceCode: s.oauth2!.deviceCodeUrl,
        },
        scopes: [GMAIL_SCOPE],
        mailbox: GOOGLE_ACCOUNT,
      }),
    });
    await env.seed();
    await put(env, secretIds(env.config, env.config.credentials[0]!).clientSecret, GOOGLE_CLIENT_SECRET);
    return env;
  }

  it('browser flow with access_type=offline and prompt=consent: stores Google’s refresh token, test-sends through Gmail, pushes', async () => {
    const e = await gmail();
    const g = e.standins.oauth2!;
    const run = e.start(['regenerate', '--credential', 'aem-mail', '--no-browser']);
    const url = await signInUrl(run);
    expect(`${url.origin}${url.pathname}`).toBe(g.authorizeUrl);
    expect(url.searchParams.get('access_type')).toBe('offline');
    expect(url.searchParams.get('prompt')).toBe('consent');
    expect(url.searchParams.get('code_challenge_method')).toBe('S256');
    // Gmail's scope first (it decides the audience), then what names the signed-in account.
    expect(url.searchParams.get('scope')).toBe(`${GMAIL_SCOPE} openid email`);
    expect(url.searchParams.get('login_hint')).toBe(GOOGLE_ACCOUNT);
    await run.stderr.waitFor(/paste it here/);
    run.stdin.write(`${await g.consent(url.toString())}\n`);
    expect(await run.code, run.stderr.text).toBe(0);

    const rec = await current(e);
    expect(rec).toMatchObject({ source: 'regenerate', account: GOOGLE_ACCOUNT, refreshToken: g.latestRefreshToken() });
    expect(g.refreshTokenInfo(rec!.refreshToken)?.scopes).toContain(GMAIL_SCOPE);
    const redeem = new URLSearchParams(g.requests.find((r) => r.route === 'token')!.body);
    expect(redeem.get('grant_type')).toBe('authorization_code');
    expect(redeem.get('client_secret')).toBe(GOOGLE_CLIENT_SECRET);
    // Validated as AEM will send: a test mail through the Gmail-flavoured SMTP as the account, then pushed.
    expect(e.standins.smtp.messages.at(-1)?.account).toBe(GOOGLE_ACCOUNT);
    expect(cmValue(e, 'SECRET_SMTP_OAUTH_REFRESH_TOKEN')).toBe(rec!.refreshToken);
    expect(cmValue(e, 'SECRET_SMTP_OAUTH_REFRESH_TOKEN', 1)).toBe(rec!.refreshToken);
  });

  it('--device-code is refused before anything happens: Google does not allow the Gmail scope there', async () => {
    const e = await gmail();
    const before = await e.snapshot();
    const r = await e.run(['regenerate', '--credential', 'aem-mail', '--device-code']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('DEVICE_CODE_NOT_SUPPORTED');
    expect(r.stderr).toContain('https://mail.google.com/');
    expect(r.stderr).toContain('token-refresher regenerate --credential aem-mail --no-browser');
    expect(e.standins.oauth2!.requests).toEqual([]);
    expect(await e.snapshot()).toBe(before);
  });
});

describe('an OAuth2 provider known by its issuer (OpenID discovery)', () => {
  const SCOPES = ['openid', 'email', 'offline_access', 'mail.send'];

  async function generic(claimedIssuer?: string): Promise<CliEnv> {
    env = await startCliEnv({
      standins: {
        oauth2: { flavor: 'generic', rotate: true, ...(claimedIssuer ? { claimedIssuer } : {}) },
        smtp: { requiredScope: null },
      },
      patch: (_c, _i, s) => ({
        provider: 'oauth2',
        tenant: undefined,
        issuer: s.oauth2!.issuer,
        clientId: GENERIC_CLIENT_ID,
        tokenEndpointAuthMethod: 'client_secret_basic',
        scopes: SCOPES,
        mailbox: 'mailer@example.org',
      }),
    });
    await env.seed();
    await put(env, secretIds(env.config, env.config.credentials[0]!).clientSecret, GENERIC_CLIENT_SECRET);
    return env;
  }

  it('regenerate signs in at the discovered authorization endpoint and redeems at the discovered token endpoint', async () => {
    const e = await generic();
    const g = e.standins.oauth2!;
    expect(e.config.credentials[0]!.endpoints).toEqual({});
    const run = e.start(['regenerate', '--credential', 'aem-mail', '--no-browser']);
    const url = await signInUrl(run);
    expect(`${url.origin}${url.pathname}`).toBe(g.authorizeUrl);
    expect(url.searchParams.get('scope')).toBe(SCOPES.join(' '));
    await run.stderr.waitFor(/paste it here/);
    run.stdin.write(`${await g.consent(url.toString())}\n`);
    expect(await run.code, run.stderr.text).toBe(0);
    expect(g.faults.count('openid-configuration')).toBeGreaterThanOrEqual(1);
    const redeem = g.requests.find((r) => r.route === 'token')!;
    expect(redeem.headers.authorization).toMatch(/^Basic /);
    const rec = await current(e);
    expect(rec).toMatchObject({ source: 'regenerate', account: 'mailer@example.org' });
    expect(g.refreshTokenInfo(rec!.refreshToken)).toBeDefined();
    expect(cmValue(e, 'SECRET_SMTP_OAUTH_REFRESH_TOKEN')).toBe(rec!.refreshToken);
  });

  it('osgi writes the discovered endpoints; doctor checks the discovery and reaches the discovered token endpoint', async () => {
    const e = await generic();
    const g = e.standins.oauth2!;
    const osgi = await e.run(['osgi', '--credential', 'aem-mail', '--json']);
    expect(osgi.code, osgi.stderr).toBe(0);
    expect((JSON.parse(osgi.stdout) as Record<string, Record<string, unknown>>)[OAUTH]).toMatchObject({
      authUrl: g.authorizeUrl,
      tokenUrl: g.tokenUrl,
      refreshUrl: g.tokenUrl,
    });

    const d = await doctor(e, ['--no-redeem']);
    const disc = finding(d.findings, 'discovery')!;
    expect(disc).toMatchObject({ status: 'ok' });
    expect(disc.message).toContain(g.tokenUrl);
    const host = new URL(g.tokenUrl).host;
    expect(d.findings.find((f) => f.subject === 'network' && f.check === 'token endpoint (aem-mail)')).toMatchObject({
      status: 'ok',
      message: expect.stringContaining(host),
    });
  });

  it('a public client (tokenEndpointAuthMethod "none") has no client secret: doctor does not warn about one', async () => {
    env = await startCliEnv({
      standins: { oauth2: { flavor: 'generic', rotate: true }, smtp: { requiredScope: null } },
      patch: (_c, _i, s) => ({
        provider: 'oauth2',
        tenant: undefined,
        issuer: s.oauth2!.issuer,
        clientId: GENERIC_CLIENT_ID,
        tokenEndpointAuthMethod: 'none',
        scopes: SCOPES,
        mailbox: 'mailer@example.org',
      }),
    });
    await env.seed();
    const d = await doctor(env, ['--no-redeem']);
    const cs = d.findings.filter((f) => f.check === 'client secret');
    expect(cs).toHaveLength(1);
    expect(cs[0]).toMatchObject({ status: 'ok' });
    expect(cs[0]!.message).toMatch(/public client/);
  });

  it('an issuer whose document names another issuer: regenerate, osgi and doctor refuse it, nothing is signed in or stored', async () => {
    const e = await generic('https://idp.example.com/realms/mail');
    const before = await e.snapshot();
    const r = await e.run(['regenerate', '--credential', 'aem-mail', '--no-browser']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('DISCOVERY_ISSUER_MISMATCH');
    expect(r.stderr).not.toContain('authorize');
    expect(e.standins.oauth2!.requests.filter((x) => x.route !== 'openid-configuration')).toEqual([]);
    expect(await e.snapshot()).toBe(before);

    const osgi = await e.run(['osgi', '--credential', 'aem-mail']);
    expect(osgi.code).toBe(1);
    expect(osgi.stderr).toContain('DISCOVERY_ISSUER_MISMATCH');

    const d = await doctor(e);
    expect(d.code).not.toBe(0);
    expect(finding(d.findings, 'discovery')).toMatchObject({
      status: 'fail',
      message: expect.stringContaining('DISCOVERY_ISSUER_MISMATCH'),
    });
    expect(finding(d.findings, 'SMTP AUTH')).toMatchObject({ status: 'skip' });
  });
});

describe('certificate credentials (no client secret for token-refresher)', () => {
  const app = testClientCertificate('app');
  const other = testClientCertificate('other');
  const appCert = new X509Certificate(app.certificate);
  const thumbprint = appCert.fingerprint.replace(/:/g, '');

  async function certificateWorld(): Promise<CliEnv> {
    env = await startCliEnv({
      // The app has only the certificate registered: a client secret would be refused.
      standins: {
        entra: { clients: [{ clientId: DEFAULT_CLIENT_ID, name: 'token-refresher', certificates: [app.certificate] }] },
      },
      // A client-secret secret that stays empty.
      patch: () => ({
        credentialType: 'certificate',
        clientSecret: { secretId: 'cert-test/aem-mail/aem-client-secret' },
      }),
    });
    await env.seed();
    return env;
  }

  it('client-secret --certificate checks the key document before storing it; status shows its days left and thumbprint', async () => {
    const e = await certificateWorld();
    const c = e.config.credentials[0]!;
    const certId = certificateSecretId(e.config, c);
    expect(certId).toBe(`${e.config.secretPrefix}/aem-mail/certificate`);

    const mismatched = await e.run(['client-secret', '--credential', 'aem-mail', '--certificate'], {
      input: `${other.privateKey}${app.certificate}`,
    });
    expect(mismatched.code).toBe(2);
    expect(mismatched.stderr).toContain('CERTIFICATE_INVALID');
    expect(mismatched.stderr).toContain('does not belong to the certificate');
    expect(mismatched.stderr).toContain('nothing was stored');
    expect(await e.store.getValue(certId, 'AWSCURRENT')).toBeUndefined();
    expect(
      (await e.run(['client-secret', '--credential', 'aem-mail', '--certificate'], { input: 'not a key' })).code,
    ).toBe(2);
    expect(
      (await e.run(['client-secret', '--credential', 'aem-mail', '--certificate', '--push'], { input: app.privateKey }))
        .code,
    ).toBe(2);

    const ok = await e.run(['client-secret', '--credential', 'aem-mail', '--certificate', '--json'], {
      input: `${app.privateKey}${app.certificate}`,
    });
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stderr).toContain(`SHA-1 thumbprint ${thumbprint}`);
    expect((await e.store.getValue(certId, 'AWSCURRENT'))?.value).toBe(`${app.privateKey}${app.certificate}`.trim());
    expect(JSON.parse(ok.stdout)).toMatchObject({ secretId: certId, stored: true, thumbprint });

    const s = await statusOf(e);
    expect(s.certificate).toMatchObject({
      secretId: certId,
      stored: true,
      thumbprint,
      certificateChecked: true,
      warn: false,
      bits: 2048,
    });
    expect(s.certificate?.notAfter).toBe(new Date(appCert.validTo).toISOString());
    expect(s.clientSecret).toEqual({ stored: false });
    const text = (await e.run(['status'])).stdout;
    expect(text).toMatch(/certificate +expires 2076-\d\d-\d\d \(\d+ days left\), SHA-1 thumbprint [0-9A-F]{40}/);
    expect(text).toContain('AEM needs a client secret (SECRET_SMTP_OAUTH_CLIENT_SECRET)');

    // Ten days before the certificate ends, status and doctor flag it.
    const late = { now: () => new Date(Date.parse(appCert.validTo) - 10 * DAY) };
    const soon = await statusOf(e, late);
    expect(soon.certificate).toMatchObject({ warn: true, daysLeft: 10 });
    expect((await e.run(['status'], late)).stdout).toMatch(
      /certificate +expires 2076-\d\d-\d\d \(10 days left\).*upload a new certificate/,
    );
    const d = await doctor(e, ['--no-redeem'], late);
    expect(finding(d.findings, 'certificate')).toMatchObject({
      status: 'warn',
      message: expect.stringContaining('10 days left'),
    });
  });

  it('regenerate, rotate and doctor work with the key alone; a missing client secret is a warning because AEM still needs one; osgi says so', async () => {
    const e = await certificateWorld();
    const entra = e.standins.entra;
    await put(
      e,
      certificateSecretId(e.config, e.config.credentials[0]!),
      JSON.stringify({ privateKey: app.privateKey, certificate: app.certificate }),
    );

    const run = e.start(['regenerate', '--credential', 'aem-mail', '--no-browser']);
    const url = await signInUrl(run);
    await run.stderr.waitFor(/paste it here/);
    run.stdin.write(`${await entra.consent(url.toString())}\n`);
    expect(await run.code, run.stderr.text).toBe(0);
    expect(run.stderr.text).toMatch(
      /holds no client secret: token-refresher signs in with the certificate .* but AEM redeems the token with a client secret/,
    );
    const code = new URLSearchParams(
      entra.requests.find((r) => r.route === 'token' && r.body.includes('authorization_code'))!.body,
    );
    expect(code.has('client_assertion')).toBe(true);
    expect(code.has('client_secret')).toBe(false);
    expect(entra.clientAssertions().every((a) => a.accepted)).toBe(true);
    const rec = await current(e);
    expect(rec?.refreshToken).toBe(entra.latestRefreshToken());
    expect(cmValue(e, 'SECRET_SMTP_OAUTH_REFRESH_TOKEN')).toBe(rec?.refreshToken);

    const rotated = await e.run(['rotate', '--force']);
    expect(rotated.code, rotated.stdout).toBe(0);
    expect(rotated.stdout).toMatch(/aem-mail: rotated/);

    setClientSecretVariables(e);
    const d = await doctor(e);
    expect(d.code, JSON.stringify(d.findings.filter((f) => f.status === 'fail'))).toBe(0);
    expect(finding(d.findings, 'certificate')).toMatchObject({
      status: 'ok',
      message: expect.stringContaining('matches its certificate'),
    });
    expect(finding(d.findings, 'client secret')).toMatchObject({
      status: 'warn',
      message: expect.stringContaining('AEM'),
    });
    expect(finding(d.findings, 'SMTP AUTH')).toMatchObject({ status: 'ok' });

    const osgi = await e.run(['osgi', '--credential', 'aem-mail']);
    expect(osgi.code).toBe(0);
    expect(osgi.stderr).toMatch(
      /signs in with a certificate, but AEM redeems its refresh token with a client secret: SECRET_SMTP_OAUTH_CLIENT_SECRET must hold/,
    );
  });

  it('doctor: an empty or unusable key document fails the certificate check and skips the SMTP check', async () => {
    const e = await certificateWorld();
    const empty = await doctor(e);
    expect(empty.code).toBe(1);
    expect(finding(empty.findings, 'certificate')).toMatchObject({
      status: 'fail',
      message: expect.stringContaining('SECRET_EMPTY'),
      fix: expect.stringContaining('--certificate'),
    });
    expect(finding(empty.findings, 'SMTP AUTH')).toMatchObject({ status: 'skip' });
    // Only a SHA-1 thumbprint, but PS256 needs x5t#S256: the function would fail on every run.
    await put(
      e,
      certificateSecretId(e.config, e.config.credentials[0]!),
      JSON.stringify({ privateKey: app.privateKey, thumbprint }),
    );
    const thumb = await doctor(e);
    expect(finding(thumb.findings, 'certificate')).toMatchObject({
      status: 'fail',
      message: expect.stringContaining('CERTIFICATE_THUMBPRINT_MISSING'),
    });
  });
});

describe('client-secret expiry', () => {
  const isoDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);

  it('status and doctor flag a client secret under 30 days; client-secret --expires stores the date with the value and it wins', async () => {
    const soon = isoDay(Date.now() + 10 * DAY);
    env = await startCliEnv({
      configure: (doc) => {
        doc.credentials[0]!.clientSecretExpiresAt = soon;
        doc.credentials[0]!.targets!.forEach((t) => (t.pushClientSecret = true));
        (doc.adobe as { clientSecretExpiresAt?: string }).clientSecretExpiresAt = '2099-12-31';
      },
    });
    const e = env;
    await e.seed();
    const ids = secretIds(e.config, e.config.credentials[0]!);
    setClientSecretVariables(e);

    const s = await statusOf(e);
    expect(s.clientSecret).toMatchObject({
      stored: true,
      expiry: { source: 'configuration', warn: true, expiresAt: `${soon}T00:00:00.000Z` },
    });
    expect(s.clientSecret?.expiry?.daysLeft).toBeGreaterThan(8.9);
    expect(s.clientSecret?.expiry?.daysLeft).toBeLessThanOrEqual(10);
    expect(s.adobe).toMatchObject({ clientSecret: { expiry: { expiresAt: '2099-12-31T00:00:00.000Z', warn: false } } });
    const text = (await e.run(['status'])).stdout;
    expect(text).toMatch(new RegExp(`client secret +stored, expires ${soon} \\(\\d days left\\): replace it`));
    expect(text).toMatch(/Adobe .*\n +client secret +expires 2099-12-31/);

    const d = await doctor(e, ['--no-redeem']);
    expect(d.code).toBe(0);
    expect(finding(d.findings, 'client secret expiry')).toMatchObject({
      status: 'warn',
      fix: expect.stringContaining('client-secret --credential aem-mail --expires DATE --push'),
    });
    expect(finding(d.findings, 'client secret expiry', 'Adobe IMS')).toMatchObject({ status: 'ok' });

    // Refused dates: not a date, in the past.
    expect(
      (
        await e.run(['client-secret', '--credential', 'aem-mail', '--expires', 'next-year'], {
          input: `${DEFAULT_CLIENT_SECRET}\n`,
        })
      ).code,
    ).toBe(2);
    const past = await e.run(['client-secret', '--credential', 'aem-mail', '--expires', '2020-01-31'], {
      input: `${DEFAULT_CLIENT_SECRET}\n`,
    });
    expect(past.code).toBe(2);
    expect(past.stderr).toContain('not in the future');
    expect(
      (await e.run(['client-secret', '--credential', 'aem-mail', '--certificate'], { input: 'x' })).stderr,
    ).toContain('authenticates with a client secret');

    const stored = await e.run(['client-secret', '--credential', 'aem-mail', '--expires', '2099-01-31', '--push'], {
      input: `${DEFAULT_CLIENT_SECRET}\n`,
    });
    expect(stored.code, stored.stderr).toBe(0);
    expect(JSON.parse((await e.store.getValue(ids.clientSecret, 'AWSCURRENT'))!.value)).toEqual({
      clientSecret: DEFAULT_CLIENT_SECRET,
      expiresAt: '2099-01-31',
    });
    // AEM receives the value alone, never the document.
    expect(cmValue(e, 'SECRET_SMTP_OAUTH_CLIENT_SECRET')).toBe(DEFAULT_CLIENT_SECRET);
    const after = await statusOf(e);
    expect(after.clientSecret).toMatchObject({
      stored: true,
      expiry: { source: 'secret', expiresAt: '2099-01-31T00:00:00.000Z', warn: false },
    });
    // The function reads the value out of the document.
    const rotated = await e.run(['rotate', '--force']);
    expect(rotated.code, rotated.stdout).toBe(0);

    // Once the date has passed, doctor fails the check.
    const expired = await doctor(e, ['--no-redeem'], { now: () => new Date('2099-02-02T00:00:00Z') });
    expect(expired.code).toBe(1);
    expect(finding(expired.findings, 'client secret expiry')).toMatchObject({
      status: 'fail',
      message: expect.stringContaining('expired on 2099-01-31 (expired 2 days ago)'),
    });
  });

  it('doctor: no recorded date is not a failure, but says the reminders cannot come', async () => {
    env = await startCliEnv();
    await env.seed();
    setClientSecretVariables(env);
    const d = await doctor(env, ['--no-redeem']);
    expect(d.code).toBe(0);
    expect(finding(d.findings, 'client secret expiry')).toMatchObject({
      status: 'skip',
      fix: expect.stringContaining('clientSecretExpiresAt'),
    });
  });

  it('a KMS-held certificate key: status and doctor say so, client-secret --certificate has nothing to store', async () => {
    const kmsKeyId = 'arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555';
    const e = (env = await startCliEnv({
      patch: () => ({
        credentialType: 'certificate',
        certificate: { kmsKeyId, algorithm: 'RS256', thumbprint: 'A'.repeat(40) },
      }),
    }));
    await e.seed();
    const s = await statusOf(e);
    expect(s.certificate).toMatchObject({ kmsKeyId, stored: true });
    expect((await e.run(['status'])).stdout).toContain(`key in AWS KMS (${kmsKeyId})`);
    const { findings } = await doctor(e, ['--no-redeem']);
    expect(findings.find((f) => f.check === 'certificate')).toMatchObject({ status: 'ok' });
    const refused = await e.run(['client-secret', '--credential', 'aem-mail', '--certificate'], { input: 'anything' });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(`signs with the KMS key ${kmsKeyId}`);
  });
});
