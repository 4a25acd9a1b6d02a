/**
 * `npm run demo -- --keep`: after the scenarios the stand-ins stay up, the configuration is on disk, and the CLI commands
 * it prints work against them as printed; SIGTERM stops everything.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const TSX = import.meta.resolve('tsx');

function run(args: string[], cwd: string, env: Record<string, string>): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', TSX, join(REPO, 'cli/main.ts'), ...args], {
      cwd,
      env: { ...process.env, NO_COLOR: '1', ...env },
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('close', (code) => resolve({ code, out }));
  });
}

describe('npm run demo -- --keep', () => {
  const cwd = mkdtempSync(join(tmpdir(), 'tr-demo-keep-'));
  let demo: ChildProcess;
  let out = '';
  let env: Record<string, string> = {};

  beforeAll(async () => {
    demo = spawn(process.execPath, ['--import', TSX, join(REPO, 'demo/main.ts'), '--keep'], {
      cwd,
      env: { ...process.env, NO_COLOR: '1' },
    });
    demo.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    demo.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the demo did not print its CLI commands:\n${out}`)), 50_000);
      const poll = setInterval(() => {
        if (out.includes('Ctrl-C stops them') && out.includes('npm run cli -- regenerate')) {
          clearInterval(poll);
          clearTimeout(timer);
          resolve();
        }
      }, 100);
      demo.once('exit', () => reject(new Error(`the demo ended instead of keeping the stand-ins:\n${out}`)));
    });
    const exports = /^ {2}export (.+)$/m.exec(out)?.[1] ?? '';
    env = Object.fromEntries(exports.split(' ').map((kv) => kv.split('=') as [string, string]));
  }, 60_000);

  afterAll(() => {
    if (demo.exitCode === null) demo.kill('SIGKILL');
    rmSync(cwd, { recursive: true, force: true });
  });

  it('ran the scenarios, then printed the environment and the commands', () => {
    expect(out).toContain('All scenarios behaved as expected.');
    expect(Object.keys(env).sort()).toEqual([
      'TOKEN_REFRESHER_CONFIG_FILE',
      'TOKEN_REFRESHER_SMTP_CA_FILE',
      'TOKEN_REFRESHER_STORE',
      'TOKEN_REFRESHER_STORE_DIR',
    ]);
    expect(env.TOKEN_REFRESHER_STORE).toBe('file');
    for (const c of [
      'status',
      'rotate --credential aem-mail --force',
      'doctor --credential aem-mail',
      'regenerate --credential aem-mail',
    ])
      expect(out).toContain(`npm run cli -- ${c}`);
  });

  it('wrote a configuration that points at the running stand-ins, readable by its owner only', () => {
    const file = join(cwd, env.TOKEN_REFRESHER_CONFIG_FILE!);
    expect(statSync(file).mode & 0o077).toBe(0);
    const config = JSON.parse(readFileSync(file, 'utf8')) as { credentials: Array<{ id: string; authority: string }> };
    expect(config.credentials[0]?.id).toBe('aem-mail');
    expect(config.credentials[0]?.authority).toMatch(/^http:\/\/127\.0\.0\.1:\d+/);
  });

  it('the printed commands work against the kept stand-ins', async () => {
    // The demo ends on a failure a person must fix (SMTP AUTH disabled); status says so, and exits with the failure.
    const before = await run(['status'], cwd, env);
    expect(before.out).toContain('SMTP_535_5.7.139');
    expect(before.code, before.out).toBe(1);
    const rotate = await run(['rotate', '--credential', 'aem-mail', '--force', '--push-now'], cwd, env);
    expect(rotate.out, rotate.out).toMatch(/pushed/);
    expect(rotate.code, rotate.out).toBe(0);
    const after = await run(['status'], cwd, env);
    expect(after.out).toContain('aem-mail');
    expect(after.out).not.toContain('SMTP_535_5.7.139');
    expect(after.code, after.out).toBe(0);
  }, 60_000);

  it('SIGTERM stops the stand-ins and the demo', async () => {
    const config = JSON.parse(readFileSync(join(cwd, env.TOKEN_REFRESHER_CONFIG_FILE!), 'utf8')) as {
      credentials: Array<{ authority: string }>;
    };
    const exited = new Promise<number | null>((resolve) => demo.once('exit', (code) => resolve(code)));
    demo.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(out).toContain('stand-ins stopped');
    await expect(fetch(config.credentials[0]!.authority)).rejects.toThrow();
  }, 30_000);
});
