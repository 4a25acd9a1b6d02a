import { Console } from 'node:console';
import { Writable } from 'node:stream';
import type { FailureClass, Stage } from '../../../lambdas/core/errors.ts';
import type { Outcome, RotationSummary } from '../../../lambdas/pipeline/rotate.ts';
import { runRotation } from '../../../lambdas/pipeline/run.ts';
import type { WiringOptions } from '../../../lambdas/pipeline/wiring.ts';
import { createLogger, powertoolsLog, type Log } from '../../../lambdas/report/logger.ts';
import type { LocalEnvOptions } from '../../../demo/local-env.ts';
import { startHarness, type Harness } from '../../support/harness.ts';
import { checkNewestStored, checkTargets, findLeaks, secretsOf } from './invariants.ts';
import type { MatrixRow, MatrixSink } from './results.ts';

type Maybe<T> = T | Promise<T>;

export interface RowSpec {
  group: string;
  fault: string;
  stage: string;
  /** Harness options; a function when they must be made at test time (e.g. a store on the shared moto_server). */
  harness?: Partial<LocalEnvOptions> | (() => Partial<LocalEnvOptions>);
  /** Puts the fault in place before faulted run `run` (0-based) and returns wiring overrides for that run. */
  inject: (h: Harness, run: number) => Maybe<void | Partial<WiringOptions>>;
  /** The faulted run itself; default runRotation. Returns undefined when the process "died" (SimulatedCrash). */
  run?: (h: Harness, over: Partial<WiringOptions>) => Promise<RotationSummary | undefined>;
  /** Runs with the fault in place (default 1); more than one shows an unchanged failure does not mail again. */
  runs?: number;
  /** Takes the fault away before the next normal run (the injected faults are mostly one-shot already). */
  clear?: (h: Harness) => Maybe<void>;
  /** Wiring overrides of the next normal run (e.g. the configuration restored). */
  nextWiring?: (h: Harness) => Partial<WiringOptions>;
  /** Replaces the next normal run (e.g. a person re-authorizes first). */
  next?: (h: Harness, wiring: Partial<WiringOptions>) => Promise<RotationSummary>;
  expect: {
    /** The faulted run ends by the process dying: no summary, no alert, no state write. */
    died?: boolean;
    /** Absent: the fault is absorbed within the run (retries) and the run succeeds. */
    failure?: { class: FailureClass; code: string | RegExp; stage?: Stage };
    outcome?: Outcome;
    /** Alert mails after the faulted runs. */
    alerts: number;
    /** The token issued while the fault was in place may be lost in flight (the stored one stays valid). */
    window?: boolean;
    nextRedeemed?: boolean;
    /** The faulted runs deferred their pushes (look before push): the targets are expected to hold the old token meanwhile. */
    deferred?: boolean;
    /** The faulted run took at least this long (a Retry-After was honoured). */
    minMs?: number;
    maxMs?: number;
    /** Further checks; each returned string is a problem. */
    extra?: (h: Harness, faulted: RotationSummary[]) => Maybe<string[]>;
  };
  /** Added to the generated expectation text. */
  note?: string;
}

function codeText(code: string | RegExp): string {
  return typeof code === 'string'
    ? code
    : code.source
        .replace(/^\^\(?|\)?\$$/g, '')
        .split('|')
        .join(' or ');
}

function describeExpected(s: RowSpec): string {
  const e = s.expect;
  const runs = s.runs ?? 1;
  const parts: string[] = [];
  parts.push(
    e.died
      ? 'the process dies'
      : e.failure
        ? `fails ${e.failure.class} / ${codeText(e.failure.code)}${e.failure.stage ? ` at ${e.failure.stage}` : ''}`
        : `absorbed within the run (${e.outcome ?? 'rotated'})`,
  );
  parts.push(`${e.alerts} alert${e.alerts === 1 ? '' : 's'}${runs > 1 ? ` over ${runs} runs` : ''}`);
  if (e.window) parts.push('the token issued in flight may be lost, the stored one stays valid');
  parts.push(
    `next run converges${e.nextRedeemed === false ? ' without a second redeem' : ''}${e.alerts > 0 ? ' and mails "recovered"' : ''}`,
  );
  if (s.note) parts.push(s.note);
  return parts.join('; ');
}

function describeSummary(r: RotationSummary): string {
  const f = r.failure;
  return f ? `${r.outcome} ${f.class} / ${f.code} at ${f.stage ?? '?'}` : r.outcome;
}

/**
 * The real Powertools logger of the function (its JSON replacer is part of what the secret scan proves), writing into
 * `lines` instead of the process's stdout, so that rows can run concurrently and each scans exactly its own log.
 */
export function capturedLog(lines: string[]): Log {
  const logger = createLogger('token-refresher-test');
  const sink = new Writable({
    write(chunk: Buffer | string, _enc, done) {
      lines.push(typeof chunk === 'string' ? chunk : chunk.toString('utf8'));
      done();
    },
  });
  // `console` is private in Logger's typings; replacing it is the one way to give the real logger another stream.
  (logger as unknown as { console: Console }).console = new Console({ stdout: sink, stderr: sink });
  return powertoolsLog(logger);
}

/**
 * One row of the fault matrix on the harness (moto Secrets Manager and SES, the stand-ins, the real logger): inject,
 * run, check the four invariants, take the fault away, run normally, check again, record what was seen. Returns the
 * problems; the caller asserts there are none (the row is recorded either way).
 */
export async function runRow(sink: MatrixSink, s: RowSpec, order = 0): Promise<string[]> {
  const problems: string[] = [];
  const rowLogs: string[] = [];
  const log = capturedLog(rowLogs);
  const opts = (typeof s.harness === 'function' ? s.harness() : s.harness) ?? {};
  // smtp-server's 100 ms early-talker pause before the greeting costs every test send; it is no part of any fault here.
  const h = await startHarness({
    ...opts,
    standins: { ...opts.standins, smtp: { greetingPauseMs: 0, ...opts.standins?.smtp } },
  });
  // The row's own log: what the harness captures from stdout is shared by rows running at the same time.
  h.logs = rowLogs;
  const c = h.config.credentials[0]!;
  const outputs: Record<string, string> = {};
  let observed = '';
  let nothingLost = false;
  try {
    await h.seed();
    const faulted: RotationSummary[] = [];
    let died = false;
    let elapsed = 0;
    for (let i = 0; i < (s.runs ?? 1); i++) {
      const over = { log, ...((await s.inject(h, i)) ?? {}) };
      const started = Date.now();
      const summary = s.run ? await s.run(h, over) : (await runRotation(h.wiring(over), {})).results[0]!;
      if (i === 0) elapsed = Date.now() - started;
      if (!summary) {
        died = true;
        continue;
      }
      faulted.push(summary);
      outputs[`result of faulted run ${i + 1}`] = JSON.stringify(summary);
    }
    const e = s.expect;
    const last: RotationSummary = faulted.at(-1) ?? {
      credential: c.id,
      runId: '-',
      outcome: 'failed',
      redeemed: false,
      promoted: false,
      targets: [],
      alert: 'none',
      durationsMs: {},
    };
    if (!!e.died !== died) problems.push(died ? 'the run died unexpectedly' : 'the run was expected to die');

    // (3) classified, alerted once per change of state
    if (died) {
      // A dead process reports nothing: the checks below are about what the store and the targets hold.
    } else if (e.failure) {
      const f = last.failure;
      const codeOk =
        f && (typeof e.failure.code === 'string' ? f.code === e.failure.code : e.failure.code.test(f.code));
      if (!f || f.class !== e.failure.class || !codeOk || (e.failure.stage && f.stage !== e.failure.stage)) {
        problems.push(
          `expected ${e.failure.class}/${String(e.failure.code)}${e.failure.stage ? ` at ${e.failure.stage}` : ''}, got ${describeSummary(last)}`,
        );
      }
      if (f && h.metrics.points.filter((p) => p.name === 'RotationFailure' && p.dims.class === f.class).length === 0)
        problems.push('no RotationFailure metric with the class');
    } else {
      if (last.failure) problems.push(`expected the fault to be absorbed, got ${describeSummary(last)}`);
      if (e.outcome && last.outcome !== e.outcome) problems.push(`expected outcome ${e.outcome}, got ${last.outcome}`);
    }
    if (e.minMs !== undefined && elapsed < e.minMs)
      problems.push(`the faulted run took ${elapsed} ms, expected at least ${e.minMs} ms`);
    if (e.maxMs !== undefined && elapsed > e.maxMs)
      problems.push(`the faulted run took ${elapsed} ms, expected at most ${e.maxMs} ms`);
    const mailsAfterFault = await h.alertMails();
    if (mailsAfterFault.length !== e.alerts)
      problems.push(`expected ${e.alerts} alert(s) after the fault, SES has ${mailsAfterFault.length}`);
    if (e.failure && e.alerts > 0 && !mailsAfterFault.some((m) => m.subject.includes(last.failure?.code ?? '\0')))
      problems.push('the alert does not name the code');

    // (1) after the fault
    const inv1Fault = await checkNewestStored(h, c, e.window ?? false);
    if (!inv1Fault.ok) problems.push(`after the fault: ${inv1Fault.detail}`);
    let inv2Fault = { ok: true, detail: '' };
    if (!died && !last.failure && last.outcome !== 'skipped' && !e.deferred) {
      const cur = (await checkNewestStored(h, c, false)).ok ? h.standins.entra.latestRefreshToken() : undefined;
      inv2Fault = checkTargets(h, c, cur);
      if (!inv2Fault.ok) problems.push(`after the absorbed fault: ${inv2Fault.detail}`);
    }
    if (e.extra) problems.push(...(await e.extra(h, faulted)));

    // the next normal run
    await s.clear?.(h);
    const later = new Date(Date.now() + 10 * 60_000);
    const nextOver = { log, ...(s.nextWiring?.(h) ?? {}), now: () => later };
    const tokenCallsBefore = h.standins.entra.faults.count('token');
    const next = s.next ? await s.next(h, nextOver) : (await runRotation(h.wiring(nextOver), {})).results[0]!;
    outputs['result of the next run'] = JSON.stringify(next);
    if (next.failure) problems.push(`the next normal run failed: ${describeSummary(next)}`);
    if (e.nextRedeemed !== undefined && !s.next) {
      const redeemed = h.standins.entra.faults.count('token') - tokenCallsBefore > 0;
      if (redeemed !== e.nextRedeemed) problems.push(`the next run ${redeemed ? 'redeemed again' : 'did not redeem'}`);
    }
    // (1) and (2) after the next run: the newest token is current and every target holds it
    const inv1Next = await checkNewestStored(h, c, false);
    if (!inv1Next.ok) problems.push(`after the next run: ${inv1Next.detail}`);
    const currentToken = inv1Next.ok ? h.standins.entra.latestRefreshToken() : undefined;
    const inv2 = checkTargets(h, c, currentToken);
    if (!inv2.ok) problems.push(`after the next run: ${inv2.detail}`);
    const mails = await h.alertMails();
    const expectedMails = e.alerts > 0 ? e.alerts + 1 : e.alerts;
    if (mails.length !== expectedMails)
      problems.push(`expected ${expectedMails} mail(s) in all, SES has ${mails.length}`);
    if (e.alerts > 0 && !mails.at(-1)?.subject.includes('recovered'))
      problems.push('no "recovered" mail after the next run');

    // (4) no secret anywhere
    const state = { value: JSON.stringify([await h.state.getState(c.id), await h.state.listDeliveries(c.id)]) };
    const leaks = findLeaks(
      {
        ...outputs,
        logs: h.logs.join(''),
        alerts: JSON.stringify(mails),
        metrics: JSON.stringify(h.metrics.points),
        'state table': state.value,
        'test mails': h.standins.smtp.messages.map((m) => m.raw).join('\n'),
      },
      secretsOf(h),
    );
    problems.push(...leaks);

    nothingLost = inv1Fault.ok && inv1Next.ok && inv2.ok && inv2Fault.ok;
    observed = [
      died ? 'process died mid-run' : faulted.map(describeSummary).join(', then '),
      `${mailsAfterFault.length} alert${mailsAfterFault.length === 1 ? '' : 's'}`,
      inv1Fault.detail,
      `next run: ${describeSummary(next)}${s.next ? ' (after the fix)' : next.redeemed ? ' (redeemed)' : ' (no redeem)'}, ${inv2.detail}, ${mails.length} mail${mails.length === 1 ? '' : 's'} in all`,
      leaks.length ? `LEAK: ${leaks.join('; ')}` : 'no secret in any output',
    ].join('; ');
  } catch (err) {
    problems.push(`the row threw: ${(err as Error).name}: ${(err as Error).message}`);
    observed = `threw ${(err as Error).name}`;
  } finally {
    await h.close();
  }
  const row: MatrixRow = {
    order,
    group: s.group,
    fault: s.fault,
    stage: s.stage,
    expected: describeExpected(s),
    observed,
    nothingLost,
    passed: problems.length === 0,
    problems,
  };
  sink.add(row);
  return problems;
}
