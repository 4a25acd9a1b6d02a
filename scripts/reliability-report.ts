/**
 * Generates docs/RELIABILITY.md from a run, never by hand: runs the reliability suite (fault matrix, bad input,
 * security) and the 200-credential load script with RELIABILITY_OUT pointing at a fresh directory, runs
 * `npm audit --omit=dev`, and renders what they recorded. Exits non-zero when anything failed.
 *
 *   npx tsx scripts/reliability-report.ts                 # run everything, write docs/RELIABILITY.md
 *   npx tsx scripts/reliability-report.ts --results DIR   # render the JSON files already in DIR (no run)
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { LoadFigures } from '../test/reliability/support/load.ts';
import type { MatrixRow, ResultFile } from '../test/reliability/support/results.ts';

const { values } = parseArgs({
  options: {
    results: { type: 'string' },
    out: { type: 'string', default: 'docs/RELIABILITY.md' },
    'skip-load': { type: 'boolean', default: false },
  },
});

const ROOT = new URL('../', import.meta.url).pathname;
const SUITE = 'npx vitest run test/reliability';
const LOAD = 'npx tsx scripts/reliability-load.ts';
const AUDIT = 'npm audit --omit=dev --json';

interface Step {
  command: string;
  status: number | null;
  ms: number;
}

function run(command: string, env: NodeJS.ProcessEnv, capture = false): Step & { stdout: string } {
  const t0 = Date.now();
  const [cmd, ...args] = command.split(' ');
  const r = spawnSync(cmd as string, args, {
    cwd: ROOT,
    env,
    stdio: capture ? ['ignore', 'pipe', 'pipe'] : 'inherit',
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  return { command, status: r.status, ms: Date.now() - t0, stdout: capture ? `${r.stdout ?? ''}` : '' };
}

const loadAtStart = loadavg()[0] ?? 0;
const steps: Step[] = [];
let dir = values.results;
if (!dir) {
  dir = mkdtempSync(join(tmpdir(), 'tr-reliability-'));
  const env = { ...process.env, RELIABILITY_OUT: dir };
  steps.push(run(SUITE, env));
  if (!values['skip-load']) steps.push(run(LOAD, env));
}

// npm audit: the registry's audit endpoint may be unreachable from here; say so instead of guessing.
interface Audit {
  reachable: boolean;
  status: number | null;
  summary: string;
  counts?: Record<string, number>;
}
function audit(): Audit {
  const r = run(AUDIT, process.env, true);
  try {
    const j = JSON.parse(r.stdout) as {
      metadata?: { vulnerabilities?: Record<string, number> };
      message?: string;
      statusCode?: number;
      error?: { summary?: string };
    };
    if (j.metadata?.vulnerabilities) {
      const v = j.metadata.vulnerabilities;
      return {
        reachable: true,
        status: r.status,
        counts: v,
        summary: `${v.total ?? 0} vulnerabilities (critical ${v.critical ?? 0}, high ${v.high ?? 0}, moderate ${v.moderate ?? 0}, low ${v.low ?? 0}, info ${v.info ?? 0})`,
      };
    }
    return {
      reachable: false,
      status: r.status,
      summary: `the registry's audit endpoint did not answer with a report: ${j.message ?? j.error?.summary ?? 'no message'}${j.statusCode ? ` (HTTP ${j.statusCode})` : ''}`,
    };
  } catch {
    return { reachable: false, status: r.status, summary: `npm audit printed no JSON report (exit ${r.status})` };
  }
}
const auditResult = audit();

// Everything the run recorded.
const files: ResultFile[] = readdirSync(dir)
  .filter((f) => f.endsWith('.json'))
  .sort()
  .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as ResultFile);
const FILE_ORDER = ['entra-transport', 'entra-classes', 'smtp', 'secrets-manager', 'cloud-manager', 'crash'];
const rank = (name: string) => (FILE_ORDER.indexOf(name) < 0 ? 99 : FILE_ORDER.indexOf(name));
const rows: MatrixRow[] = files
  .filter((f) => f.kind === 'matrix')
  .sort((a, b) => rank(a.name) - rank(b.name))
  .flatMap((f) => f.rows ?? []);
const fig = (name: string): Record<string, unknown> | undefined =>
  files.find((f) => f.kind === 'figures' && f.name === name)?.figures;

const GROUP_ORDER = [
  'Entra ID',
  'SMTP (Office 365)',
  'Secrets Manager',
  'Adobe IMS',
  'Cloud Manager',
  'SES (alerts)',
  'Process killed',
];
rows.sort((a, b) => {
  const ga = GROUP_ORDER.indexOf(a.group);
  const gb = GROUP_ORDER.indexOf(b.group);
  return (ga < 0 ? 99 : ga) - (gb < 0 ? 99 : gb);
});

const cell = (s: unknown) =>
  String(s ?? '')
    .replace(/\|/g, '\\|')
    .replace(/\r?\n/g, ' ');
const table = (head: string[], body: unknown[][]) =>
  [
    `| ${head.join(' | ')} |`,
    `| ${head.map(() => '---').join(' | ')} |`,
    ...body.map((r) => `| ${r.map(cell).join(' | ')} |`),
  ].join('\n');

const git = (args: string[]) => spawnSync('git', args, { cwd: ROOT, encoding: 'utf8' }).stdout.trim();
const commit = git(['rev-parse', '--short', 'HEAD']);
const dirty = git(['status', '--porcelain', '--', 'lambdas', 'standins', 'demo']) !== '';

const out: string[] = [];
const p = (...l: string[]) => out.push(...l);

p(
  '# Reliability and security figures',
  '',
  `> Generated by \`npx tsx scripts/reliability-report.ts\` from the run of ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`,
  `> on commit ${commit}${dirty ? ' (with uncommitted changes in lambdas/, standins/ or demo/)' : ''}, Node ${process.version}, ${cpus().length} cores (load average ${loadAtStart.toFixed(1)} at the start: durations depend on it). Do not edit by hand: rerun the script.`,
  '',
  'The promise: whatever fails, mail keeps working or a person is told exactly what to do in time, and no token is ever',
  'lost or leaked. The tables below are what the tests observed, row by row.',
  '',
);

// ---- summary
const passed = rows.filter((r) => r.passed).length;
const lost = rows.filter((r) => !r.nothingLost).length;
const load = fig('load') as (LoadFigures & { wallMs?: number; problems?: string[]; command?: string }) | undefined;
const security = fig('security') as
  | {
      redaction?: {
        outputsScanned: number;
        bytesScanned: number;
        secretsChecked: number;
        leaks: string[];
        alertMails: number;
        emfLines: number;
      };
      tls?: { filesScanned: number; findings: string[]; folders: string[]; patterns: string[] };
      lockfile?: {
        productionPackages: number;
        rangedSpecifiers: string[];
        unhashed: string[];
        lockfileVersion: number;
      };
      sdkDeadlines?: { filesScanned: number; findings: string[] };
    }
  | undefined;
const sweep = fig('classification') as
  | {
      codes: number;
      correct: number;
      rows: Array<{ code: string; expected: string; observed: string; errorCode: string }>;
    }
  | undefined;
const docs = fig('bad-input-documents') as
  | {
      runsPerProperty: number;
      properties: Record<string, { runs: number; accepted: number; refused: Record<string, number>; crashes: number }>;
    }
  | undefined;
const responses = fig('bad-input-responses') as
  | {
      runsPerProperty: number;
      properties: Record<string, { runs: number; accepted: number; refused: Record<string, number>; crashes: number }>;
      limits: Array<{ client: string; case: string; code: string; ms: number; attempts: number }>;
    }
  | undefined;

p('## Summary', '');
p(
  table(
    ['What', 'Figure'],
    [
      ['Fault matrix rows', `${rows.length} (${passed} passed every check, ${rows.length - passed} did not)`],
      ['Rows where something was lost', `${lost}`],
      ['Entra codes classified as Microsoft documents them', sweep ? `${sweep.correct} / ${sweep.codes}` : 'not run'],
      [
        'Load: credentials converged after run 1 / run 2',
        load
          ? `${load.convergedAfterRun.map((n) => `${n}/${load.credentials}`).join(' / ')} (${load.lostAfterRun.every((n) => n === 0) ? 'none lost' : 'LOST'}; ${load.faultRate * 100}% faults)`
          : 'not run',
      ],
      ['Bad input: property runs, crashes', badInputTotals()],
      [
        'Secrets found in outputs (matrix, load, hostile handler run)',
        `${rows.filter((r) => r.observed.includes('LEAK')).length + (load?.leaks.length ?? 0) + (security?.redaction?.leaks.length ?? 0)}`,
      ],
      [
        'TLS verification turned off anywhere',
        security?.tls ? `${security.tls.findings.length} findings in ${security.tls.filesScanned} files` : 'not run',
      ],
      ['npm audit --omit=dev', auditResult.summary],
    ],
  ),
  '',
);

function badInputTotals(): string {
  const all = [...Object.values(docs?.properties ?? {}), ...Object.values(responses?.properties ?? {})];
  return `${all.reduce((a, x) => a + x.runs, 0)} runs of ${all.length} properties, ${all.reduce((a, x) => a + x.crashes, 0)} crashes`;
}

// ---- invariants
p(
  '## Invariants checked after the fault and after the next normal run',
  '',
  '1. **The newest refresh token the provider issued is in the store** (as AWSCURRENT or AWSPENDING). The one documented',
  "   window: when the process dies, or the answer is lost, between the provider's answer and the write of the pending",
  '   version, the new token existed only in flight. Microsoft does not revoke the old token when it issues a new one',
  '   (docs/PROTOCOLS.md, Entra ID), so the row then checks that the token the store holds is still valid at the provider; the next',
  '   run redeems it again. Rows marked "may be lost" in the expectation are exactly these.',
  '2. **Every Cloud Manager target converges** to the current token within the next successful run (staging labels',
  '   `TR_PUSHED_<target>` record what each target holds; the PATCH is idempotent).',
  '3. **Each failure is classified** (class and code, checked against the expectation) **and its alert is sent once per',
  '   change of state**: a person-must-act failure mails once however many runs it lasts, a transient one only after',
  '   three runs in a row, a recovery mails "recovered". Alerts are counted in moto\'s SES.',
  '4. **No secret value in any output**: every refresh and access token the Entra stand-in issued, both client secrets,',
  '   the IMS tokens Cloud Manager received and the XOAUTH2 strings are searched for in the captured Powertools logs,',
  '   the alert mails, the results, the metrics, the state secret and the test mails.',
  '',
  'Every row runs on real peers: Secrets Manager and SES on moto_server, Office 365 SMTP on smtp-server with verified',
  'TLS, and the Entra ID, Adobe IMS and Cloud Manager stand-ins (the last checked against the Cloud Manager API contract).',
  'Secrets Manager faults are injected by a store decorator that sends the chosen call through a real',
  'SecretsManagerStore whose SDK client throws the AWS error. "Nothing lost" is invariants 1 and 2.',
  '',
);

// ---- matrix
p('## Fault matrix', '');
for (const group of [...new Set(rows.map((r) => r.group))]) {
  p(`### ${group}`, '');
  p(
    table(
      ['Fault', 'Stage', 'Expected', 'Observed', 'Nothing lost', 'Checks'],
      rows
        .filter((r) => r.group === group)
        .map((r) => [
          r.fault,
          r.stage,
          r.expected,
          r.observed,
          r.nothingLost ? 'yes' : '**no**',
          r.passed ? 'pass' : `**fail**: ${r.problems.join('; ')}`,
        ]),
    ),
    '',
  );
}

if (sweep) {
  p('### Entra ID: every code, classified at the provider', '');
  p(
    `${sweep.correct} of ${sweep.codes} answers classified as Microsoft documents them (the stand-in answers each the way Microsoft does).`,
    '',
  );
  p(
    table(
      ['Code', 'Expected class', 'Observed class', 'Error code'],
      sweep.rows.map((r) => [r.code, r.expected, r.observed, r.errorCode]),
    ),
    '',
  );
}

// ---- load
p('## Load', '');
if (load) {
  const r = load.requests;
  p(
    `${load.credentials} credentials with ${load.targets} Cloud Manager targets on a ${load.store} (moto's Secrets Manager would measure moto, not the pipeline;`,
    `the fault matrix covers Secrets Manager), ${load.faultRate * 100}% of the answers of the token endpoint, IMS and Cloud Manager and`,
    `${load.faultRate * 100}% of the SMTP connections replaced by transient faults (seed ${load.seed}: 503/429 with Retry-After, 500, resets before`,
    `and after the request was handled, 412 busy; SMTP connections dropped by a proxy), http.maxConcurrency ${load.maxConcurrency},`,
    `http.retries ${load.retries}, ${load.latencyMs} ms latency per exchange at every stand-in, two scheduled runs a day apart.`,
    `Command: \`${load.command ?? LOAD}\` (${((load.wallMs ?? 0) / 1000).toFixed(1)} s).`,
    '',
  );
  p(
    table(
      ['Run', 'Duration', 'Succeeded', 'Failed', 'Outcomes', 'Failures', 'Converged after the run'],
      load.runs.map((x, i) => [
        x.run,
        `${(x.ms / 1000).toFixed(1)} s`,
        x.ok,
        x.failed,
        JSON.stringify(x.outcomes),
        JSON.stringify(x.failures),
        `${load.convergedAfterRun[i]}/${load.credentials}`,
      ]),
    ),
    '',
  );
  p(
    table(
      ['Figure', 'Value', 'Bound'],
      [
        ['Credentials lost (no usable token in the store) after each run', load.lostAfterRun.join(', '), '0'],
        ['Max requests in flight at the token endpoint', load.maxInFlight.token, `<= ${load.maxConcurrency}`],
        ['Max PATCHes in flight at Cloud Manager', load.maxInFlight.cloudManagerPatch, `<= ${load.maxConcurrency}`],
        ['Max concurrent SMTP sessions', load.maxInFlight.smtpSessions, `<= ${load.maxConcurrency}`],
        ['Max IMS token requests in flight', load.maxInFlight.imsToken, '1 (one token per run)'],
        ...Object.entries(r).map(([route, x]) => [
          `${route}: requests / operations / faulted answers`,
          `${x.count} / ${x.operations} / ${x.faulted}`,
          'requests - operations <= faulted',
        ]),
        [
          'All requests / ideal (1 redeem + 2 PATCH + 1 test send per credential, 1 IMS token per run)',
          `${load.totalRequests} / ${load.idealRequests} (${((load.totalRequests / load.idealRequests - 1) * 100).toFixed(1)}% over)`,
          '',
        ],
        ['Faults injected', JSON.stringify(load.injected), ''],
        ['Alerts sent', load.alerts, '0 (transient failures alert after three runs)'],
        ['Secrets in logs, results, metrics', load.leaks.length, '0'],
      ],
    ),
    '',
  );
  p(
    'Why "requests - operations <= faulted answers" is the retry-storm bound: an operation (one redeem, one PATCH) sends',
    'one request and sends another only after a faulted answer (a retryable status or a broken connection), at most',
    '`http.retries` times. Any retry without a fault, or a retry amplification (several requests per fault), breaks it.',
    `Checks that did not hold: ${load.problems?.length ? load.problems.join('; ') : 'none'}.`,
    '',
    'The same code runs in every `npm test` with 40 credentials and 5% faults (`test/reliability/load.test.ts`).',
    '',
  );
} else {
  p('Not run (`--skip-load`).', '');
}

// ---- bad input
p('## Bad input (property-based, fast-check)', '');
const propRows = (x?: {
  properties: Record<string, { runs: number; accepted: number; refused: Record<string, number>; crashes: number }>;
}) =>
  Object.entries(x?.properties ?? {}).map(([name, v]) => [
    name,
    v.runs,
    v.accepted,
    Object.entries(v.refused)
      .sort((a, b) => b[1] - a[1])
      .slice(0, 8)
      .map(([k, n]) => `${k} ${n}`)
      .join(', ') + (Object.keys(v.refused).length > 8 ? `, ... (${Object.keys(v.refused).length} codes)` : ''),
    v.crashes,
  ]);
p(
  'Every malformed input must end in a RefresherError with a named code (and, for documents, the wrong field named), never',
  "in a TypeError or another crash; a rotation against a malformed token response must leave the token's versions",
  'unchanged and push nothing. Commands: `npx vitest run test/reliability/bad-input-documents.test.ts test/reliability/bad-input-responses.test.ts`',
  `(RELIABILITY_PROPERTY_RUNS sets the runs per property; this run: ${docs?.runsPerProperty ?? '?'} for documents, ${responses?.runsPerProperty ?? '?'} for responses).`,
  '',
);
p(
  table(['Property', 'Runs', 'Accepted', 'Refused (by code)', 'Crashes'], [...propRows(docs), ...propRows(responses)]),
  '',
);
if (responses?.limits?.length) {
  p('### Size limits and deadlines', '');
  p(
    table(
      ['Client', 'Case', 'Ended with', 'After', 'Requests'],
      responses.limits.map((l) => [l.client, l.case, l.code, `${l.ms} ms`, l.attempts]),
    ),
    '',
  );
  p(
    'The SMTP test send has its own overall deadline (3 x smtp.timeoutMs): see the "one byte a second" row of the matrix.',
    '',
  );
}

// ---- mutation testing
// StrykerJS leaves its report in reports/mutation/mutation.json (npm run mutation, scoped by stryker.config.json).
p('## Mutation testing (StrykerJS, lambdas/store and lambdas/pipeline)', '');
const mutationFile = join(ROOT, 'reports/mutation/mutation.json');
if (existsSync(mutationFile)) {
  const m = JSON.parse(readFileSync(mutationFile, 'utf8')) as {
    files: Record<string, { mutants: Array<{ status: string }> }>;
  };
  const count = (ms: Array<{ status: string }>, ...st: string[]) => ms.filter((x) => st.includes(x.status)).length;
  const scoreOf = (ms: Array<{ status: string }>) => {
    const valid = ms.length - count(ms, 'CompileError', 'RuntimeError', 'Ignored');
    return valid === 0 ? 'n/a' : `${((100 * count(ms, 'Killed', 'Timeout')) / valid).toFixed(2)}%`;
  };
  const files = Object.entries(m.files).sort(([a], [b]) => a.localeCompare(b));
  const all = files.flatMap(([, f]) => f.mutants);
  p(
    `Mutation score ${scoreOf(all)} over ${all.length} mutants of ${files.length} file${files.length === 1 ? '' : 's'} (killed or timed out, of all valid mutants; survivors and`,
    'mutants no test reaches count against it). Files not listed were not mutated in that run.',
    '',
    table(
      ['File', 'Mutants', 'Killed', 'Timeout', 'Survived', 'No coverage', 'Score'],
      files.map(([name, f]) => [
        name,
        f.mutants.length,
        count(f.mutants, 'Killed'),
        count(f.mutants, 'Timeout'),
        count(f.mutants, 'Survived'),
        count(f.mutants, 'NoCoverage'),
        scoreOf(f.mutants),
      ]),
    ),
    '',
  );
} else {
  p(
    'Not run for this report: `npm run mutation` writes reports/mutation/mutation.json, which the next report includes.',
    '',
  );
}

// ---- security
p('## Security', '');
if (security?.redaction) {
  const x = security.redaction;
  p(
    `- **Redaction**: the real Lambda handler (Powertools logger, EMF metrics on) ran against remotes that echo secrets back (an`,
    `  Entra error quoting the refresh token, an IMS error quoting the client secret), failing test sends, a forbidden push,`,
    `  and events carrying a token where an id belongs. ${x.outputsScanned} outputs (${x.bytesScanned} bytes, ${x.emfLines} EMF metric lines, ${x.alertMails} alert`,
    `  mails) were searched for ${x.secretsChecked} secret values: ${x.leaks.length ? `**${x.leaks.join('; ')}**` : 'none found'}. Every fault-matrix row and the load run are scanned the same way.`,
  );
}
if (security?.tls) {
  p(
    `- **TLS verification**: ${security.tls.filesScanned} source files of ${security.tls.folders.join(', ')} searched for ${security.tls.patterns.map((x) => `\`${x}\``).join(', ')}:`,
    `  ${security.tls.findings.length ? security.tls.findings.join('; ') : 'none found'}.`,
    "  The SMTP validator pins `rejectUnauthorized: true` and only adds a CA (tests bring the stand-in's); an untrusted",
    '  certificate and a missing STARTTLS are matrix rows (no AUTH is sent). Configuration refuses plain-http endpoints except localhost.',
  );
}
if (security?.sdkDeadlines) {
  p(
    `- **Deadlines of the AWS SDK clients**: every \`requestTimeout\` in the ${security.sdkDeadlines.filesScanned} files of lambdas/ comes with`,
    `  \`throwOnRequestTimeout: true\` (${security.sdkDeadlines.findings.length ? security.sdkDeadlines.findings.join(', ') : 'no exception'}); without it @smithy/node-http-handler 4 only logs a warning and the request`,
    '  waits on. The measured deadlines are in the table "Size limits and deadlines".',
  );
}
if (security?.lockfile) {
  const l = security.lockfile;
  p(
    `- **Dependencies**: every specifier in package.json is an exact version (${l.rangedSpecifiers.length ? l.rangedSpecifiers.join(', ') : 'no ranges'}); package-lock.json`,
    `  (lockfileVersion ${l.lockfileVersion}) pins all ${l.productionPackages} production packages with integrity hashes (${l.unhashed.length ? `missing: ${l.unhashed.join(', ')}` : 'none missing'}).`,
  );
}
p(
  `- **npm audit --omit=dev**: ${auditResult.reachable ? auditResult.summary : `not available: ${auditResult.summary}. The check could not be made from this machine; run \`${AUDIT.replace(' --json', '')}\` where the registry's audit endpoint answers.`}`,
  '- **IAM**: the test that fails if a policy grants a `secretsmanager:` or `ses:` action (or `*`) on a wildcard resource is',
  '  `test/cdk/stack.test.ts` ("never grants a secretsmanager or ses action on a wildcard resource", helper',
  '  `wildcardSecretOrMailGrants` in `test/cdk/support.ts`), part of `npm test`; `test/reliability/security.test.ts` checks that it is there.',
  '',
);

// ---- how
p(
  '## How to reproduce',
  '',
  '| What | Command |',
  '| --- | --- |',
  `| Everything, and this document | \`npx tsx scripts/reliability-report.ts\` |`,
  `| The reliability suite (part of \`npm test\`) | \`${SUITE}\` |`,
  `| The 200-credential load run | \`${LOAD}\` (options: --credentials, --fault-rate, --seed) |`,
  `| Dependency audit | \`npm audit --omit=dev\` |`,
  '',
);
if (steps.length) {
  p(
    'Steps of this run:',
    '',
    table(
      ['Command', 'Exit', 'Duration'],
      steps.map((s) => [s.command, s.status, `${(s.ms / 1000).toFixed(1)} s`]),
    ),
    '',
  );
}

const outPath = join(ROOT, values.out);
mkdirSync(join(outPath, '..'), { recursive: true });
writeFileSync(outPath, `${out.join('\n')}\n`);
writeFileSync(
  join(ROOT, 'docs/reliability-matrix.json'),
  `${JSON.stringify({ generatedAt: new Date().toISOString(), commit, steps, audit: auditResult, files }, null, 2)}\n`,
);
console.log(`wrote ${values.out} (${rows.length} matrix rows, ${passed} passed) and docs/reliability-matrix.json`);
const failed = steps.some((s) => s.status !== 0) || passed !== rows.length;
process.exit(failed ? 1 : 0);
