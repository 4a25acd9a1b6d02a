/**
 * The package as a CDK user gets it: `npm pack` (which runs `prepare`, the build), the tarball's file list, then a fresh
 * CDK app that installs the tarball and its peers offline from the local npm cache, imports `TokenRefresher` from the
 * package name, type-checks against the shipped declarations, synthesizes a stack, and runs `npx token-refresher --help`.
 *
 * Offline: the cache holds every tarball this repository's own install fetched, but not the registry's package documents
 * npm would need to resolve version ranges, so the app gets a lock file made from this repository's (the same versions,
 * checked by integrity) and `npm ci --offline` installs from it. Nothing here reaches the network.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const NODE_DIR = path.dirname(process.execPath);

interface LockEntry {
  version?: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  [k: string]: unknown;
}
interface Lock {
  name: string;
  lockfileVersion: number;
  packages: Record<string, LockEntry>;
}
interface PackResult {
  filename: string;
  integrity: string;
  files: Array<{ path: string }>;
}

/** Runs a command with Node 24 first on PATH (the package's bin is `#!/usr/bin/env node`), offline. */
function run(cmd: string, args: string[], cwd: string, timeout = 120_000) {
  const env = {
    ...process.env,
    PATH: `${NODE_DIR}${path.delimiter}${process.env.PATH ?? ''}`,
    // Anything that tried the network would fail fast instead of passing because the machine happens to be online.
    npm_config_offline: 'true',
    npm_config_audit: 'false',
    npm_config_fund: 'false',
    npm_config_update_notifier: 'false',
    HTTP_PROXY: 'http://127.0.0.1:9',
    HTTPS_PROXY: 'http://127.0.0.1:9',
    NO_PROXY: '',
    CDK_DISABLE_CLI_TELEMETRY: 'true',
    NO_COLOR: '1',
  };
  const r = spawnSync(cmd, args, { cwd, env, encoding: 'utf8', timeout });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited with ${r.status}:\n${r.stdout}\n${r.stderr}`);
  return r;
}

/**
 * The lock entries `roots` need, copied from this repository's lock: each dependency resolved the way Node does, from
 * the nearest node_modules up. Peer dependencies come along when the lock has them (npm installs peers).
 */
function lockClosure(lock: Lock, roots: string[]): Record<string, LockEntry> {
  const out: Record<string, LockEntry> = {};
  const resolveFrom = (from: string, name: string): string | undefined => {
    let base = from;
    for (;;) {
      const key = base ? `${base}/node_modules/${name}` : `node_modules/${name}`;
      if (lock.packages[key]) return key;
      if (!base) return undefined;
      const i = base.lastIndexOf('/node_modules/');
      base = i < 0 ? '' : base.slice(0, i);
    }
  };
  const visit = (key: string) => {
    if (out[key]) return;
    const { dev: _dev, devOptional: _devOptional, peer: _peer, ...entry } = lock.packages[key]!;
    out[key] = entry;
    for (const name of Object.keys({
      ...entry.dependencies,
      ...entry.optionalDependencies,
      ...entry.peerDependencies,
    })) {
      const dep = resolveFrom(key, name);
      if (dep) visit(dep);
      else if (entry.dependencies?.[name]) throw new Error(`${key} needs ${name}, which the lock does not hold`);
    }
  };
  for (const name of roots) visit(`node_modules/${name}`);
  return out;
}

describe('the npm package', () => {
  let work: string;
  let packed: PackResult;
  let app: string;
  const pkg = JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as {
    name: string;
    version: string;
    license: string;
    dependencies: Record<string, string>;
    peerDependencies: Record<string, string>;
    peerDependenciesMeta: Record<string, unknown>;
    bin: Record<string, string>;
    engines: Record<string, string>;
  };
  const lock = JSON.parse(readFileSync(path.join(REPO, 'package-lock.json'), 'utf8')) as Lock;

  beforeAll(() => {
    work = mkdtempSync(path.join(tmpdir(), 'tr-pack-'));
    const t0 = Date.now();
    const r = run('npm', ['pack', '--json', '--pack-destination', work], REPO);
    const t1 = Date.now();
    // `prepare` (the build) prints its own lines first; the JSON document is the rest.
    packed = (JSON.parse(r.stdout.slice(r.stdout.search(/^\[/m))) as PackResult[])[0]!;

    app = path.join(work, 'app');
    const tarball = `file:../${packed.filename}`;
    const cdkVersion = lock.packages['node_modules/aws-cdk-lib']!.version!;
    const constructsVersion = lock.packages['node_modules/constructs']!.version!;
    const dependencies = { 'aws-cdk-lib': cdkVersion, constructs: constructsVersion, [pkg.name]: tarball };
    // A TypeScript CDK app has Node's types; the consumer's compiler needs them for aws-cdk-lib's declarations too.
    const devDependencies = { '@types/node': lock.packages['node_modules/@types/node']!.version! };
    const manifest = {
      name: 'consumer-app',
      version: '1.0.0',
      private: true,
      type: 'module',
      dependencies,
      devDependencies,
    };
    const packages: Record<string, LockEntry> = {
      '': { name: manifest.name, version: manifest.version, dependencies, devDependencies },
      ...lockClosure(lock, [...Object.keys(pkg.dependencies), 'aws-cdk-lib', 'constructs', '@types/node']),
      [`node_modules/${pkg.name}`]: {
        version: pkg.version,
        resolved: tarball,
        integrity: packed.integrity,
        license: pkg.license,
        dependencies: pkg.dependencies,
        peerDependencies: pkg.peerDependencies,
        peerDependenciesMeta: pkg.peerDependenciesMeta,
        bin: pkg.bin,
        engines: pkg.engines,
      },
    };
    run('mkdir', ['-p', app], work);
    writeFileSync(path.join(app, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
    writeFileSync(
      path.join(app, 'package-lock.json'),
      `${JSON.stringify({ name: manifest.name, version: manifest.version, lockfileVersion: 3, requires: true, packages }, null, 2)}\n`,
    );
    run('npm', ['ci', '--offline', '--ignore-scripts', '--no-audit', '--no-fund'], app);
    console.log(`npm pack (with the build) ${t1 - t0} ms, npm ci --offline ${Date.now() - t1} ms`);
  }, 180_000);
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('holds the construct, its types, the function asset, the CLI bundle, the schema, README and LICENSE, and nothing else', () => {
    const files = packed.files.map((f) => f.path).sort();
    for (const f of [
      'package.json',
      'README.md',
      'LICENSE',
      'config.schema.json',
      'bin/token-refresher.mjs',
      'dist/lib/index.js',
      'dist/lib/index.d.ts',
      'dist/lib/compliance.js',
      'dist/function/index.mjs',
      'dist/recover/index.mjs',
      'dist/cli/main.mjs',
    ]) {
      expect(files).toContain(f);
    }
    const allowed =
      /^(package\.json|README\.md|LICENSE|config\.schema\.json|bin\/token-refresher\.mjs|dist\/(lib|lambdas)\/.+\.(js|d\.ts)|dist\/(function|recover)\/.+\.(mjs|map)|dist\/cli\/.+\.mjs)$/;
    expect(files.filter((f) => !allowed.test(f))).toEqual([]);
    // Spelled out as well, for the reader: none of these may ever be shipped.
    expect(
      files.filter((f) =>
        /^(test|bench|standins|contracts|demo|docs|scripts)\/|\.(key|pem)$|(^|\/)tls\/|\.test\.|(^|\/)cloudmanager-api/.test(
          f,
        ),
      ),
    ).toEqual([]);
  });

  it('installs offline without tsx or esbuild, with aws-cdk-lib, constructs (and cdk-nag for the compliance packs) as optional peers', () => {
    const installed = readdirSync(path.join(app, 'node_modules'));
    expect(installed).toContain(pkg.name);
    expect(installed).not.toContain('tsx');
    expect(installed).not.toContain('esbuild');
    expect(Object.keys(pkg.dependencies)).not.toContain('tsx');
    expect(Object.keys(pkg.dependencies)).not.toContain('esbuild');
    expect(Object.keys(pkg.peerDependencies).sort()).toEqual(['aws-cdk-lib', 'cdk-nag', 'constructs']);
    expect(Object.values(pkg.peerDependenciesMeta)).toEqual([
      { optional: true },
      { optional: true },
      { optional: true },
    ]);
  });

  it('a CDK app imports TokenRefresher from the package name, type-checks and synthesizes the stack', () => {
    writeFileSync(path.join(app, 'config.json'), readFileSync(path.join(REPO, 'config.example.json')));
    const source = `import { App, Stack } from 'aws-cdk-lib';
import { TokenRefresher, loadConfig, type Config } from 'token-refresher';

const app = new App({ outdir: 'cdk.out' });
const stack = new Stack(app, 'Consumer', { env: { account: '123456789012', region: 'eu-west-1' } });
const config: Config = loadConfig({ TOKEN_REFRESHER_CONFIG_FILE: 'config.json' });
const refresher = new TokenRefresher(stack, 'Mail', { config });
const name: string = refresher.function.functionName;
// The declarations are real types, not \`any\`: a wrong use must not compile.
// @ts-expect-error a function name is a string
const wrong: number = refresher.function.functionName;
void name;
void wrong;
app.synth();
`;
    writeFileSync(path.join(app, 'app.ts'), source);
    writeFileSync(
      path.join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          noEmit: true,
          skipLibCheck: true,
          types: ['node'],
        },
        files: ['app.ts'],
      }),
    );
    // The consumer's compiler sees only the installed package's declarations. skipLibCheck (checking aws-cdk-lib's own
    // declarations takes half a minute) cannot hide a broken one: its types would be `any` and the @ts-expect-error fail.
    run(process.execPath, [path.join(REPO, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], app);
    // Node 24 runs the app's TypeScript itself (type stripping); the package is JavaScript.
    run(process.execPath, ['app.ts'], app);
    const template = JSON.parse(readFileSync(path.join(app, 'cdk.out/Consumer.template.json'), 'utf8')) as {
      Resources: Record<string, { Type: string; Properties?: Record<string, unknown> }>;
    };
    // The rotation function and the recovery endpoint, both prebuilt in the tarball.
    const fns = Object.entries(template.Resources).filter(([, r]) => r.Type === 'AWS::Lambda::Function');
    expect(fns).toHaveLength(2);
    for (const [, fn] of fns) expect(fn.Properties).toMatchObject({ Handler: 'index.handler', Runtime: 'nodejs24.x' });
    const assets = readdirSync(path.join(app, 'cdk.out')).filter((n) => n.startsWith('asset.'));
    expect(assets).toHaveLength(2);
    const assetOf = (prefix: string) => {
      const key = String((fns.find(([id]) => id.startsWith(prefix))?.[1].Properties?.Code as { S3Key?: string }).S3Key);
      return path.join(app, 'cdk.out', `asset.${key.replace(/\.zip$/, '')}`);
    };
    const recovery = assetOf('MailRecoveryFunction');
    expect(readFileSync(path.join(recovery, 'index.mjs'))).toEqual(
      readFileSync(path.join(app, 'node_modules', pkg.name, 'dist/recover/index.mjs')),
    );
    expect(existsSync(path.join(recovery, 'config.json'))).toBe(true);
    const asset = assetOf('MailFunction');
    // The prebuilt function from the tarball, with the consumer's configuration beside it.
    expect(readFileSync(path.join(asset, 'index.mjs'))).toEqual(
      readFileSync(path.join(app, 'node_modules', pkg.name, 'dist/function/index.mjs')),
    );
    expect(JSON.parse(readFileSync(path.join(asset, 'config.json'), 'utf8'))).toMatchObject({
      credentials: [expect.objectContaining({ id: 'aem-mail' })],
    });
    expect(existsSync(path.join(asset, 'node_modules'))).toBe(false);
  });

  it('npx token-refresher --help runs the installed CLI', () => {
    const r = run('npx', ['--no-install', 'token-refresher', '--help'], app, 30_000);
    expect(r.stdout).toContain('Usage: token-refresher <command>');
    const osgi = run(
      'npx',
      ['--no-install', 'token-refresher', 'osgi', '--credential', 'aem-mail', '--config', 'config.json', '--json'],
      app,
      30_000,
    );
    expect(Object.keys(JSON.parse(osgi.stdout) as object).length).toBe(2);
  });
});
