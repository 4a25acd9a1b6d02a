/**
 * The command list `token-refresher --help` prints, without loading any command: each command module pulls in the AWS
 * SDK, undici, zod or nodemailer, which printing help does not need. A command's module is imported only when that
 * command runs or prints its own help. test/cli/lazy-commands.test.ts checks that every entry's name and summary match
 * its module's, so the list cannot drift from the commands.
 */
import type { Command } from '../command.ts';

export interface CommandEntry {
  readonly name: string;
  readonly summary: string;
  load(): Promise<Command>;
}

export const COMMAND_CATALOG: readonly CommandEntry[] = [
  {
    name: 'regenerate',
    summary: 'sign in again and store, validate and push a new refresh token (after it died, or for a first setup)',
    load: async () => (await import('./regenerate.ts')).regenerateCommand,
  },
  {
    name: 'rotate',
    summary: 'rotate now (in this process, or by invoking the deployed function) and print the summary',
    load: async () => (await import('./rotate.ts')).rotateCommand,
  },
  {
    name: 'status',
    summary: 'per credential: token age and days left, last validation and failure, what each target holds, next run',
    load: async () => (await import('./status.ts')).statusCommand,
  },
  {
    name: 'osgi',
    summary: 'write the two AEM OSGi configuration files for a credential',
    load: async () => (await import('./osgi.ts')).osgiCommand,
  },
  {
    name: 'doctor',
    summary:
      'check configuration, endpoints, SMTP AUTH, the IMS credential, Cloud Manager permissions and value lengths',
    load: async () => (await import('./doctor.ts')).doctorCommand,
  },
  {
    name: 'client-secret',
    summary: 'store a new client secret (read from stdin, never from the command line) and optionally push it',
    load: async () => (await import('./client-secret.ts')).clientSecretCommand,
  },
];

/** Every command, loaded: for tests and tools that need the options or help of all of them. */
export async function loadAllCommands(): Promise<Command[]> {
  return Promise.all(COMMAND_CATALOG.map((c) => c.load()));
}
