import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { build, type Metafile } from 'esbuild';
import { ASSET_ENTRY_FILE, functionBuildOptions } from '../lib/parts/function-asset.ts';

export interface Bundle {
  /** The entry module (index.mjs). */
  file: string;
  /** Bytes of the entry module alone: what the process reads and compiles at load. */
  bytes: number;
  /** Bytes of every file of the asset (the entry and its chunks), as deployed. */
  totalBytes: number;
  buildMs: number;
  metafile: Metafile;
}

function dirBytes(dir: string): number {
  let total = 0;
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true }))
    if (e.isFile()) total += statSync(join(e.parentPath, e.name)).size;
  return total;
}

/**
 * Bundles an entry exactly as the package build and the stack bundle the function (lib/parts/function-asset.ts: ESM,
 * split into chunks, minified with names kept, node24, main fields module,main, the createRequire banner, no source
 * map, the AWS SDK bundled), into `outDir`.
 */
export async function bundleLikeCdk(
  entry: string,
  outDir: string,
  extra: { alias?: Record<string, string> } = {},
): Promise<Bundle> {
  const t0 = performance.now();
  const r = await build({ ...functionBuildOptions(entry, outDir), ...extra });
  const file = join(outDir, ASSET_ENTRY_FILE);
  if (!r.metafile) throw new Error('esbuild returned no metafile');
  return {
    file,
    bytes: statSync(file).size,
    totalBytes: dirBytes(outDir),
    buildMs: performance.now() - t0,
    metafile: r.metafile,
  };
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
