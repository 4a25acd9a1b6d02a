import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { SmtpSettings } from '../../lambdas/config/schema.ts';
import { RefresherError } from '../../lambdas/core/errors.ts';
import type { ValidationRequest } from '../../lambdas/core/types.ts';
import { SmtpXoauth2Validator, validatorFor, xoauth2InitialResponse } from '../../lambdas/validate/smtp-validator.ts';
import {
  closedPort,
  makePki,
  startSilent,
  startSmtp,
  type Pki,
  type SmtpStandIn,
  type StandInOptions,
} from './smtp-fixtures.ts';

const MAILBOX = 'aem-mailer@contoso.example';
// Microsoft access tokens are JWTs of 1.5 to 2.5 kB: long enough to matter for line handling and for redaction.
const TOKEN = `eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.${randomBytes(1400).toString('base64url')}.${randomBytes(256).toString('base64url')}`;
const XOAUTH2 = xoauth2InitialResponse(MAILBOX, TOKEN);

let pki: Pki;
const cleanup: Array<() => Promise<void>> = [];

beforeAll(() => {
  pki = makePki();
});
afterEach(async () => {
  await Promise.all(cleanup.splice(0).map((c) => c()));
});
afterAll(() => pki.dispose());

async function server(opts: Partial<StandInOptions> = {}): Promise<SmtpStandIn> {
  const s = await startSmtp({ tls: pki.trusted, expectedUser: MAILBOX, expectedToken: TOKEN, ...opts });
  cleanup.push(() => s.close());
  return s;
}

function smtp(port: number, over: Partial<SmtpSettings> = {}): SmtpSettings {
  return { host: '127.0.0.1', port, starttls: true, timeoutMs: 3_000, ...over };
}

function request(over: Partial<ValidationRequest> = {}): ValidationRequest {
  return {
    mailbox: MAILBOX,
    accessToken: TOKEN,
    mode: 'send',
    to: 'ops@contoso.example',
    subject: 'token-refresher validation 2026-11-23T12:00Z',
    text: 'Sent by token-refresher to prove the rotated token can send mail.',
    ...over,
  };
}

/** Every failure must be classified and must not carry the token or its XOAUTH2 encoding in any form it is shown in. */
async function failure(p: Promise<unknown>): Promise<RefresherError> {
  let caught: unknown;
  try {
    await p;
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(RefresherError);
  const err = caught as RefresherError;
  expect(err.remote).toBe('smtp');
  expect(err.stage).toBe('validate');
  for (const shown of [err.message, err.fix, JSON.stringify(err), String(err), err.stack ?? '', inspect(err)]) {
    expect(shown).not.toContain(TOKEN);
    expect(shown).not.toContain(XOAUTH2);
    expect(shown).not.toContain(TOKEN.slice(40, 100));
    expect(shown).not.toContain(XOAUTH2.slice(40, 100));
  }
  return err;
}

describe('SmtpXoauth2Validator against a real SMTP server', () => {
  it('send: authenticates after STARTTLS and the server receives the mail with the subject', async () => {
    const s = await server();
    const result = await new SmtpXoauth2Validator({ smtp: smtp(s.port), ca: pki.trusted.ca }).validate(request());
    expect(result.mode).toBe('send');
    expect(result.response).toMatch(/^250\b/);
    expect(result.messageId).toMatch(/^<.+@.+>$/);
    expect(s.auths).toEqual([{ username: MAILBOX, accessToken: TOKEN }]);
    expect(s.received).toHaveLength(1);
    expect(s.received[0]).toMatchObject({
      from: MAILBOX,
      to: ['ops@contoso.example'],
      subject: 'token-refresher validation 2026-11-23T12:00Z',
    });
    expect(s.received[0]?.raw).toContain(`Message-ID: ${result.messageId}`);
    expect(s.received[0]?.raw).toContain('Auto-Submitted: auto-generated');
  });

  it('auth: connects by host name (SNI, name check), authenticates, quits, sends nothing', async () => {
    const s = await server();
    const result = await new SmtpXoauth2Validator({
      smtp: smtp(s.port, { host: 'localhost' }),
      ca: pki.trusted.ca,
    }).validate(request({ mode: 'auth' }));
    expect(result).toEqual({ mode: 'auth', response: expect.stringMatching(/^235\b/) });
    expect(s.auths).toHaveLength(1);
    expect(s.received).toHaveLength(0);
  });

  it('implicit TLS (starttls false) works the same', async () => {
    const s = await server({ secure: true });
    const result = await new SmtpXoauth2Validator({
      smtp: smtp(s.port, { starttls: false }),
      ca: pki.trusted.ca,
    }).validate(request());
    expect(result.response).toMatch(/^250\b/);
    expect(s.received).toHaveLength(1);
  });

  it('535 5.7.3 (token for another audience) is a configuration error naming the SMTP scope and the regenerate command', async () => {
    const s = await server({
      hideEnhanced: true,
      auth: () => ({
        kind: 'error',
        responseCode: 535,
        text: '5.7.3 Authentication unsuccessful [SN4PR0201CA0045.namprd02.prod.outlook.com]',
      }),
    });
    const v = new SmtpXoauth2Validator({
      smtp: smtp(s.port),
      ca: pki.trusted.ca,
      flavor: 'microsoft',
      credentialId: 'aem-prod',
    });
    const err = await failure(v.validate(request()));
    expect(err.class).toBe('configuration');
    expect(err.code).toBe('SMTP_535_5.7.3');
    expect(err.status).toBe(535);
    expect(err.message).toContain('535 5.7.3 Authentication unsuccessful [SN4PR0201CA0045.namprd02.prod.outlook.com]');
    expect(err.fix).toContain('https://outlook.office.com/SMTP.Send');
    expect(err.fix).toContain('token-refresher regenerate --credential aem-prod');
    expect(err.fix).toContain(MAILBOX);
    expect(s.received).toHaveLength(0);
  });

  it('535 5.7.139 (SMTP AUTH disabled) gives the Set-CASMailbox command for this mailbox', async () => {
    const s = await server({
      hideEnhanced: true,
      auth: () => ({
        kind: 'error',
        responseCode: 535,
        text: '5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information. [PR3P191CA0012.EURP191.PROD.OUTLOOK.COM]',
      }),
    });
    const err = await failure(new SmtpXoauth2Validator({ smtp: smtp(s.port), ca: pki.trusted.ca }).validate(request()));
    expect(err.class).toBe('configuration');
    expect(err.code).toBe('SMTP_535_5.7.139');
    const command = `Set-CASMailbox -Identity ${MAILBOX} -SmtpClientAuthenticationDisabled $false`;
    expect(err.message).toContain(command);
    expect(err.fix).toContain(command);
  });

  it('5.7.57 on MAIL FROM is a configuration error', async () => {
    const s = await server({
      hideEnhanced: true,
      mailFromError: {
        responseCode: 530,
        text: '5.7.57 Client not authenticated to send mail. [AM0PR02CA0001.eurprd02.prod.outlook.com]',
      },
    });
    const err = await failure(new SmtpXoauth2Validator({ smtp: smtp(s.port), ca: pki.trusted.ca }).validate(request()));
    expect(err.class).toBe('configuration');
    expect(err.code).toBe('SMTP_5.7.57');
    expect(err.message).toContain('530 5.7.57 Client not authenticated to send mail');
    expect(s.received).toHaveLength(0);
  });

  it('501 5.5.124 (malformed XOAUTH2 data) is a configuration error', async () => {
    const s = await server({
      hideEnhanced: true,
      auth: () => ({ kind: 'error', responseCode: 501, text: '5.5.124 Invalid XOAUTH2 auth data' }),
    });
    const err = await failure(new SmtpXoauth2Validator({ smtp: smtp(s.port), ca: pki.trusted.ca }).validate(request()));
    expect(err.class).toBe('configuration');
    expect(err.code).toBe('SMTP_501_5.5.124');
  });

  it('421 is transient', async () => {
    const s = await server({
      hideEnhanced: true,
      auth: () => ({
        kind: 'error',
        responseCode: 421,
        text: '4.3.2 Service not available, closing transmission channel',
      }),
    });
    const err = await failure(new SmtpXoauth2Validator({ smtp: smtp(s.port), ca: pki.trusted.ca }).validate(request()));
    expect(err.class).toBe('transient');
    expect(err.code).toBe('SMTP_421');
  });

  it('Google: 334 with a base64 JSON status, then 535 5.7.8, is reauthorize with the decoded status; one AUTH attempt only', async () => {
    const s = await server({
      auth: () => ({ kind: 'google', data: { status: '400', schemes: 'Bearer', scope: 'https://mail.google.com/' } }),
    });
    const v = validatorFor(
      { id: 'gmail-ops', provider: 'google', validation: { mode: 'send', smtp: smtp(s.port) } },
      { ca: pki.trusted.ca },
    );
    const err = await failure(v.validate(request()));
    expect(err.class).toBe('reauthorize');
    expect(err.code).toBe('SMTP_535_5.7.8');
    expect(err.message).toContain('status "400"');
    expect(err.message).toContain('scope "https://mail.google.com/"');
    expect(err.fix).toContain('token-refresher regenerate --credential gmail-ops');
    expect(err.fix).toContain('https://mail.google.com/');
    expect(s.auths).toHaveLength(1);
  });

  it('a server reply that echoes the token and the XOAUTH2 string is quoted redacted', async () => {
    const s = await server({
      hideEnhanced: true,
      auth: (a) => ({
        kind: 'error',
        responseCode: 535,
        text: `5.7.3 Authentication unsuccessful for ${a.accessToken} ${XOAUTH2}`,
      }),
    });
    const err = await failure(new SmtpXoauth2Validator({ smtp: smtp(s.port), ca: pki.trusted.ca }).validate(request()));
    expect(err.code).toBe('SMTP_535_5.7.3');
    expect(err.message).toContain('[REDACTED]');
  });

  it('connection refused is transient', async () => {
    const port = await closedPort();
    const err = await failure(new SmtpXoauth2Validator({ smtp: smtp(port), ca: pki.trusted.ca }).validate(request()));
    expect(err.class).toBe('transient');
    expect(err.code).toBe('SMTP_CONNECTION');
  });

  it('a server without STARTTLS gets no token: configuration SMTP_NO_STARTTLS', async () => {
    const s = await server({ noStartTls: true });
    const err = await failure(new SmtpXoauth2Validator({ smtp: smtp(s.port), ca: pki.trusted.ca }).validate(request()));
    expect(err.class).toBe('configuration');
    expect(err.code).toBe('SMTP_NO_STARTTLS');
    expect(s.auths).toHaveLength(0);
  });

  it('a certificate from an untrusted CA is classified and nothing is sent', async () => {
    const s = await server({ tls: pki.untrusted });
    const err = await failure(new SmtpXoauth2Validator({ smtp: smtp(s.port), ca: pki.trusted.ca }).validate(request()));
    expect(err.class).toBe('configuration');
    expect(err.code).toBe('SMTP_TLS_CERT');
    expect(err.fix).toMatch(/never disabled/);
    expect(s.auths).toHaveLength(0);
    expect(s.received).toHaveLength(0);
  });

  it('a trusted certificate for another host name is classified and nothing is sent', async () => {
    const s = await server({ tls: pki.wrongName });
    const err = await failure(
      new SmtpXoauth2Validator({ smtp: smtp(s.port, { host: 'localhost' }), ca: pki.wrongName.ca }).validate(request()),
    );
    expect(err.code).toBe('SMTP_TLS_CERT');
    expect(s.auths).toHaveLength(0);
  });

  it('a connection dropped in the middle of AUTH is transient', async () => {
    const s = await server({ auth: () => ({ kind: 'drop' }) });
    const err = await failure(new SmtpXoauth2Validator({ smtp: smtp(s.port), ca: pki.trusted.ca }).validate(request()));
    expect(err.class).toBe('transient');
    expect(err.code).toBe('SMTP_CONNECTION');
    expect(s.received).toHaveLength(0);
  });

  it('a server that never answers times out within the configured timeout', async () => {
    const silent = await startSilent();
    cleanup.push(() => silent.close());
    const started = Date.now();
    const err = await failure(
      new SmtpXoauth2Validator({ smtp: smtp(silent.port, { timeoutMs: 300 }), ca: pki.trusted.ca }).validate(request()),
    );
    expect(err.class).toBe('transient');
    expect(err.code).toBe('SMTP_TIMEOUT');
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('a mailbox that could forge XOAUTH2 fields is refused before connecting', async () => {
    const err = await failure(
      new SmtpXoauth2Validator({ smtp: smtp(1), ca: pki.trusted.ca }).validate(
        request({ mailbox: `${MAILBOX}\x01auth=Bearer x` }),
      ),
    );
    expect(err.class).toBe('input');
  });
});
