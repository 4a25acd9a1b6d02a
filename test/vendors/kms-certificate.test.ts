import {
  CreateAliasCommand,
  CreateKeyCommand,
  DescribeKeyCommand,
  DisableKeyCommand,
  GetPublicKeyCommand,
  KMSClient,
  ScheduleKeyDeletionCommand,
} from '@aws-sdk/client-kms';
import { execFileSync } from 'node:child_process';
import {
  constants,
  createHash,
  createPublicKey,
  randomUUID,
  verify,
  X509Certificate,
  type KeyObject,
} from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseConfig } from '../../lambdas/config/load.ts';
import { RefresherError } from '../../lambdas/core/errors.ts';
import { redactText } from '../../lambdas/core/redact.ts';
import { runRotation } from '../../lambdas/pipeline/run.ts';
import { kmsAssertionSource, kmsClient, kmsError } from '../../lambdas/refresh/kms-assertion.ts';
import { DEFAULT_CLIENT_ID, testClientCertificate } from '../../standins/entra.ts';
import { cmValue, scanAndCloseAfterEach, startVendorWorld, type VendorWorld } from './support.ts';

/**
 * Certificate credentials whose key is an RSA key in KMS, signed by moto_server's KMS (a real peer: it holds the key,
 * signs with it and answers KMS's errors). What moto 5.2.1 does differently from KMS, read from moto/kms/models.py and
 * responses.py, and how these tests deal with it:
 * - Sign ignores MessageType and always hashes the message (RAW): the source sends RAW, which real KMS signs identically.
 * - RSASSA_PSS_SHA_256 uses the largest salt instead of KMS's 32 bytes: the Entra stand-in (strict, 32 bytes as RFC 7518
 *   requires) would refuse it, so the end-to-end runs use RS256 (deterministic, the same in both) and PS256 is checked
 *   against the KMS public key with any salt length.
 * - Sign does not look at the key state: a disabled or pending-deletion key still signs. A pass-through proxy answers
 *   Sign for such keys (state read from moto with DescribeKey) with the error KMS gives, DisabledException or
 *   KMSInvalidStateException.
 */

const common = { region: 'eu-west-1', credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } };
let kms: KMSClient;
let proxy: Server;
let proxied: KMSClient;
const signCalls: Array<{ KeyId: string; MessageType?: string; SigningAlgorithm: string }> = [];

function read(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** KMS's answer to Sign with a key that is not Enabled (moto signs regardless). */
async function stateError(keyId: string): Promise<{ __type: string; message: string } | undefined> {
  let state: string | undefined;
  let arn = keyId;
  try {
    const d = await kms.send(new DescribeKeyCommand({ KeyId: keyId }));
    state = d.KeyMetadata?.KeyState;
    arn = d.KeyMetadata?.Arn ?? keyId;
  } catch {
    return undefined; // moto answers the missing key itself
  }
  if (state === 'Disabled') return { __type: 'DisabledException', message: `${arn} is disabled.` };
  if (state && state !== 'Enabled')
    return { __type: 'KMSInvalidStateException', message: `${arn} is pending deletion.` };
  return undefined;
}

async function forward(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const body = await read(req);
  const target = String(req.headers['x-amz-target'] ?? '');
  if (target === 'TrentService.Sign') {
    const p = JSON.parse(body.toString('utf8')) as { KeyId: string; MessageType?: string; SigningAlgorithm: string };
    signCalls.push({ KeyId: p.KeyId, MessageType: p.MessageType, SigningAlgorithm: p.SigningAlgorithm });
    const refused = await stateError(p.KeyId);
    if (refused) {
      res
        .writeHead(400, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-errortype': refused.__type })
        .end(JSON.stringify(refused));
      return;
    }
  }
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers))
    if (typeof v === 'string' && k !== 'host' && k !== 'content-length') headers[k] = v;
  const r = await fetch(`${inject('motoUrl')}${req.url ?? '/'}`, { method: req.method, headers, body });
  res
    .writeHead(r.status, { 'content-type': r.headers.get('content-type') ?? 'application/x-amz-json-1.1' })
    .end(Buffer.from(await r.arrayBuffer()));
}

beforeAll(async () => {
  kms = new KMSClient({ ...common, endpoint: inject('motoUrl'), maxAttempts: 1 });
  proxy = createServer((req, res) => void forward(req, res).catch(() => res.writeHead(502).end()));
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  const addr = proxy.address();
  proxied = new KMSClient({
    ...common,
    endpoint: `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`,
    maxAttempts: 1,
  });
});

afterAll(async () => {
  kms.destroy();
  proxied.destroy();
  await new Promise<void>((r) => proxy.close(() => r()));
});

interface KmsKey {
  arn: string;
  keyId: string;
  publicKey: KeyObject;
  /** PEM certificate for the KMS public key, made with openssl as docs/VENDORS.md shows. */
  certificate: string;
  x509: X509Certificate;
}

/** An RSA_2048 SIGN_VERIFY key in moto, and a certificate for its public key (issued by the test "other" CA key). */
async function createKmsKey(): Promise<KmsKey> {
  const created = await kms.send(
    new CreateKeyCommand({ KeySpec: 'RSA_2048', KeyUsage: 'SIGN_VERIFY', Description: 'token-refresher test' }),
  );
  const keyId = created.KeyMetadata!.KeyId!;
  const pub = await kms.send(new GetPublicKeyCommand({ KeyId: keyId }));
  expect(pub.KeyUsage).toBe('SIGN_VERIFY');
  expect(pub.SigningAlgorithms).toEqual(expect.arrayContaining(['RSASSA_PSS_SHA_256', 'RSASSA_PKCS1_V1_5_SHA_256']));
  const publicKey = createPublicKey({ key: Buffer.from(pub.PublicKey!), format: 'der', type: 'spki' });
  const dir = mkdtempSync(join(tmpdir(), 'kms-cert-'));
  try {
    writeFileSync(join(dir, 'pub.pem'), publicKey.export({ format: 'pem', type: 'spki' }));
    const ca = testClientCertificate('other');
    writeFileSync(join(dir, 'ca.pem'), ca.certificate);
    writeFileSync(join(dir, 'ca.key'), ca.privateKey);
    execFileSync(
      'openssl',
      [
        'x509',
        '-new',
        '-subj',
        '/CN=token-refresher aem-mail',
        '-days',
        '30',
        '-force_pubkey',
        join(dir, 'pub.pem'),
        '-CA',
        join(dir, 'ca.pem'),
        '-CAkey',
        join(dir, 'ca.key'),
        '-out',
        join(dir, 'cert.pem'),
      ],
      { stdio: 'pipe' },
    );
    const certificate = readFileSync(join(dir, 'cert.pem'), 'utf8');
    return { arn: created.KeyMetadata!.Arn!, keyId, publicKey, certificate, x509: new X509Certificate(certificate) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function sha256Hex(x: X509Certificate): string {
  return createHash('sha256').update(x.raw).digest('hex');
}

let w: VendorWorld | undefined;
const outputs = scanAndCloseAfterEach(
  () => w,
  () => (w = undefined),
);

/** An Entra app with only the KMS key's certificate registered; no key document and no client secret anywhere. */
async function kmsWorld(key: KmsKey, certificate: Record<string, unknown>): Promise<VendorWorld> {
  const world = await startVendorWorld({
    harness: {
      standins: {
        entra: { clients: [{ clientId: DEFAULT_CLIENT_ID, name: 'token-refresher', certificates: [key.certificate] }] },
      },
    },
    patch: (c, _i, h) => ({
      credentialType: 'certificate',
      certificate,
      clientSecret: { secretId: `${h.config.secretPrefix}/${c.id}/unused-client-secret` },
    }),
  });
  await world.h.aws.createSecret(world.ids().clientSecret);
  const entra = world.h.standins.entra;
  world.secrets.push(() =>
    entra.requests.map((r) => new URLSearchParams(r.body).get('client_assertion') ?? '').filter(Boolean),
  );
  return world;
}

describe('Entra ID certificate credentials with the key in AWS KMS (moto_server)', () => {
  it('RS256 + x5t#S256, key by ARN: rotates end to end; the stand-in verified the KMS signature against the certificate', async () => {
    const key = await createKmsKey();
    w = await kmsWorld(key, {
      kmsKeyId: key.arn,
      algorithm: 'RS256',
      thumbprintHeader: 'x5t#S256',
      thumbprintSha256: sha256Hex(key.x509),
    });
    const before = await w.current();
    const calls = signCalls.length;
    const result = await runRotation(w.deps({ kms: proxied }), {});
    outputs.result = JSON.stringify(result);
    const s = result.results[0]!;
    expect(s.failure).toBeUndefined();
    expect(s.outcome).toBe('rotated');
    const after = await w.current();
    expect(after?.record.refreshToken).not.toBe(before?.record.refreshToken);
    expect(cmValue(w)).toBe(after?.record.refreshToken);

    const [seen] = w.h.standins.entra.clientAssertions();
    expect(seen?.accepted).toBe(true);
    expect(seen?.header).toEqual({
      alg: 'RS256',
      typ: 'JWT',
      'x5t#S256': createHash('sha256').update(key.x509.raw).digest('base64url'),
    });
    expect((seen?.claims as Record<string, string>).iss).toBe(DEFAULT_CLIENT_ID);
    const sign = signCalls.slice(calls);
    expect(sign.length).toBeGreaterThanOrEqual(1);
    expect(sign[0]).toEqual({ KeyId: key.arn, MessageType: 'RAW', SigningAlgorithm: 'RSASSA_PKCS1_V1_5_SHA_256' });
  });

  it('RS256 + x5t (SHA-1 thumbprint as Entra shows it), key by alias name', async () => {
    const key = await createKmsKey();
    const alias = `alias/token-refresher-${randomUUID().slice(0, 8)}`;
    await kms.send(new CreateAliasCommand({ AliasName: alias, TargetKeyId: key.keyId }));
    w = await kmsWorld(key, { kmsKeyId: alias, algorithm: 'RS256', thumbprint: key.x509.fingerprint });
    const s = (await runRotation(w.deps({ kms: proxied }), {})).results[0]!;
    outputs.result = JSON.stringify(s);
    expect(s.failure).toBeUndefined();
    const seen = w.h.standins.entra.clientAssertions()[0]!;
    expect(seen.accepted).toBe(true);
    expect(seen.header).toEqual({
      alg: 'RS256',
      typ: 'JWT',
      x5t: createHash('sha1').update(key.x509.raw).digest('base64url'),
    });
  });

  it('PS256 asks KMS for RSASSA_PSS_SHA_256 and the JWT carries a PSS signature by the KMS key', async () => {
    const key = await createKmsKey();
    const credential = {
      id: 'aem-mail',
      clientId: DEFAULT_CLIENT_ID,
      certificate: { kmsKeyId: key.keyId, algorithm: 'PS256' as const, thumbprintSha256: sha256Hex(key.x509) },
    };
    const calls = signCalls.length;
    const jwt = await kmsAssertionSource({ credential, client: proxied }).assertion('https://login.example/token');
    expect(signCalls.slice(calls)).toEqual([
      { KeyId: key.keyId, MessageType: 'RAW', SigningAlgorithm: 'RSASSA_PSS_SHA_256' },
    ]);
    const [h, c, sig] = jwt.split('.') as [string, string, string];
    expect(JSON.parse(Buffer.from(h, 'base64url').toString())).toEqual({
      alg: 'PS256',
      typ: 'JWT',
      'x5t#S256': createHash('sha256').update(key.x509.raw).digest('base64url'),
    });
    expect(JSON.parse(Buffer.from(c, 'base64url').toString())).toMatchObject({
      aud: 'https://login.example/token',
      iss: DEFAULT_CLIENT_ID,
      sub: DEFAULT_CLIENT_ID,
    });
    // Salt length AUTO: moto salts with the maximum, KMS with 32 bytes (see the note at the top).
    const ok = verify(
      'sha256',
      Buffer.from(`${h}.${c}`),
      { key: key.publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_AUTO },
      Buffer.from(sig, 'base64url'),
    );
    expect(ok).toBe(true);
    // The assertion is registered as a secret before it is returned.
    expect(redactText(`x ${jwt} y`)).not.toContain(sig);
  });

  const refusals: Array<[string, (k: KmsKey) => Promise<string>, string, RegExp]> = [
    [
      'a disabled key',
      async (k) => {
        await kms.send(new DisableKeyCommand({ KeyId: k.keyId }));
        return k.arn;
      },
      'KMS_DisabledException',
      /aws kms enable-key --key-id arn:aws:kms:/,
    ],
    [
      'a key pending deletion',
      async (k) => {
        await kms.send(new ScheduleKeyDeletionCommand({ KeyId: k.keyId, PendingWindowInDays: 7 }));
        return k.keyId;
      },
      'KMS_KMSInvalidStateException',
      /cancel-key-deletion --key-id [0-9a-f-]{36}/,
    ],
    [
      'a key that does not exist',
      () => Promise.resolve(randomUUID()),
      'KMS_NotFoundException',
      /Correct certificate\.kmsKeyId of credential aem-mail/,
    ],
  ];
  for (const [what, prepare, code, fix] of refusals) {
    it(`${what}: configuration ${code} naming the key; no token request, nothing stored changes`, async () => {
      const key = await createKmsKey();
      const keyId = await prepare(key);
      w = await kmsWorld(key, { kmsKeyId: keyId, algorithm: 'RS256', thumbprint: key.x509.fingerprint });
      const before = await w.current();
      const cmBefore = cmValue(w);
      const result = await runRotation(w.deps({ kms: proxied }), {});
      outputs.result = JSON.stringify(result);
      const s = result.results[0]!;
      expect(s.failure).toMatchObject({ class: 'configuration', code, remote: 'entra', stage: 'refresh' });
      expect(s.failure?.message).toContain(keyId);
      expect(s.failure?.fix).toMatch(fix);
      expect(w.h.standins.entra.requests.filter((r) => r.route === 'token')).toHaveLength(0);
      expect((await w.current())?.versionId).toBe(before?.versionId);
      expect(cmValue(w)).toBe(cmBefore);
      const mails = await w.h.alertMails();
      expect(mails[0]?.subject).toContain(code);
    });
  }
});

describe('KMS Sign: request deadline and error classes', () => {
  it('a KMS endpoint that never answers ends at the request timeout as transient KMS_TIMEOUT', async () => {
    const sockets: Socket[] = [];
    const silent = createTcpServer((s) => sockets.push(s));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const addr = silent.address();
    const client = kmsClient({
      ...common,
      timeoutMs: 300,
      maxAttempts: 1,
      endpoint: `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`,
    });
    try {
      const source = kmsAssertionSource({
        credential: {
          id: 'aem-mail',
          clientId: 'c',
          certificate: { kmsKeyId: 'alias/x', algorithm: 'RS256', thumbprint: 'ab'.repeat(20) },
        },
        client,
      });
      const started = Date.now();
      const err = await source.assertion('https://login.example/token').then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(RefresherError);
      expect(err).toMatchObject({ class: 'transient', code: 'KMS_TIMEOUT' });
      expect(Date.now() - started).toBeLessThan(3_000);
    } finally {
      client.destroy();
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => silent.close(() => r()));
    }
  });

  it.each([
    ['AccessDeniedException', 400, 'configuration', /kms:Sign on alias\/k/],
    ['InvalidKeyUsageException', 400, 'configuration', /RSA_2048, RSA_3072 or RSA_4096/],
    ['ThrottlingException', 400, 'transient', /next run/],
    ['KMSInternalException', 500, 'transient', /next run/],
    ['KeyUnavailableException', 500, 'transient', /next run/],
  ] as const)('%s (HTTP %d) is %s', (name, status, cls, fix) => {
    const e = kmsError(
      { name, message: 'm', $metadata: { httpStatusCode: status } },
      'alias/k',
      'aem-mail',
      'RSASSA_PSS_SHA_256',
      'entra',
    );
    expect(e).toMatchObject({ class: cls, code: `KMS_${name}`, status });
    expect(e.fix).toMatch(fix);
  });
});

describe('configuration: certificate.kmsKeyId', () => {
  const base = {
    credentials: [
      {
        id: 'aem-mail',
        tenant: 'contoso.onmicrosoft.com',
        clientId: 'c',
        scopes: ['https://outlook.office365.com/SMTP.Send', 'offline_access'],
        mailbox: 'aem@contoso.com',
        validation: { smtp: { host: 'smtp.office365.com' } },
        credentialType: 'certificate',
      },
    ],
  };
  const withCert = (certificate: Record<string, unknown>) => ({
    ...base,
    credentials: [{ ...base.credentials[0], certificate }],
  });
  const problems = (certificate: Record<string, unknown>): string => {
    try {
      parseConfig(withCert(certificate), 'test');
      return '';
    } catch (e) {
      return (e as Error).message;
    }
  };
  const arn = 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
  const s256 = 'ab'.repeat(32);

  it('accepts key id, key ARN, alias name and alias ARN with the thumbprint the header needs', () => {
    for (const kmsKeyId of [
      arn,
      '1234abcd-12ab-34cd-56ef-1234567890ab',
      'alias/token-refresher',
      'arn:aws:kms:eu-west-1:123456789012:alias/token-refresher',
    ]) {
      expect(problems({ kmsKeyId, thumbprintSha256: s256 })).toBe('');
    }
    expect(problems({ kmsKeyId: arn, algorithm: 'RS256', thumbprint: 'AB:'.repeat(19) + 'AB' })).toBe('');
    expect(problems({ kmsKeyId: arn, thumbprintSha256: Buffer.alloc(32, 1).toString('base64url') })).toBe('');
  });

  it('refuses a key document and a KMS key together, a missing thumbprint and a malformed key id, each by path', () => {
    expect(problems({ kmsKeyId: arn, thumbprintSha256: s256, secretId: 'x/certificate' })).toMatch(
      /credentials\[0\]\.certificate\.secretId: certificate\.kmsKeyId and certificate\.secretId exclude each other/,
    );
    expect(problems({ kmsKeyId: arn })).toMatch(
      /credentials\[0\]\.certificate\.thumbprintSha256: required with certificate\.kmsKeyId/,
    );
    expect(problems({ kmsKeyId: arn, algorithm: 'RS256', thumbprintSha256: s256 })).toMatch(
      /credentials\[0\]\.certificate\.thumbprint: required with certificate\.kmsKeyId for the x5t header/,
    );
    expect(problems({ kmsKeyId: 'my-key', thumbprintSha256: s256 })).toMatch(
      /certificate\.kmsKeyId: a KMS key id, key ARN, alias name/,
    );
    expect(problems({ thumbprintSha256: s256 })).toMatch(
      /certificate\.thumbprintSha256: only with certificate\.kmsKeyId/,
    );
  });
});
