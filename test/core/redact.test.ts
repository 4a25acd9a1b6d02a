import { describe, expect, it } from 'vitest';
import { redact, redactText, registerSecret } from '../../lambdas/core/redact.ts';
import { redactingReplacer } from '../../lambdas/report/logger.ts';
import { classifyTokenError } from '../../lambdas/refresh/classify-oauth2.ts';
import { encodings, findPiece, leakIndex } from '../support/leaks.ts';

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
    const out = redact({
      a: { refreshToken: 'rt1', accessToken: 'at1', clientSecret: 'cs1', nested: [{ value: 'vv1' }] },
      code: 'AADSTS700082',
    });
    expect(JSON.stringify(out)).not.toMatch(/rt1|at1|cs1|vv1/);
    expect(out.code).toBe('AADSTS700082');
  });

  it('the log replacer masks keys and registered values', () => {
    registerSecret('super-secret-value-123');
    const line = JSON.stringify(
      { message: 'saw super-secret-value-123', refresh_token: 'zzz', ok: 1 },
      redactingReplacer,
    );
    expect(line).not.toContain('super-secret-value-123');
    expect(line).not.toContain('zzz');
    expect(line).toContain('"ok":1');
  });
});

describe('the known-secret registry never forgets, and masks pieces and encoded forms', () => {
  const secret = 'cs~' + 'Ab+/9z=Q'.repeat(6) + '/tail';

  it('a secret registered before 20,000 newer values is still masked (and so is one registered again)', () => {
    const first = `never-forget-${'k'.repeat(30)}`;
    const again = `registered-twice-${'j'.repeat(30)}`;
    registerSecret(first);
    registerSecret(again);
    for (let i = 0; i < 10_000; i++) registerSecret(`filler-${i}-${'f'.repeat(12)}`);
    registerSecret(again);
    for (let i = 10_000; i < 20_001; i++) registerSecret(`filler-${i}-${'f'.repeat(12)}`);
    expect(redactText(`secret ${first} here`)).toBe('secret [REDACTED] here');
    expect(redactText(`secret ${again} here`)).toBe('secret [REDACTED] here');
  });

  it('masks a 16-character prefix, a suffix and any 24-character piece of a registered token', () => {
    const token = 'rt-' + 'Zq9xW2vB7nM4kL8pR3tY6uI1oP5aS0dF'.repeat(3);
    registerSecret(token);
    for (const piece of [token.slice(0, 16), token.slice(-16), token.slice(31, 55), token.slice(7, 90)]) {
      const out = redactText(`debug: token starts ${piece}.`);
      expect(out).toContain('[REDACTED]');
      expect(findPiece(out, leakIndex([token]))).toBeUndefined();
    }
  });

  it('masks the URL-encoded, form-encoded, base64, base64url and JSON-escaped forms', () => {
    registerSecret(secret);
    for (const form of encodings(secret)) {
      const out = redactText(`value=${form};`);
      expect(findPiece(out, leakIndex([secret]))).toBeUndefined();
    }
    expect(redactText(JSON.stringify({ note: secret }).replace(/\//g, '\\/'))).not.toContain('Ab+');
  });

  it('leaves ordinary text alone (a hash collision never masks text that is not a piece)', () => {
    const text = 'credential aem-mail: rotation finished: rotated; pushed to 2 of 2 Cloud Manager targets in 1234 ms';
    expect(redactText(text)).toBe(text);
  });
});

describe('error descriptions are redacted before they are cut', () => {
  const ctx = {
    id: 'aem-mail',
    mailbox: 'mailer@example.org',
    clientId: 'client',
    clientSecretRef: 'x/client-secret',
    remote: 'oauth2' as const,
    scopes: 'openid',
  };
  const echoed = 'rt-' + 'Echo9xW2vB7nM4kL8pR3tY6uI1oP5aS0dF'.repeat(12);

  it.each(['oauth2', 'google', 'microsoft'] as const)(
    '%s: a token echoed across the 300-character cut leaves no piece in the message',
    (provider) => {
      registerSecret(echoed);
      const body = {
        error: 'invalid_grant',
        error_description: `${'x'.repeat(100)} the refresh token ${echoed} is not valid`,
      };
      const err = classifyTokenError(provider, 400, body, {
        ...ctx,
        remote: provider === 'microsoft' ? 'entra' : provider,
      });
      expect(findPiece(err.message, leakIndex([echoed]))).toBeUndefined();
      expect(err.message).toContain('[REDACTED]');
    },
  );

  it.each(['oauth2', 'google', 'microsoft'] as const)(
    '%s: the cut falls 10 characters into the token: not even those 10 remain',
    (provider) => {
      registerSecret(echoed);
      const body = { error: 'invalid_grant', error_description: `${'x'.repeat(290)}${echoed}` };
      const err = classifyTokenError(provider, 400, body, {
        ...ctx,
        remote: provider === 'microsoft' ? 'entra' : provider,
      });
      expect(err.message).not.toContain(echoed.slice(0, 10));
      expect(err.message).toContain('[REDACTED]');
    },
  );
});
