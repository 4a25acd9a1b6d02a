import { Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { RefresherContext } from './context.ts';

/**
 * What the function may do with the secrets it rotates (refresh token and run state): exactly the calls of
 * lambdas/store/secrets-manager-store.ts (test/cdk/least-privilege.test.ts checks every granted action is called).
 */
export const SECRET_READ_WRITE_ACTIONS = [
  'secretsmanager:GetSecretValue',
  'secretsmanager:PutSecretValue',
  'secretsmanager:UpdateSecretVersionStage',
  'secretsmanager:ListSecretVersionIds',
] as const;

/**
 * What the function may do with the client secrets (Entra, Adobe) and the certificate key documents: an operator sets them,
 * the function only reads.
 */
export const SECRET_READ_ACTIONS = ['secretsmanager:GetSecretValue', 'secretsmanager:ListSecretVersionIds'] as const;

/**
 * The function's permissions on its secrets, the KMS keys of certificate credentials and the alert sender. `role` is
 * another role that runs the same pipeline (the recovery endpoint's); default the rotation function's.
 */
export function addGrants(ctx: RefresherContext, role: iam.Role = ctx.role): void {
  const c = { ...ctx, role };
  grantSecrets(c);
  grantCertificateKeys(c);
  grantMail(c);
}

function grantSecrets({ secrets, role, stack }: RefresherContext): void {
  const all = secrets.all;
  const readWrite = all.filter((s) => s.access === 'read-write').map((s) => s.arn);
  const readOnly = all.filter((s) => s.access === 'read' && !s.certificate).map((s) => s.arn);
  const certificates = all.filter((s) => s.access === 'read' && s.certificate).map((s) => s.arn);
  if (readWrite.length > 0) {
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'RotateOwnSecrets',
        actions: [...SECRET_READ_WRITE_ACTIONS],
        resources: readWrite,
      }),
    );
  }
  if (readOnly.length > 0) {
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({ sid: 'ReadClientSecrets', actions: [...SECRET_READ_ACTIONS], resources: readOnly }),
    );
  }
  if (certificates.length > 0) {
    // A statement of its own, so a reviewer sees at once which private keys the function can read (none without
    // certificate credentials).
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ReadCertificateKeys',
        actions: [...SECRET_READ_ACTIONS],
        resources: certificates,
      }),
    );
  }
  if (secrets.key) {
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'SecretsKeyViaSecretsManager',
        actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
        resources: [secrets.key.keyArn],
        conditions: { StringEquals: { 'kms:ViaService': `secretsmanager.${stack.region}.amazonaws.com` } },
      }),
    );
  }
}

/**
 * kms:Sign on the KMS keys of certificate credentials (certificate.kmsKeyId), nothing else: GetPublicKey is not used.
 * A key ARN or key id names the key itself. An alias cannot be a resource of Sign (IAM evaluates the key it points to),
 * so an alias is granted as "any key of that account and region, when the request names it by this alias"
 * (kms:RequestAlias): moving the alias to a new key keeps working, and no other key of the account is usable.
 */
function grantCertificateKeys({ config, role, stack }: RefresherContext): void {
  const keyArns = new Set<string>();
  const aliases = new Map<string, Set<string>>();
  for (const c of config.credentials) {
    const id = c.credentialType === 'certificate' ? c.certificate?.kmsKeyId : undefined;
    if (!id) continue;
    const arn = /^arn:([^:]+):kms:([^:]+):(\d{12}):(key|alias)\/(.+)$/.exec(id);
    if (arn?.[4] === 'key') keyArns.add(id);
    else if (arn) {
      const any = `arn:${arn[1]}:kms:${arn[2]}:${arn[3]}:key/*`;
      aliases.set(any, (aliases.get(any) ?? new Set()).add(`alias/${arn[5]}`));
    } else if (id.startsWith('alias/')) {
      const any = stack.formatArn({ service: 'kms', resource: 'key', resourceName: '*' });
      aliases.set(any, (aliases.get(any) ?? new Set()).add(id));
    } else keyArns.add(stack.formatArn({ service: 'kms', resource: 'key', resourceName: id }));
  }
  if (keyArns.size > 0) {
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'SignWithCertificateKeys',
        actions: ['kms:Sign'],
        resources: [...keyArns].sort(),
      }),
    );
  }
  [...aliases].forEach(([resource, names], i) => {
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: `SignWithCertificateKeyAliases${i === 0 ? '' : i + 1}`,
        actions: ['kms:Sign'],
        resources: [resource],
        conditions: { StringEquals: { 'kms:RequestAlias': [...names].sort() } },
      }),
    );
  });
  for (const resource of aliases.keys()) {
    Validations.of(role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${resource.replace(/\$\{Token\[AWS\.Partition\.\d+\]\}/, '<AWS::Partition>')}]`,
      reason:
        'kms:Sign on "key/*" is limited by the kms:RequestAlias condition to the aliases named in certificate.kmsKeyId: only the key an alias points to can sign, and only when called by that alias.',
    });
  }
}

function grantMail({ config, sesIdentityArn, role, stack }: RefresherContext): void {
  const alerts = config.alerts;
  if (!alerts || !sesIdentityArn) return;
  // While the account is in the SES sandbox, SES also authorizes each recipient's identity; the From condition keeps
  // those ARNs from becoming sender identities.
  const recipients = alerts.to.map((to) => stack.formatArn({ service: 'ses', resource: 'identity', resourceName: to }));
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      sid: 'AlertMailFromSender',
      actions: ['ses:SendEmail', 'ses:SendRawEmail'],
      resources: [sesIdentityArn, ...recipients],
      conditions: { StringEquals: { 'ses:FromAddress': alerts.from } },
    }),
  );
}
