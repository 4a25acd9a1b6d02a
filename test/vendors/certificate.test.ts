import { createHash, generateKeyPairSync, X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { RefresherError } from '../../lambdas/core/errors.ts';
import { redactText } from '../../lambdas/core/redact.ts';
import { runRotation } from '../../lambdas/pipeline/run.ts';
import { buildClientAssertion, parseKeyDocument } from '../../lambdas/refresh/client-assertion.ts';
import { DEFAULT_CLIENT_ID, testClientCertificate } from '../../standins/entra.ts';
import { cmValue, reconfigure, scanAndCloseAfterEach, startVendorWorld, type VendorWorld } from './support.ts';

let w: VendorWorld | undefined;
const outputs = scanAndCloseAfterEach(
  () => w,
  () => (w = undefined),
);

const app = testClientCertificate('app');
const other = testClientCertificate('other');
const appCert = new X509Certificate(app.certificate);

/** The PEM body lines of a private key: what a leak would show even if the armour lines were stripped. */
function keyLines(pem: string): string[] {
  return pem.split('\n').filter((l) => l.length >= 40 && !l.startsWith('-----'));
}

/**
 * An Entra app with only a certificate (no client secret), the credential set to credentialType "certificate", its key
 * document in <prefix>/aem-mail/certificate, and an empty client-secret secret: nothing may need a client secret.
 */
async function certificateWorld(
  o: { keyDocument?: string; certificate?: Record<string, unknown>; register?: string[] } = {},
): Promise<VendorWorld> {
  const world = await startVendorWorld({
    harness: {
      standins: {
        entra: {
          clients: [
            { clientId: DEFAULT_CLIENT_ID, name: 'token-refresher', certificates: o.register ?? [app.certificate] },
          ],
        },
      },
    },
    patch: (c, _i, h) => ({
      credentialType: 'certificate',
      ...(o.certificate ? { certificate: o.certificate } : {}),
      clientSecret: { secretId: `${h.config.secretPrefix}/${c.id}/unused-client-secret` },
    }),
  });
  await world.h.aws.createSecret(world.ids().clientSecret);
  const certId = `${world.config.secretPrefix}/aem-mail/certificate`;
  await world.putSecret(
    certId,
    o.keyDocument ?? JSON.stringify({ privateKey: app.privateKey, certificate: app.certificate }),
    true,
  );
  const entra = world.h.standins.entra;
  world.secrets.push(() => [
    ...keyLines(app.privateKey),
    ...keyLines(other.privateKey),
    // Every assertion sent: replayable for five minutes, so never logged either.
    ...entra.requests.map((r) => new URLSearchParams(r.body).get('client_assertion') ?? '').filter(Boolean),
  ]);
  return world;
}

describe('Entra ID certificate credentials (client_assertion signed with a key from Secrets Manager)', () => {
  it('PS256 with x5t#S256: rotates, validates and pushes without any client secret; the assertion has the documented claims', async () => {
    w = await certificateWorld();
    const before = await w.current();
    const result = await runRotation(w.deps(), {});
    outputs.result = JSON.stringify(result);
    const s = result.results[0]!;
    expect(s.failure).toBeUndefined();
    expect(s.outcome).toBe('rotated');
    const after = await w.current();
    expect(after?.record.refreshToken).not.toBe(before?.record.refreshToken);
    expect(cmValue(w)).toBe(after?.record.refreshToken);

    const entra = w.h.standins.entra;
    const [seen] = entra.clientAssertions();
    expect(seen?.accepted).toBe(true);
    expect(seen?.header).toEqual({
      alg: 'PS256',
      typ: 'JWT',
      'x5t#S256': createHash('sha256').update(appCert.raw).digest('base64url'),
    });
    const claims = seen!.claims as Record<string, number | string>;
    expect(claims.aud).toBe(entra.tokenUrl);
    expect(claims.iss).toBe(DEFAULT_CLIENT_ID);
    expect(claims.sub).toBe(DEFAULT_CLIENT_ID);
    expect(claims.jti).toMatch(/^[0-9a-f-]{36}$/);
    expect(Number(claims.exp) - Number(claims.nbf)).toBeLessThanOrEqual(600);
    expect(Math.abs(Number(claims.nbf) - Date.now() / 1000)).toBeLessThan(60);
    const form = new URLSearchParams(entra.requests.find((r) => r.route === 'token')!.body);
    expect(form.get('client_assertion_type')).toBe('urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
    expect(form.has('client_secret')).toBe(false);
  });

  it('RS256 with x5t (SHA-1), the key document as a PEM bundle (key, then certificate)', async () => {
    w = await certificateWorld({
      keyDocument: `${app.privateKey}\n${app.certificate}`,
      certificate: { algorithm: 'RS256' },
    });
    const s = (await runRotation(w.deps(), {})).results[0]!;
    outputs.result = JSON.stringify(s);
    expect(s.failure).toBeUndefined();
    const seen = w.h.standins.entra.clientAssertions()[0]!;
    expect(seen.header).toEqual({
      alg: 'RS256',
      typ: 'JWT',
      x5t: createHash('sha1').update(appCert.raw).digest('base64url'),
    });
  });

  it('a thumbprint (as Entra shows it) may stand in for the certificate, with the x5t header', async () => {
    const thumbprint = appCert.fingerprint.replaceAll(':', '');
    w = await certificateWorld({
      keyDocument: JSON.stringify({ privateKey: app.privateKey, thumbprint }),
      certificate: { algorithm: 'RS256' },
    });
    expect((await runRotation(w.deps(), {})).results[0]!.failure).toBeUndefined();
    // PS256 wants the SHA-256 thumbprint, which a SHA-1 thumbprint cannot give: refused before any request.
    const ps = reconfigure(w.config, () => ({ certificate: { algorithm: 'PS256' } }));
    const s = (await runRotation(w.h.wiring({ config: ps }), { force: true })).results[0]!;
    outputs.result = JSON.stringify(s);
    expect(s.failure).toMatchObject({ class: 'configuration', code: 'CERTIFICATE_THUMBPRINT_MISSING' });
  });

  it('a certificate not registered on the app: AADSTS700027, configuration, with the upload fix; nothing changes', async () => {
    w = await certificateWorld({
      keyDocument: JSON.stringify({ privateKey: other.privateKey, certificate: other.certificate }),
    });
    const before = await w.current();
    const s = (await runRotation(w.deps(), {})).results[0]!;
    outputs.result = JSON.stringify(s);
    expect(s.failure).toMatchObject({
      class: 'configuration',
      code: 'AADSTS700027',
      remote: 'entra',
      stage: 'refresh',
    });
    expect(s.failure?.fix).toContain('Certificates & secrets > Certificates');
    expect(s.failure?.fix).toContain('token-refresher-local');
    expect((await w.current())?.versionId).toBe(before?.versionId);
    const mails = await w.h.alertMails();
    expect(mails[0]!.subject).toContain('AADSTS700027');
  });

  it('a key that does not belong to its certificate is refused before any request, without quoting the key', async () => {
    w = await certificateWorld({
      keyDocument: JSON.stringify({ privateKey: other.privateKey, certificate: app.certificate }),
    });
    const s = (await runRotation(w.deps(), {})).results[0]!;
    outputs.result = JSON.stringify(s);
    expect(s.failure).toMatchObject({ class: 'configuration', code: 'CERTIFICATE_INVALID' });
    expect(s.failure?.message).toContain('does not belong to the certificate');
    expect(w.h.standins.entra.requests.filter((r) => r.route === 'token')).toHaveLength(0);
  });

  it('an empty certificate secret: configuration SECRET_EMPTY naming the secret', async () => {
    w = await certificateWorld();
    const config = reconfigure(w.config, (c) => ({
      certificate: { secretId: `${w!.config.secretPrefix}/${c.id}/no-key-yet` },
    }));
    await w.h.aws.createSecret(`${w.config.secretPrefix}/aem-mail/no-key-yet`);
    const s = (await runRotation(w.h.wiring({ config }), {})).results[0]!;
    outputs.result = JSON.stringify(s);
    expect(s.failure).toMatchObject({ class: 'configuration', code: 'SECRET_EMPTY' });
    expect(s.failure?.message).toContain('no-key-yet');
  });

  it('an assertion with a wrong audience (another token endpoint) is refused: AADSTS50012', async () => {
    w = await certificateWorld();
    // An assertion made for another tenant's token endpoint, sent to this one.
    const entra = w.h.standins.entra;
    const key = parseKeyDocument(JSON.stringify({ privateKey: app.privateKey, certificate: app.certificate }), 'test');
    const jwt = buildClientAssertion(key, {
      clientId: DEFAULT_CLIENT_ID,
      audience: 'https://login.microsoftonline.com/other/oauth2/v2.0/token',
      algorithm: 'PS256',
      header: 'x5t#S256',
      now: new Date(),
    });
    w.secrets.push(() => [jwt]);
    const res = await fetch(entra.tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'refresh_token',
        client_id: DEFAULT_CLIENT_ID,
        refresh_token: 'x',
        scope: 'openid',
        client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
        client_assertion: jwt,
      }),
    });
    const body = (await res.json()) as { error_codes: number[] };
    expect(res.status).toBe(401);
    expect(body.error_codes).toEqual([50012]);
  });
});

describe('key documents', () => {
  const id = 'token-refresher/aem-mail/certificate';
  function refused(raw: string, now?: Date): RefresherError {
    try {
      parseKeyDocument(raw, id, 'entra', now);
    } catch (e) {
      expect(e).toBeInstanceOf(RefresherError);
      return e as RefresherError;
    }
    throw new Error('expected the key document to be refused');
  }

  it('refuses what cannot sign PS256/RS256, naming the problem and never the key', () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' })
      .privateKey.export({ type: 'pkcs8', format: 'pem' })
      .toString();
    const small = generateKeyPairSync('rsa', { modulusLength: 1024 })
      .privateKey.export({ type: 'pkcs8', format: 'pem' })
      .toString();
    const cases: Array<[string, RegExp]> = [
      ['not a key at all', /no PEM private key/],
      ['{"privateKey": 1', /not valid JSON/],
      [JSON.stringify({ privateKey: ec, thumbprint: 'AB'.repeat(20) }), /the key is ec/],
      [JSON.stringify({ privateKey: small, thumbprint: 'AB'.repeat(20) }), /1024 bits/],
      [JSON.stringify({ privateKey: app.privateKey }), /no certificate or thumbprint/],
      [JSON.stringify({ privateKey: app.privateKey, thumbprint: 'xyz' }), /not a SHA-1 thumbprint/],
      [
        JSON.stringify({
          privateKey: '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----',
          thumbprint: 'AB'.repeat(20),
        }),
        /cannot be read/,
      ],
    ];
    for (const [raw, why] of cases) {
      const err = refused(raw);
      expect(err.code).toBe('CERTIFICATE_INVALID');
      expect(err.class).toBe('configuration');
      expect(err.message).toMatch(why);
      expect(err.message).toContain(id);
      for (const line of [...keyLines(ec), ...keyLines(small), ...keyLines(app.privateKey)])
        expect(JSON.stringify(err.toJSON())).not.toContain(line);
    }
    // Once read, the key is registered: it is masked wherever it might appear.
    expect(redactText(`oops ${app.privateKey}`)).not.toContain(keyLines(app.privateKey)[0]);
  });

  it('an expired certificate is refused with the renewal steps', () => {
    const err = refused(
      JSON.stringify({ privateKey: app.privateKey, certificate: app.certificate }),
      new Date(Date.parse(appCert.validTo) + 1000),
    );
    expect(err.code).toBe('CERTIFICATE_EXPIRED');
    expect(err.fix).toContain('Certificates & secrets > Certificates');
  });

  it('thumbprintSha256 accepts hex or base64url; the assertion verifies with the certificate', () => {
    const s256 = createHash('sha256').update(appCert.raw).digest();
    for (const t of [s256.toString('hex'), s256.toString('base64url')]) {
      const key = parseKeyDocument(JSON.stringify({ privateKey: app.privateKey, thumbprintSha256: t }), id);
      expect(key.x5tS256).toBe(s256.toString('base64url'));
    }
    const key = parseKeyDocument(JSON.stringify({ privateKey: app.privateKey, certificate: app.certificate }), id);
    expect(key.notAfter?.toISOString()).toBe(new Date(appCert.validTo).toISOString());
    const jwt = buildClientAssertion(key, {
      clientId: 'c',
      audience: 'https://a/token',
      algorithm: 'PS256',
      header: 'x5t#S256',
      now: new Date(0),
      lifetimeSec: 3600,
    });
    const claims = JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString()) as { exp: number; nbf: number };
    // Never more than ten minutes, whatever is asked.
    expect(claims.exp - claims.nbf).toBe(600);
  });
});
