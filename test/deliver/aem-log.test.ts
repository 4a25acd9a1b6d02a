import { describe, expect, it } from 'vitest';
import {
  MAIL_AUTH_FAILURE,
  MAX_LINE_BYTES,
  MailAuthScanner,
  parseAemTimestamp,
  redactLogLine,
} from '../../lambdas/deliver/aem-log.ts';

const head = (ts: string, logger: string, message: string, level = 'ERROR') =>
  `${ts} *${level}* [qtp1-2] ${logger} ${message}\n`;
const MAILER = 'com.day.cq.mailer.impl.DefaultMailService';

describe('AEM log lines', () => {
  it('parses the timestamp as UTC, with or without the pod name after it', () => {
    expect(parseAemTimestamp('01.12.2026 10:15:02.123 *ERROR* [t] x y')).toBe(Date.UTC(2026, 11, 1, 10, 15, 2, 123));
    expect(parseAemTimestamp('01.12.2026 10:15:02.123 [cm-p1-e2-aem-author-5f-x] *ERROR* [t] x y')).toBe(
      Date.UTC(2026, 11, 1, 10, 15, 2, 123),
    );
    expect(parseAemTimestamp('\tat javax.mail.Service.connect(Service.java:388)')).toBeUndefined();
    expect(parseAemTimestamp('2026-12-01 10:15:02 other format')).toBeUndefined();
  });

  it('recognises SMTP and OAuth authentication failures, not other mail errors', () => {
    for (const yes of [
      'javax.mail.AuthenticationFailedException: 535 5.7.3 Authentication unsuccessful',
      '535-5.7.8 Username and Password not accepted',
      '535 Incorrect authentication data',
      'OAuth token refresh failed: {"error":"invalid_grant"}',
      'AADSTS700082: The refresh token has expired due to inactivity',
      'Authentication failed for user mailer@example.com',
    ])
      expect(MAIL_AUTH_FAILURE.test(yes), yes).toBe(true);
    for (const no of [
      'Mail sent to 535 recipients in 535 ms',
      'javax.mail.SendFailedException: Invalid Addresses',
      '550 5.1.1 User unknown',
      'Connection timed out',
    ])
      expect(MAIL_AUTH_FAILURE.test(no), no).toBe(false);
  });

  it('redaction keeps class, thread and pod names readable and masks token-like runs and secret values', () => {
    const line = `01.12.2026 10:15:02.123 [cm-p12345-e67890-aem-author-59555cb5b8-8kgr2] *ERROR* [sling-oak-observation-1234] ${MAILER} failed with refresh_token=0.AUEAabcDEF123 and code AADSTS50173 token: Zx9Qw8Er7Ty6Ui5Op4As3Df2Gh1`;
    const out = redactLogLine(line);
    expect(out).toContain('cm-p12345-e67890-aem-author-59555cb5b8-8kgr2');
    expect(out).toContain('sling-oak-observation-1234');
    expect(out).toContain(MAILER);
    expect(out).toContain('AADSTS50173');
    expect(out).not.toContain('0.AUEAabcDEF123');
    expect(out).not.toContain('Zx9Qw8Er7Ty6Ui5Op4As3Df2Gh1');
    expect(redactLogLine(`x ${'a'.repeat(5000)}`).length).toBeLessThanOrEqual(600);
  });
});

describe('MailAuthScanner', () => {
  const since = Date.UTC(2026, 11, 1, 10, 0, 0);
  const text = [
    head('01.12.2026 09:59:59.999', MAILER, 'javax.mail.AuthenticationFailedException: 535 5.7.3 before'),
    head('01.12.2026 10:00:00.000', 'org.apache.sling.X', 'Authentication failed but not the mailer'),
    head('01.12.2026 10:00:00.000', MAILER, 'Could not send'),
    '\tat javax.mail.Service.connect(Service.java:388)\r\n',
    'Caused by: javax.mail.AuthenticationFailedException: 535 5.7.3 Authentication unsuccessful\n',
    'Caused by: a second cause that must not count twice: 535 5.7.3\n',
    head('01.12.2026 10:05:00.000', 'com.day.cq.mailer.oauth.impl.Refresher', 'invalid_grant AADSTS70008'),
    head('01.12.2026 10:06:00.000', MAILER, 'Mail sent'),
    'a trailing line still being written without its newline',
  ].join('');

  const run = (chunk: number): MailAuthScanner => {
    const s = new MailAuthScanner({ sinceMs: since, maxLines: 10 });
    const buf = Buffer.from(text);
    for (let i = 0; i < buf.length; i += chunk) s.push(buf.subarray(i, i + chunk));
    return s;
  };

  it('finds one failure per mailer entry at or after since, the same whatever the chunking', () => {
    const whole = run(1 << 20);
    expect(whole.count).toBe(2);
    expect(whole.failures[0]).toMatch(
      /10:00:00\.000 .*Could not send \| Caused by: javax\.mail\.AuthenticationFailedException: 535 5\.7\.3/,
    );
    expect(whole.failures[1]).toContain('invalid_grant AADSTS70008');
    for (const size of [1, 7, 64]) expect(run(size).failures).toEqual(whole.failures);
  });

  it('consumes only complete lines until finish() says the file is complete', () => {
    const s = run(13);
    const trailing = 'a trailing line still being written without its newline';
    expect(s.consumed).toBe(Buffer.byteLength(text) - trailing.length);
    s.finish();
    expect(s.consumed).toBe(Buffer.byteLength(text));
  });

  it('keeps at most maxLines but counts all, and a huge line costs at most MAX_LINE_BYTES of memory', () => {
    const s = new MailAuthScanner({ sinceMs: 0, maxLines: 1 });
    for (let i = 0; i < 3; i++)
      s.push(Buffer.from(head('01.12.2026 10:00:00.000', MAILER, `535 5.7.3 Authentication unsuccessful #${i}`)));
    expect([s.count, s.failures.length]).toEqual([3, 1]);
    const huge = Buffer.concat([
      Buffer.from(head('01.12.2026 10:00:00.000', MAILER, 'invalid_grant ').trimEnd()),
      Buffer.alloc(4 * MAX_LINE_BYTES, 0x41),
      Buffer.from('\n'),
    ]);
    const big = new MailAuthScanner({ sinceMs: 0, maxLines: 5 });
    for (let i = 0; i < huge.length; i += 1000) big.push(huge.subarray(i, i + 1000));
    expect(big.count).toBe(1);
    expect(big.consumed).toBe(huge.length);
  });
});
