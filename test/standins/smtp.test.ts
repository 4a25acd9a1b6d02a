import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import nodemailer, { type Mail } from 'nodemailer';
import { DEFAULT_ACCOUNT, startEntraStandin, type EntraStandin } from '../../standins/entra.ts';
import { SMTP_REPLIES, startSmtpStandin, testCa, type SmtpStandin } from '../../standins/smtp.ts';
import { RawSmtp, xoauth2 } from './raw-smtp.ts';

async function accessToken(entra: EntraStandin, scopes?: string): Promise<string> {
  const rt = entra.issueRefreshToken(scopes ? { scopes } : {});
  const res = await fetch(entra.tokenUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'refresh_token',
      client_id: '5f2b8c1e-3d4a-4e6f-9a0b-1c2d3e4f5a6b',
      client_secret: 'Qx8Q~test-only-client-secret-value.not-real',
      refresh_token: rt,
      scope: scopes ?? 'https://outlook.office.com/SMTP.Send offline_access',
    }),
  });
  const body = (await res.json()) as { access_token: string };
  return body.access_token;
}

function transport(smtp: SmtpStandin, user: string, token: string): Mail {
  return nodemailer.createTransport({
    host: smtp.host,
    port: smtp.port,
    secure: false,
    requireTLS: true,
    tls: { ca: testCa(), servername: 'localhost' },
    auth: { type: 'OAuth2', user, accessToken: token },
    connectionTimeout: 3000,
    greetingTimeout: 3000,
    socketTimeout: 3000,
  });
}

const mail = { from: DEFAULT_ACCOUNT, to: 'ops@contoso.com', subject: 'token-refresher test send ✓', text: 'hello' };

/** nodemailer rejects with an Error carrying the server's reply in `response`. */
async function failure(p: Promise<unknown>): Promise<{ code?: string; response?: string; message: string }> {
  try {
    await p;
  } catch (err) {
    return err as { code?: string; response?: string; message: string };
  }
  throw new Error('expected a failure');
}

describe('SMTP stand-in (Microsoft)', () => {
  let entra: EntraStandin;
  let smtp: SmtpStandin;
  let token: string;
  beforeAll(async () => {
    entra = await startEntraStandin();
    smtp = await startSmtpStandin({ isValidAccessToken: (t) => entra.isValidAccessToken(t), slowMs: 250 });
    token = await accessToken(entra);
  });
  afterAll(async () => {
    await smtp.close();
    await entra.close();
  });

  it('sends with XOAUTH2 after STARTTLS and records the message', async () => {
    const info = (await transport(smtp, DEFAULT_ACCOUNT, token).sendMail(mail)) as { response: string };
    expect(info.response).toMatch(/^250 2\.0\.0 OK </);
    const last = smtp.messages.at(-1);
    expect(last).toMatchObject({
      from: DEFAULT_ACCOUNT,
      to: ['ops@contoso.com'],
      subject: 'token-refresher test send ✓',
      account: DEFAULT_ACCOUNT,
    });
    expect(last?.raw).toContain('hello');
  });

  it('offers AUTH only after STARTTLS, with Microsoft reply texts', async () => {
    const { client, greeting } = await RawSmtp.connect(smtp.port);
    try {
      expect(greeting).toMatch(/^220 localhost Microsoft ESMTP MAIL Service ready at /);
      const ehlo = await client.command('EHLO client.example');
      expect(ehlo).toContain('STARTTLS');
      expect(ehlo).not.toContain('AUTH');
      expect(await client.command(`AUTH XOAUTH2 ${xoauth2(DEFAULT_ACCOUNT, token)}`)).toBe(
        '504 5.7.4 Unrecognized authentication type',
      );
      expect(await client.command('MAIL FROM:<a@contoso.com>')).toBe(SMTP_REPLIES.notAuthenticated);
      expect(await client.starttls()).toBe('220 2.0.0 SMTP server ready');
      const ehlo2 = await client.command('EHLO client.example');
      expect(ehlo2).toContain('250-AUTH XOAUTH2');
      expect(ehlo2).not.toContain('STARTTLS');
      expect(await client.command('MAIL FROM:<a@contoso.com>')).toBe(SMTP_REPLIES.notAuthenticated);
      expect(await client.command(`AUTH XOAUTH2 ${xoauth2(DEFAULT_ACCOUNT, token)}`)).toBe(SMTP_REPLIES.authOk);
      expect(await client.command(`MAIL FROM:<${DEFAULT_ACCOUNT}>`)).toBe('250 2.1.0 Sender OK');
      expect(await client.command('RCPT TO:<ops@contoso.com>')).toBe('250 2.1.5 Recipient OK');
      expect(await client.command('QUIT')).toBe('221 2.0.0 Service closing transmission channel');
    } finally {
      client.close();
    }
  });

  it('garbage XOAUTH2 data is 501 5.5.124', async () => {
    const { client } = await RawSmtp.connect(smtp.port);
    try {
      await client.command('EHLO client.example');
      await client.starttls();
      await client.command('EHLO client.example');
      expect(await client.command(`AUTH XOAUTH2 ${Buffer.from('nonsense').toString('base64')}`)).toBe(
        SMTP_REPLIES.badXoauth2,
      );
    } finally {
      client.close();
    }
  });

  it('wrong mailbox, unknown token and a Graph token are 535 5.7.3', async () => {
    const wrongUser = await failure(transport(smtp, 'someone.else@contoso.com', token).sendMail(mail));
    expect(wrongUser.code).toBe('EAUTH');
    expect(wrongUser.response).toBe(SMTP_REPLIES.auth535);
    expect((await failure(transport(smtp, DEFAULT_ACCOUNT, 'at-forged').sendMail(mail))).response).toBe(
      SMTP_REPLIES.auth535,
    );
    const graph = await accessToken(entra, 'https://graph.microsoft.com/Mail.Send offline_access');
    expect((await failure(transport(smtp, DEFAULT_ACCOUNT, graph).sendMail(mail))).response).toBe(SMTP_REPLIES.auth535);
    expect(smtp.stats.authFailures).toBeGreaterThanOrEqual(3);
  });

  it('injected AUTH replies: 5.7.139, 5.7.57 at MAIL FROM, 421, 535 5.7.3', async () => {
    smtp.nextAuthReply = '535 5.7.139';
    expect((await failure(transport(smtp, DEFAULT_ACCOUNT, token).sendMail(mail))).response).toBe(SMTP_REPLIES.auth139);

    smtp.nextAuthReply = '5.7.57';
    const notAuth = await failure(transport(smtp, DEFAULT_ACCOUNT, token).sendMail(mail));
    expect(notAuth.code).toBe('EENVELOPE');
    expect(notAuth.response).toBe(SMTP_REPLIES.notAuthenticated);

    smtp.injectFault('421');
    expect((await failure(transport(smtp, DEFAULT_ACCOUNT, token).sendMail(mail))).response).toBe(
      SMTP_REPLIES.unavailable,
    );

    smtp.injectFault('535 5.7.3', 2);
    expect(smtp.nextAuthReply).toBe('535 5.7.3');
    await failure(transport(smtp, DEFAULT_ACCOUNT, token).sendMail(mail));
    await failure(transport(smtp, DEFAULT_ACCOUNT, token).sendMail(mail));
    expect(smtp.nextAuthReply).toBeUndefined();
    await transport(smtp, DEFAULT_ACCOUNT, token).sendMail(mail);
  });

  it('drop destroys the connection; no-starttls makes a requireTLS client refuse; slow delays AUTH', async () => {
    smtp.injectFault('drop');
    const dropped = await failure(transport(smtp, DEFAULT_ACCOUNT, token).sendMail(mail));
    expect(dropped.message).toMatch(/closed|ECONNRESET|socket/i);

    smtp.injectFault('no-starttls');
    const plain = await failure(transport(smtp, DEFAULT_ACCOUNT, token).sendMail(mail));
    expect(plain.message).toMatch(/STARTTLS/i);

    smtp.injectFault('slow');
    const t0 = performance.now();
    await transport(smtp, DEFAULT_ACCOUNT, token).sendMail(mail);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(240);
  });

  it('latencyMs slows every step', async () => {
    smtp.latencyMs = 40;
    try {
      const t0 = performance.now();
      await transport(smtp, DEFAULT_ACCOUNT, token).sendMail(mail);
      // greeting + AUTH + MAIL FROM + end of data
      expect(performance.now() - t0).toBeGreaterThanOrEqual(150);
    } finally {
      smtp.latencyMs = 0;
    }
  });
});

describe('SMTP stand-in (Google flavor)', () => {
  let smtp: SmtpStandin;
  beforeAll(async () => {
    smtp = await startSmtpStandin({
      flavor: 'google',
      isValidAccessToken: (t) =>
        t === 'ya29.good' ? { account: 'me@gmail.com', scopes: ['https://mail.google.com/'] } : undefined,
    });
  });
  afterAll(() => smtp.close());

  it('answers a failed XOAUTH2 with 334 <base64 JSON>, then 535 5.7.8 after the empty line', async () => {
    const { client } = await RawSmtp.connect(smtp.port);
    try {
      await client.command('EHLO client.example');
      await client.starttls();
      await client.command('EHLO client.example');
      const challenge = await client.command(`AUTH XOAUTH2 ${xoauth2('me@gmail.com', 'ya29.expired')}`);
      expect(challenge).toMatch(/^334 /);
      expect(JSON.parse(Buffer.from(challenge.slice(4), 'base64').toString('utf8'))).toEqual({
        status: '400',
        schemes: 'Bearer',
        scope: 'https://mail.google.com/',
      });
      expect(await client.command('')).toMatch(/^535 5\.7\.8 Username and Password not accepted/);
      expect(await client.command(`AUTH XOAUTH2 ${xoauth2('me@gmail.com', 'ya29.good')}`)).toBe('235 2.7.0 Accepted');
    } finally {
      client.close();
    }
  });
});
