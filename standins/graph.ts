// Stand-in for Microsoft Graph `POST /v1.0/me/sendMail` (docs/PROTOCOLS.md, Office 365): 202 for a token whose audience is Graph and
// which carries Mail.Send; the errors Graph answers otherwise. A token for SMTP (audience outlook.office.com) is refused
// here exactly as a Graph token is refused by SMTP AUTH: one token, one audience.
import { Faults, withFaultControls, type FaultControls } from './faults.ts';
import { json, serveHttp, type Reply, type RequestRecord, type StandinRequest } from './http.ts';

export const GRAPH_RESOURCE = 'https://graph.microsoft.com';
export const GRAPH_MAIL_SEND = 'https://graph.microsoft.com/Mail.Send';

export interface GraphTokenInfo {
  account: string;
  audience: string;
  scopes: string[];
}

export interface GraphStandinOptions {
  /** Normally entra.isValidAccessToken. */
  isValidAccessToken: (accessToken: string) => GraphTokenInfo | undefined;
  latencyMs?: number;
}

export interface GraphSentMessage {
  account: string;
  subject: string;
  to: string[];
  saveToSentItems: boolean;
  at: number;
}

export interface GraphStandin extends FaultControls {
  url: string;
  requests: RequestRecord[];
  messages: GraphSentMessage[];
  /** The account's mailbox answers 404 MailboxNotEnabledForRESTAPI (no Exchange Online licence, or on-premises). */
  disableMailbox(account: string): void;
  close(): Promise<void>;
}

function graphError(status: number, code: string, message: string): Reply {
  return json(status, {
    error: {
      code,
      message,
      innerError: {
        date: new Date().toISOString().replace(/\.\d+Z$/, ''),
        'request-id': crypto.randomUUID(),
        'client-request-id': crypto.randomUUID(),
      },
    },
  });
}

interface SendMailBody {
  message?: { subject?: unknown; toRecipients?: Array<{ emailAddress?: { address?: unknown } }> };
  saveToSentItems?: unknown;
}

export async function startGraphStandin(opts: GraphStandinOptions): Promise<GraphStandin> {
  const faults = new Faults({ latencyMs: opts.latencyMs });
  const messages: GraphSentMessage[] = [];
  const disabled = new Set<string>();

  function sendMail(req: StandinRequest): Reply {
    const auth = req.headers.authorization ?? '';
    const bearer = auth.startsWith('Bearer ') ? auth.slice(7) : '';
    if (!bearer) return graphError(401, 'InvalidAuthenticationToken', 'Access token is empty.');
    const info = opts.isValidAccessToken(bearer);
    if (!info)
      return graphError(401, 'InvalidAuthenticationToken', 'Lifetime validation failed, the token is expired.');
    if (info.audience.replace(/\/+$/, '') !== GRAPH_RESOURCE)
      return graphError(401, 'InvalidAuthenticationToken', 'Invalid audience.');
    if (!info.scopes.some((s) => s === GRAPH_MAIL_SEND || s === 'Mail.Send'))
      return graphError(403, 'ErrorAccessDenied', 'Access is denied. Check credentials and try again.');
    if (disabled.has(info.account.toLowerCase()))
      return graphError(
        404,
        'MailboxNotEnabledForRESTAPI',
        'The mailbox is either inactive, soft-deleted, or is hosted on-premise.',
      );
    let body: SendMailBody;
    try {
      body = JSON.parse(req.body.toString('utf8')) as SendMailBody;
    } catch {
      return graphError(
        400,
        'BadRequest',
        'Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.',
      );
    }
    const to = (body.message?.toRecipients ?? [])
      .map((r) => r.emailAddress?.address)
      .filter((a): a is string => typeof a === 'string');
    if (to.length === 0)
      return graphError(400, 'ErrorInvalidRecipients', 'At least one recipient is not valid., Recipient is missing.');
    messages.push({
      account: info.account,
      subject: typeof body.message?.subject === 'string' ? body.message.subject : '',
      to,
      saveToSentItems: body.saveToSentItems !== false,
      at: Date.now(),
    });
    return { status: 202, headers: { 'request-id': crypto.randomUUID() } };
  }

  const serving = await serveHttp({
    faults,
    notFound: () => graphError(400, 'BadRequest', 'Resource not found for the segment.'),
    methodNotAllowed: () =>
      graphError(405, 'Request_BadRequest', 'Specified HTTP method is not allowed for the request target.'),
    routes: [{ name: 'sendMail', method: 'POST', pattern: '/v1.0/me/sendMail', handler: sendMail }],
  });
  return withFaultControls<GraphStandin>(faults, {
    url: serving.url,
    requests: serving.requests,
    messages,
    disableMailbox: (account) => void disabled.add(account.toLowerCase()),
    close: () => serving.close(),
  });
}
