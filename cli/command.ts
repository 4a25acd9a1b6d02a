import type { ParseArgsOptionsConfig } from 'node:util';
import type { Context } from './context.ts';
import type { ExitCode } from './errors.ts';

export interface Command {
  name: string;
  /** One line for the command list. */
  summary: string;
  /** Usage, description and the command's own options (the global ones are appended). */
  help: string;
  options: ParseArgsOptionsConfig;
  run(ctx: Context): Promise<ExitCode>;
}

/**
 * The client secret as the pipeline reads it: the bare value, or a JSON document {"clientSecret": "..."} (the shape
 * some teams store secrets in). Kept identical to the pipeline's reading so `regenerate` refuses exactly what a run would.
 */
export function clientSecretValue(raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  const t = raw.trim();
  if (t.startsWith('{')) {
    try {
      const v = (JSON.parse(t) as { clientSecret?: unknown }).clientSecret;
      if (typeof v === 'string') return v;
    } catch {
      // not JSON: the raw value is the secret
    }
  }
  return t;
}
