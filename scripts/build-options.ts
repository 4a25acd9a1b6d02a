/** How the CLI is bundled (scripts/build.ts at `prepare`; the CLI tests and the benchmark build the same way). */
export function cliBuildOptions(outdir: string) {
  return {
    entryPoints: { main: 'cli/main.ts' },
    outdir,
    outExtension: { '.js': '.mjs' },
    chunkNames: 'chunks/[name]-[hash]',
    bundle: true,
    // One chunk per command (and one for the context), imported when the command runs: `--help` loads none of them.
    splitting: true,
    // The dependencies stay imports: they are the package's dependencies, installed beside it.
    packages: 'external' as const,
    platform: 'node' as const,
    format: 'esm' as const,
    target: 'node24',
    // Readable names in a stack trace an operator pastes into an issue; the size hardly matters for a CLI.
    minifySyntax: true,
    keepNames: true,
    logLevel: 'warning' as const,
  };
}
