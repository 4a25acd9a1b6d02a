/**
 * `token-refresher --help` must load none of the AWS SDK, undici, zod or nodemailer: the commands are imported when they
 * run (cli/commands/index.ts). Checked twice on a bundle built the way `prepare` builds dist/cli: statically, on the
 * bundle's module graph (esbuild's metafile), and in a real process whose module resolutions are recorded by a hook.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build, type Metafile } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COMMAND_CATALOG } from '../../cli/commands/index.ts';
import { cliBuildOptions } from '../../scripts/build-options.ts';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const HEAVY = /^(@aws-sdk\/|@smithy\/|undici(\/|$)|zod(\/|$)|nodemailer(\/|$))/;

let dir: string;
let metafile: Metafile;

beforeAll(async () => {
  // Inside this repository, so the bundle's bare imports resolve from its node_modules as an installed package's do.
  mkdirSync(join(REPO, 'node_modules/.cache'), { recursive: true });
  dir = mkdtempSync(join(REPO, 'node_modules/.cache/tr-cli-bundle-'));
  metafile = (await build({ ...cliBuildOptions(join(dir, 'cli')), metafile: true })).metafile;
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Bare (external) imports reachable from an output file: static imports only, or dynamic ones too. */
function externalsReachable(from: string, withDynamic: boolean): Set<string> {
  const seen = new Set<string>();
  const found = new Set<string>();
  const visit = (out: string) => {
    if (seen.has(out)) return;
    seen.add(out);
    for (const imp of metafile.outputs[out]?.imports ?? []) {
      if (imp.kind === 'dynamic-import' && !withDynamic) continue;
      if (imp.external) found.add(imp.path);
      else visit(imp.path);
    }
  };
  visit(from);
  return found;
}

const mainOut = () => Object.keys(metafile.outputs).find((o) => o.endsWith('cli/main.mjs'))!;

describe('the CLI loads its commands lazily', () => {
  it('the command list matches the command modules (name and summary)', async () => {
    for (const entry of COMMAND_CATALOG) {
      const command = await entry.load();
      expect({ name: command.name, summary: command.summary }).toEqual({ name: entry.name, summary: entry.summary });
    }
  });

  it("the bundle's entry imports no SDK, undici, zod or nodemailer statically; the commands' chunks do", () => {
    const eager = [...externalsReachable(mainOut(), false)];
    expect(eager.filter((p) => HEAVY.test(p))).toEqual([]);
    // The same walk with the dynamic imports reaches them: the check above can see them when they are there.
    const all = [...externalsReachable(mainOut(), true)];
    for (const pkg of ['@aws-sdk/client-lambda', 'undici', 'zod', 'nodemailer'])
      expect(all.some((p) => p === pkg || p.startsWith(`${pkg}/`))).toBe(true);
  });

  it('a real `--help` process resolves none of them; `rotate --help` resolves the Lambda client', async () => {
    const help = await runRecorded(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: token-refresher <command>');
    for (const c of COMMAND_CATALOG) expect(help.stdout).toContain(c.name);
    expect(help.resolved.length).toBeGreaterThan(0);
    expect(help.resolved.filter((s) => HEAVY.test(s))).toEqual([]);

    const rotate = await runRecorded(['rotate', '--help']);
    expect(rotate.code).toBe(0);
    expect(rotate.stdout).toContain('Usage: token-refresher rotate');
    expect(rotate.resolved).toContain('@aws-sdk/client-lambda');
  });
});

/** Runs the built CLI's main() in a fresh Node process with a resolve hook that records every specifier. */
async function runRecorded(argv: string[]): Promise<{ code: number | null; stdout: string; resolved: string[] }> {
  const script = join(dir, `run-${argv.join('-').replace(/\W/g, '')}.mjs`);
  writeFileSync(
    script,
    [
      "import { registerHooks } from 'node:module';",
      'const resolved = [];',
      'registerHooks({ resolve(specifier, context, next) { resolved.push(specifier); return next(specifier, context); } });',
      `const { main } = await import(${JSON.stringify(pathToFileURL(join(dir, 'cli/main.mjs')).href)});`,
      `const code = await main(${JSON.stringify(argv)});`,
      "process.stderr.write('\\n@@resolved ' + JSON.stringify(resolved) + '\\n');",
      'process.exit(code);',
    ].join('\n'),
  );
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script], { cwd: REPO, env: { ...process.env, NO_COLOR: '1' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('close', (code) => {
      const line = /@@resolved (.*)/.exec(stderr);
      if (!line) return reject(new Error(`no resolution record; stderr:\n${stderr}`));
      resolve({ code, stdout, resolved: JSON.parse(line[1]!) as string[] });
    });
  });
}
