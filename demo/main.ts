/**
 * `npm run demo`: the whole job on this machine, no AWS, Microsoft or Adobe account. Local stand-ins play Entra ID,
 * Office 365 SMTP, Adobe IMS and Cloud Manager; a 0600 file store plays Secrets Manager. It runs two rotations, a run
 * that crashes after storing the new token and the run that resumes it, and a failure that needs a person.
 * `npm run demo -- --keep` then leaves the stand-ins running and prints the CLI commands to try against them (keep.ts).
 */
import { createHash } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { secretIds } from '../lambdas/config/load.ts';
import { rotateCredential, SimulatedCrash, type RotationSummary, type Step } from '../lambdas/pipeline/rotate.ts';
import type { Log } from '../lambdas/report/logger.ts';
import { MemoryMetrics } from '../lambdas/report/metrics.ts';
import { MemoryAlerter } from '../lambdas/report/ses-alerter.ts';
import { FileStore } from '../lambdas/store/file-store.ts';
import { FileStateStore } from '../lambdas/store/file-state-store.ts';
import { parseTokenRecord } from '../lambdas/store/records.ts';
import { keepDemo, keptDemoText } from './keep.ts';
import { startLocalEnv } from './local-env.ts';

const color = process.stdout.isTTY && !process.env.NO_COLOR;
const paint = (code: number, s: string) => (color ? `\x1b[${code}m${s}\x1b[0m` : s);
const bold = (s: string) => paint(1, s);
const dim = (s: string) => paint(2, s);
const green = (s: string) => paint(32, s);
const red = (s: string) => paint(31, s);
/** Secrets are shown only as a short fingerprint: enough to see that two places hold the same value. */
const fp = (secret: string | undefined) =>
  secret
    ? `sha256:${createHash('sha256').update(secret).digest('hex').slice(0, 12)} (${secret.length} chars)`
    : '(none)';

const STEP_TEXT: Record<Step, string> = {
  read: 'read the token record, the client secret and the lease from the store',
  redeem: 'redeemed the refresh token at the Entra ID token endpoint',
  store: 'stored the new refresh token as AWSPENDING',
  validate: 'validated the new access token with a test send (SMTP XOAUTH2 over STARTTLS)',
  promote: 'promoted the new version to AWSCURRENT (compare-and-swap)',
  'push-target': 'pushed SECRET_SMTP_OAUTH_REFRESH_TOKEN to a Cloud Manager environment',
};

const quietLog: Log = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };

async function main(): Promise<void> {
  const keep = process.argv.slice(2).includes('--keep');
  const dir = join(process.cwd(), '.token-refresher', 'demo-store');
  rmSync(dir, { recursive: true, force: true });
  const store = new FileStore(dir);
  // The state table's records in <store-dir>/state, where the CLI with --store file reads them.
  const env = await startLocalEnv({
    store,
    state: new FileStateStore(join(dir, 'state')),
    secretPrefix: 'token-refresher',
  });
  const alerter = new MemoryAlerter();
  const metrics = new MemoryMetrics();
  const credential = env.config.credentials[0]!;
  const ids = secretIds(env.config, credential);
  const { entra, smtp, cloudManager } = env.standins;
  let failures = 0;

  const stepPrinter = (crashAt?: Step) => ({
    afterStep: (s: Step) => {
      console.log(`   ${green('✓')} ${STEP_TEXT[s]}`);
      if (s === crashAt) {
        console.log(`   ${red('✗')} ${bold('the process is killed here')} (simulated crash after "${s}")`);
        throw new SimulatedCrash(s);
      }
    },
  });

  const show = async (s: RotationSummary) => {
    const current = await store.getValue(ids.token, 'AWSCURRENT');
    const record = current && parseTokenRecord(current.value, ids.token);
    console.log(`   outcome: ${bold(s.outcome)}  redeemed: ${s.redeemed}  promoted: ${s.promoted}  alert: ${s.alert}`);
    if (s.validation) console.log(`   test send: ${dim(s.validation.response)}`);
    for (const t of s.targets) console.log(`   target ${t.target}: ${t.status}${t.code ? ` (${t.code})` : ''}`);
    if (s.failure)
      console.log(
        `   ${red('failure')}: ${s.failure.code} [${s.failure.class}] at ${s.failure.stage}\n   fix: ${s.failure.fix}`,
      );
    const pending = await store.getValue(ids.token, 'AWSPENDING');
    const pendingToken =
      pending && pending.versionId !== current?.versionId
        ? parseTokenRecord(pending.value, ids.token).refreshToken
        : undefined;
    console.log(
      `   store AWSCURRENT: ${fp(record?.refreshToken)}${pendingToken ? `   AWSPENDING: ${fp(pendingToken)}` : ''}   newest from Entra: ${fp(entra.latestRefreshToken())}`,
    );
    for (const t of credential.targets) {
      console.log(
        `   Cloud Manager ${t.programId}/${t.environmentId}: ${fp(cloudManager.valueOf(t.programId, t.environmentId, t.refreshTokenVariable))}`,
      );
    }
    console.log(`   durations (ms): ${dim(JSON.stringify(s.durationsMs))}`);
  };

  const run = async (title: string, opts: { force?: boolean; crashAt?: Step; now?: Date }) => {
    console.log(`\n${bold(title)}`);
    const deps = env.deps({
      alerter,
      metrics,
      log: quietLog,
      hooks: stepPrinter(opts.crashAt),
      now: opts.now ? () => opts.now! : undefined,
    });
    try {
      const s = await rotateCredential(deps, credential, { force: opts.force });
      await show(s);
      return s;
    } catch (e) {
      if (!(e instanceof SimulatedCrash)) throw e;
      const pending = await store.getValue(ids.token, 'AWSPENDING');
      const current = await store.getValue(ids.token, 'AWSCURRENT');
      console.log(
        `   after the crash: AWSPENDING ${fp(pending && parseTokenRecord(pending.value, ids.token).refreshToken)}, AWSCURRENT ${fp(current && parseTokenRecord(current.value, ids.token).refreshToken)}`,
      );
      console.log(
        `   the newest token from Entra ${fp(entra.latestRefreshToken())} is ${pending && parseTokenRecord(pending.value, ids.token).refreshToken === entra.latestRefreshToken() ? green('in the store') : red('NOT in the store')}`,
      );
      return undefined;
    }
  };

  console.log(
    bold('token-refresher demo') +
      dim(' (local stand-ins: Entra ID, Office 365 SMTP, Adobe IMS, Cloud Manager; file store ' + dir + ')'),
  );
  console.log(
    `credential "${credential.id}": mailbox ${credential.mailbox}, ${credential.targets.length} Cloud Manager targets, rotate when older than ${credential.rotation.maxAgeDays} days`,
  );
  await env.seed();
  console.log(
    `seeded the store with a refresh token obtained 8 days ago ${fp(entra.latestRefreshToken())} and the client secrets`,
  );

  const first = await run('1. Scheduled rotation (the token is 8 days old, so it is due)', {});
  if (first?.outcome !== 'rotated') failures++;
  const second = await run(
    '2. Manual rotation with force (as `{"action":"rotate","credential":"aem-mail","force":true}`)',
    { force: true },
  );
  if (second?.outcome !== 'rotated') failures++;
  await run('3. A rotation that crashes right after storing the new token', { force: true, crashAt: 'store' });
  // The crashed run's lease expires after the function's timeout; the next scheduled run comes later than that.
  const resumed = await run(
    '4. The next run resumes: validates and promotes the stored token without redeeming again',
    { now: new Date(Date.now() + 10 * 60_000) },
  );
  if (resumed?.outcome !== 'resumed' || resumed.redeemed) failures++;

  smtp.injectFault('535 5.7.139');
  const broken = await run('5. Exchange has SMTP AUTH disabled for the mailbox: a person must act', {
    force: true,
    now: new Date(Date.now() + 20 * 60_000),
  });
  if (broken?.failure?.code !== 'SMTP_535_5.7.139') failures++;
  for (const a of alerter.sent) {
    console.log(
      `\n${bold('Alert mail')} (Amazon SES in AWS; captured here)\n${dim('Subject: ' + a.subject)}\n${a.text.replace(/^/gm, '   ')}`,
    );
  }
  console.log(
    `\nmails received by the SMTP stand-in: ${smtp.messages.length} (subjects name the credential and the run)`,
  );
  for (const m of smtp.messages) console.log(`   ${dim(m.subject)}`);
  console.log(
    `metrics: RotationSuccess=${metrics.sum('RotationSuccess')} RotationFailure=${metrics.sum('RotationFailure')} ValidationFailure=${metrics.sum('ValidationFailure')}`,
  );
  if (failures) {
    await env.close();
    console.log(red(`\n${failures} scenario(s) did not behave as expected`));
    process.exit(1);
  }
  console.log(green('\nAll scenarios behaved as expected.'));
  if (!keep) return env.close();
  const kept = keepDemo({
    cwd: process.cwd(),
    dir: join(process.cwd(), '.token-refresher', 'demo'),
    storeDir: dir,
    config: env.config,
    smtpCa: env.smtpCa,
  });
  console.log(`\n${keptDemoText(kept)}`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await env.close();
  console.log('stand-ins stopped');
}

main().catch((e: unknown) => {
  console.error(red(`demo failed: ${(e as Error).message}`));
  process.exit(1);
});
