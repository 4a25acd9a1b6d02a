import type { RotationSummary } from '../lambdas/pipeline/rotate.ts';
import type { Tone, Ui } from './ui.ts';

const OUTCOME_TEXT: Record<RotationSummary['outcome'], string> = {
  rotated: 'rotated: a new token is current',
  resumed: 'resumed: an earlier run’s pending token was validated and made current',
  pushed: 'up to date; targets that lacked the current token received it',
  'up-to-date': 'up to date: nothing to do',
  skipped: 'skipped: another run of this credential holds the lease',
  failed: 'failed',
};

function toneOf(s: RotationSummary): Tone {
  if (s.outcome === 'failed') return 'fail';
  if (s.outcome === 'skipped') return 'warn';
  return 'ok';
}

/** One credential's rotation, stage by stage, for people. */
export function printSummary(ui: Ui, s: RotationSummary): void {
  ui.out(`${ui.mark(toneOf(s))} ${ui.c('bold', s.credential)}: ${OUTCOME_TEXT[s.outcome]}`);
  if (s.redeemed) ui.out(`    refresh      redeemed the stored refresh token`);
  if (s.validation)
    ui.out(
      `    validate     ${s.validation.mode === 'send' ? 'test mail accepted' : 'SMTP AUTH accepted'}: ${s.validation.response}`,
    );
  if (s.promoted) ui.out(`    promote      version ${s.currentVersionId ?? '?'} is current`);
  else if (s.currentVersionId)
    ui.out(
      `    current      version ${s.currentVersionId}${s.tokenAgeDays !== undefined ? `, ${s.tokenAgeDays} days old` : ''}`,
    );
  for (const t of s.targets) {
    const tone: Tone = t.status === 'failed' ? 'fail' : t.status === 'not-attempted' ? 'skip' : 'ok';
    ui.out(`    push         ${ui.mark(tone)} ${t.target}: ${t.status}${t.code ? ` (${t.code})` : ''}`);
  }
  if (s.note) ui.out(`    note         ${s.note}`);
  if (s.failure) {
    ui.out(
      `    ${ui.c('red', 'failure')}      ${s.failure.class} at ${s.failure.stage ?? '?'} (${s.failure.code}): ${s.failure.message}`,
    );
    ui.out(`    ${ui.c('bold', 'what to do')}   ${s.failure.fix}`);
  }
  if (s.alert !== 'none') ui.out(`    alert        ${s.alert}`);
}
