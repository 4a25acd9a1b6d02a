#!/usr/bin/env node
// The installed `token-refresher` command. The CLI is TypeScript run from source: tsx's loader is registered in this
// process (found next to this package, so it works from any working directory and when installed), then cli/main.ts runs.
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  console.error(`token-refresher needs Node.js 24 or later (this is ${process.version}). Run it with \`npx token-refresher\` in the project (its node devDependency is 24), or install Node 24.`);
  process.exit(2);
}

const require = createRequire(import.meta.url);
let tsxApi;
try {
  tsxApi = pathToFileURL(require.resolve('tsx/esm/api')).href;
} catch {
  console.error('token-refresher runs its TypeScript sources with tsx, which is not installed next to it. Install it (`npm install tsx`) or run `npm run cli -- <command>` in the project.');
  process.exit(2);
}

const { register } = await import(tsxApi);
register();
const { runAsProgram } = await import(new URL('../cli/main.ts', import.meta.url).href);
await runAsProgram(process.argv.slice(2));
