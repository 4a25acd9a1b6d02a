import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import type { Credential } from '../config/schema.ts';
import type { RotationSummary, Step } from '../pipeline/rotate.ts';
import { escapeHtml, htmlResponse, p } from './pages.ts';

type Mark = 'ok' | 'fail' | 'skip';

const MARK: Record<Mark, string> = { ok: '✔', fail: '✘', skip: '–' };

function item(mark: Mark, text: string): string {
  return `<li class="${mark}"><span aria-hidden="true">${MARK[mark]}</span> ${escapeHtml(text)}</li>`;
}

/**
 * What happened, stage by stage, and what is left to do: the page the mailbox owner sees after the sign-in. Built from
 * the pipeline's summary (its texts are redacted) and the steps it reported as done.
 */
export function resultPage(
  c: Credential,
  account: string,
  s: RotationSummary,
  steps: Step[],
): APIGatewayProxyStructuredResultV2 {
  const failedAt = s.failure?.stage;
  const reached = (step: Step) => steps.includes(step);
  const status = (done: boolean, stage: string): Mark => (done ? 'ok' : failedAt === stage ? 'fail' : 'skip');
  const validation = s.validation
    ? `Tested: ${s.validation.mode === 'send' ? 'a test mail was sent' : 'SMTP AUTH succeeded'} through ${c.validation.smtp.host} (${s.validation.response})`
    : `Tested with a ${c.validation.mode === 'send' ? 'test mail' : 'SMTP AUTH'} through ${c.validation.smtp.host}`;
  const lines = [
    item('ok', `Signed in as ${account}`),
    item(status(reached('store'), 'store'), 'Stored as the pending token in AWS Secrets Manager'),
    item(status(reached('validate'), 'validate'), validation),
    item(status(s.promoted, 'promote'), 'Made the current token'),
  ];
  if (c.targets.length === 0) lines.push(item('skip', 'No Cloud Manager target is configured for this credential'));
  for (const t of s.targets) {
    const mark: Mark =
      t.status === 'pushed' || t.status === 'up-to-date' ? 'ok' : t.status === 'failed' ? 'fail' : 'skip';
    const what =
      t.status === 'pushed'
        ? 'handed to AEM'
        : t.status === 'up-to-date'
          ? 'already holds it'
          : t.status === 'failed'
            ? `not updated (${t.code ?? 'error'})`
            : 'not attempted';
    lines.push(item(mark, `Cloud Manager ${t.target}: ${what}`));
  }
  if (s.failure?.stage === 'push' && s.targets.length === 0) lines.push(item('fail', 'Cloud Manager: not updated'));

  const ok = s.outcome !== 'failed' && s.outcome !== 'skipped';
  let todo: string;
  let title: string;
  if (s.outcome === 'skipped') {
    title = 'Another run is busy with this credential';
    todo = p('Nothing was stored. Open the link from the alert again in a few minutes: it works again.');
  } else if (ok) {
    title = 'Done: mail from AEM works again';
    todo =
      c.targets.length > 0
        ? p(
            'Nothing is left to do. AEM restarts its services to take the new value; mail resumes after that (usually within minutes). You can close this page.',
          )
        : p(
            'Nothing is left to do here; no AEM environment is configured to receive the token. You can close this page.',
          );
  } else if (s.failure?.stage === 'push') {
    title = 'Signed in; AEM not updated yet';
    todo =
      p(`The new token is current and valid, but some environments did not receive it: ${s.failure.message}`) +
      p(`They receive it on the next run. ${s.failure.fix}`);
  } else {
    title = 'Signed in, but the new token did not pass';
    todo =
      p(`${s.failure?.code ?? 'FAILED'}: ${s.failure?.message ?? 'the pipeline failed'}`) +
      p(s.failure?.fix ?? 'Tell whoever runs token-refresher.') +
      p('Whoever runs token-refresher also received an alert with these details.');
  }
  return htmlResponse(
    ok ? 200 : s.outcome === 'skipped' ? 409 : 500,
    title,
    `<ul id="steps">${lines.join('')}</ul><h2>What is left to do</h2><div id="todo">${todo}</div>`,
  );
}
