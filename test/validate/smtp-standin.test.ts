// The validator against the project's shared SMTP stand-in (standins/smtp.ts), which the pipeline tests use too:
// the classification must hold for the stand-in's Microsoft and Google dialogues and its fault injection.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RefresherError } from '../../lambdas/core/errors.ts';
import type { ValidationRequest } from '../../lambdas/core/types.ts';
import { validatorFor } from '../../lambdas/validate/smtp-validator.ts';
import { startSmtpStandin, testCa, type SmtpFault, type SmtpStandin } from '../../standins/smtp.ts';

const MAILBOX = 'aem-mailer@contoso.example';
const SMTP_TOKEN = `eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.smtp-send-${'s'.repeat(900)}.sig`;
const GRAPH_TOKEN = `eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.graph-mail-send-${'g'.repeat(900)}.sig`;

function tokenInfo(token: string) {
  if (token === SMTP_TOKEN)
    return { account: MAILBOX, scopes: ['https://outlook.office.com/SMTP.Send', 'https://mail.google.com/'] };
  if (token === GRAPH_TOKEN) return { account: MAILBOX, scopes: ['https://graph.microsoft.com/Mail.Send'] };
  return undefined;
}

function request(accessToken: string, mode: 'send' | 'auth' = 'send'): ValidationRequest {
  return { mailbox: MAILBOX, accessToken, mode, to: MAILBOX, subject: 'token-refresher validation ✓', text: 'test' };
}

function validator(standin: SmtpStandin, provider: 'microsoft' | 'google') {
  return validatorFor(
    {
      id: 'aem-prod',
      provider,
      validation: { mode: 'send', smtp: { host: 'localhost', port: standin.port, starttls: true, timeoutMs: 3_000 } },
    },
    { ca: testCa() },
  );
}

async function failure(p: Promise<unknown>): Promise<RefresherError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RefresherError);
  const shown = JSON.stringify(err);
  expect(shown).not.toContain(SMTP_TOKEN);
  expect(shown).not.toContain(GRAPH_TOKEN);
  return err as RefresherError;
}

describe('validator against the Microsoft stand-in', () => {
  let smtp: SmtpStandin;
  beforeAll(async () => {
    smtp = await startSmtpStandin({ isValidAccessToken: tokenInfo });
  });
  afterAll(() => smtp.close());

  it('sends the test mail', async () => {
    const result = await validator(smtp, 'microsoft').validate(request(SMTP_TOKEN));
    expect(result.response).toMatch(/^250 2\.0\.0 OK/);
    expect(smtp.messages.at(-1)).toMatchObject({ subject: 'token-refresher validation ✓', account: MAILBOX });
  });

  it('a Graph token gets 535 5.7.3', async () => {
    const err = await failure(validator(smtp, 'microsoft').validate(request(GRAPH_TOKEN)));
    expect(err).toMatchObject({ class: 'configuration', code: 'SMTP_535_5.7.3' });
  });

  it.each<[SmtpFault, string, string]>([
    ['535 5.7.139', 'configuration', 'SMTP_535_5.7.139'],
    ['5.7.57', 'configuration', 'SMTP_5.7.57'],
    ['501 5.5.124', 'configuration', 'SMTP_501_5.5.124'],
    ['421', 'transient', 'SMTP_421'],
    ['drop', 'transient', 'SMTP_CONNECTION'],
    ['no-starttls', 'configuration', 'SMTP_NO_STARTTLS'],
  ])('fault %s -> %s %s', async (fault, cls, code) => {
    smtp.clearFaults();
    smtp.injectFault(fault);
    const err = await failure(validator(smtp, 'microsoft').validate(request(SMTP_TOKEN)));
    expect(err).toMatchObject({ class: cls, code });
  });
});

describe('validator against the Google stand-in', () => {
  let smtp: SmtpStandin;
  beforeAll(async () => {
    smtp = await startSmtpStandin({ isValidAccessToken: tokenInfo, flavor: 'google' });
  });
  afterAll(() => smtp.close());

  it('authenticates (auth mode) without sending', async () => {
    const before = smtp.messages.length;
    const result = await validator(smtp, 'google').validate(request(SMTP_TOKEN, 'auth'));
    expect(result.response).toMatch(/^235\b/);
    expect(smtp.messages).toHaveLength(before);
  });

  it('an unknown token gets 334 + 535 5.7.8: reauthorize, with the decoded status, in one AUTH attempt', async () => {
    const attempts = smtp.stats.authAttempts;
    const err = await failure(validator(smtp, 'google').validate(request('ya29.revoked-token-value')));
    expect(err).toMatchObject({ class: 'reauthorize', code: 'SMTP_535_5.7.8' });
    expect(err.message).toContain('status "400"');
    expect(smtp.stats.authAttempts - attempts).toBe(1);
  });
});
