import { parseArgs, type ParseArgsOptionsConfig } from 'node:util';
import { usageError } from './errors.ts';

export type Values = Record<string, string | boolean | Array<string | boolean> | undefined>;

/** Options every command accepts, before or after the command name. */
export const GLOBAL_OPTIONS = {
  config: { type: 'string' },
  store: { type: 'string' },
  'store-dir': { type: 'string' },
  json: { type: 'boolean' },
  'no-color': { type: 'boolean' },
  verbose: { type: 'boolean', short: 'v' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsOptionsConfig;

export const GLOBAL_HELP = `Global options:
  --config FILE        configuration document (default: $TOKEN_REFRESHER_CONFIG_FILE, else ./config.json;
                       $TOKEN_REFRESHER_CONFIG may hold the JSON itself)
  --store KIND         secretsmanager (default; AWS credentials and region from the environment) or file
  --store-dir DIR      directory of the file store (default ./.token-refresher, created 0700)
  --json               machine-readable result on stdout (progress stays on stderr)
  --no-color           no colour (colour is used only when stdout is a terminal and NO_COLOR is unset)
  -v, --verbose        show the pipeline's log lines on stderr
  -h, --help           help for the command`;

/**
 * Splits off the command name (one of `names`). Only the global options are known before the command is loaded, so the
 * lenient first pass may take a command option's value (`--credential aem-mail rotate`) for a positional: the first
 * positional that names a command wins, else the first positional (reported as an unknown command).
 */
export function findCommand(argv: readonly string[], names: readonly string[]): string | undefined {
  const { tokens } = parseArgs({
    args: [...argv],
    options: GLOBAL_OPTIONS,
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  const positionals = tokens.flatMap((t) => (t.kind === 'positional' ? [t.value] : []));
  return positionals.find((p) => names.includes(p)) ?? positionals[0];
}

export function parseCommandArgs(
  argv: readonly string[],
  options: ParseArgsOptionsConfig,
): { values: Values; positionals: string[] } {
  try {
    const r = parseArgs({
      args: [...argv],
      options: { ...GLOBAL_OPTIONS, ...options },
      strict: true,
      allowPositionals: true,
    });
    return { values: r.values as Values, positionals: r.positionals };
  } catch (e) {
    throw usageError(
      (e as Error).message.replace(/\. To specify a positional argument.*$/s, ''),
      'See --help for the options of this command.',
    );
  }
}

export function str(v: Values, key: string): string | undefined {
  const x = v[key];
  if (Array.isArray(x)) return typeof x.at(-1) === 'string' ? (x.at(-1) as string) : undefined;
  return typeof x === 'string' ? x : undefined;
}

export function strs(v: Values, key: string): string[] {
  const x = v[key];
  if (Array.isArray(x)) return x.filter((s): s is string => typeof s === 'string');
  return typeof x === 'string' ? [x] : [];
}

export function bool(v: Values, key: string): boolean {
  return v[key] === true;
}

export function requireStr(v: Values, key: string, what: string): string {
  const s = str(v, key);
  if (!s) throw usageError(`--${key} is required (${what})`, 'See --help for the options of this command.');
  return s;
}

export function intOption(v: Values, key: string, fallback: number, min: number, max: number): number {
  const s = str(v, key);
  if (s === undefined) return fallback;
  if (!/^\d+$/.test(s) || Number(s) < min || Number(s) > max)
    throw usageError(`--${key} must be a whole number from ${min} to ${max}, got "${s}"`);
  return Number(s);
}
