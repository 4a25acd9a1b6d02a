/**
 * How the function's code is built, in one place for the three builders: the package build (scripts/build.ts, run at
 * `prepare`, writes dist/function), a synth from a source checkout (no dist/function: the construct builds the entry
 * itself), and the benchmark (bench/bundle.ts). What the benchmark measures is therefore what a stack deploys.
 *
 * The options are plain data (no esbuild types), so the published declarations do not depend on esbuild, which is a
 * build tool of this repository and not a dependency of the package.
 */
import { cpSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

/** CommonJS dependencies call require(); an ESM bundle has none unless it is recreated from import.meta.url. */
export const CREATE_REQUIRE_BANNER =
  "import { createRequire as __trCreateRequire } from 'node:module'; const require = __trCreateRequire(import.meta.url);";

/** The handler's module inside the asset: Lambda's handler setting is `index.handler`. */
export const ASSET_ENTRY_FILE = 'index.mjs';

/** esbuild options for the function: `entry` is a TypeScript handler module, `outdir` the asset directory. */
export function functionBuildOptions(entry: string, outdir: string) {
  return {
    entryPoints: { index: entry },
    outdir,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    platform: 'node' as const,
    format: 'esm' as const,
    target: 'node24',
    mainFields: ['module', 'main'],
    banner: { js: CREATE_REQUIRE_BANNER },
    // A chunk per lazily imported module (lambdas/schedule/handler.ts, the stages not every run needs): what a run does
    // not use is never read. Measured in bench/README.md (cold start).
    splitting: true,
    chunkNames: 'chunks/[name]-[hash]',
    minify: true,
    // Minified, but a stack trace in the logs still names its functions and classes.
    keepNames: true,
    // No source map: loading one at start-up (--enable-source-maps) cost 6 to 23% of the cold start's CPU time, and the
    // kept names make a trace readable without it.
    sourcemap: false,
    // The AWS SDK is bundled: the function runs the SDK versions the tests ran against, not the runtime image's.
    external: [] as string[],
    logLevel: 'warning' as const,
    metafile: true,
  };
}

/**
 * The prebuilt asset of an installed package: dist/function next to dist/lib. In a source checkout this module is
 * lib/parts/function-asset.ts and the path does not exist, so the entry is built at synth.
 */
export function prebuiltAssetDir(name: 'function' | 'recover' = 'function'): string | undefined {
  const dir = fileURLToPath(new URL(`../../${name}`, import.meta.url));
  return existsSync(path.join(dir, ASSET_ENTRY_FILE)) ? dir : undefined;
}

/**
 * Writes the function's asset into `outDir`: the prebuilt files when the package ships them and no other entry is asked
 * for, else a build of `entry` with the options above (esbuild, a devDependency of a source checkout, loaded only then).
 * `config.json` (the validated configuration the function reads) is written beside the code.
 */
export function writeFunctionAsset(o: {
  outDir: string;
  entry?: string;
  defaultEntry: string;
  configJson: string;
}): void {
  mkdirSync(o.outDir, { recursive: true });
  const prebuilt = o.entry === undefined ? prebuiltAssetDir() : undefined;
  if (prebuilt) {
    cpSync(prebuilt, o.outDir, { recursive: true });
  } else {
    const require = createRequire(import.meta.url);
    let esbuild: { buildSync(options: ReturnType<typeof functionBuildOptions>): unknown };
    try {
      esbuild = require('esbuild') as typeof esbuild;
    } catch {
      throw new Error(
        `token-refresher: building the function from ${o.entry ?? o.defaultEntry} needs esbuild, which is not installed. ` +
          'An installed package ships the built function (dist/function); in a source checkout run `npm ci` (esbuild is a devDependency).',
      );
    }
    esbuild.buildSync(functionBuildOptions(o.entry ?? o.defaultEntry, o.outDir));
  }
  writeFileSync(path.join(o.outDir, 'config.json'), o.configJson);
}
