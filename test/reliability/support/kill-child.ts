/**
 * A rotation in its own process, for the real-kill rows of the fault matrix: it runs against the parent's stand-ins and
 * a FileStore directory, prints a marker when it reaches the step named by TR_CHILD_KILL_AT and then waits to be
 * SIGKILLed there. A watchdog ends it after 30 s if nobody does (bounded, never left behind).
 */
import { parseConfig } from '../../../lambdas/config/load.ts';
import { rotateCredential, type Step } from '../../../lambdas/pipeline/rotate.ts';
import { wire } from '../../../lambdas/pipeline/wiring.ts';
import { createLogger, powertoolsLog } from '../../../lambdas/report/logger.ts';
import { MemoryMetrics } from '../../../lambdas/report/metrics.ts';
import { FileStore } from '../../../lambdas/store/file-store.ts';
import { FileStateStore } from '../../../lambdas/store/file-state-store.ts';
import { testCa } from '../../../standins/smtp.ts';
import { READY_MARKER } from './peers.ts';

const killAt = process.env.TR_CHILD_KILL_AT as Step;
const config = parseConfig(JSON.parse(process.env.TR_CHILD_CONFIG ?? '{}'), 'child configuration');
const store = new FileStore(process.env.TR_CHILD_STORE ?? '');
setTimeout(() => process.exit(3), 30_000).unref();

const deps = wire({
  config,
  store,
  state: new FileStateStore(`${process.env.TR_CHILD_STORE ?? ''}/state`),
  log: powertoolsLog(createLogger('token-refresher-child')),
  metrics: new MemoryMetrics(),
  smtpCa: testCa(),
  baseDelayMs: 20,
  hooks: {
    afterStep: async (step) => {
      if (step !== killAt) return;
      process.stdout.write(`${READY_MARKER} ${step}\n`);
      // Stay here, with a live handle, until the parent kills the process.
      await new Promise<void>(() => setInterval(() => undefined, 60_000));
    },
  },
});

await rotateCredential(deps, config.credentials[0]!, { force: true, source: 'cli' });
process.stdout.write('finished without being killed\n');
process.exit(4);
