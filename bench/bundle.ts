import { statSync } from 'node:fs';
import { join } from 'node:path';
import { build, type BuildOptions, type Metafile } from 'esbuild';

/** The banner lib/token-refresher.ts gives the function's bundle: CommonJS dependencies call require(). */
export const CDK_BANNER = "import { createRequire as __trCreateRequire } from 'node:module'; const require = __trCreateRequire(import.meta.url);";

export interface Bundle {
  file: string;
  bytes: number;
  mapBytes: number;
  buildMs: number;
  metafile: Metafile;
}

/**
 * Bundles an entry the way the CDK stack's NodejsFunction does (lib/token-refresher.ts and aws-lambda-nodejs'
 * esbuild arguments): ESM, index.mjs, minified, node24 target, main fields module,main, the createRequire banner,
 * a source map without sources content, and the AWS SDK bundled (no externals).
 */
export async function bundleLikeCdk(entry: string, outDir: string, extra: Pick<BuildOptions, 'alias'> = {}): Promise<Bundle> {
  const file = join(outDir, 'index.mjs');
  const t0 = performance.now();
  const r = await build({
    entryPoints: [entry],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node24',
    outfile: file,
    minify: true,
    sourcemap: true,
    sourcesContent: false,
    mainFields: ['module', 'main'],
    banner: { js: CDK_BANNER },
    logLevel: 'warning',
    metafile: true,
    ...extra,
  });
  return { file, bytes: statSync(file).size, mapBytes: statSync(`${file}.map`).size, buildMs: performance.now() - t0, metafile: r.metafile };
}

/** Bytes of the output that come from each package (or from this repository's folders), largest first. */
export function bytesByPackage(metafile: Metafile): Array<{ name: string; bytes: number }> {
  const totals = new Map<string, number>();
  for (const out of Object.values(metafile.outputs)) {
    for (const [path, input] of Object.entries(out.inputs)) {
      const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path);
      const name = m?.[1] ?? `${path.split('/')[0]}/ (this repository)`;
      totals.set(name, (totals.get(name) ?? 0) + input.bytesInOutput);
    }
  }
  return [...totals].map(([name, bytes]) => ({ name, bytes })).sort((a, b) => b.bytes - a.bytes);
}
