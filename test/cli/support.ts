/**
 * A local world for CLI tests: the stand-ins and a FileStore in a temp dir (startLocalEnv), the configuration written to
 * a file as an operator would have it, and `run()` calling the CLI's main() in-process with captured streams.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach } from 'vitest';
import { parseConfig, secretIds } from '../../lambdas/config/load.ts';
import type { Config, Credential } from '../../lambdas/config/schema.ts';
import { FileStateStore } from '../../lambdas/store/file-state-store.ts';
import { FileStore } from '../../lambdas/store/file-store.ts';
import { startLocalEnv, type LocalEnv, type LocalEnvOptions } from '../../demo/local-env.ts';
import { DEFAULT_CLIENT_SECRET, testClientCertificate } from '../../standins/entra.ts';
import type { AllStandins } from '../../standins/index.ts';
import { main } from '../../cli/main.ts';
import type { Io } from '../../cli/io.ts';
import { findPiece, leakIndex } from '../support/leaks.ts';

export class Capture {
  text = '';
  isTTY = false;
  private readonly listeners = new Set<() => void>();
  write(chunk: string): boolean {
    this.text += chunk;
    for (const l of this.listeners) l();
    return true;
  }
  /** Resolves with the first match of `re` in what was written so far or later. */
  waitFor(re: RegExp, timeoutMs = 10_000): Promise<RegExpMatchArray> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const m = this.text.match(re);
        if (m) {
          this.listeners.delete(check);
          clearTimeout(timer);
          resolve(m);
        }
      };
      const timer = setTimeout(() => {
        this.listeners.delete(check);
        reject(new Error(`timed out waiting for ${re} in:\n${this.text}`));
      }, timeoutMs);
      this.listeners.add(check);
      check();
    });
  }
}

export interface CliRun {
  code: Promise<number>;
  stdout: Capture;
  stderr: Capture;
  stdin: PassThrough;
}

export interface CliEnv extends LocalEnv {
  dir: string;
  storeDir: string;
  configFile: string;
  /** Starts the CLI; `args` come after the global --config/--store/--store-dir of this world. */
  start(args: string[], io?: Partial<Io>): CliRun;
  /** Runs to the end and returns the exit code and output. */
  run(args: string[], io?: Partial<Io> & { input?: string }): Promise<{ code: number; stdout: string; stderr: string }>;
  /** Every secret value the world has handed out so far: none may appear in any output. */
  secrets(): string[];
  /** Versions and labels of the credential's secrets, plus what Cloud Manager holds: equal before and after means unchanged. */
  snapshot(credentialId?: string): Promise<string>;
  /** Every output captured by run()/start() so far. */
  outputs: string[];
}

/** Changes to a credential once the stand-ins are up (their URLs are known only then), e.g. another vendor's endpoints. */
export type CredentialPatch = (c: Credential, i: number, standins: AllStandins) => Record<string, unknown>;

export interface CliEnvOptions extends Partial<LocalEnvOptions> {
  patch?: CredentialPatch;
}

/** The PEM body lines of a private key: what a leak would show even with the armour lines stripped. */
export function keyLines(pem: string): string[] {
  return pem.split('\n').filter((l) => l.length >= 40 && !l.startsWith('-----'));
}

export async function startCliEnv(opts: CliEnvOptions = {}): Promise<CliEnv> {
  const { patch, ...localOpts } = opts;
  const dir = mkdtempSync(join(tmpdir(), 'tr-cli-'));
  const storeDir = join(dir, 'store');
  const store = new FileStore(storeDir);
  // The CLI with --store file keeps its state table in <store-dir>/state: the world's pipeline uses the same files.
  const env = await startLocalEnv({ store, state: new FileStateStore(join(storeDir, 'state')), ...localOpts });
  const config: Config = patch
    ? parseConfig(
        { ...env.config, credentials: env.config.credentials.map((c, i) => ({ ...c, ...patch(c, i, env.standins) })) },
        'test configuration',
      )
    : env.config;
  const configFile = join(dir, 'config.json');
  writeFileSync(configFile, JSON.stringify(config, null, 2));
  const caFile = join(dir, 'smtp-ca.pem');
  writeFileSync(caFile, env.smtpCa);
  const outputs: string[] = [];

  const start = (args: string[], io: Partial<Io> = {}): CliRun => {
    const stdout = new Capture();
    const stderr = new Capture();
    const stdin = new PassThrough();
    outputs.push('');
    const slot = outputs.length - 1;
    const code = main(['--config', configFile, '--store', 'file', '--store-dir', storeDir, ...args], {
      stdout,
      stderr,
      stdin,
      env: { TOKEN_REFRESHER_SMTP_CA_FILE: caFile },
      cwd: dir,
      openUrl: async () => false,
      sleep: (ms) => new Promise((r) => setTimeout(r, Math.min(ms, 20))),
      ...io,
    }).finally(() => {
      outputs[slot] = `${stdout.text}\n${stderr.text}`;
    });
    return { code, stdout, stderr, stdin };
  };

  const secrets = (): string[] => {
    const out = new Set<string>([
      DEFAULT_CLIENT_SECRET,
      env.standins.ims.clientSecret,
      ...env.standins.entra.issuedRefreshTokens(),
    ]);
    // The test certificates' private keys (certificate credentials) and the other provider's tokens and secret.
    for (const name of ['app', 'other'] as const)
      for (const l of keyLines(testClientCertificate(name).privateKey)) out.add(l);
    const oauth2 = env.standins.oauth2;
    if (oauth2)
      for (const v of [oauth2.clientSecret, ...oauth2.issuedRefreshTokens(), ...oauth2.issuedAccessTokens()])
        out.add(v);
    for (const r of [...env.standins.entra.requests, ...(oauth2?.requests ?? [])]) {
      const form = new URLSearchParams(r.body);
      for (const k of ['code', 'code_verifier', 'refresh_token', 'client_secret', 'device_code', 'client_assertion']) {
        const v = form.get(k);
        if (v) out.add(v);
      }
    }
    for (const r of env.standins.cloudManager.requests) {
      const auth = r.headers.authorization;
      if (typeof auth === 'string') out.add(auth.replace(/^Bearer\s+/i, ''));
    }
    // Access tokens live only in the token records (and in the SMTP dialogue).
    // State documents hold no secret; token records and client secrets do.
    for (const f of readdirSync(storeDir).filter((n) => n.endsWith('.json') && !n.endsWith('%2Fstate.json'))) {
      const doc = JSON.parse(readFileSync(join(storeDir, f), 'utf8')) as {
        versions: Record<string, { value: string }>;
      };
      for (const v of Object.values(doc.versions)) {
        try {
          // A document: its secret fields are the secrets (its dates, ids and scopes are ordinary text, in pieces too).
          const rec = JSON.parse(v.value) as {
            accessToken?: string;
            refreshToken?: string;
            clientSecret?: string;
            value?: string;
            privateKey?: string;
          };
          if (rec.accessToken) out.add(rec.accessToken);
          if (rec.refreshToken) out.add(rec.refreshToken);
          if (rec.clientSecret) out.add(rec.clientSecret);
          if (typeof rec.value === 'string') out.add(rec.value);
          if (typeof rec.privateKey === 'string') for (const l of keyLines(rec.privateKey)) out.add(l);
        } catch {
          // a bare value (client secret, or a PEM key document)
          if (v.value.includes('-----BEGIN')) for (const l of keyLines(v.value)) out.add(l);
          else out.add(v.value);
        }
      }
    }
    return [...out].filter((s) => s.length >= 8);
  };

  const snapshot = async (credentialId = env.config.credentials[0]?.id ?? ''): Promise<string> => {
    const c = config.credentials.find((x) => x.id === credentialId);
    if (!c) throw new Error(`no credential ${credentialId}`);
    const ids = secretIds(config, c);
    const versions = await Promise.all(
      [ids.token, ids.state, ids.clientSecret].map(async (id) => [
        id,
        (await store.listVersions(id)).map((v) => ({ id: v.versionId, stages: [...v.stages].sort() })),
      ]),
    );
    const cm = c.targets.map((t) =>
      env.standins.cloudManager
        .variables(t.programId, t.environmentId)
        .map((v) => `${v.name}=${v.value.length}:${v.value.slice(-12)}`),
    );
    return JSON.stringify({ versions, cm, patches: env.standins.cloudManager.patchCount });
  };

  return {
    ...env,
    config,
    dir,
    storeDir,
    configFile,
    outputs,
    start,
    async run(args, io = {}) {
      const { input, ...rest } = io;
      const r = start(args, rest);
      r.stdin.end(input ?? '');
      const code = await r.code;
      return { code, stdout: r.stdout.text, stderr: r.stderr.text };
    },
    secrets,
    snapshot,
    async close() {
      await env.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function assertNoSecrets(texts: string[], secrets: string[]): void {
  const index = leakIndex(secrets);
  for (const [i, text] of texts.entries()) {
    const found = findPiece(text, index);
    // The output is shown so the leak can be found; the scan's description never holds the secret.
    if (found) throw new Error(`${found} appears in output #${i} (stdout and stderr)`);
  }
}

/**
 * The afterEach every CLI suite shares: the world the test started (if any) must not have printed a secret in any output
 * or file it wrote; then it is closed and forgotten.
 */
export function checkAndCloseAfterEach(get: () => CliEnv | undefined, clear: () => void): void {
  afterEach(async () => {
    const env = get();
    if (!env) return;
    assertNoSecrets(env.outputs, env.secrets());
    await env.close();
    clear();
  });
}
