/**
 * The code catalogue (lambdas/core/codes.ts) is complete and the README shows it: every error code the function or the
 * CLI can produce is catalogued, and the README's troubleshooting table is the one generated from the catalogue.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CODE_FAMILIES, CODES, codesMarkdownTable, describeCode } from '../../lambdas/core/codes.ts';
import { withCodesTable } from '../../scripts/write-codes.ts';
import { scanCodes } from './code-scan.ts';

const REPO = fileURLToPath(new URL('../..', import.meta.url));

/** Literals the scan meets in error-building code that are not RefresherError/CLI codes, and why. */
const NOT_ERROR_CODES: Record<string, string> = {
  ECONNECTION: 'a nodemailer error code the SMTP validator reads',
  ETIMEDOUT:
    'a Node error code the SMTP validator gives its own overall-deadline timer, so it classifies like a socket timeout',
  OVERALL_DEADLINE: 'the timeoutType beside that ETIMEDOUT',
  ABORT_ERR: 'a Node error code of an aborted prompt (cli/io.ts)',
  SIGINT: 'Ctrl-C at a prompt (cli/io.ts)',
  ERROR: 'the fallback name of a stream error before it becomes CM_LOG_UNAVAILABLE',
};

describe('the code catalogue', () => {
  const uses = scanCodes(REPO, ['lambdas', 'cli']);

  it('scans real throw sites (the scan is not vacuous)', () => {
    const found = new Set(uses.map((u) => u.code));
    for (const c of [
      'NO_TOKEN',
      'SMTP_TLS_CERT',
      'CM_FORBIDDEN',
      'IMS_INVALID_CLIENT',
      'WRONG_ACCOUNT',
      'USAGE',
      'SMTP_*',
      'AADSTS*',
    ])
      expect(found).toContain(c);
    expect(uses.length).toBeGreaterThan(100);
  });

  it('has every code the source uses', () => {
    const missing = new Map<string, string[]>();
    for (const u of uses) {
      if (u.code in NOT_ERROR_CODES) continue;
      const known = u.code.endsWith('*')
        ? CODE_FAMILIES.some((f) => f.prefix === u.code.slice(0, -1))
        : describeCode(u.code) !== undefined;
      if (!known) missing.set(u.code, [...(missing.get(u.code) ?? []), `${u.file}:${u.line}`]);
    }
    const advice = [...missing].map(([code, where]) =>
      code.endsWith('*')
        ? `${code} (${where.join(', ')}): a code built as \`${code.slice(0, -1)}\${...}\` has no family. Add to CODE_FAMILIES in lambdas/core/codes.ts:\n` +
          `  { name: '${code.slice(0, -1)}<what>', prefix: '${code.slice(0, -1)}', pattern: /^${code.slice(0, -1)}\\w+$/, class: '<class>', remote: '<remote>', meaning: '<what it means>', action: '<what to do>' },`
        : `${code} (${where.join(', ')}) is not catalogued. Add to CODES in lambdas/core/codes.ts:\n` +
          `  ${/^[A-Z_][A-Z0-9_]*$/.test(code) ? code : `'${code}'`}: { class: '<reauthorize|configuration|transient|conflict|input>', remote: '<remote>', meaning: '<what it means>', action: '<what to do>' },`,
    );
    expect(
      advice.length === 0 ? '' : `${advice.join('\n')}\nthen run \`npm run codes\` to regenerate the README table.`,
    ).toBe('');
  });

  it('describes exact codes before families, and families by pattern', () => {
    expect(describeCode('SMTP_5.7.57')?.name).toBe('SMTP_5.7.57');
    expect(describeCode('SMTP_535_5.7.139')?.name).toBe('SMTP_<reply>_<enhanced>');
    expect(describeCode('SMTP_421')?.name).toBe('SMTP_<reply>');
    expect(describeCode('AADSTS700082')?.class).toBe('reauthorize');
    expect(describeCode('AADSTS9002313')?.name).toBe('AADSTS<n>');
    expect(describeCode('invalid_grant')?.name).toBe('<oauth2 error>');
    expect(describeCode('NOT_A_CODE_ANYWHERE')).toBeUndefined();
  });

  it('says what to do for every entry', () => {
    for (const [code, e] of [...Object.entries(CODES), ...CODE_FAMILIES.map((f) => [f.name, f] as const)]) {
      expect(e.meaning.length, code).toBeGreaterThan(10);
      expect(e.action.length, code).toBeGreaterThan(3);
    }
  });

  it("is the README's troubleshooting table (regenerate it with `npm run codes`)", () => {
    const readme = readFileSync(path.join(REPO, 'README.md'), 'utf8');
    expect(readme).toContain(codesMarkdownTable().split('\n')[0]);
    const stale = withCodesTable(readme) !== readme;
    expect(
      stale ? "README.md's troubleshooting table is not the catalogue's: run `npm run codes` and commit README.md" : '',
    ).toBe('');
  });
});
