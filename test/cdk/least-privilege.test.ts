// Issue 12 item 17: no permission the code never uses, a source-account condition on every service principal of the
// alarm topic's key, and the cdk-nag findings where the comment in lib/compliance.ts says they are.
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addComplianceChecks } from '../../lib/compliance.ts';
import { loadFixtureConfig, REPO, synth, type Synthesized } from './support.ts';

let s: Synthesized;
beforeAll(() => {
  s = synth(loadFixtureConfig('test/cdk/fixtures/config-multi.json'), { secretsEncryption: 'customer-managed' });
});
afterAll(() => s?.cleanup());

interface Statement {
  Sid?: string;
  Effect: string;
  Action: string | string[];
  Principal?: { Service?: string | string[] };
  Condition?: Record<string, Record<string, unknown>>;
}

function statements(): Statement[] {
  const out: Statement[] = [];
  for (const r of Object.values(s.json.Resources)) {
    const p = r.Properties ?? {};
    const docs = [
      p.PolicyDocument,
      p.KeyPolicy,
      ...((p.Policies as Array<{ PolicyDocument: unknown }> | undefined) ?? []).map((x) => x.PolicyDocument),
    ];
    for (const d of docs)
      for (const st of (d as { Statement?: Statement[] } | undefined)?.Statement ?? []) out.push(st);
  }
  return out;
}

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = path.join(dir, n);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

describe('least privilege', () => {
  it('every Secrets Manager action granted is one the function code calls (no DescribeSecret)', () => {
    const code = [...sources(path.join(REPO, 'lambdas'))].map((f) => readFileSync(f, 'utf8')).join('\n');
    const granted = new Set(
      statements()
        .flatMap((st) => [st.Action].flat())
        .filter((a) => a.startsWith('secretsmanager:')),
    );
    expect(granted.size).toBeGreaterThan(0);
    const unused = [...granted].filter((a) => !code.includes(`${a.replace('secretsmanager:', '')}Command`));
    expect(unused).toEqual([]);
  });

  it('the alarm topic key lets CloudWatch use it only for alarms of this account', () => {
    const forCloudWatch = statements().filter(
      (st) =>
        [st.Principal?.Service].flat().includes('cloudwatch.amazonaws.com') &&
        [st.Action].flat().some((a) => a.startsWith('kms:')),
    );
    expect(forCloudWatch.length).toBeGreaterThan(0);
    for (const st of forCloudWatch) {
      expect(st.Condition?.StringEquals?.['aws:SourceAccount'], st.Sid).toBeDefined();
      expect(st.Condition?.ArnLike?.['aws:SourceArn'], st.Sid).toBeDefined();
    }
  });
});

describe('the cdk-nag validation report', () => {
  it('an unacknowledged finding fails synth and is written to validation-report.json with its rule', () => {
    const outdir = mkdtempSync(path.join(tmpdir(), 'tr-nag-'));
    try {
      const app = new App({ outdir });
      const stack = new Stack(app, 'Bad', { env: { account: '123456789012', region: 'eu-west-1' } });
      new sqs.Queue(stack, 'Plain', { encryption: sqs.QueueEncryption.UNENCRYPTED });
      addComplianceChecks(app);
      expect(() => app.synth()).toThrow(/AwsSolutions-SQS4/);
      const report = JSON.parse(readFileSync(path.join(outdir, 'validation-report.json'), 'utf8')) as {
        pluginReports: Array<{ violations?: Array<{ ruleName: string }> }>;
      };
      const rules = report.pluginReports.flatMap((r) => (r.violations ?? []).map((v) => v.ruleName));
      expect(rules).toEqual(expect.arrayContaining(['AwsSolutions-SQS4', 'Serverless-SQSRedrivePolicy']));
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
  });

  it('the stack: acknowledged findings are in the template metadata, none is left open in the report', () => {
    const report = JSON.parse(readFileSync(path.join(s.outdir, 'validation-report.json'), 'utf8')) as {
      pluginReports: Array<{ violations?: unknown[] }>;
    };
    expect(report.pluginReports.filter((r) => (r.violations ?? []).length > 0)).toEqual([]);
    const acknowledged = Object.values(s.json.Resources).flatMap((r) =>
      ((r.Metadata?.cdk_nag as { rules_to_suppress?: Array<{ id: string }> } | undefined)?.rules_to_suppress ?? []).map(
        (x) => x.id,
      ),
    );
    expect(acknowledged.length).toBeGreaterThan(0);
  });
});
