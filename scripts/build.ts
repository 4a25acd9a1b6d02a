/**
 * `npm run build`, also run by `prepare` (so by `npm ci`, `npm install` in a checkout and `npm pack`): builds what the
 * package ships into dist/, which is never committed.
 *
 *   dist/lib, dist/lambdas  the construct compiled by tsc (tsconfig.build.json): JavaScript and declarations
 *   dist/function           the function's asset (lib/parts/function-asset.ts), copied into every stack that uses it
 *   dist/recover            the recovery endpoint's asset (lib/parts/recovery.ts), likewise
 *   dist/cli                the operator CLI, one entry and a chunk per command (loaded when the command runs)
 *
 * Plain Node 24 runs this file (type stripping), so a fresh clone needs no TypeScript loader to build.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import { functionBuildOptions } from '../lib/parts/function-asset.ts';
import { cliBuildOptions } from './build-options.ts';

const DIST = 'dist';

function run(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited with ${r.status}`);
}

/** tsc keeps the `.ts` in the declarations' relative imports; consumers resolve `.js` to the `.d.ts` beside it. */
function rewriteDeclarationImports(dir: string): void {
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.d.ts')) continue;
    const file = join(entry.parentPath, entry.name);
    const text = readFileSync(file, 'utf8');
    writeFileSync(file, text.replace(/(from\s+|import\()(['"])(\.{1,2}\/[^'"]+)\.ts\2/g, '$1$2$3.js$2'));
  }
}

async function main(): Promise<void> {
  // Built beside dist/ and swapped in at the end, so a test or a CLI that runs from dist/ meanwhile never sees half a build.
  const next = `${DIST}.next-${process.pid}`;
  const old = `${DIST}.old-${process.pid}`;
  rmSync(next, { recursive: true, force: true });
  run(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json', '--outDir', next]);
  rewriteDeclarationImports(next);
  await Promise.all([
    build(functionBuildOptions('lambdas/schedule/handler.ts', join(next, 'function'))),
    build(functionBuildOptions('lambdas/recover/handler.ts', join(next, 'recover'))),
    build(cliBuildOptions(join(next, 'cli'))),
  ]);
  try {
    renameSync(DIST, old);
  } catch {
    // No dist/ yet.
  }
  renameSync(next, DIST);
  rmSync(old, { recursive: true, force: true });
}

await main();
