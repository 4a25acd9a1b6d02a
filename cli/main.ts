/**
 * token-refresher: the operator's command line. `main()` takes its argv and an Io so tests run it in-process; run as a
 * program (tsx cli/main.ts, npm run cli, bin/token-refresher.mjs on the bundle in dist/cli) it uses the real process.
 *
 * Only what every invocation needs is imported here: the commands and the context (which hold the AWS SDK, undici, zod
 * and nodemailer) are imported when a command runs, so `--help` starts in about the time of Node itself.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { isRefresherError } from '../lambdas/core/errors.ts';
import { redactText } from '../lambdas/core/redact.ts';
import { bool, findCommand, GLOBAL_HELP, parseCommandArgs } from './args.ts';
import { COMMAND_CATALOG } from './commands/index.ts';
import { CliError, Exit, exitCodeFor, type ExitCode } from './errors.ts';
import { processIo, type Io } from './io.ts';
import { Ui } from './ui.ts';

const COMMANDS = COMMAND_CATALOG;
const NAMES = [...COMMANDS.map((c) => c.name), 'help'];

const EXIT_HELP = `Exit codes: 0 ok, 1 the operation failed, 2 usage or configuration error, 3 a person must sign in again
(run regenerate), 4 another run holds the credential's lease.`;

function mainHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return `Usage: token-refresher <command> [options]

Rotates the OAuth2 refresh token AEM sends mail with, and lets an operator act on every credential.

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join('\n')}
  ${'help'.padEnd(width)}  help for a command (or: <command> --help)

${GLOBAL_HELP}

${EXIT_HELP}
Secrets are never printed, not even with --json.`;
}

export async function main(argv: readonly string[], partialIo: Partial<Io> = {}): Promise<ExitCode> {
  const io: Io = { ...processIo(), ...partialIo };
  let ui = new Ui(io, { json: argv.includes('--json'), noColor: argv.includes('--no-color') });
  try {
    let name = findCommand(argv, NAMES);
    let args = [...argv];
    if (name === 'help') {
      // `help regenerate` is `regenerate --help`.
      const rest = args.filter((a) => a !== 'help');
      name = findCommand(rest, NAMES);
      args = [...rest, '--help'];
    }
    if (!name) {
      const { values } = parseCommandArgs(args, {});
      io.stdout.write(`${mainHelp()}\n`);
      return bool(values, 'help') ? Exit.ok : Exit.usage;
    }
    const entry = COMMANDS.find((c) => c.name === name);
    if (!entry)
      throw new CliError(
        `unknown command "${name}"`,
        Exit.usage,
        `One of: ${COMMANDS.map((c) => c.name).join(', ')}. See --help.`,
        'USAGE',
      );
    const command = await entry.load();
    const { values, positionals } = parseCommandArgs(args, command.options);
    ui = new Ui(io, { json: bool(values, 'json'), noColor: bool(values, 'no-color') });
    if (bool(values, 'help')) {
      io.stdout.write(`${command.help}\n\n${GLOBAL_HELP}\n`);
      return Exit.ok;
    }
    if (positionals.length > 1)
      throw new CliError(
        `unexpected argument "${positionals[1]}"`,
        Exit.usage,
        `See \`token-refresher ${name} --help\`.`,
        'USAGE',
      );
    const { Context } = await import('./context.ts');
    return await command.run(new Context(io, ui, values));
  } catch (e) {
    const code = exitCodeFor(e);
    if (e instanceof CliError) {
      if (ui.json) ui.emit({ error: { code: e.code, message: e.message, fix: e.fix, exitCode: code } });
      ui.failure(e.message, e.fix, e.code === 'CLI_ERROR' ? undefined : e.code);
    } else if (isRefresherError(e)) {
      if (ui.json) ui.emit({ error: { ...e.toJSON(), exitCode: code } });
      ui.failure(e.message, e.fix, e.code);
    } else {
      // A bug, not a classified failure: the name and message only (a stack could carry request details).
      const err = e as Error;
      ui.failure(
        redactText(`${err?.name ?? 'Error'}: ${err?.message ?? String(e)}`),
        'This is a bug in token-refresher; rerun with --verbose and report it.',
        'UNEXPECTED',
      );
    }
    return code;
  }
}

/** Runs as the program, and exits once stdout has drained (SDK and HTTP keep-alive sockets must not hold the process). */
export async function runAsProgram(argv: readonly string[]): Promise<void> {
  // `token-refresher status | head`: a reader that stops early is not an error.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
      throw e;
    });
  }
  const code = await main(argv);
  process.exitCode = code;
  await new Promise<void>((resolve) => process.stdout.write('', () => resolve()));
  setTimeout(() => process.exit(code), 200).unref();
  // stdin may still be open (a prompt that lost the race to the loopback listener): it must not keep the process alive.
  process.stdin.unref?.();
}

function invokedDirectly(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (invokedDirectly()) void runAsProgram(process.argv.slice(2));
