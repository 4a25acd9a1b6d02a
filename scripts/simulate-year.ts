/**
 * npm run simulate:year: 365 days of the deployed handler on the stand-ins with a controlled clock (see
 * scripts/simulation/year.ts). Prints the delivery figures and exits non-zero if any copy passed the 90-day lifetime.
 */
import { simulate } from './simulation/year.ts';

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const days = arg('days', 365);
const seed = arg('seed', 20261201);
const t0 = Date.now();
const report = await simulate({
  days,
  seed,
  revokeDay: Math.round(days / 2),
  outage: [Math.round(days * 0.3), Math.round(days * 0.3) + 7],
  mailErrorDay: Math.round(days * 0.7),
  progress: (l) => process.stderr.write(`${l}\n`),
});
process.stderr.write(
  `simulated ${days} days in ${((Date.now() - t0) / 1000).toFixed(0)} s, ${report.invocations} invocations, seed ${seed}\n`,
);
for (const line of report.lines) console.log(line);
if (report.outsideWindow.alerted !== report.outsideWindow.total)
  console.log(`pushes outside a window without an alert: ${report.outsideWindow.total - report.outsideWindow.alerted}`);
if (report.failed) {
  console.log('a copy passed the 90-day lifetime');
  process.exit(1);
}
