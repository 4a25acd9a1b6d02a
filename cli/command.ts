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
