import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildJob, ChildResult } from './rotation-child.ts';

/** Node 24 from the `node` devDependency, the runtime the function is deployed on. */
export const NODE_BIN = join(process.cwd(), 'node_modules', '.bin', 'node');

/** Spawns a process and resolves with its stdout; asynchronous, so the stand-ins in this process keep answering. */
export function spawnNode(args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(NODE_BIN, args, { env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (err += c.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 240_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`node ${args.slice(0, 2).join(' ')} exited with ${code}: ${err.slice(-2000)}`));
    });
  });
}

/** Runs the bundled rotation child (bench/rotation-child.ts) on a job and returns its result. */
export async function runRotationChild(
  bundleFile: string,
  workDir: string,
  job: ChildJob,
  nodeFlags: string[] = [],
  env: NodeJS.ProcessEnv = {},
): Promise<ChildResult> {
  const jobFile = join(workDir, `job-${Date.now()}-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(jobFile, JSON.stringify(job));
  // The function's environment as the stack sets it (Powertools names; no NODE_OPTIONS); --expose-gc only for the
  // final collection that measures what the run retains.
  const out = await spawnNode(['--expose-gc', ...nodeFlags, bundleFile, jobFile], {
    env: {
      POWERTOOLS_SERVICE_NAME: 'token-refresher',
      POWERTOOLS_METRICS_DISABLED: 'true',
      AWS_REGION: 'eu-west-1',
      ...env,
    },
  });
  const line = out.trim().split('\n').at(-1) ?? '';
  return JSON.parse(line) as ChildResult;
}
