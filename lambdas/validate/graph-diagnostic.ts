/**
 * An optional second opinion after the SMTP check: the same account sends through Microsoft Graph `POST /me/sendMail`.
 *
 * It never replaces the SMTP check and never decides anything: one access token carries one audience (docs/PROTOCOLS.md, Entra ID),
 * so a Graph token proves nothing about SMTP AUTH, and the SMTP token cannot call Graph. What the comparison does show is
 * where a failure lies: when Graph can send as the mailbox but SMTP AUTH refuses it, the account, its mailbox and the
 * app's consent are fine and the problem is SMTP AUTH itself (5.7.139: disabled for the mailbox or tenant; 5.7.3: the
 * token's audience or scope).
 *
 * The Graph token needs a refresh of its own with the Graph scope, and Entra answers that with a new refresh token too.
 * That token is deliberately discarded (see docs/VENDORS.md): Entra does not revoke a refresh token when it issues the
 * next one, so the token the rotation stored stays valid, and keeping one stored token per credential keeps the state
 * machine (pending, current, pushed labels) exactly as it is without the diagnostic.
 */
import type { Credential } from '../config/schema.ts';
import { asRefresherError, type RefresherError } from '../core/errors.ts';
import { httpRequest, parseJson } from '../core/http.ts';
import { redactText, registerSecret } from '../core/redact.ts';
import type { TokenProvider } from '../core/types.ts';

export const DEFAULT_GRAPH_ENDPOINT = 'https://graph.microsoft.com';
export const DEFAULT_GRAPH_SCOPE = 'https://graph.microsoft.com/Mail.Send';

export interface GraphDiagnosticResult {
  ok: boolean;
  /** Where it stopped: getting a Graph token, or sending. */
  step: 'token' | 'sendMail';
  status?: number;
  code?: string;
  message: string;
  /** What the result means next to the SMTP check's. */
  interpretation: string;
  fix?: string;
  durationMs: number;
}

export interface SmtpOutcome {
  ok: boolean;
  code?: string;
}

export interface GraphDiagnosticRequest {
  credential: Credential;
  /** A provider for the same app whose scopes are the Graph scope (and offline_access). */
  provider: TokenProvider;
  /** The newest refresh token of the credential (the one the SMTP check's access token came from). */
  refreshToken: string;
  smtp: SmtpOutcome;
  to: string;
  subject: string;
  text: string;
  timeoutMs: number;
  retries: number;
}

function interpretOk(smtp: SmtpOutcome, mailbox: string): string {
  if (smtp.ok) return `Graph and SMTP AUTH both accept ${mailbox}.`;
  if (smtp.code?.includes('5.7.139')) {
    return `Graph can send as ${mailbox}, so the account, its mailbox and the app's consent are fine: SMTP AUTH is disabled for this mailbox or the tenant (${smtp.code}).`;
  }
  if (smtp.code?.includes('5.7.3')) {
    return `Graph can send as ${mailbox}, so the account and mailbox are fine: the SMTP token is refused for its audience or scope (${smtp.code}); check that the credential's scopes are exactly https://outlook.office.com/SMTP.Send offline_access and that the app has that delegated permission with consent.`;
  }
  return `Graph can send as ${mailbox} while the SMTP check failed (${smtp.code ?? 'unknown'}): the account and mailbox are fine; look at the SMTP path (host, port, TLS, SMTP AUTH policy).`;
}

function interpretFailure(
  step: 'token' | 'sendMail',
  err: { code: string; status?: number },
  smtp: SmtpOutcome,
  mailbox: string,
): string {
  if (step === 'token') {
    if (err.code === 'AADSTS65001')
      return 'The app has no consent for Microsoft Graph Mail.Send, so the diagnostic could not run (it is optional: grant that delegated permission to use it). This says nothing about SMTP.';
    return `No Graph token could be obtained (${err.code}); the diagnostic says nothing about SMTP${smtp.ok ? ', which works' : ''}.`;
  }
  if (err.status === 403 || err.status === 404) {
    return smtp.ok
      ? `Graph refused to send as ${mailbox} (${err.code}) although SMTP AUTH works: Graph-side permission or mailbox provisioning differs; nothing to do for AEM.`
      : `Neither Graph nor SMTP can send as ${mailbox}: look at the mailbox itself (an Exchange Online licence and mailbox for this account, the account enabled).`;
  }
  return `The Graph send failed (${err.code}); the diagnostic is inconclusive.`;
}

function graphErrorCode(text: string, status: number): string {
  const body = parseJson(text) as { error?: { code?: unknown } } | undefined;
  const code = typeof body?.error?.code === 'string' ? body.error.code.slice(0, 80) : undefined;
  return code ? `GRAPH_${code}` : `GRAPH_HTTP_${status}`;
}

/** Runs the diagnostic; never throws (everything becomes the result). */
export async function graphDiagnostic(r: GraphDiagnosticRequest): Promise<GraphDiagnosticResult> {
  const t0 = Date.now();
  const endpoint = (r.credential.validation.graph?.endpoint ?? DEFAULT_GRAPH_ENDPOINT).replace(/\/+$/, '');
  const mailbox = r.credential.mailbox;
  let accessToken: string;
  try {
    const tokens = await r.provider.redeemRefreshToken(r.refreshToken);
    // The rotated refresh token of this exchange is dropped on purpose (module comment); it must still never be logged.
    registerSecret(tokens.refreshToken);
    registerSecret(tokens.accessToken);
    accessToken = tokens.accessToken;
    if (!accessToken) throw new Error('the token endpoint returned no access token');
  } catch (e) {
    const err: RefresherError = asRefresherError(e, 'entra', 'validate');
    return {
      ok: false,
      step: 'token',
      status: err.status,
      code: err.code,
      message: redactText(err.message),
      interpretation: interpretFailure('token', err, r.smtp, mailbox),
      fix: redactText(err.fix),
      durationMs: Date.now() - t0,
    };
  }
  const message = {
    message: {
      subject: r.subject,
      body: { contentType: 'Text', content: r.text },
      toRecipients: [{ emailAddress: { address: r.to } }],
    },
    // A diagnostic should leave no trace in the mailbox beyond the delivered message.
    saveToSentItems: false,
  };
  try {
    const res = await httpRequest({
      // Graph has no remote of its own in the error vocabulary; the token and the tenant are Entra's.
      remote: 'entra',
      stage: 'validate',
      method: 'POST',
      url: `${endpoint}/v1.0/me/sendMail`,
      headers: {
        authorization: `Bearer ${accessToken}`,
        'content-type': 'application/json',
        accept: 'application/json',
      },
      body: JSON.stringify(message),
      timeoutMs: r.timeoutMs,
      // sendMail is not idempotent: a retried 5xx could deliver twice. One attempt is enough for a diagnostic.
      retries: 0,
      maxBodyBytes: 64 * 1024,
    });
    if (res.status === 202) {
      return {
        ok: true,
        step: 'sendMail',
        status: 202,
        message: `Graph accepted the message for ${r.to} (202)`,
        interpretation: interpretOk(r.smtp, mailbox),
        durationMs: Date.now() - t0,
      };
    }
    const code = graphErrorCode(res.text, res.status);
    return {
      ok: false,
      step: 'sendMail',
      status: res.status,
      code,
      message: `Graph sendMail answered HTTP ${res.status} (${code})`,
      interpretation: interpretFailure('sendMail', { code, status: res.status }, r.smtp, mailbox),
      durationMs: Date.now() - t0,
    };
  } catch (e) {
    const err = asRefresherError(e, 'entra', 'validate');
    return {
      ok: false,
      step: 'sendMail',
      code: err.code,
      message: redactText(err.message),
      interpretation: interpretFailure('sendMail', err, r.smtp, mailbox),
      durationMs: Date.now() - t0,
    };
  }
}

/** The credential as the Graph provider must see it: same app and account, the Graph scope instead of SMTP's. */
export function graphCredential(c: Credential): Credential {
  const scope = c.validation.graph?.scope ?? DEFAULT_GRAPH_SCOPE;
  return { ...c, scopes: [scope, 'offline_access'] };
}
