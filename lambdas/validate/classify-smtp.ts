/**
 * What an SMTP failure means: one reply (classifySmtpReply) or one client error (classifySmtpFailure: TLS, DNS, timeouts,
 * dropped connections, or a reply carried by the error) turned into a RefresherError with class, code and fix.
 *
 * Decided from the reply code and the enhanced status code (RFC 5321 section 4.2, RFC 3463), never from the reply prose,
 * and every message carries a fix a person can act on. How Exchange Online and Gmail answer XOAUTH2:
 * https://learn.microsoft.com/en-us/exchange/client-developers/legacy-protocols/how-to-authenticate-an-imap-pop-smtp-application-by-using-oauth
 * and https://developers.google.com/workspace/gmail/imap/xoauth2-protocol.
 */
import { RefresherError, type FailureClass } from '../core/errors.ts';
import { redactText } from '../core/redact.ts';

export type SmtpFlavor = 'microsoft' | 'google';

/** What classifySmtpReply needs besides the reply; everything except the mailbox only improves the wording. */
export interface SmtpReplyContext {
  mailbox: string;
  credentialId?: string;
  flavor?: SmtpFlavor;
  host?: string;
  /** The SMTP command the reply answered (e.g. "AUTH XOAUTH2", "MAIL FROM"). */
  command?: string;
  /** Google's decoded `334` XOAUTH2 error challenge, e.g. `status "400", scope "https://mail.google.com/"`. */
  challenge?: string;
}

const MICROSOFT_SCOPE = 'https://outlook.office.com/SMTP.Send';
const GOOGLE_SCOPE = 'https://mail.google.com/';

const TRANSIENT_FIX =
  'Nothing to do if the next run succeeds. If it persists, check that the function can reach the SMTP host (VPC egress, NAT, firewall) and the provider’s service health.';

function smtpError(init: {
  class: FailureClass;
  code: string;
  message: string;
  fix: string;
  status?: number;
}): RefresherError {
  return new RefresherError({
    class: init.class,
    code: init.code,
    remote: 'smtp',
    stage: 'validate',
    status: init.status,
    // The reply may echo what the client sent; the registered token and its XOAUTH2 encoding are masked here.
    message: redactText(init.message),
    fix: redactText(init.fix),
  });
}

function regenerateCommand(ctx: { credentialId?: string }): string {
  return `token-refresher regenerate --credential ${ctx.credentialId ?? '<id>'}`;
}

/**
 * Reply lines joined into one, so a multi-line reply (Google sends two lines with 535) reads as one quote. Redacted
 * before it is shortened: a cut could otherwise leave a fragment of an echoed token that no longer matches.
 */
export function oneLine(response: string): string {
  return redactText(response)
    .replace(/[\r\n]+/g, ' ')
    .replace(/[^\x20-\x7e]/g, '?')
    .trim()
    .slice(0, 500);
}

function parseReply(
  responseCode: number | undefined,
  response: string,
): { code: number | undefined; enhanced: string | undefined } {
  const m = /^(\d{3})(?:[ -]([245]\.\d{1,3}\.\d{1,3})(?=\s|$))?/.exec(response.trimStart());
  const code = responseCode ?? (m?.[1] ? Number(m[1]) : undefined);
  return { code, enhanced: m?.[2] };
}

export function guessFlavor(host: string): SmtpFlavor | undefined {
  if (/(^|\.)(office365\.com|outlook\.com)$/i.test(host)) return 'microsoft';
  if (/(^|\.)(gmail\.com|google\.com|googlemail\.com)$/i.test(host)) return 'google';
  return undefined;
}

function scopeFor(flavor: SmtpFlavor | undefined): string {
  if (flavor === 'google') return GOOGLE_SCOPE;
  if (flavor === 'microsoft') return MICROSOFT_SCOPE;
  return `the provider’s SMTP scope (Office 365: ${MICROSOFT_SCOPE}; Google: ${GOOGLE_SCOPE})`;
}

/**
 * Classifies one SMTP error reply. Pure: decides on the reply code and the enhanced status code (RFC 3463) only; the
 * reply text is quoted in the message (it names the server, never a secret) but never interpreted.
 */
export function classifySmtpReply(
  responseCode: number | undefined,
  response: string,
  ctx: SmtpReplyContext,
): RefresherError {
  const { code, enhanced } = parseReply(responseCode, response);
  const reply = oneLine(response);
  const mailbox = ctx.mailbox;
  const at = ctx.host ? ` (${ctx.host})` : '';
  const regenerate = regenerateCommand(ctx);
  const codeTag = (enh: string) => `SMTP_${code ?? 'XXX'}_${enh}`;

  if (enhanced === '5.7.3') {
    return smtpError({
      class: 'configuration',
      code: codeTag('5.7.3'),
      status: code,
      message: `The SMTP server${at} rejected the access token for ${mailbox}: "${reply}". The token is for the wrong audience or scope (for example a Microsoft Graph token, or one without ${MICROSOFT_SCOPE}), or it belongs to another account than ${mailbox}.`,
      fix:
        `Make the credential's scopes exactly "${MICROSOFT_SCOPE} offline_access" (all scopes must belong to one resource: no https://graph.microsoft.com/... scopes such as Mail.Send), ` +
        `make sure the Entra app has the delegated permission ${MICROSOFT_SCOPE} with consent, then run \`${regenerate}\` and sign in as ${mailbox} itself (not an administrator or another user).`,
    });
  }
  if (enhanced === '5.7.139') {
    return smtpError({
      class: 'configuration',
      code: codeTag('5.7.139'),
      status: code,
      message:
        `SMTP AUTH is disabled for ${mailbox}${at}: "${reply}". The token is fine; Exchange Online refuses authenticated SMTP for this mailbox or the whole tenant. ` +
        `An Exchange administrator must run \`Set-CASMailbox -Identity ${mailbox} -SmtpClientAuthenticationDisabled $false\`.`,
      fix:
        `An Exchange Online administrator runs \`Set-CASMailbox -Identity ${mailbox} -SmtpClientAuthenticationDisabled $false\` in Exchange Online PowerShell ` +
        `(a per-mailbox setting that overrides the tenant default; or enables SMTP AUTH for the whole tenant with \`Set-TransportConfig -SmtpClientAuthenticationDisabled $false\`). ` +
        'Entra ID security defaults also block SMTP AUTH. The change can take a while to apply; the next run validates again.',
    });
  }
  if (enhanced === '5.7.57') {
    return smtpError({
      class: 'configuration',
      code: 'SMTP_5.7.57',
      status: code,
      message: `The SMTP server${at} did not treat the session of ${mailbox} as authenticated when sending: "${reply}".`,
      fix:
        `Check that smtp.host/port is the authenticated submission endpoint (Office 365: smtp.office365.com port 587 with starttls true, not an MX host or port 25) ` +
        `and that the sender is ${mailbox} itself. If both are right, run \`${regenerate}\` signing in as ${mailbox} with scope ${MICROSOFT_SCOPE}.`,
    });
  }
  if (enhanced === '5.5.124') {
    return smtpError({
      class: 'configuration',
      code: codeTag('5.5.124'),
      status: code,
      message: `The SMTP server${at} could not parse the XOAUTH2 data sent for ${mailbox}: "${reply}".`,
      fix:
        `Check that the credential's mailbox is the bare address of the sending mailbox (e.g. user@contoso.com, no display name or spaces) and that the token endpoint returns an access token for ${MICROSOFT_SCOPE}; ` +
        `if both are right, run \`${regenerate}\` signing in as ${mailbox}, and report the failure if it persists.`,
    });
  }
  if (enhanced === '5.7.8') {
    const status = ctx.challenge ? ` Google’s XOAUTH2 status: ${ctx.challenge}.` : '';
    const google = ctx.flavor === 'google' || !!ctx.challenge;
    return smtpError({
      class: 'reauthorize',
      code: codeTag('5.7.8'),
      status: code,
      message: `The SMTP server${at} did not accept the access token for ${mailbox}: "${reply}".${status}`,
      fix: google
        ? `Run \`${regenerate}\`, sign in as ${mailbox} and grant ${GOOGLE_SCOPE} (the sign-in uses access_type=offline&prompt=consent). ` +
          'Google also drops tokens after a password change, after 6 months unused, beyond 100 tokens per account and client, and after 7 days while the OAuth app is in "Testing": publish the app if it is.'
        : `Run \`${regenerate}\` and sign in as ${mailbox}, granting ${scopeFor(ctx.flavor)}.`,
    });
  }
  if (code === undefined || code < 400 || code > 599) {
    return smtpError({
      class: 'transient',
      code: 'SMTP_UNEXPECTED_REPLY',
      status: code,
      message: `Unexpected SMTP reply for ${mailbox}${at}: "${reply}".`,
      fix: TRANSIENT_FIX,
    });
  }
  if (code < 500) {
    return smtpError({
      class: 'transient',
      code: `SMTP_${code}`,
      status: code,
      message: `The SMTP server${at} refused ${ctx.command ?? 'the session'} for ${mailbox} for now: "${reply}".`,
      fix: TRANSIENT_FIX,
    });
  }
  const command = (ctx.command ?? '').toUpperCase();
  if (
    command.startsWith('MAIL') ||
    command.startsWith('RCPT') ||
    command.startsWith('DATA') ||
    enhanced?.startsWith('5.1.')
  ) {
    return smtpError({
      class: 'configuration',
      code: `SMTP_${code}`,
      status: code,
      message: `The SMTP server${at} accepted the login of ${mailbox} but refused the test message (${ctx.command ?? 'envelope'}): "${reply}".`,
      fix: `Check the credential's validation.to recipient and that ${mailbox} may send as itself; or set validation.mode to "auth" to validate the login only.`,
    });
  }
  return smtpError({
    class: 'configuration',
    code: `SMTP_${code}`,
    status: code,
    message: `The SMTP server${at} refused ${ctx.command ?? 'the session'} for ${mailbox}: "${reply}".`,
    fix:
      `Check that smtp.host/port is the provider's submission endpoint offering AUTH XOAUTH2 (Office 365: smtp.office365.com 587 STARTTLS; Google: smtp.gmail.com 587 STARTTLS or 465 with starttls false) ` +
      `and that the credential's scopes include ${scopeFor(ctx.flavor)}; then run \`${regenerate}\` signing in as ${mailbox}.`,
  });
}

/** The fields of a nodemailer error this module reads; declared here so nothing depends on nodemailer's error typing. */
interface SmtpClientError {
  code?: string;
  originalCode?: string;
  message?: string;
  response?: string;
  responseCode?: number;
  command?: string;
  timeoutType?: string;
}

const CERT_CODE =
  /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY|DECRYPT|DECODE)|INVALID_CA|HOSTNAME_MISMATCH|PATH_LENGTH|INVALID_PURPOSE/;
const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EHOSTDOWN',
  'ENETDOWN',
  'ECONNABORTED',
  'ECONNECTION',
  'ESOCKET',
]);

/** The connection a client error happened on, for the message and the hints. */
export interface FailureContext extends SmtpReplyContext {
  host: string;
  port: number;
  starttls: boolean;
}

/**
 * The first clause of a Node/OpenSSL error message: enough to name the problem, never a payload. Node's advice after
 * the ";" ("try running Node.js with --use-system-ca") is not an action a reader of this message should take.
 */
function reason(e: SmtpClientError): string {
  return oneLine((e.message ?? '').split(/\n|;\s/)[0] ?? '').slice(0, 200);
}

export function classifySmtpFailure(e: unknown, ctx: FailureContext): RefresherError {
  if (e instanceof RefresherError) return e;
  const err = (typeof e === 'object' && e !== null ? e : { message: String(e) }) as SmtpClientError;
  const where = `${ctx.host}:${ctx.port}`;
  const codes = [err.originalCode, err.code].filter((c): c is string => typeof c === 'string');

  if (err.command === 'STARTTLS' && err.responseCode) {
    if (err.responseCode >= 400 && err.responseCode < 500)
      return classifySmtpReply(err.responseCode, err.response ?? '', { ...ctx, command: 'STARTTLS' });
    return smtpError({
      class: 'configuration',
      code: 'SMTP_NO_STARTTLS',
      status: err.responseCode,
      message: `${where} does not offer STARTTLS ("${oneLine(err.response ?? '')}"), so the token was not sent: it must never cross the network unencrypted.`,
      fix:
        'Check smtp.host and smtp.port: Office 365 is smtp.office365.com 587 with starttls true; Google is smtp.gmail.com 587 with starttls true, or 465 with starttls false (implicit TLS). ' +
        'A proxy or port forward in between must pass STARTTLS through.',
    });
  }
  if (codes.some((c) => CERT_CODE.test(c))) {
    return smtpError({
      class: 'configuration',
      code: 'SMTP_TLS_CERT',
      message: `The TLS certificate of ${where} could not be verified (${codes.find((c) => CERT_CODE.test(c))}: ${reason(err)}); the token was not sent.`,
      fix:
        `Check that smtp.host is the name the server's certificate is issued for (e.g. smtp.office365.com, not an IP address or an alias) and that nothing in between intercepts TLS. ` +
        'Certificate verification is never disabled: fix the name or the path instead.',
    });
  }
  if (codes.some((c) => c === 'ETIMEDOUT' || c === 'ETIMEOUT')) {
    const implicitTlsHint =
      ctx.starttls && ctx.port === 465
        ? ' Port 465 usually speaks implicit TLS: if so, set smtp.starttls to false.'
        : '';
    return smtpError({
      class: 'transient',
      code: 'SMTP_TIMEOUT',
      message: `${where} did not answer in time (${err.timeoutType ?? codes[0]}) while validating ${ctx.mailbox}.${implicitTlsHint}`,
      fix: TRANSIENT_FIX + implicitTlsHint,
    });
  }
  if (err.responseCode)
    return classifySmtpReply(err.responseCode, err.response ?? '', { ...ctx, command: err.command });
  if (codes.includes('ENOTFOUND')) {
    return smtpError({
      class: 'configuration',
      code: 'SMTP_HOST_NOT_FOUND',
      message: `The SMTP host ${ctx.host} does not resolve (${reason(err)}).`,
      fix: 'Check smtp.host in the credential’s validation settings (Office 365: smtp.office365.com; Google: smtp.gmail.com).',
    });
  }
  if (codes.includes('EAI_AGAIN')) {
    return smtpError({
      class: 'transient',
      code: 'SMTP_DNS',
      message: `Could not resolve ${ctx.host} right now (${reason(err)}).`,
      fix: TRANSIENT_FIX,
    });
  }
  if (
    codes.some((c) => c.startsWith('ERR_SSL_') || c === 'ETLS') &&
    !codes.includes('ECONNRESET') &&
    !/closed unexpectedly/i.test(err.message ?? '')
  ) {
    return smtpError({
      class: 'configuration',
      code: 'SMTP_TLS',
      message: `TLS with ${where} failed (${codes.join('/')}: ${reason(err)}); the token was not sent.`,
      fix: ctx.starttls
        ? 'Check smtp.port and smtp.starttls: 587 uses STARTTLS (starttls true), 465 uses implicit TLS (starttls false).'
        : 'smtp.starttls is false (implicit TLS): check that the port speaks TLS from the first byte (usually 465); for port 587 set starttls to true.',
    });
  }
  if (codes.some((c) => CONNECTION_CODES.has(c)) || /closed/i.test(err.message ?? '')) {
    return smtpError({
      class: 'transient',
      code: 'SMTP_CONNECTION',
      message: `The connection to ${where} failed or was dropped while validating ${ctx.mailbox} (${codes.join('/') || 'closed'}: ${reason(err)}).`,
      fix: TRANSIENT_FIX,
    });
  }
  return smtpError({
    class: 'transient',
    code: 'SMTP_UNEXPECTED',
    message: `SMTP validation of ${ctx.mailbox} against ${where} failed: ${codes.join('/') || 'Error'}: ${reason(err)}.`,
    fix: TRANSIENT_FIX,
  });
}

/** Google's XOAUTH2 error challenge is base64 JSON ({status, schemes, scope}); only those fields are kept, bounded. */
export function describeChallenge(text: string): string {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(text.trim(), 'base64').toString('utf8'));
    if (parsed && typeof parsed === 'object') {
      const fields = ['status', 'schemes', 'scope']
        .map((k) => [k, (parsed as Record<string, unknown>)[k]] as const)
        .filter(([, v]) => typeof v === 'string' || typeof v === 'number')
        .map(([k, v]) => `${k} "${oneLine(String(v)).slice(0, 200)}"`);
      if (fields.length) return fields.join(', ');
    }
  } catch {
    // Not JSON: fall through to quoting the raw challenge.
  }
  return `"${oneLine(text).slice(0, 200)}"`;
}
