import { describe, expect, it } from 'vitest';
import { redact, redactText, registerSecret } from '../../lambdas/core/redact.ts';
import { redactingReplacer } from '../../lambdas/report/logger.ts';

describe('redaction', () => {
  it('replaces every registered secret wherever it appears', () => {
    const s = 'rt-' + 'x'.repeat(40);
    registerSecret(s);
    expect(redactText(`token ${s} and again ${s}.`)).toBe('token [REDACTED] and again [REDACTED].');
  });

  it('masks secrets it never saw by their shape: bearer headers, form fields, JSON fields, XOAUTH2', () => {
    expect(redactText('Authorization: Bearer eyJhbGciOi.abc.def')).toBe('Authorization: Bearer [REDACTED]');
    expect(redactText('grant_type=refresh_token&refresh_token=0.AAAA-bbb&client_secret=Qx8Q~abc')).toBe(
      'grant_type=refresh_token&refresh_token=[REDACTED]&client_secret=[REDACTED]',
    );
    expect(redactText('{"access_token":"abc.def","x":1}')).toBe('{"access_token":"[REDACTED]","x":1}');
    expect(redactText('user=a@b.c\x01auth=Bearer secret-token\x01\x01')).toContain('auth=Bearer [REDACTED]');
  });

  it('masks secret-named keys in objects and errors, deeply', () => {
    const out = redact({ a: { refreshToken: 'rt1', accessToken: 'at1', clientSecret: 'cs1', nested: [{ value: 'vv1' }] }, code: 'AADSTS700082' });
    expect(JSON.stringify(out)).not.toMatch(/rt1|at1|cs1|vv1/);
    expect(out.code).toBe('AADSTS700082');
  });

  it('the log replacer masks keys and registered values', () => {
    registerSecret('super-secret-value-123');
    const line = JSON.stringify({ message: 'saw super-secret-value-123', refresh_token: 'zzz', ok: 1 }, redactingReplacer);
    expect(line).not.toContain('super-secret-value-123');
    expect(line).not.toContain('zzz');
    expect(line).toContain('"ok":1');
  });
});
