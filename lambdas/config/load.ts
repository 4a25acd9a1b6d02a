import { readFileSync } from 'node:fs';
import { adobeSecretIdOf, defaultAdobe } from './adobe.ts';
import { configSchema, type AdobeSettings, type Config, type Credential } from './schema.ts';
import { RefresherError } from '../core/errors.ts';

/** Formats a zod path the way a person finds the field in the JSON document: credentials[0].validation.smtp.host */
export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out ? `.${String(p)}` : String(p);
  return out || '(document)';
}

interface Issue {
  code?: string;
  path: PropertyKey[];
  message: string;
  errors?: Issue[][];
}

/**
 * "Invalid input" for a field that may take two shapes (adobe: one object or a list) says nothing; the shape the
 * document used is the branch whose issues do not start with a type mismatch of the field itself: report those.
 */
function unionBranch(issue: Issue): Issue[] {
  if (issue.code !== 'invalid_union' || !issue.errors?.length) return [issue];
  const fits = issue.errors.filter((branch) => !branch.some((i) => i.code === 'invalid_type' && i.path.length === 0));
  if (fits.length !== 1) return [issue];
  return fits[0]!.flatMap((i) => unionBranch({ ...i, path: [...issue.path, ...i.path] }));
}

/** Validates a parsed document; every wrong field is named by its path in one error. */
export function parseConfig(doc: unknown, source = 'configuration'): Config {
  const r = configSchema.safeParse(doc);
  if (r.success) return r.data;
  const lines = r.error.issues.flatMap(unionBranch).map((i) => `  - ${formatPath(i.path)}: ${i.message}`);
  throw new RefresherError({
    class: 'configuration',
    code: 'CONFIG_INVALID',
    remote: 'config',
    message: `${source} is invalid (${lines.length} problem${lines.length > 1 ? 's' : ''}):\n${lines.join('\n')}`,
    fix: 'Correct the fields listed above; the JSON Schema (config.schema.json) lets an editor complete and check the document.',
  });
}

export function parseConfigText(text: string, source: string): Config {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new RefresherError({
      class: 'configuration',
      code: 'CONFIG_NOT_JSON',
      remote: 'config',
      message: `${source} is not valid JSON: ${(e as Error).message}`,
      fix: 'Fix the JSON syntax of the configuration document.',
    });
  }
  return parseConfig(doc, source);
}

/**
 * Where the configuration comes from: TOKEN_REFRESHER_CONFIG (inline JSON, small deployments),
 * else TOKEN_REFRESHER_CONFIG_FILE, else ./config.json (the file the CDK stack bundles next to the handler).
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, fallbackFile = 'config.json'): Config {
  if (env.TOKEN_REFRESHER_CONFIG) return parseConfigText(env.TOKEN_REFRESHER_CONFIG, 'TOKEN_REFRESHER_CONFIG');
  const file = env.TOKEN_REFRESHER_CONFIG_FILE ?? fallbackFile;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new RefresherError({
      class: 'configuration',
      code: 'CONFIG_MISSING',
      remote: 'config',
      message: `cannot read the configuration file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
      fix: 'Set TOKEN_REFRESHER_CONFIG_FILE to the configuration document (see config.example.json).',
    });
  }
  return parseConfigText(text, file);
}

export function findCredential(config: Config, id: string): Credential {
  const c = config.credentials.find((x) => x.id === id);
  if (!c) {
    throw new RefresherError({
      class: 'input',
      code: 'UNKNOWN_CREDENTIAL',
      remote: 'config',
      message: `no credential "${id}" in the configuration (known: ${config.credentials.map((x) => x.id).join(', ')})`,
      fix: 'Use one of the configured credential ids.',
    });
  }
  return c;
}

/** Secret names derived from the prefix unless the document names them. */
export function secretIds(config: Config, c: Credential) {
  const base = `${config.secretPrefix}/${c.id}`;
  return {
    token: c.tokenSecretId ?? `${base}/refresh-token`,
    state: c.stateSecretId ?? `${base}/state`,
    clientSecret: c.clientSecret?.secretId ?? `${base}/client-secret`,
  };
}

/** The client secret of an Adobe credential (default: the first or only one, see lambdas/config/adobe.ts). */
export function adobeSecretId(config: Config, org: AdobeSettings | undefined = defaultAdobe(config)): string {
  return adobeSecretIdOf(config, org);
}

/**
 * The table the state lives in: TOKEN_REFRESHER_STATE_TABLE (the stack sets it on the function), else the document's
 * stateTable, else `<secretPrefix>-state` (the name the stack gives the table), so the function, the CLI and the stack
 * agree without being told.
 */
export function stateTableName(
  config: { stateTable?: string; secretPrefix?: string },
  env: NodeJS.ProcessEnv = process.env,
): string {
  return (
    env.TOKEN_REFRESHER_STATE_TABLE || config.stateTable || defaultStateTable(config.secretPrefix ?? 'token-refresher')
  );
}

/** DynamoDB names allow A-Z a-z 0-9 _ . - only; a secret prefix may also hold / + = @. */
export function defaultStateTable(secretPrefix: string): string {
  return `${secretPrefix.replace(/[^A-Za-z0-9_.-]+/g, '-').replace(/^-+|-+$/g, '')}-state`.slice(0, 255);
}
