/**
 * Proves that an access token can send mail the way AEM's mail service will use it: SMTP submission, TLS before
 * anything secret is sent (STARTTLS required, or implicit TLS), the server certificate always verified, then
 * SASL XOAUTH2 with the mailbox as user. A token that only "looks valid" (a Graph token, a token for another account)
 * is caught here instead of by AEM hours later.
 *
 * Failures are classified in classify-smtp.ts, from the reply code and the enhanced status code, never from the reply prose.
 */
import net from 'node:net';
import tls from 'node:tls';
import MailComposer from 'nodemailer/lib/mail-composer';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import XOAuth2 from 'nodemailer/lib/xoauth2';
import type {
  SMTPConnectionCustomAuthContext,
  SMTPConnectionOptions,
  SMTPConnectionSendInfo,
} from 'nodemailer/lib/smtp-connection';
import type { Credential, SmtpSettings } from '../config/schema.ts';
import { RefresherError } from '../core/errors.ts';
import { redactText, registerSecret } from '../core/redact.ts';
import type { MailValidator, ValidationRequest, ValidationResult } from '../core/types.ts';
import {
  classifySmtpFailure,
  describeChallenge,
  guessFlavor,
  oneLine,
  type FailureContext,
  type SmtpFlavor,
} from './classify-smtp.ts';

export type { SmtpFlavor } from './classify-smtp.ts';

export interface SmtpValidatorOptions {
  smtp: SmtpSettings;
  /** An extra trusted CA, added to the system roots. For tests only: verification itself is never turned off. */
  ca?: string | Buffer;
  /** Whose SMTP service this is; only changes the wording of fixes. Guessed from the host when absent. */
  flavor?: SmtpFlavor;
  /** Named in fixes (`token-refresher regenerate --credential <id>`). */
  credentialId?: string;
}

/**
 * SASL XOAUTH2 initial response: base64 of "user=<mailbox>^Aauth=Bearer <token>^A^A" (^A is 0x01), as Google's and
 * Microsoft's XOAUTH2 pages specify (links in classify-smtp.ts). Built once and registered as a secret: it embeds the token.
 */
export function xoauth2InitialResponse(mailbox: string, accessToken: string): string {
  return Buffer.from(`user=${mailbox}\x01auth=Bearer ${accessToken}\x01\x01`, 'utf8').toString('base64');
}

const secureContexts = new Map<string | Buffer, tls.SecureContext>();

/** A TLS context trusting the system roots and one extra CA; kept per CA value, as creating one parses every root. */
function secureContextWith(ca: string | Buffer): tls.SecureContext {
  let context = secureContexts.get(ca);
  if (!context) {
    // A process sees one or two CAs; a bound keeps a caller that builds Buffers per call from growing the map.
    if (secureContexts.size >= 8) secureContexts.clear();
    context = tls.createSecureContext({ ca: [...tls.rootCertificates, ca] });
    secureContexts.set(ca, context);
  }
  return context;
}

/**
 * One SMTP connection. It is opened without the token: the greeting, EHLO, STARTTLS (certificate verified) and EHLO need
 * none, so preconnect() can run them while the token endpoint answers; `auth` is filled in once the token is known.
 */
class SmtpSession {
  readonly conn: SMTPConnection;
  /** Settles when the dialogue is ready for AUTH (or failed getting there). */
  readonly handshake: Promise<void>;
  /** Rejects with the first socket-level failure or close. */
  readonly failure: Promise<never>;
  auth: ((auth: SMTPConnectionCustomAuthContext) => Promise<void>) | undefined;
  /** 'idle': ready and not yet used; 'lost': failed or closed while idle (a long refresh outlived it). */
  state: 'connecting' | 'idle' | 'taken' | 'lost' = 'connecting';

  constructor(options: (customAuth: SMTPConnectionOptions['customAuth']) => SMTPConnectionOptions) {
    this.conn = new SMTPConnection(
      options({
        XOAUTH2: (auth) => (this.auth ? this.auth(auth) : Promise.reject(new Error('AUTH XOAUTH2 without a token'))),
      }),
    );
    let rejectFailure: (e: unknown) => void = () => {};
    this.failure = new Promise<never>((_, reject) => {
      rejectFailure = reject;
    });
    this.failure.catch(() => {}); // observed by validate() once the session is taken; an unused one only closes
    // Socket-level failures (drops, resets, timeouts) arrive as 'error' events, not through the step callbacks.
    this.conn.on('error', (e: unknown) => {
      if (this.state === 'idle') this.state = 'lost';
      rejectFailure(e);
    });
    // After a 421 nodemailer ends the connection before the pending step reports the reply; the reply is the better
    // diagnosis, so a bare close only counts once that step had its turn.
    this.conn.once('end', () => {
      if (this.state === 'idle') this.state = 'lost';
      setImmediate(() => rejectFailure(Object.assign(new Error('Connection closed'), { code: 'ECONNECTION' })));
    });
    this.handshake = new Promise<void>((resolve, reject) =>
      this.conn.connect((err) => (err ? reject(err) : resolve())),
    );
    this.handshake.then(
      () => {
        if (this.state === 'connecting') this.state = 'idle';
      },
      () => undefined,
    );
  }
}

export class SmtpXoauth2Validator implements MailValidator {
  private readonly smtp: SmtpSettings;
  private readonly ca: string | Buffer | undefined;
  private readonly flavor: SmtpFlavor | undefined;
  private readonly credentialId: string | undefined;
  /** The connection preconnect() opened for the next validate(). */
  private spare: SmtpSession | undefined;

  constructor(opts: SmtpValidatorOptions) {
    this.smtp = opts.smtp;
    this.ca = opts.ca;
    this.flavor = opts.flavor ?? guessFlavor(opts.smtp.host);
    this.credentialId = opts.credentialId;
  }

  /**
   * Opens the connection up to AUTH now, so that it overlaps the refresh that produces the token; the next validate()
   * continues on it. A failure getting there is that validate()'s failure, as if it had connected itself; a connection
   * that was ready and then dropped while waiting (idle timeout) is replaced by a new one.
   */
  preconnect(): void {
    this.spare ??= new SmtpSession((customAuth) => this.connectionOptions(customAuth));
  }

  /** Closes a preconnected connection validate() did not use (the refresh failed); harmless otherwise. */
  close(): void {
    const spare = this.spare;
    this.spare = undefined;
    if (!spare) return;
    if (spare.state === 'idle') spare.conn.quit();
    spare.conn.close();
  }

  private session(): SmtpSession {
    const spare = this.spare;
    this.spare = undefined;
    if (spare && spare.state !== 'lost') {
      spare.state = 'taken';
      return spare;
    }
    spare?.conn.close();
    const fresh = new SmtpSession((customAuth) => this.connectionOptions(customAuth));
    fresh.state = 'taken';
    return fresh;
  }

  async validate(req: ValidationRequest): Promise<ValidationResult> {
    registerSecret(req.accessToken);
    const ctx: FailureContext = {
      mailbox: req.mailbox,
      credentialId: this.credentialId,
      flavor: this.flavor,
      host: this.smtp.host,
      port: this.smtp.port,
      starttls: this.smtp.starttls,
    };
    // A control character or space in the mailbox would let it forge XOAUTH2 fields (\x01) or SMTP lines.
    if (
      !req.mailbox ||
      /[\s\x00-\x1f\x7f]/.test(req.mailbox) ||
      !req.accessToken ||
      /[\s\x00-\x1f\x7f]/.test(req.accessToken)
    ) {
      throw new RefresherError({
        class: 'input',
        code: 'SMTP_BAD_REQUEST',
        remote: 'smtp',
        stage: 'validate',
        message: redactText(
          `Cannot validate: the mailbox "${oneLine(req.mailbox ?? '')}" or the access token is empty or contains spaces or control characters.`,
        ),
        fix: 'Check the credential’s mailbox in the configuration and that the token endpoint returned an access token.',
      });
    }
    const initial = xoauth2InitialResponse(req.mailbox, req.accessToken);
    registerSecret(initial);

    let authReply = '';
    // The connection preconnect() opened during the refresh, or a new one.
    const session = this.session();
    const conn = session.conn;
    // nodemailer's own XOAUTH2 handler answers Google's 334 error challenge by sending AUTH a second time (it "renews"
    // the token, which without a refresh token is the same one) and drops the challenge. This handler sends exactly
    // one AUTH XOAUTH2 with the initial response, like AEM's JavaMail, and keeps the challenge for the error message.
    session.auth = async (auth: SMTPConnectionCustomAuthContext): Promise<void> => {
      const first = await auth.sendCommand(`AUTH XOAUTH2 ${initial}`);
      if (first.status === 235) {
        authReply = first.response;
        return;
      }
      if (first.status === 334) {
        ctx.challenge = describeChallenge(first.text);
        // RFC 7628 / Google: the client acknowledges the error challenge with an empty response, then gets the failure.
        await auth.sendCommand('');
      }
      // nodemailer attaches the last reply (and its code) to the error it builds from this rejection.
      throw new Error('AUTH XOAUTH2 refused');
    };

    let timer: NodeJS.Timeout | undefined;
    // Inactivity timeouts do not bound a server that trickles bytes; this bounds the whole dialogue.
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            Object.assign(new Error('Validation exceeded its overall deadline'), {
              code: 'ETIMEDOUT',
              timeoutType: 'OVERALL_DEADLINE',
            }),
          ),
        this.smtp.timeoutMs * 3,
      );
    });

    const dialogue = async (): Promise<ValidationResult> => {
      await session.handshake;
      // Always log in, also when the server does not advertise AUTH: a validation that sends unauthenticated proves nothing.
      // The token generator holds the access token only (no refresh token, client or URL), so nodemailer cannot
      // refresh anything itself; its presence also keeps nodemailer from falling back to another SASL mechanism
      // when the server does not advertise XOAUTH2. The handler above runs instead of nodemailer's own.
      const oauth2 = new XOAuth2({ user: req.mailbox, accessToken: req.accessToken }, false);
      await new Promise<void>((resolve, reject) =>
        conn.login({ type: 'OAUTH2', user: req.mailbox, method: 'XOAUTH2', oauth2 }, (err) =>
          err ? reject(err) : resolve(),
        ),
      );
      if (req.mode === 'auth') {
        conn.quit();
        return { mode: 'auth', response: oneLine(authReply) };
      }
      const message = new MailComposer({
        from: req.mailbox,
        to: req.to || req.mailbox,
        subject: req.subject,
        text: req.text,
        // RFC 3834: keeps vacation responders and rules from answering the test mail.
        headers: { 'Auto-Submitted': 'auto-generated' },
      }).compile();
      const info = await new Promise<SMTPConnectionSendInfo>((resolve, reject) =>
        conn.send(message.getEnvelope(), message.createReadStream(), (err, sent) =>
          err ? reject(err) : resolve(sent),
        ),
      );
      conn.quit();
      // Office 365 replaces the Message-ID; the one it reports is the one the delivered copy carries.
      return { mode: 'send', response: oneLine(info.response), messageId: info.serverMessageId ?? message.messageId() };
    };

    const run = dialogue();
    run.catch(() => {}); // a step can still fail after the race is decided; that outcome is already reported
    try {
      return await Promise.race([run, session.failure, deadline]);
    } catch (e) {
      throw classifySmtpFailure(e, ctx);
    } finally {
      clearTimeout(timer);
      conn.close();
    }
  }

  private connectionOptions(customAuth: SMTPConnectionOptions['customAuth']): SMTPConnectionOptions {
    const { host, port, starttls, timeoutMs } = this.smtp;
    const tlsOptions: tls.ConnectionOptions = {
      rejectUnauthorized: true,
      // SNI must not be an IP address (RFC 6066); the certificate is still checked against the IP then.
      ...(net.isIP(host) ? {} : { servername: host }),
      // The same trust as `ca: [...rootCertificates, ca]`, built once: parsing the ~150 roots costs ~10 ms a connection.
      ...(this.ca ? { secureContext: secureContextWith(this.ca) } : {}),
    };
    return {
      host,
      port,
      secure: !starttls,
      requireTLS: starttls,
      ignoreTLS: false,
      opportunisticTLS: false,
      tls: tlsOptions,
      connectionTimeout: timeoutMs,
      greetingTimeout: timeoutMs,
      socketTimeout: timeoutMs,
      dnsTimeout: timeoutMs,
      socketCloseTimeout: Math.min(timeoutMs, 2_000),
      // nodemailer's logger and debug output would carry the AUTH line (the token) and the message.
      logger: false,
      debug: false,
      transactionLog: false,
      customAuth,
    };
  }
}

/** Builds the validator a credential's `validation.smtp` describes. */
export function validatorFor(
  credential: Pick<Credential, 'id' | 'provider' | 'validation'>,
  opts: { ca?: string | Buffer } = {},
): SmtpXoauth2Validator {
  return new SmtpXoauth2Validator({
    smtp: credential.validation.smtp,
    ca: opts.ca,
    flavor: credential.provider === 'oauth2' ? undefined : credential.provider,
    credentialId: credential.id,
  });
}
