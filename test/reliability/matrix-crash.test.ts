import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { SESClient } from '@aws-sdk/client-ses';
import { rotateCredential, SimulatedCrash, type RotationSummary, type Step } from '../../lambdas/pipeline/rotate.ts';
import type { WiringOptions } from '../../lambdas/pipeline/wiring.ts';
import { SesAlerter } from '../../lambdas/report/ses-alerter.ts';
import { FileStore } from '../../lambdas/store/file-store.ts';
import type { Harness } from '../support/harness.ts';
import { runRow, type RowSpec } from './support/matrix.ts';
import { READY_MARKER } from './support/peers.ts';
import { MatrixSink } from './support/results.ts';

/**
 * Fault matrix, the process dying between two steps: simulated at every step (SimulatedCrash from the afterStep hook
 * stops the run where it stands: no state write, no alert, the lease left to run out), and for real: a child process
 * is SIGKILLed at a step, then the next run in this process finishes the job. Also: the alert itself cannot be sent.
 */
const sink = new MatrixSink('crash');
const dirs: string[] = [];
afterAll(() => {
  sink.flush();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const STEPS: Array<{ step: Step; redeemNext: boolean }> = [
  { step: 'read', redeemNext: true },
  { step: 'redeem', redeemNext: true },
  { step: 'store', redeemNext: false },
  { step: 'validate', redeemNext: false },
  { step: 'promote', redeemNext: false },
  { step: 'push-target', redeemNext: false },
];

function simulatedCrash(step: Step, redeemNext: boolean): RowSpec {
  return {
    group: 'Process killed',
    stage: `after ${step}`,
    fault: `crash after ${step} (simulated)`,
    run: async (h, over) => {
      const deps = h.wiring({
        ...over,
        hooks: {
          afterStep: (s) => {
            if (s === step) throw new SimulatedCrash(s);
          },
        },
      });
      try {
        return await rotateCredential(deps, h.config.credentials[0]!, {});
      } catch (e) {
        if (e instanceof SimulatedCrash) return undefined;
        throw e;
      }
    },
    inject: () => undefined,
    expect: { died: true, alerts: 0, window: step === 'redeem', nextRedeemed: redeemNext },
    note:
      step === 'redeem'
        ? 'the window: the new token existed only in memory; Microsoft keeps the stored one valid'
        : undefined,
  };
}

const CHILD = fileURLToPath(new URL('./support/kill-child.ts', import.meta.url));

/** Runs a rotation in a child process on the same stand-ins and FileStore directory, SIGKILLs it at `step`. */
async function killedChild(
  h: Harness,
  over: Partial<WiringOptions>,
  step: Step,
  dir: string,
): Promise<RotationSummary | undefined> {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD], {
    env: {
      ...process.env,
      TR_CHILD_CONFIG: JSON.stringify(over.config ?? h.config),
      TR_CHILD_STORE: dir,
      TR_CHILD_KILL_AT: step,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the child did not reach ${step} in 20 s:\n${out}`)), 20_000);
    const onData = (b: Buffer) => {
      out += b.toString('utf8');
      if (out.includes(`${READY_MARKER} ${step}`)) {
        clearTimeout(timer);
        child.kill('SIGKILL');
        resolve();
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (b: Buffer) => (out += b.toString('utf8')));
    child.on('exit', () => {
      clearTimeout(timer);
      if (!out.includes(READY_MARKER)) reject(new Error(`the child exited before ${step}:\n${out}`));
    });
  });
  const { signal } = await exited;
  // What the child wrote is scanned for secrets with everything else.
  h.logs.push(out);
  if (signal !== 'SIGKILL') throw new Error(`the child ended by ${signal ?? 'exit'}, not SIGKILL`);
  return undefined;
}

function realKill(step: Step, redeemNext: boolean): RowSpec {
  const dir = mkdtempSync(join(tmpdir(), 'tr-kill-'));
  dirs.push(dir);
  return {
    group: 'Process killed',
    stage: `after ${step}`,
    fault: `SIGKILL of a real process after ${step} (FileStore)`,
    harness: () => ({ store: new FileStore(dir), createSecret: undefined }),
    run: (h, over) => killedChild(h, over, step, dir),
    inject: () => undefined,
    expect: { died: true, alerts: 0, window: step === 'redeem', nextRedeemed: redeemNext },
    note: 'a child process (node --import tsx) is killed by SIGKILL at the step; this process runs next',
  };
}

/** An SES client that fails the first `failures` sends with the given AWS error, then sends through moto. */
function sesFailing(h: Harness, name: string, failures: number): SesAlerter {
  const client = new SESClient({
    endpoint: h.aws.endpoint,
    region: 'eu-west-1',
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
    maxAttempts: 1,
  });
  let left = failures;
  client.middlewareStack.add(
    (next) => async (args) => {
      if (left-- > 0) throw Object.assign(new Error(`injected ${name}`), { name, $metadata: {} });
      return next(args);
    },
    { step: 'initialize', name: 'injectSesFault' },
  );
  return new SesAlerter({ from: 'token-refresher@example.com', to: [h.recipient], client });
}

const ses: RowSpec[] = [
  {
    group: 'SES (alerts)',
    stage: 'report',
    fault: 'the alert mail fails (Throttling) on the first failure, SMTP 535 5.7.139 for two runs',
    runs: 2,
    inject: (h, run) => {
      h.standins.smtp.injectFault('535 5.7.139');
      return run === 0 ? { alerter: sesFailing(h, 'Throttling', 1) } : {};
    },
    expect: {
      failure: { class: 'configuration', code: 'SMTP_535_5.7.139', stage: 'validate' },
      alerts: 1,
      nextRedeemed: false,
      extra: (h, runs) => [
        ...(runs[0]?.alert === 'failed-to-send' ? [] : [`first run alert: ${runs[0]?.alert}`]),
        ...(h.metrics.sum('AlertFailure') === 1 ? [] : [`AlertFailure metric ${h.metrics.sum('AlertFailure')}`]),
        ...(h.logs.join('').includes('the alert could not be sent') ? [] : ['the failed alert was not logged']),
      ],
    },
    note: 'logged and counted (metric AlertFailure); the next run sends the alert it owes',
  },
  {
    group: 'SES (alerts)',
    stage: 'report',
    fault: 'the alert mail is rejected (MessageRejected) on every run, SMTP 535 5.7.3',
    runs: 2,
    inject: (h) => {
      h.standins.smtp.injectFault('535 5.7.3');
      return { alerter: sesFailing(h, 'MessageRejected', 1) };
    },
    expect: {
      failure: { class: 'configuration', code: 'SMTP_535_5.7.3', stage: 'validate' },
      alerts: 0,
      nextRedeemed: false,
      extra: (h) =>
        h.metrics.sum('AlertFailure') === 2 ? [] : [`AlertFailure metric ${h.metrics.sum('AlertFailure')}, expected 2`],
    },
    note: 'every failed alert is logged and counted (AlertFailure); the RotationFailure alarm of the stack is the channel left',
  },
];

// Rows are independent worlds (own stand-ins, secrets and alert recipient): they run concurrently.
describe.concurrent('fault matrix: process killed between steps, alerts that fail', () => {
  STEPS.forEach(({ step, redeemNext }, i) => {
    it(`crash after ${step} (simulated)`, async () => {
      expect(await runRow(sink, simulatedCrash(step, redeemNext), i)).toEqual([]);
    });
  });
  STEPS.filter((s) => ['redeem', 'store', 'promote'].includes(s.step)).forEach(({ step, redeemNext }, i) => {
    it(`SIGKILL after ${step} (real child process)`, async () => {
      expect(await runRow(sink, realKill(step, redeemNext), 10 + i)).toEqual([]);
    });
  });
  ses.forEach((row, i) => {
    it(row.fault, async () => {
      expect(await runRow(sink, row, 20 + i)).toEqual([]);
    });
  });
});
