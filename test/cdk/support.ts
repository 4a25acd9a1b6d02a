/**
 * Synthesizes the token-refresher stack in-process the way `cdk synth` does: the context (feature flags) from cdk.json,
 * real local esbuild bundling, the compliance packs registered as validation plugins, an explicit environment.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { parseConfig } from '../../lambdas/config/load.ts';
import type { Config } from '../../lambdas/config/schema.ts';
import { addComplianceChecks } from '../../lib/compliance.ts';
import { TokenRefresherStack, type TokenRefresherStackProps } from '../../lib/token-refresher-stack.ts';

export const REPO = fileURLToPath(new URL('../..', import.meta.url));
export const FIXTURES = path.join(REPO, 'test/cdk/fixtures');
export const FIXTURE_HANDLER = path.join(FIXTURES, 'handler.ts');
export const ENV = { account: '123456789012', region: 'eu-west-1' } as const;

export function cdkJsonContext(): Record<string, unknown> {
  return (JSON.parse(readFileSync(path.join(REPO, 'cdk.json'), 'utf8')) as { context: Record<string, unknown> })
    .context;
}

export function loadFixtureConfig(file: string): Config {
  const full = path.isAbsolute(file) ? file : path.join(REPO, file);
  return parseConfig(JSON.parse(readFileSync(full, 'utf8')) as unknown, full);
}

export interface Synthesized {
  readonly app: App;
  readonly stack: TokenRefresherStack;
  readonly template: Template;
  readonly json: CfnTemplate;
  readonly outdir: string;
  readonly templateFile: string;
  readonly cleanup: () => void;
}

export interface CfnResource {
  Type: string;
  Properties?: Record<string, unknown>;
  DeletionPolicy?: string;
  UpdateReplacePolicy?: string;
  Metadata?: Record<string, unknown>;
}
export interface CfnTemplate {
  Resources: Record<string, CfnResource>;
}

export function synth(
  config: Config,
  props: Partial<Omit<TokenRefresherStackProps, 'config'>> = {},
  withChecks = true,
): Synthesized {
  const outdir = mkdtempSync(path.join(tmpdir(), 'tr-cdk-'));
  const app = new App({ outdir, context: cdkJsonContext() });
  const stack = new TokenRefresherStack(app, 'TokenRefresher', {
    env: ENV,
    config,
    entry: FIXTURE_HANDLER,
    recoveryEntry: FIXTURE_HANDLER,
    ...props,
  });
  if (withChecks) addComplianceChecks(app);
  const assembly = app.synth();
  const artifact = assembly.getStackArtifact(stack.artifactId);
  const template = Template.fromStack(stack);
  return {
    app,
    stack,
    template,
    json: template.toJSON() as CfnTemplate,
    outdir,
    templateFile: artifact.templateFullPath,
    cleanup: () => rmSync(outdir, { recursive: true, force: true }),
  };
}

export function resourcesOfType(t: CfnTemplate, type: string): Array<[string, CfnResource]> {
  return Object.entries(t.Resources).filter(([, r]) => r.Type === type);
}

/** Every file under dir (the whole cloud assembly: templates, manifests, tree, reports, bundles, source maps). */
export function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) out.push(...filesUnder(full));
    else out.push(full);
  }
  return out;
}

/** The files under dir whose bytes contain any of the needles. */
export function filesContaining(dir: string, needles: readonly string[]): Array<{ file: string; needle: string }> {
  const hits: Array<{ file: string; needle: string }> = [];
  for (const file of filesUnder(dir)) {
    const bytes = readFileSync(file);
    for (const needle of needles) if (bytes.includes(Buffer.from(needle, 'utf8'))) hits.push({ file, needle });
  }
  return hits;
}

export interface PolicyStatementJson {
  Sid?: string;
  Effect: string;
  Action: string | string[];
  Resource?: unknown;
  Condition?: Record<string, Record<string, unknown>>;
}

/** Every statement of every identity policy in the template: AWS::IAM::Policy, managed policies and inline role policies. */
export function identityStatements(t: CfnTemplate): Array<{ resource: string; statement: PolicyStatementJson }> {
  const out: Array<{ resource: string; statement: PolicyStatementJson }> = [];
  const docs = (id: string, doc: unknown) => {
    const statements = (doc as { Statement?: PolicyStatementJson[] } | undefined)?.Statement ?? [];
    for (const statement of statements) out.push({ resource: id, statement });
  };
  for (const [id, r] of Object.entries(t.Resources)) {
    if (r.Type === 'AWS::IAM::Policy' || r.Type === 'AWS::IAM::ManagedPolicy') docs(id, r.Properties?.PolicyDocument);
    if (r.Type === 'AWS::IAM::Role') {
      for (const p of (r.Properties?.Policies as Array<{ PolicyDocument: unknown }> | undefined) ?? [])
        docs(id, p.PolicyDocument);
    }
  }
  return out;
}

/**
 * The template without the recovery endpoint's resources (function, role, log group, URL): for assertions about the
 * rotation function alone. The endpoint's own assertions are in test/cdk/recovery.test.ts.
 */
export function rotationOnly(t: CfnTemplate): CfnTemplate {
  return {
    Resources: Object.fromEntries(
      Object.entries(t.Resources).filter(([id]) => !id.startsWith('TokenRefresherRecovery')),
    ),
  };
}

export const asArray = <T>(x: T | T[] | undefined): T[] => (x === undefined ? [] : Array.isArray(x) ? x : [x]);

/**
 * Statements granting a secretsmanager:* or ses:* action on a wildcard resource: "*" itself, or any literal ARN part with
 * "*" (a "-??????" suffix wildcard on one named secret is fine: it matches that secret's versions of its own name only).
 */
export function wildcardSecretOrMailGrants(
  t: CfnTemplate,
): Array<{ resource: string; statement: PolicyStatementJson }> {
  const sensitive = (a: string) => /^(secretsmanager|ses):/i.test(a) || a === '*';
  const literalParts = (r: unknown): string[] => {
    if (typeof r === 'string') return [r];
    if (Array.isArray(r)) return r.flatMap(literalParts);
    if (r && typeof r === 'object') return Object.values(r).flatMap(literalParts);
    return [];
  };
  return identityStatements(t).filter(
    ({ statement }) =>
      statement.Effect === 'Allow' &&
      asArray(statement.Action).some(sensitive) &&
      (statement.Resource === undefined ||
        asArray(statement.Resource).some((r) => literalParts(r).some((s) => s.includes('*')))),
  );
}

/** Key ARN, bare key id, alias name and alias ARN of certificate credentials whose keys are in KMS (stack and nag tests). */
export const KMS_KEYS = {
  arn: 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab',
  id: '0000aaaa-1111-2222-3333-444455556666',
  alias: 'alias/token-refresher-cert',
  aliasArn: 'arn:aws:kms:eu-central-1:210987654321:alias/shared-cert',
} as const;

/** config-multi.json plus one certificate credential per form of certificate.kmsKeyId. */
export function kmsCertificateConfig(): Config {
  const doc = JSON.parse(readFileSync(path.join(FIXTURES, 'config-multi.json'), 'utf8')) as {
    credentials: Array<Record<string, unknown>>;
  };
  const base = doc.credentials.find((c) => c.id === 'mail-de')!;
  for (const [name, kmsKeyId] of Object.entries(KMS_KEYS)) {
    doc.credentials.push({
      ...base,
      id: `kms-${name.toLowerCase()}`,
      certificate: { kmsKeyId, thumbprintSha256: 'ab'.repeat(32) },
    });
  }
  return parseConfig(doc, 'kmsCertificateConfig');
}

/** The example configuration with every alert channel: the SNS topic, Slack and Teams through AWS Chatbot, two webhooks. */
export function channelsConfig(over: Record<string, unknown> = {}): Config {
  const doc = JSON.parse(readFileSync(path.join(REPO, 'config.example.json'), 'utf8')) as Record<string, unknown> & {
    alerts: Record<string, unknown>;
  };
  doc.alerts = {
    ...doc.alerts,
    sns: true,
    chatbot: {
      slack: [{ workspaceId: 'T0123ABCD', channelId: 'C0456EFGH' }],
      teams: [
        {
          tenantId: '7a3c0f4e-5b1d-4c2a-9e8f-0d6b2a1c3e4f',
          teamId: '2b8e9f1a-0c3d-4e5f-8a9b-0c1d2e3f4a5b',
          channelId: '19:abc123@thread.tacv2',
        },
      ],
    },
    webhooks: [
      {
        name: 'ops',
        url: 'https://hooks.example.org/token-refresher',
        signingSecret: { secretId: 'token-refresher/webhooks/ops' },
      },
      {
        name: 'pagerduty',
        url: 'https://events.pagerduty.com/v2/enqueue',
        format: 'pagerduty',
        routingKey: { secretId: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:pd-routing-AbCdEf' },
      },
    ],
  };
  return parseConfig({ ...doc, ...over }, 'channelsConfig');
}
