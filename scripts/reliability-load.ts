/**
 * The load figures of docs/RELIABILITY.md: 200 credentials (two Cloud Manager targets each) on a FileStore, 1% of the
 * requests to the token endpoint, IMS and Cloud Manager and 1% of the SMTP connections answered by a transient fault,
 * two scheduled runs a day apart. Prints the figures as JSON and writes them where the report script reads them.
 *
 *   npx tsx scripts/reliability-load.ts [--credentials 200] [--fault-rate 0.01] [--seed 20261123]
 */
import { parseArgs } from 'node:util';
import { loadProblems, runLoad } from '../test/reliability/support/load.ts';
import { writeFigures } from '../test/reliability/support/results.ts';

const { values } = parseArgs({
  options: {
    credentials: { type: 'string', default: '200' },
    'fault-rate': { type: 'string', default: '0.01' },
    seed: { type: 'string', default: '20261123' },
    'max-concurrency': { type: 'string', default: '8' },
  },
});

process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
const t0 = Date.now();
const figures = await runLoad({
  credentials: Number(values.credentials),
  faultRate: Number(values['fault-rate']),
  seed: Number(values.seed),
  maxConcurrency: Number(values['max-concurrency']),
});
const problems = loadProblems(figures);
const out = {
  ...figures,
  problems,
  wallMs: Date.now() - t0,
  node: process.version,
  command: `npx tsx scripts/reliability-load.ts ${process.argv.slice(2).join(' ')}`.trim(),
};
writeFigures('load', out);
console.log(JSON.stringify(out, null, 2));
process.exit(problems.length === 0 ? 0 : 1);
