import { adobeOrgs } from '../../lambdas/config/adobe.ts';
import { RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import { adobeSecretId, secretIds } from '../../lambdas/config/load.ts';
import type { Credential } from '../../lambdas/config/schema.ts';
import { certificateSecretId } from '../../lambdas/refresh/client-assertion.ts';
import type { PartScope, SecretsEncryption } from './context.ts';

// Why a secret has no Secrets Manager rotation schedule (AwsSolutions-SMG4), per kind of secret.
const ROTATED_BY_FUNCTION =
  'Rotated by the token-refresher function on its own EventBridge schedule (redeem, validate by test send, compare-and-swap promote, push); the Secrets Manager rotation-function contract cannot validate before promoting and allows one rotation per 4 h.';
const ISSUED_BY_ADMIN =
  'A client secret issued by Entra ID or the Adobe Developer Console: only an administrator of that console can issue a new one (no API this function could call); the operator puts each new value into this secret.';
const CERTIFICATE_BY_OPERATOR =
  'Private key and certificate of a certificate credential: a new one only works once its certificate is uploaded to the app registration, which no Secrets Manager rotation function can do; the operator stores each new key document with "token-refresher client-secret --certificate".';

/** A secret the function uses: created here (empty), or named by ARN in the configuration and owned elsewhere. */
export interface SecretRef {
  readonly secretId: string;
  /** The ARN IAM policies name: the created secret's Ref (with its random suffix), or the ARN from the configuration. */
  readonly arn: string;
  readonly resource?: secretsmanager.CfnSecret;
  readonly access: 'read' | 'read-write';
  /** A certificate key document (credentialType "certificate"): granted read-only in a statement of its own. */
  readonly certificate?: boolean;
}

/** The secrets of one credential. */
export interface CredentialSecrets {
  readonly token: SecretRef;
  readonly clientSecret: SecretRef;
  /** credentialType "certificate" only: the key document the function signs client assertions with. */
  readonly certificate?: SecretRef;
}

export interface Secrets {
  /** The customer-managed or given key of the secrets; undefined for the AWS-managed key. */
  readonly key: kms.IKey | undefined;
  /** Per credential id, in configuration order. */
  readonly byCredential: ReadonlyMap<string, CredentialSecrets>;
  readonly adobe: SecretRef | undefined;
  /** Every secret once (a secret two credentials share appears once, with the wider access of the two). */
  readonly all: readonly SecretRef[];
}

/**
 * The key and the secrets, created first: the function's policy names their ARNs. One secret per name; two credentials
 * may share one Entra app and so one client secret (or certificate).
 */
export function addSecrets(part: PartScope): Secrets {
  const { scope, config } = part;
  const key = createSecretsKey(scope, part.props.secretsEncryption ?? 'aws-managed');
  const secrets = new Map<string, SecretRef>();
  const secret = (
    secretId: string,
    access: SecretRef['access'],
    removalPolicy: RemovalPolicy,
    description: string,
    notRotatedBecause: string,
    certificate = false,
  ) => addSecret(scope, key, secrets, secretId, access, removalPolicy, description, notRotatedBecause, certificate);

  const byCredential = new Map<string, CredentialSecrets>();
  for (const credential of config.credentials) {
    const ids = secretIds(config, credential);
    byCredential.set(credential.id, {
      token: secret(
        ids.token,
        'read-write',
        RemovalPolicy.RETAIN,
        `refresh token of credential ${credential.id} (first put by "token-refresher regenerate", then rotated by the function)`,
        ROTATED_BY_FUNCTION,
      ),
      // No state secret any more: the lease, the run state and the delivery records live in the state table
      // (lib/parts/state-table.ts). A deployment of the older layout loses its state secret on update (it was created
      // with DeletionPolicy Delete); the first run reads what it still can of it (lambdas/store/upgrade.ts).
      clientSecret: secret(
        ids.clientSecret,
        'read',
        RemovalPolicy.RETAIN,
        `OAuth client secret of credential ${credential.id} (put by the operator, read by the function)`,
        ISSUED_BY_ADMIN,
      ),
      // Certificate credentials only: the key document never leaves this secret except as signed client assertions.
      certificate: certificateSecret(credential)
        ? secret(
            certificateSecretId(config, credential),
            'read',
            RemovalPolicy.RETAIN,
            `certificate key document of credential ${credential.id} (put by the operator with "token-refresher client-secret --certificate", read by the function)`,
            CERTIFICATE_BY_OPERATOR,
            true,
          )
        : undefined,
    });
  }
  // One secret per Adobe organization (several organizations may also name one secret: it is created once).
  const adobeAll = adobeOrgs(config).map((org) =>
    secret(
      adobeSecretId(config, org),
      'read',
      RemovalPolicy.RETAIN,
      `Adobe Developer Console OAuth Server-to-Server client secret${org.name ? ` of ${org.name}` : ''} (put by the operator, read by the function)`,
      ISSUED_BY_ADMIN,
    ),
  );
  return { key, byCredential, adobe: adobeAll[0], all: [...secrets.values()] };
}

/** A key in KMS has no key document: nothing to create or read in Secrets Manager. */
function certificateSecret(credential: Credential): boolean {
  return credential.credentialType === 'certificate' && !credential.certificate?.kmsKeyId;
}

function createSecretsKey(scope: Construct, encryption: SecretsEncryption): kms.IKey | undefined {
  if (encryption === 'aws-managed') return undefined;
  if (encryption !== 'customer-managed') return encryption;
  return new kms.Key(scope, 'SecretsKey', {
    description: 'Encrypts the token-refresher secrets (refresh tokens, client secrets, run state)',
    enableKeyRotation: true,
    // Retained with the retained secrets: a deleted key would make them unreadable.
    removalPolicy: RemovalPolicy.RETAIN,
  });
}

/**
 * One secret per name, created without a value: CfnSecret with neither SecretString nor GenerateSecretString is an empty
 * secret (the L2 `Secret` would generate a random value). Values come from the operator CLI and the function, never from
 * the template. A name that is an ARN is a secret owned elsewhere: it is granted, not created.
 */
function addSecret(
  scope: Construct,
  key: kms.IKey | undefined,
  secrets: Map<string, SecretRef>,
  secretId: string,
  access: SecretRef['access'],
  removalPolicy: RemovalPolicy,
  description: string,
  notRotatedBecause: string,
  certificate: boolean,
): SecretRef {
  const existing = secrets.get(secretId);
  if (existing) {
    // Two credentials may share one Entra app and so one client secret (or certificate); the wider access wins.
    const merged: SecretRef = {
      ...existing,
      access: existing.access === 'read-write' || access === 'read-write' ? 'read-write' : 'read',
      certificate: (existing.certificate ?? false) && certificate,
    };
    secrets.set(secretId, merged);
    return merged;
  }
  let ref: SecretRef;
  if (secretId.startsWith('arn:')) {
    // IAM matches a secret by its full ARN, which ends in "-" and 6 random characters; a partial ARN gets the wildcard.
    ref = { secretId, arn: /-[A-Za-z0-9]{6}$/.test(secretId) ? secretId : `${secretId}-??????`, access, certificate };
  } else {
    const constructId = `Secret-${secretId.replace(/[^A-Za-z0-9_-]/g, '-')}`;
    if (scope.node.tryFindChild(constructId))
      throw new Error(
        `secret names "${secretId}" and another one map to the same construct id ${constructId}; rename one`,
      );
    const resource = new secretsmanager.CfnSecret(scope, constructId, {
      name: secretId,
      description: `token-refresher: ${description}`,
      kmsKeyId: key?.keyArn,
    });
    resource.applyRemovalPolicy(removalPolicy);
    Validations.of(resource).acknowledge({ id: 'AwsSolutions-SMG4', reason: notRotatedBecause });
    ref = { secretId, arn: resource.ref, resource, access, certificate };
  }
  secrets.set(secretId, ref);
  return ref;
}
