import { isRefresherError, type RefresherError } from '../lambdas/core/errors.ts';
import type { RotationSummary } from '../lambdas/pipeline/rotate.ts';

/** The exit codes every command uses; scripts and runbooks rely on them. */
export const Exit = {
  ok: 0,
  /** The operation failed (remote refused, validation failed, sign-in aborted). */
  failure: 1,
  /** The command line or the configuration is wrong. */
  usage: 2,
  /** A person must sign in again (`regenerate`). */
  reauthorize: 3,
  /** Another run holds the lease, or another writer got there first. */
  conflict: 4,
} as const;
export type ExitCode = (typeof Exit)[keyof typeof Exit];

/** A failure the CLI itself reports: a message, what to do, and the exit code. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode,
    readonly fix?: string,
    readonly code = 'CLI_ERROR',
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export function usageError(message: string, fix?: string): CliError {
  return new CliError(message, Exit.usage, fix, 'USAGE');
}

export function exitCodeForClass(cls: RefresherError['class'], remote?: string): ExitCode {
  if (cls === 'reauthorize') return Exit.reauthorize;
  if (cls === 'conflict') return Exit.conflict;
  // Only our own configuration document and command line are "usage"; a remote's configuration problem is a failure.
  if ((cls === 'configuration' || cls === 'input') && (remote === 'config' || remote === 'event')) return Exit.usage;
  return Exit.failure;
}

export function exitCodeFor(e: unknown): ExitCode {
  if (e instanceof CliError) return e.exitCode;
  if (isRefresherError(e)) return exitCodeForClass(e.class, e.remote);
  return Exit.failure;
}

export function exitCodeForSummary(s: RotationSummary): ExitCode {
  if (s.outcome === 'skipped') return Exit.conflict;
  if (s.outcome !== 'failed' || !s.failure) return Exit.ok;
  return exitCodeForClass(s.failure.class, s.failure.remote);
}

/** The most urgent of several exit codes: a person must act > conflict > failure > usage > ok. */
export function worstExit(codes: readonly ExitCode[]): ExitCode {
  const rank: Record<ExitCode, number> = { 0: 0, 2: 1, 1: 2, 4: 3, 3: 4 };
  return codes.reduce<ExitCode>((a, b) => (rank[b] > rank[a] ? b : a), Exit.ok);
}
