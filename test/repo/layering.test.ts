/**
 * The function's code (lambdas/) is bundled into the Lambda function: it must not import the infrastructure folder (lib/)
 * or the CDK, or the bundle would drag the construct library in and a change to the stack could change the function.
 */
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const REPO = fileURLToPath(new URL('../..', import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => path.join(e.parentPath, e.name));
}

/** Every module specifier a file imports or re-exports, static or dynamic. */
function specifiers(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(
    /(?:^|[\s;])(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|^import\s*['"]([^'"]+)['"]/gm,
  )) {
    out.push(m[1] ?? m[2] ?? m[3]!);
  }
  return out;
}

describe('layering', () => {
  it('no module under lambdas/ imports lib/, aws-cdk-lib or constructs', () => {
    const offending: string[] = [];
    for (const file of sources(path.join(REPO, 'lambdas'))) {
      for (const spec of specifiers(readFileSync(file, 'utf8'))) {
        const intoLib =
          spec.startsWith('.') && path.resolve(path.dirname(file), spec).startsWith(path.join(REPO, 'lib') + path.sep);
        if (intoLib || /^(aws-cdk-lib|constructs|cdk-nag)(\/|$)/.test(spec))
          offending.push(`${path.relative(REPO, file)} imports ${spec}`);
      }
    }
    expect(offending).toEqual([]);
  });

  it('finds the imports it checks (the scan is not vacuous)', () => {
    const metrics = readFileSync(path.join(REPO, 'lambdas/report/metrics.ts'), 'utf8');
    expect(specifiers(metrics)).toContain('./metric-names.ts');
    expect(specifiers("import * as x from '../../lib/schedule.ts';\nconst y = await import('aws-cdk-lib');")).toEqual([
      '../../lib/schedule.ts',
      'aws-cdk-lib',
    ]);
  });
});
