// Bad input the schema must refuse with the field named: values that overflow Node's timer (a timeout of 715,827,883 ms
// or more, tripled, fires after 1 ms and every validation times out), unbounded lists and lengths, control characters
// in a host name.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../lambdas/config/load.ts';
import { RefresherError } from '../../lambdas/core/errors.ts';
import { MAX_TIMER_MS } from '../../lambdas/core/http.ts';

const example = JSON.parse(readFileSync(new URL('../../config.example.json', import.meta.url), 'utf8')) as {
  credentials: Array<Record<string, unknown>>;
} & Record<string, unknown>;

function withCredential(
  patch: (c: Record<string, unknown>) => void,
  top: (d: Record<string, unknown>) => void = () => {},
) {
  const doc = structuredClone(example);
  patch(doc.credentials[0]!);
  top(doc);
  return doc;
}

function refusal(doc: unknown): string {
  try {
    parseConfig(doc);
  } catch (e) {
    expect(e).toBeInstanceOf(RefresherError);
    return (e as RefresherError).message;
  }
  throw new Error('expected the document to be refused');
}

const smtp = (c: Record<string, unknown>) => (c.validation as { smtp: Record<string, unknown> }).smtp;

describe('configuration bounds', () => {
  it('http.timeoutMs and validation.smtp.timeoutMs have a maximum whose triple stays below the timer overflow', () => {
    expect(
      refusal(
        withCredential(
          () => {},
          (d) => (d.http = { timeoutMs: 715_827_883 }),
        ),
      ),
    ).toMatch(/http\.timeoutMs/);
    expect(refusal(withCredential((c) => (smtp(c).timeoutMs = 715_827_883)))).toMatch(
      /credentials\[0\]\.validation\.smtp\.timeoutMs/,
    );
    // The largest accepted values, tripled (the SMTP validator's whole-dialogue deadline), are still valid timer values.
    const ok = parseConfig(
      withCredential(
        (c) => (smtp(c).timeoutMs = 300_000),
        (d) => (d.http = { timeoutMs: 300_000 }),
      ),
    );
    expect(3 * ok.http.timeoutMs).toBeLessThan(MAX_TIMER_MS);
    expect(3 * ok.credentials[0]!.validation.smtp.timeoutMs).toBeLessThan(MAX_TIMER_MS);
    expect(refusal(withCredential((c) => (smtp(c).timeoutMs = 300_001)))).toMatch(/smtp\.timeoutMs/);
  });

  it('the number of targets of a credential is bounded', () => {
    const many = Array.from({ length: 101 }, (_, i) => ({ programId: '1', environmentId: String(1000 + i) }));
    expect(refusal(withCredential((c) => (c.targets = many)))).toMatch(/credentials\[0\]\.targets/);
    expect(() => parseConfig(withCredential((c) => (c.targets = many.slice(0, 100))))).not.toThrow();
  });

  it('mailbox is at most 254 characters (RFC 5321 path limit)', () => {
    const long = `${'a'.repeat(64)}@${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(63)}.example`;
    expect(long.length).toBeGreaterThan(254);
    expect(refusal(withCredential((c) => (c.mailbox = long)))).toMatch(/credentials\[0\]\.mailbox/);
  });

  it.each([
    ['NUL', 'smtp.office365.com\u0000.evil.example'],
    ['CR LF', 'smtp.office365.com\r\nRCPT TO:<x@evil.example>'],
    ['a space', 'smtp office365.com'],
    ['DEL', 'smtp.office365.com\u007f'],
  ])('smtp.host with %s is refused, naming the field', (_name, host) => {
    expect(refusal(withCredential((c) => (smtp(c).host = host)))).toMatch(/credentials\[0\]\.validation\.smtp\.host/);
  });
});
