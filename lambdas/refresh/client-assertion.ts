import {
  constants,
  createHash,
  createPrivateKey,
  randomUUID,
  sign,
  X509Certificate,
  type KeyObject,
} from 'node:crypto';
import type { CertificateSettings, Config, Credential } from '../config/schema.ts';
import { RefresherError, type Remote } from '../core/errors.ts';
import { registerSecret } from '../core/redact.ts';

/**
 * Certificate credentials (private_key_jwt, RFC 7523 section 2.2): instead of a client secret the app proves itself with a
 * short-lived JWT signed by a key whose certificate is registered on the app. The key never leaves this process: only
 * the signed assertion is sent, and it is good for five minutes.
 */

export const JWT_BEARER_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
/** Entra: "keep it short, 5-10 minutes after nbf at most". */
export const ASSERTION_LIFETIME_SEC = 300;

export type AssertionAlgorithm = 'PS256' | 'RS256';
export type ThumbprintHeader = 'x5t#S256' | 'x5t';

export interface KeyMaterial {
  privateKey: KeyObject;
  /** base64url SHA-256 thumbprint of the certificate's DER (header x5t#S256). */
  x5tS256?: string;
  /** base64url SHA-1 thumbprint (header x5t). */
  x5t?: string;
  /** When the certificate stops being accepted. */
  notAfter?: Date;
}

export function certificateSecretId(
  config: Pick<Config, 'secretPrefix'>,
  c: Pick<Credential, 'id' | 'certificate'>,
): string {
  return c.certificate?.secretId ?? `${config.secretPrefix}/${c.id}/certificate`;
}

function invalid(secretId: string, what: string, remote: Remote): RefresherError {
  return new RefresherError({
    class: 'configuration',
    code: 'CERTIFICATE_INVALID',
    remote,
    stage: 'refresh',
    // Never quote the value: it is a private key.
    message: `${secretId} does not hold a usable certificate key: ${what}`,
    fix:
      `Put {"privateKey": "<PEM>", "certificate": "<PEM>"} in ${secretId} (or the PEM private key followed by the PEM certificate; ` +
      'a "thumbprint" (SHA-1 hex, as Entra shows it) or "thumbprintSha256" may replace the certificate). The key must be RSA, unencrypted or with "passphrase".',
  });
}

export function hexToBase64url(hex: string): string {
  return Buffer.from(hex.replace(/[^0-9a-f]/gi, ''), 'hex').toString('base64url');
}

function pemBlocks(text: string, label: RegExp): string[] {
  const out: string[] = [];
  const re = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g;
  for (const m of text.matchAll(re)) if (label.test(m[1] ?? '')) out.push(m[0]);
  return out;
}

interface KeyDocument {
  privateKey?: unknown;
  certificate?: unknown;
  thumbprint?: unknown;
  thumbprintSha256?: unknown;
  passphrase?: unknown;
}

/**
 * Reads the key document: JSON {privateKey, certificate | thumbprint | thumbprintSha256, passphrase?}, or a PEM bundle
 * (key and certificate blocks, as `cat key.pem cert.pem` gives). Every piece is registered as a secret before any check
 * can quote anything.
 */
export function parseKeyDocument(
  raw: string,
  secretId: string,
  remote: Remote = 'entra',
  now = new Date(),
): KeyMaterial {
  registerSecret(raw);
  const text = raw.trim();
  let doc: KeyDocument;
  if (text.startsWith('{')) {
    try {
      doc = JSON.parse(text) as KeyDocument;
    } catch {
      throw invalid(secretId, 'it starts like JSON but is not valid JSON', remote);
    }
  } else {
    const keys = pemBlocks(text, /PRIVATE KEY$/);
    const certs = pemBlocks(text, /^CERTIFICATE$/);
    doc = { privateKey: keys[0], certificate: certs[0] };
  }
  if (typeof doc.privateKey !== 'string' || !doc.privateKey.includes('PRIVATE KEY'))
    throw invalid(secretId, 'no PEM private key', remote);
  registerSecret(doc.privateKey);
  const passphrase = typeof doc.passphrase === 'string' ? doc.passphrase : undefined;
  registerSecret(passphrase);
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(passphrase ? { key: doc.privateKey, passphrase } : doc.privateKey);
  } catch (e) {
    const code = (e as { code?: string }).code ?? 'unreadable';
    throw invalid(
      secretId,
      `the private key cannot be read (${code}${/PASSPHRASE|DECRYPT|BAD_DECRYPT/i.test(code) ? ': encrypted, wrong or missing "passphrase"' : ''})`,
      remote,
    );
  }
  if (privateKey.asymmetricKeyType !== 'rsa')
    throw invalid(
      secretId,
      `the key is ${privateKey.asymmetricKeyType ?? 'of an unknown type'}, but PS256/RS256 need an RSA key`,
      remote,
    );
  const bits = privateKey.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < 2048) throw invalid(secretId, `the RSA key has ${bits} bits; 2048 or more are required`, remote);

  const out: KeyMaterial = { privateKey };
  if (typeof doc.certificate === 'string' && doc.certificate.includes('CERTIFICATE')) {
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(doc.certificate);
    } catch {
      throw invalid(secretId, 'the certificate is not a readable PEM X.509 certificate', remote);
    }
    if (!cert.checkPrivateKey(privateKey))
      throw invalid(
        secretId,
        `the private key does not belong to the certificate ${cert.subject.replace(/\n/g, ', ')}`,
        remote,
      );
    out.x5tS256 = createHash('sha256').update(cert.raw).digest('base64url');
    out.x5t = createHash('sha1').update(cert.raw).digest('base64url');
    out.notAfter = new Date(cert.validTo);
    if (out.notAfter.getTime() <= now.getTime()) {
      throw new RefresherError({
        class: 'configuration',
        code: 'CERTIFICATE_EXPIRED',
        remote,
        stage: 'refresh',
        message: `the certificate in ${secretId} expired on ${out.notAfter.toISOString()}`,
        fix: `Create a new certificate, upload its public part to the app in Entra ID (Certificates & secrets > Certificates) and put its key in ${secretId}.`,
      });
    }
  }
  if (typeof doc.thumbprint === 'string') {
    if (!/^([0-9a-f]{2}:?){20}$/i.test(doc.thumbprint))
      throw invalid(secretId, '"thumbprint" is not a SHA-1 thumbprint (40 hex digits)', remote);
    out.x5t ??= hexToBase64url(doc.thumbprint);
  }
  if (typeof doc.thumbprintSha256 === 'string') {
    const t = doc.thumbprintSha256;
    out.x5tS256 ??= /^([0-9a-f]{2}:?){32}$/i.test(t)
      ? hexToBase64url(t)
      : /^[A-Za-z0-9_-]{43}$/.test(t)
        ? t
        : undefined;
    if (!out.x5tS256)
      throw invalid(secretId, '"thumbprintSha256" is neither 64 hex digits nor 43 base64url characters', remote);
  }
  if (!out.x5t && !out.x5tS256) throw invalid(secretId, 'no certificate or thumbprint to name the key by', remote);
  return out;
}

export interface AssertionParams {
  clientId: string;
  /** The token endpoint the assertion is sent to: Entra requires it as the audience. */
  audience: string;
  algorithm: AssertionAlgorithm;
  header: ThumbprintHeader;
  now: Date;
  lifetimeSec?: number;
}

function b64urlJson(v: unknown): string {
  return Buffer.from(JSON.stringify(v), 'utf8').toString('base64url');
}

export function headerFor(settings: Pick<CertificateSettings, 'algorithm' | 'thumbprintHeader'> | undefined): {
  algorithm: AssertionAlgorithm;
  header: ThumbprintHeader;
} {
  const algorithm = settings?.algorithm ?? 'PS256';
  // Microsoft documents the pairs PS256 + x5t#S256 (current) and RS256 + x5t (legacy SHA-1).
  return { algorithm, header: settings?.thumbprintHeader ?? (algorithm === 'PS256' ? 'x5t#S256' : 'x5t') };
}

const THUMBPRINT_IN_DOCUMENT = {
  where: 'the key document',
  fix: 'Add the certificate itself to the key document (both thumbprints are computed from it), or set certificate.thumbprintHeader to the header whose thumbprint is given.',
};

/** The thumbprints a key source can name its certificate by (KeyMaterial carries them; a KMS key has them from config). */
export type Thumbprints = Pick<KeyMaterial, 'x5tS256' | 'x5t'>;

/**
 * The JWS signing input "<header>.<claims>" of a client assertion: header {alg, typ, x5t#S256|x5t}, claims aud,
 * iss = sub = client id, jti, nbf, iat, exp. Every key source signs exactly this, so Entra sees the same assertion
 * whichever holds the key.
 */
export function assertionSigningInput(
  thumbs: Thumbprints,
  p: AssertionParams,
  missing: { where: string; fix: string } = THUMBPRINT_IN_DOCUMENT,
): string {
  const thumb = p.header === 'x5t#S256' ? thumbs.x5tS256 : thumbs.x5t;
  if (!thumb) {
    throw new RefresherError({
      class: 'configuration',
      code: 'CERTIFICATE_THUMBPRINT_MISSING',
      remote: 'entra',
      stage: 'refresh',
      message: `${missing.where} gives no ${p.header === 'x5t#S256' ? 'SHA-256' : 'SHA-1'} thumbprint for the ${p.header} header`,
      fix: missing.fix,
    });
  }
  const nowSec = Math.floor(p.now.getTime() / 1000);
  const header = { alg: p.algorithm, typ: 'JWT', [p.header]: thumb };
  const claims = {
    aud: p.audience,
    iss: p.clientId,
    sub: p.clientId,
    jti: randomUUID(),
    nbf: nowSec,
    iat: nowSec,
    exp: nowSec + Math.min(p.lifetimeSec ?? ASSERTION_LIFETIME_SEC, 600),
  };
  return `${b64urlJson(header)}.${b64urlJson(claims)}`;
}

/** Appends the signature to the signing input; the result is a credential from then on. */
export function finishAssertion(input: string, signature: Uint8Array): string {
  const jwt = `${input}.${Buffer.from(signature).toString('base64url')}`;
  // Replayable until it expires: treated like any other secret in logs and errors.
  registerSecret(jwt);
  return jwt;
}

/** The signed client assertion, signed here with the key from a key document. */
export function buildClientAssertion(key: KeyMaterial, p: AssertionParams): string {
  const input = assertionSigningInput(key, p);
  const signature =
    p.algorithm === 'PS256'
      ? // RFC 7518 3.5: RSASSA-PSS with SHA-256, MGF1 with SHA-256 and a salt as long as the hash.
        sign('sha256', Buffer.from(input), {
          key: key.privateKey,
          padding: constants.RSA_PKCS1_PSS_PADDING,
          saltLength: 32,
        })
      : sign('sha256', Buffer.from(input), { key: key.privateKey, padding: constants.RSA_PKCS1_PADDING });
  return finishAssertion(input, signature);
}

/** Produces client assertions for one credential; the key is read once, on first use. */
export interface ClientAssertionSource {
  assertion(audience: string): Promise<string>;
  /** The certificate's end of validity, once the key has been read (undefined when only a thumbprint is stored). */
  notAfter(): Date | undefined;
}

export function secretKeyAssertionSource(o: {
  credential: Pick<Credential, 'clientId' | 'certificate'>;
  secretId: string;
  readSecret: (secretId: string) => Promise<string>;
  now?: () => Date;
  remote?: Remote;
}): ClientAssertionSource {
  let key: Promise<KeyMaterial> | undefined;
  let loaded: KeyMaterial | undefined;
  const now = o.now ?? (() => new Date());
  const { algorithm, header } = headerFor(o.credential.certificate);
  return {
    async assertion(audience) {
      let pending = key;
      if (!pending) {
        pending = o
          .readSecret(o.secretId)
          .then((raw) => (loaded = parseKeyDocument(raw, o.secretId, o.remote ?? 'entra', now())));
        key = pending;
        // A failed read is not cached: the next call (another grant, another run) reads again.
        pending.catch(() => (key = undefined));
      }
      return buildClientAssertion(await pending, {
        clientId: o.credential.clientId,
        audience,
        algorithm,
        header,
        now: now(),
      });
    },
    notAfter: () => loaded?.notAfter,
  };
}
