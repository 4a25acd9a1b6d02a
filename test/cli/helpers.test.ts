// The CLI's pure pieces: next scheduled run, redirect parsing and checks, exit codes, colour rules.
import { describe, expect, it } from 'vitest';
import { exitCodeForSummary, worstExit } from '../../cli/errors.ts';
import { nextRun } from '../../lambdas/config/schedule.ts';
import { accountOf, checkTokens, interpretRedirect, parsePastedRedirect, signInScopes } from '../../cli/sign-in.ts';
import { Ui } from '../../cli/ui.ts';
import { processIo } from '../../cli/io.ts';
import { RefresherError } from '../../lambdas/core/errors.ts';
import type { RotationSummary } from '../../lambdas/pipeline/rotate.ts';
import { Capture } from './support.ts';

const idToken = (claims: Record<string, unknown>) =>
  `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.`;
const cred = { id: 'aem-mail', mailbox: 'Mailer@Contoso.com', provider: 'microsoft' as const };

describe('nextRun', () => {
  const now = new Date('2026-03-28T12:00:00Z');
  it('cron in a time zone, across the spring DST change (Zurich: 2026-03-29)', () => {
    const r = nextRun({ expression: 'cron(17 3 * * ? *)', timeZone: 'Europe/Zurich' }, undefined, now);
    // 03:17 on the 29th is summer time (UTC+2).
    expect(r).toMatchObject({ kind: 'at', at: new Date('2026-03-29T01:17:00Z') });
  });
  it('cron with weekdays and lists', () => {
    const r = nextRun({ expression: 'cron(0 6,18 ? * MON-FRI *)', timeZone: 'UTC' }, undefined, now); // a Saturday
    expect(r).toMatchObject({ kind: 'at', at: new Date('2026-03-30T06:00:00Z') });
  });
  it('rate counts from the last run; without one, and for L/W/# crons, only the expression', () => {
    expect(nextRun({ expression: 'rate(12 hours)', timeZone: 'UTC' }, '2026-03-28T11:00:00Z', now)).toMatchObject({
      kind: 'at',
      at: new Date('2026-03-28T23:00:00Z'),
    });
    expect(nextRun({ expression: 'rate(1 day)', timeZone: 'UTC' }, undefined, now).kind).toBe('expression');
    expect(nextRun({ expression: 'cron(0 3 L * ? *)', timeZone: 'UTC' }, undefined, now)).toMatchObject({
      kind: 'expression',
      note: 'cron(0 3 L * ? *) UTC',
    });
  });
});

describe('sign-in helpers', () => {
  it('parses a pasted redirect URL or its query, and ignores other text', () => {
    expect(parsePastedRedirect('http://localhost:5123/?code=abc&state=xyz&session_state=1')).toEqual({
      code: 'abc',
      state: 'xyz',
      error: undefined,
      errorDescription: undefined,
    });
    expect(parsePastedRedirect('?error=access_denied&state=s')).toMatchObject({ error: 'access_denied', state: 's' });
    expect(parsePastedRedirect('hello')).toBeUndefined();
    expect(parsePastedRedirect('')).toBeUndefined();
  });
  it('accepts only a code with the expected state', () => {
    expect(interpretRedirect({ code: 'the-code', state: 'st' }, 'st', cred)).toBe('the-code');
    expect(() => interpretRedirect({ code: 'the-code', state: 'other' }, 'st', cred)).toThrow(
      expect.objectContaining({ code: 'STATE_MISMATCH' }),
    );
    expect(() => interpretRedirect({ code: 'the-code' }, 'st', cred)).toThrow(
      expect.objectContaining({ code: 'STATE_MISMATCH' }),
    );
    expect(() => interpretRedirect({ error: 'access_denied', state: 'st' }, 'st', cred)).toThrow(
      expect.objectContaining({ code: 'SIGN_IN_DENIED' }),
    );
    expect(() =>
      interpretRedirect({ error: 'invalid_request', errorDescription: 'AADSTS50011: redirect mismatch' }, 'st', cred),
    ).toThrow(/AADSTS50011/);
  });
  it('reads the account from the id_token and compares it case-insensitively; requires a refresh token', () => {
    expect(accountOf(idToken({ preferred_username: 'mailer@contoso.com' }))).toBe('mailer@contoso.com');
    expect(accountOf(idToken({ email: 'x@y.z' }))).toBe('x@y.z');
    expect(accountOf('garbage')).toBeUndefined();
    expect(
      checkTokens({ accessToken: 'a', refreshToken: 'r', idToken: idToken({ upn: 'mailer@contoso.com' }) }, cred),
    ).toBe('mailer@contoso.com');
    expect(() => checkTokens({ accessToken: 'a', refreshToken: 'r' }, cred)).toThrow(
      expect.objectContaining({ code: 'NO_ID_TOKEN' }),
    );
    expect(() =>
      checkTokens(
        { accessToken: 'a', idToken: idToken({ email: 'mailer@contoso.com' }) },
        { ...cred, provider: 'google' },
      ),
    ).toThrow(
      expect.objectContaining({
        code: 'NO_REFRESH_TOKEN',
        fix: expect.stringContaining('access_type=offline and prompt=consent'),
      }),
    );
  });
  it('adds the OpenID scopes after the resource scope (the audience stays SMTP)', () => {
    expect(
      signInScopes({ provider: 'microsoft', scopes: ['https://outlook.office.com/SMTP.Send', 'offline_access'] }),
    ).toEqual(['https://outlook.office.com/SMTP.Send', 'offline_access', 'openid', 'email', 'profile']);
    expect(signInScopes({ provider: 'oauth2', scopes: ['mail'] })).toEqual(['mail']);
  });
});

describe('exit codes and colour', () => {
  const summary = (over: Partial<RotationSummary>): RotationSummary => ({
    credential: 'c',
    runId: 'r',
    outcome: 'rotated',
    redeemed: true,
    promoted: true,
    targets: [],
    alert: 'none',
    durationsMs: {},
    ...over,
  });
  it('maps outcomes and failure classes', () => {
    expect(exitCodeForSummary(summary({}))).toBe(0);
    expect(exitCodeForSummary(summary({ outcome: 'skipped' }))).toBe(4);
    expect(
      exitCodeForSummary(
        summary({
          outcome: 'failed',
          failure: { class: 'reauthorize', code: 'x', remote: 'entra', message: '', fix: '' },
        }),
      ),
    ).toBe(3);
    expect(
      exitCodeForSummary(
        summary({
          outcome: 'failed',
          failure: { class: 'configuration', code: 'x', remote: 'smtp', message: '', fix: '' },
        }),
      ),
    ).toBe(1);
    expect(worstExit([0, 1, 3, 4])).toBe(3);
    expect(worstExit([0, 2, 1])).toBe(1);
    expect(new RefresherError({ class: 'transient', code: 'c', remote: 'ims', message: 'm', fix: 'f' }).class).toBe(
      'transient',
    );
  });
  it('colour only on a terminal, never with NO_COLOR or --no-color', () => {
    const tty = () => Object.assign(new Capture(), { isTTY: true });
    const io = (env: Record<string, string>) => ({ ...processIo(), stdout: tty(), stderr: tty(), env });
    expect(new Ui(io({}), { json: false, noColor: false }).color).toBe(true);
    expect(new Ui(io({ NO_COLOR: '1' }), { json: false, noColor: false }).color).toBe(false);
    expect(new Ui(io({}), { json: false, noColor: true }).color).toBe(false);
    expect(new Ui({ ...processIo(), stdout: new Capture(), env: {} }, { json: false, noColor: false }).color).toBe(
      false,
    );
  });
});
