// The SMTP session opened before the token is known (MailValidator.preconnect, added for the benchmark's latency
// floor) must not change what a validation reports: same failures, a replacement when an idle session is lost, nothing
// left open when the test send never happens.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalEnv, type LocalEnv } from '../../demo/local-env.ts';
import { RefresherError } from '../../lambdas/core/errors.ts';
import { rotateCredential } from '../../lambdas/pipeline/rotate.ts';
import { FileStore } from '../../lambdas/store/file-store.ts';
import { validatorFor } from '../../lambdas/validate/smtp-validator.ts';
import { startSmtpStandin, testCa, type SmtpStandin } from '../../standins/smtp.ts';

const MAILBOX = 'aem-mailer@contoso.example';
const TOKEN = `eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.smtp-send-${'s'.repeat(900)}.sig`;
const request = {
  mailbox: MAILBOX,
  accessToken: TOKEN,
  mode: 'send' as const,
  to: MAILBOX,
  subject: 'preconnect',
  text: 'test',
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(ok: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !ok(); i++) await sleep(20);
}

/** The server sees a close a moment after the client ends the socket. */
const settled = (standin: SmtpStandin) => until(() => standin.stats.concurrent === 0);

describe('SMTP validator: preconnect', () => {
  let smtp: SmtpStandin;
  beforeAll(async () => {
    smtp = await startSmtpStandin({
      isValidAccessToken: (t) => (t === TOKEN ? { account: MAILBOX } : undefined),
      greetingPauseMs: 0,
    });
  });
  afterAll(async () => smtp.close());

  const validator = (timeoutMs = 3_000) =>
    validatorFor(
      {
        id: 'aem-prod',
        provider: 'microsoft',
        validation: { mode: 'send', smtp: { host: 'localhost', port: smtp.port, starttls: true, timeoutMs } },
      },
      { ca: testCa() },
    );

  it('validates on the preconnected session: one connection, one AUTH', async () => {
    const v = validator();
    const before = smtp.stats;
    v.preconnect();
    const result = await v.validate(request);
    expect(result.response).toMatch(/^250 /);
    expect(smtp.stats.connections - before.connections).toBe(1);
    expect(smtp.stats.authAttempts - before.authAttempts).toBe(1);
    v.close();
    await settled(smtp);
    expect(smtp.stats.concurrent).toBe(0);
  });

  it('validates while the preconnected handshake is still running', async () => {
    const v = validator();
    v.preconnect();
    expect((await v.validate(request)).response).toMatch(/^250 /);
  });

  it('replaces a session that was ready and then lost while idle (socket timeout)', async () => {
    const v = validator(300);
    const before = smtp.stats.connections;
    v.preconnect();
    await sleep(900);
    expect((await v.validate(request)).response).toMatch(/^250 /);
    expect(smtp.stats.connections - before).toBe(2);
  });

  it('reports a failure of the preconnected handshake as the validation failure (no second connection)', async () => {
    const v = validator();
    smtp.injectFault('no-starttls');
    const before = smtp.stats.connections;
    v.preconnect();
    await sleep(200);
    const err = await v.validate(request).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(RefresherError);
    expect((err as RefresherError).code).toBe('SMTP_NO_STARTTLS');
    expect(smtp.stats.connections - before).toBe(1);
  });

  it('an AUTH failure on the preconnected session is classified as without it', async () => {
    const v = validator();
    v.preconnect();
    await sleep(100);
    smtp.injectFault('535 5.7.3');
    const err = await v.validate(request).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((err as RefresherError).code).toBe('SMTP_535_5.7.3');
  });

  it('close() ends a preconnected session that was never used, also mid-handshake', async () => {
    const a = validator();
    a.preconnect();
    await until(() => smtp.stats.concurrent > 0);
    expect(smtp.stats.concurrent).toBeGreaterThan(0);
    a.close();
    const b = validator();
    b.preconnect();
    b.close();
    await settled(smtp);
    expect(smtp.stats.concurrent).toBe(0);
  });
});

describe('pipeline: the preconnected session of a run that fails before its test send', () => {
  let env: LocalEnv;
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tr-preconnect-'));
    env = await startLocalEnv({ store: new FileStore(dir), standins: { smtp: { greetingPauseMs: 0 } } });
    await env.seed();
  });
  afterAll(async () => {
    await env.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('is closed without AUTH when the refresh fails', async () => {
    const { entra, smtp } = env.standins;
    entra.expireAll(700082);
    const before = smtp.stats;
    const summary = await rotateCredential(env.deps(), env.config.credentials[0]!, { force: true });
    expect(summary.outcome).toBe('failed');
    expect(summary.failure?.code).toBe('AADSTS700082');
    await settled(smtp);
    // At most the one preconnected session (the server may not have greeted it before it was closed), never an AUTH.
    expect(smtp.stats.connections - before.connections).toBeLessThanOrEqual(1);
    expect(smtp.stats.authAttempts - before.authAttempts).toBe(0);
    expect(smtp.stats.concurrent).toBe(0);
  });
});
