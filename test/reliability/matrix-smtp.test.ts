import { afterAll, describe, expect, it } from 'vitest';
import type { SmtpFault } from '../../standins/smtp.ts';
import { runRow, type RowSpec } from './support/matrix.ts';
import { closedPort, startSlowSmtp, withSmtp, type SlowSmtp } from './support/peers.ts';
import { MatrixSink } from './support/results.ts';

/**
 * Fault matrix, the SMTP test send (Office 365 stand-in on smtp-server, TLS verified against the test CA). The new token
 * is stored as pending before the test send, so every failure here keeps it; the next run resumes with it (its access
 * token is still valid) instead of redeeming again.
 */
const sink = new MatrixSink('smtp');
let slow: SlowSmtp | undefined;
afterAll(async () => {
  sink.flush();
  await slow?.close();
});

const group = 'SMTP (Office 365)';
const stage = 'validate';

function replyRow(fault: SmtpFault, code: string, cls: 'configuration' | 'transient', note?: string): RowSpec {
  return {
    group,
    stage,
    fault: `${fault} at AUTH`,
    runs: cls === 'configuration' ? 2 : 1,
    inject: (h) => h.standins.smtp.injectFault(fault),
    expect: { failure: { class: cls, code, stage }, alerts: cls === 'configuration' ? 1 : 0, nextRedeemed: false },
    note,
  };
}

const rows: RowSpec[] = [
  {
    group,
    stage,
    fault: 'connection refused (nothing listens on the port)',
    inject: async (h) => ({ config: withSmtp(h.config, { port: await closedPort() }) }),
    expect: { failure: { class: 'transient', code: 'SMTP_CONNECTION', stage }, alerts: 0, nextRedeemed: false },
  },
  {
    group,
    stage,
    fault: 'no STARTTLS offered',
    runs: 2,
    inject: (h) => h.standins.smtp.injectFault('no-starttls'),
    expect: {
      failure: { class: 'configuration', code: 'SMTP_NO_STARTTLS', stage },
      alerts: 1,
      nextRedeemed: false,
      // The token must never cross the network unencrypted: no AUTH reached the server.
      extra: (h) => (h.standins.smtp.stats.authAttempts === 0 ? [] : ['an AUTH was sent without TLS']),
    },
  },
  {
    group,
    stage,
    fault: 'certificate that does not verify (server CA not trusted)',
    runs: 2,
    inject: () => ({ smtpCa: undefined }),
    expect: {
      failure: { class: 'configuration', code: 'SMTP_TLS_CERT', stage },
      alerts: 1,
      nextRedeemed: false,
      extra: (h) =>
        h.standins.smtp.stats.authAttempts === 0 ? [] : ['an AUTH was sent over an unverified connection'],
    },
  },
  replyRow('535 5.7.3', 'SMTP_535_5.7.3', 'configuration'),
  replyRow('535 5.7.139', 'SMTP_535_5.7.139', 'configuration'),
  replyRow('5.7.57', 'SMTP_5.7.57', 'configuration', 'AUTH accepted, MAIL FROM refused with 530 5.7.57'),
  replyRow('501 5.5.124', 'SMTP_501_5.5.124', 'configuration'),
  replyRow('421', 'SMTP_421', 'transient'),
  {
    group,
    stage,
    fault: 'connection dropped mid-dialogue (at AUTH)',
    inject: (h) => h.standins.smtp.injectFault('drop'),
    expect: { failure: { class: 'transient', code: 'SMTP_CONNECTION', stage }, alerts: 0, nextRedeemed: false },
  },
  {
    group,
    stage,
    fault: 'slow AUTH answer (0.6 s, within the deadline)',
    harness: { standins: { smtp: { slowMs: 600 } } },
    inject: (h) => h.standins.smtp.injectFault('slow'),
    expect: { outcome: 'rotated', alerts: 0, minMs: 550 },
  },
  {
    group,
    stage,
    fault: 'server answering one byte a second (smtp.timeoutMs 1200)',
    inject: async (h) => {
      slow ??= await startSlowSmtp(1_000);
      return { config: withSmtp(h.config, { port: slow.port, timeoutMs: 1_200 }) };
    },
    expect: {
      failure: { class: 'transient', code: 'SMTP_TIMEOUT', stage },
      alerts: 0,
      nextRedeemed: false,
      maxMs: 6_000,
      extra: (_h, runs) =>
        runs[0]?.failure?.message.includes('OVERALL_DEADLINE') ? [] : ['not ended by the overall deadline'],
    },
    note: 'no inactivity timeout fires; the overall deadline (3 x timeoutMs) ends it',
  },
  {
    group,
    stage,
    fault: '421 on three runs in a row',
    runs: 3,
    inject: (h) => h.standins.smtp.injectFault('421'),
    expect: { failure: { class: 'transient', code: 'SMTP_421', stage }, alerts: 1, nextRedeemed: false },
    note: 'a transient failure mails once it has lasted three runs',
  },
];

// Rows are independent worlds (own stand-ins, secrets and alert recipient): they run concurrently.
describe.concurrent('fault matrix: SMTP test send', () => {
  rows.forEach((row, i) => {
    it(row.fault, async () => {
      expect(await runRow(sink, row, i)).toEqual([]);
    });
  });
});
