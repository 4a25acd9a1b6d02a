#!/usr/bin/env node
// The installed `token-refresher` command: plain JavaScript that runs the CLI bundle built at `prepare` (dist/cli).
// In a source checkout that has not been built, it runs cli/main.ts through tsx (a devDependency) instead.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  console.error(
    `token-refresher needs Node.js 24 or later (this is ${process.version}). Run it with \`npx token-refresher\` in the project (its node devDependency is 24), or install Node 24.`,
  );
  process.exit(2);
}

// Node keeps compiled code between runs of the same files (a cache in the OS temp directory): a warm `--help` is faster.
// It is skipped silently where the directory is not writable.
(await import('node:module')).enableCompileCache?.();

const bundle = new URL('../dist/cli/main.mjs', import.meta.url);
let cli;
if (existsSync(bundle)) {
  cli = await import(bundle.href);
} else {
  const require = createRequire(import.meta.url);
  let tsxApi;
  try {
    tsxApi = pathToFileURL(require.resolve('tsx/esm/api')).href;
  } catch {
    console.error(
      'token-refresher: dist/cli is missing (not built) and tsx is not installed. In a source checkout run `npm ci` (it builds dist/) or `npm run build`.',
    );
    process.exit(2);
  }
  (await import(tsxApi)).register();
  cli = await import(new URL('../cli/main.ts', import.meta.url).href);
}
await cli.runAsProgram(process.argv.slice(2));
