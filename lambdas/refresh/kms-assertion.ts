import { KMSClient, SignCommand, type KMSClientConfig, type SigningAlgorithmSpec } from '@aws-sdk/client-kms';
import type { Credential } from '../config/schema.ts';
import { RefresherError, type Remote } from '../core/errors.ts';
import {
  assertionSigningInput,
  finishAssertion,
  headerFor,
  hexToBase64url,
  type AssertionAlgorithm,
  type ClientAssertionSource,
  type Thumbprints,
} from './client-assertion.ts';

/**
 * Certificate credentials whose private key is an asymmetric AWS KMS key (certificate.kmsKeyId): the key never exists
 * outside KMS, not even in this process. The assertion is assembled exactly as for a key document and only the signature
 * comes from KMS Sign.
 */

const SIGNING_ALGORITHM: Record<AssertionAlgorithm, SigningAlgorithmSpec> = {
  // KMS RSASSA_PSS_SHA_256 uses MGF1-SHA-256 and a 32-byte salt: what RFC 7518 3.5 requires of PS256.
  PS256: 'RSASSA_PSS_SHA_256',
  RS256: 'RSASSA_PKCS1_V1_5_SHA_256',
};

/** The region a key ARN (or alias ARN) names; undefined for a bare key id or alias name (the function's own region). */
export function kmsKeyRegion(keyId: string): string | undefined {
  return /^arn:[^:]+:kms:([^:]+):/.exec(keyId)?.[1];
}

/**
 * A KMS client whose deadline ends the request. throwOnRequestTimeout: since @smithy/node-http-handler 4.x a
 * requestTimeout alone only logs a warning and the request waits on until the function's own timeout.
 */
export function kmsClient(
  o: { timeoutMs: number; region?: string; maxAttempts?: number } & Pick<KMSClientConfig, 'endpoint' | 'credentials'>,
): KMSClient {
  return new KMSClient({
    ...(o.region ? { region: o.region } : {}),
    ...(o.endpoint ? { endpoint: o.endpoint } : {}),
    ...(o.credentials ? { credentials: o.credentials } : {}),
    maxAttempts: o.maxAttempts ?? 3,
    requestHandler: { requestTimeout: o.timeoutMs, connectionTimeout: o.timeoutMs, throwOnRequestTimeout: true },
  });
}

/** Thumbprints from the configuration: the certificate itself is not needed to name it in the JWT header. */
function configuredThumbprints(cert: NonNullable<Credential['certificate']>): Thumbprints {
  const s256 = cert.thumbprintSha256;
  return {
    x5tS256: s256 === undefined ? undefined : /^[A-Za-z0-9_-]{43}$/.test(s256) ? s256 : hexToBase64url(s256),
    x5t: cert.thumbprint === undefined ? undefined : hexToBase64url(cert.thumbprint),
  };
}

const CONFIGURATION_ERRORS = new Set([
  'NotFoundException',
  'DisabledException',
  'KMSInvalidStateException',
  'AccessDeniedException',
  'InvalidKeyUsageException',
  'ValidationException',
  'IncorrectKeyException',
  'InvalidGrantTokenException',
]);

/** KMS Sign failures, classified: a key that is missing, disabled, refused or of the wrong kind needs an administrator. */
export function kmsError(
  e: unknown,
  keyId: string,
  credentialId: string,
  algorithm: SigningAlgorithmSpec,
  remote: Remote,
): RefresherError {
  const err = e as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } } | undefined;
  const name = err?.name ?? 'Error';
  // KMS messages name the key ARN and the action, never a credential: safe to quote, shortened.
  const detail = err?.message ? `: ${err.message.slice(0, 200)}` : '';
  const status = err?.$metadata?.httpStatusCode;
  const field = `certificate.kmsKeyId of credential ${credentialId}`;
  if (CONFIGURATION_ERRORS.has(name)) {
    const fixes: Record<string, string> = {
      NotFoundException: `Correct ${field} (key id, key ARN, alias/<name> or alias ARN; a key id or alias name is looked up in the function's region) or create the key (docs/VENDORS.md).`,
      DisabledException: `Enable the key: \`aws kms enable-key --key-id ${keyId}\` (an alias: the key it points to).`,
      KMSInvalidStateException: `The key is pending deletion or not yet usable: \`aws kms cancel-key-deletion --key-id ${keyId}\` then \`aws kms enable-key --key-id ${keyId}\`, or point ${field} at another key whose certificate is registered on the app.`,
      AccessDeniedException: `Allow the function kms:Sign on ${keyId}: the stack grants it for ${field}; the key policy must also let this account's IAM policies grant it (the default key policy does).`,
    };
    return new RefresherError({
      class: 'configuration',
      code: `KMS_${name}`,
      remote,
      stage: 'refresh',
      status,
      message: `KMS key ${keyId} cannot sign the client assertion (${name}${detail})`,
      fix:
        fixes[name] ??
        `${field} must be an RSA key (RSA_2048, RSA_3072 or RSA_4096) with KeyUsage SIGN_VERIFY that allows ${algorithm}; create one as docs/VENDORS.md shows and register its certificate on the app.`,
    });
  }
  return new RefresherError({
    class: 'transient',
    code: name === 'TimeoutError' || name === 'RequestTimeout' ? 'KMS_TIMEOUT' : `KMS_${name}`,
    remote,
    stage: 'refresh',
    status,
    message: `KMS Sign with key ${keyId} failed: ${name}${detail}`,
    fix: 'Retried on the next run (throttling, KMS or network trouble); the stored token is unchanged.',
  });
}

export function kmsAssertionSource(o: {
  credential: Pick<Credential, 'id' | 'clientId' | 'certificate'>;
  client: Pick<KMSClient, 'send'>;
  now?: () => Date;
  remote?: Remote;
}): ClientAssertionSource {
  const cert = o.credential.certificate;
  const keyId = cert?.kmsKeyId;
  if (!cert || !keyId) throw new Error(`credential ${o.credential.id} has no certificate.kmsKeyId`);
  const now = o.now ?? (() => new Date());
  const remote = o.remote ?? 'entra';
  const { algorithm, header } = headerFor(cert);
  const thumbs = configuredThumbprints(cert);
  const signingAlgorithm = SIGNING_ALGORITHM[algorithm];
  const missing = {
    where: `the configuration of credential ${o.credential.id}`,
    fix: `Set certificate.${header === 'x5t#S256' ? 'thumbprintSha256' : 'thumbprint'} to the thumbprint of the certificate registered for KMS key ${keyId}.`,
  };
  return {
    async assertion(audience) {
      const input = assertionSigningInput(
        thumbs,
        { clientId: o.credential.clientId, audience, algorithm, header, now: now() },
        missing,
      );
      let signature: Uint8Array | undefined;
      try {
        // MessageType RAW: KMS computes the SHA-256 itself, so the signature is the one DIGEST over our own hash would
        // give (the input is far below RAW's 4096-byte limit and holds nothing secret). RAW is also the form the test peer,
        // moto, implements: it ignores MessageType and always hashes, so DIGEST could not be verified end to end.
        const r = await o.client.send(
          new SignCommand({
            KeyId: keyId,
            Message: Buffer.from(input, 'utf8'),
            MessageType: 'RAW',
            SigningAlgorithm: signingAlgorithm,
          }),
        );
        signature = r.Signature;
      } catch (e) {
        throw kmsError(e, keyId, o.credential.id, signingAlgorithm, remote);
      }
      if (!signature || signature.length === 0)
        throw kmsError(
          { name: 'EmptySignature', message: 'KMS answered without a signature' },
          keyId,
          o.credential.id,
          signingAlgorithm,
          remote,
        );
      return finishAssertion(input, signature);
    },
    // The certificate is not held here (only its thumbprint): its expiry is tracked with clientSecretExpiresAt.
    notAfter: () => undefined,
  };
}
