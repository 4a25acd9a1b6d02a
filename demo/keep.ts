/**
 * `npm run demo -- --keep`: after the scenarios the stand-ins keep running, and the CLI can be tried against them. The
 * configuration (pointing at the stand-ins' ports) and the SMTP stand-in's test CA are written to disk; the store is the
 * demo's file store. Nothing written here is a secret of a real service: the stand-ins' own test values only.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { Config } from '../lambdas/config/schema.ts';

export interface KeptDemo {
  readonly configFile: string;
  readonly caFile: string;
  /** The environment the CLI needs, as NAME=value pairs. */
  readonly env: Readonly<Record<string, string>>;
  /** Commands to try, one a line, for a shell in `cwd`. */
  readonly commands: readonly string[];
}

export function keepDemo(o: { cwd: string; dir: string; storeDir: string; config: Config; smtpCa: string }): KeptDemo {
  mkdirSync(o.dir, { recursive: true, mode: 0o700 });
  const configFile = join(o.dir, 'config.json');
  const caFile = join(o.dir, 'smtp-ca.pem');
  writeFileSync(configFile, `${JSON.stringify(o.config, null, 2)}\n`, { mode: 0o600 });
  writeFileSync(caFile, o.smtpCa, { mode: 0o600 });
  const rel = (p: string) => relative(o.cwd, p) || '.';
  const env = {
    TOKEN_REFRESHER_CONFIG_FILE: rel(configFile),
    TOKEN_REFRESHER_STORE: 'file',
    TOKEN_REFRESHER_STORE_DIR: rel(o.storeDir),
    TOKEN_REFRESHER_SMTP_CA_FILE: rel(caFile),
  };
  const id = o.config.credentials[0]?.id ?? '<id>';
  return {
    configFile,
    caFile,
    env,
    commands: [
      'npm run cli -- status',
      `npm run cli -- rotate --credential ${id} --force`,
      `npm run cli -- rotate --credential ${id} --push-now`,
      `npm run cli -- doctor --credential ${id}`,
      `npm run cli -- osgi --credential ${id} --out .token-refresher/demo/osgi`,
      `npm run cli -- regenerate --credential ${id}`,
    ],
  };
}

/** What the demo prints: the exports, then the commands. */
export function keptDemoText(k: KeptDemo): string {
  return [
    'The stand-ins keep running (Ctrl-C stops them). Try the CLI against them, in another shell in this folder:',
    '',
    `  export ${Object.entries(k.env)
      .map(([n, v]) => `${n}=${v}`)
      .join(' ')}`,
    ...k.commands.map((c) => `  ${c}`),
    '',
    `(configuration: ${k.configFile}; the sign-in of regenerate is the Entra stand-in's consent page: press Accept)`,
  ].join('\n');
}
