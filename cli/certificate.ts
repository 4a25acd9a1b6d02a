/**
 * What status, doctor and client-secret say about a certificate credential's key document: what it holds, when its
 * certificate ends and whether it carries the thumbprint the configured header needs (the client secret's expiry is in
 * lambdas/report/secret-expiry.ts, shared with the function). Nothing here prints a value: the key document is parsed only
 * to learn its dates and thumbprints.
 */
import type { Config, Credential } from '../lambdas/config/schema.ts';
import { isRefresherError, type RefresherError } from '../lambdas/core/errors.ts';
import type { SecretStore } from '../lambdas/core/types.ts';
import {
  certificateSecretId,
  headerFor,
  parseKeyDocument,
  type KeyMaterial,
} from '../lambdas/refresh/client-assertion.ts';
import { daysLeft, roundDays, WARN_DAYS } from '../lambdas/report/secret-expiry.ts';

export interface CertificateInfo {
  secretId: string;
  /** Whether the secret holds a value at all. */
  stored: boolean;
  /** RSA modulus length. */
  bits?: number;
  /** The certificate's end of validity (absent when only a thumbprint is stored). */
  notAfter?: string;
  daysLeft?: number;
  warn?: boolean;
  /** SHA-1 thumbprint in upper-case hex: what Entra ID lists under Certificates & secrets. */
  thumbprint?: string;
  /** Whether the certificate itself is stored, so the key was checked against it. */
  certificateChecked?: boolean;
  /** The key lives in AWS KMS (certificate.kmsKeyId): nothing to read here, and the certificate's expiry is not known. */
  kmsKeyId?: string;
  /** Why the document cannot be used (CERTIFICATE_INVALID, CERTIFICATE_EXPIRED, CERTIFICATE_THUMBPRINT_MISSING). */
  error?: { code: string; message: string; fix: string };
}

function thumbprintHex(x5t: string | undefined): string | undefined {
  return x5t ? Buffer.from(x5t, 'base64url').toString('hex').toUpperCase() : undefined;
}

/**
 * Parses a key document the way the function will (parseKeyDocument), and checks that it carries the thumbprint the
 * configured header needs. An expired certificate is reported with its date rather than only refused.
 */
export function inspectKeyDocument(
  raw: string,
  secretId: string,
  c: Pick<Credential, 'provider' | 'certificate'>,
  now: Date,
): CertificateInfo {
  const remote = c.provider === 'microsoft' ? 'entra' : c.provider;
  const info: CertificateInfo = { secretId, stored: true };
  let key: KeyMaterial;
  try {
    key = parseKeyDocument(raw, secretId, remote, now);
  } catch (e) {
    if (!isRefresherError(e)) throw e;
    info.error = errorOf(e);
    if (e.code !== 'CERTIFICATE_EXPIRED') return info;
    // Read again as of the epoch, only to learn the date it expired on.
    key = parseKeyDocument(raw, secretId, remote, new Date(0));
  }
  info.bits = key.privateKey.asymmetricKeyDetails?.modulusLength;
  info.thumbprint = thumbprintHex(key.x5t);
  info.certificateChecked = key.notAfter !== undefined;
  if (key.notAfter) {
    info.notAfter = key.notAfter.toISOString();
    info.daysLeft = roundDays(daysLeft(info.notAfter, now));
    info.warn = info.daysLeft < WARN_DAYS;
  }
  if (!info.error) {
    const { algorithm, header } = headerFor(c.certificate);
    if (!(header === 'x5t#S256' ? key.x5tS256 : key.x5t)) {
      info.error = {
        code: 'CERTIFICATE_THUMBPRINT_MISSING',
        message: `${secretId} gives no ${header === 'x5t#S256' ? 'SHA-256' : 'SHA-1'} thumbprint, which ${algorithm} with the ${header} header needs`,
        fix: 'Store the certificate with the key (both thumbprints are computed from it), or set certificate.algorithm / certificate.thumbprintHeader to match the thumbprint given.',
      };
    }
  }
  return info;
}

function errorOf(e: RefresherError): NonNullable<CertificateInfo['error']> {
  return { code: e.code, message: e.message, fix: e.fix };
}

/** The certificate credential's key document as stored; a read failure of the store is thrown, a bad document reported. */
export async function readCertificate(
  config: Config,
  store: SecretStore,
  c: Credential,
  now: Date,
): Promise<CertificateInfo> {
  // A KMS-held key never leaves KMS and the certificate is not stored: only the pipeline's signing proves it works.
  if (c.certificate?.kmsKeyId)
    return { secretId: `kms:${c.certificate.kmsKeyId}`, stored: true, kmsKeyId: c.certificate.kmsKeyId };
  const secretId = certificateSecretId(config, c);
  const v = await store.getValue(secretId, 'AWSCURRENT');
  if (!v || !v.value.trim()) {
    return {
      secretId,
      stored: false,
      error: {
        code: 'SECRET_EMPTY',
        message: `${secretId} holds no certificate key document`,
        fix: `Store the key and certificate: \`cat key.pem cert.pem | token-refresher client-secret --credential ${c.id} --certificate\` (or --from-file).`,
      },
    };
  }
  return inspectKeyDocument(v.value, secretId, c, now);
}
