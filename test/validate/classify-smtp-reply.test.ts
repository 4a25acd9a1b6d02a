import { describe, expect, it } from 'vitest';
import { registerSecret } from '../../lambdas/core/redact.ts';
import { classifySmtpReply } from '../../lambdas/validate/classify-smtp.ts';

const ctx = { mailbox: 'aem@contoso.example', credentialId: 'aem-prod' };

describe('classifySmtpReply', () => {
  it.each([
    [
      535,
      '535 5.7.3 Authentication unsuccessful [SN4PR0201CA0045.namprd02.prod.outlook.com]',
      'configuration',
      'SMTP_535_5.7.3',
    ],
    [
      535,
      '535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Mailbox.',
      'configuration',
      'SMTP_535_5.7.139',
    ],
    [530, '530 5.7.57 Client not authenticated to send mail. [AM0PR02CA0001]', 'configuration', 'SMTP_5.7.57'],
    [535, '535 5.7.57 Client not authenticated to send mail.', 'configuration', 'SMTP_5.7.57'],
    [501, '501 5.5.124 Invalid XOAUTH2 auth data', 'configuration', 'SMTP_501_5.5.124'],
    [
      535,
      '535-5.7.8 Username and Password not accepted. For more information, go to\n535 5.7.8  https://support.google.com/mail/?p=BadCredentials',
      'reauthorize',
      'SMTP_535_5.7.8',
    ],
    [421, '421 4.7.0 Temporary System Problem.  Try again later (10).', 'transient', 'SMTP_421'],
    [454, '454 4.7.0 Temporary authentication failure', 'transient', 'SMTP_454'],
    [504, '504 5.7.4 Unrecognized authentication type', 'configuration', 'SMTP_504'],
  ] as const)('%i %s', (code, reply, cls, expected) => {
    const err = classifySmtpReply(code, reply, ctx);
    expect(err.class).toBe(cls);
    expect(err.code).toBe(expected);
    expect(err.remote).toBe('smtp');
    expect(err.stage).toBe('validate');
    expect(err.status).toBe(code);
    expect(err.fix.length).toBeGreaterThan(20);
  });

  it('reads the code from the reply when none is given', () => {
    expect(classifySmtpReply(undefined, '535 5.7.3 Authentication unsuccessful', ctx).code).toBe('SMTP_535_5.7.3');
  });

  it('acts on the enhanced status code, not on the prose', () => {
    // Microsoft's words without its enhanced code: not recognised as 5.7.139.
    const err = classifySmtpReply(
      535,
      '535 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant',
      ctx,
    );
    expect(err.code).toBe('SMTP_535');
    // An enhanced code that only appears later in the text is not the reply's status.
    expect(classifySmtpReply(550, '550 mailbox unavailable, see 5.7.139', ctx).code).toBe('SMTP_550');
  });

  it('5.7.3: names the SMTP scope, Graph, the mailbox and the regenerate command', () => {
    const err = classifySmtpReply(535, '535 5.7.3 Authentication unsuccessful', ctx);
    expect(err.fix).toContain('https://outlook.office.com/SMTP.Send');
    expect(err.fix).toContain('graph.microsoft.com');
    expect(err.fix).toContain('token-refresher regenerate --credential aem-prod');
    expect(err.fix).toContain('aem@contoso.example');
  });

  it('5.7.139: the Set-CASMailbox command names the mailbox, in the message and the fix', () => {
    const err = classifySmtpReply(
      535,
      '535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant.',
      ctx,
    );
    const command = 'Set-CASMailbox -Identity aem@contoso.example -SmtpClientAuthenticationDisabled $false';
    expect(err.message).toContain(command);
    expect(err.fix).toContain(command);
  });

  it('5.7.8 with a decoded Google challenge quotes it and asks for https://mail.google.com/', () => {
    const err = classifySmtpReply(535, '535 5.7.8 Username and Password not accepted', {
      ...ctx,
      challenge: 'status "401", scope "https://mail.google.com/"',
    });
    expect(err.class).toBe('reauthorize');
    expect(err.message).toContain('status "401"');
    expect(err.fix).toContain('https://mail.google.com/');
  });

  it('a rejected recipient is a configuration error about validation.to', () => {
    const err = classifySmtpReply(
      550,
      '550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup',
      { ...ctx, command: 'RCPT TO' },
    );
    expect(err.class).toBe('configuration');
    expect(err.fix).toContain('validation.to');
  });

  it('non-error replies are unexpected and transient', () => {
    expect(classifySmtpReply(undefined, 'garbage', ctx)).toMatchObject({
      class: 'transient',
      code: 'SMTP_UNEXPECTED_REPLY',
    });
  });

  it('never repeats a registered token that a server echoes, even in a long reply that gets shortened', () => {
    const token = `eyJ0eXAi.${'A'.repeat(1200)}.sig-${Date.now()}`;
    registerSecret(token);
    const err = classifySmtpReply(535, `535 5.7.3 ${'x'.repeat(300)} ${token}`, ctx);
    for (const shown of [err.message, JSON.stringify(err)]) {
      expect(shown).not.toContain(token);
      expect(shown).not.toContain('A'.repeat(50));
    }
  });
});
