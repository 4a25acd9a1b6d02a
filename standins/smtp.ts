// Stand-in for smtp.office365.com:587, or smtp.gmail.com with flavor 'google' (docs/PROTOCOLS.md, Office 365 and Google):
// STARTTLS, then SASL XOAUTH2 checked against the Entra stand-in's access tokens, with Microsoft's reply texts.
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { SMTPServer, type SMTPServerSession } from 'smtp-server';
import { sleep } from './faults.ts';

const TLS_DIR = new URL('./tls/', import.meta.url);
let caPem: string | undefined;

/** The CA that signed the stand-in's certificate; pin it in clients (`tls: { ca: testCa() }`). */
export function testCa(): string {
  caPem ??= readFileSync(new URL('ca.pem', TLS_DIR), 'utf8');
  return caPem;
}

export const SMTP_REPLIES = {
  authOk: '235 2.7.0 Authentication successful',
  auth535: '535 5.7.3 Authentication unsuccessful',
  auth139:
    '535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information.',
  notAuthenticated: '530 5.7.57 Client not authenticated to send mail',
  badXoauth2: '501 5.5.124 Invalid XOAUTH2 auth data',
  unavailable: '421 4.3.2 Service not available, closing transmission channel',
  google535:
    '535 5.7.8 Username and Password not accepted. For more information, go to https://support.google.com/mail/?p=BadCredentials',
} as const;

/**
 * Faults, consumed one per use. 'no-starttls' applies to the next connection (no STARTTLS, no AUTH offered);
 * the others to the next AUTH: a canned failure reply, '5.7.57' (AUTH succeeds, MAIL FROM is refused),
 * 'drop' (socket destroyed instead of answering) or 'slow' (answer after slowMs, then proceed normally).
 */
export type SmtpFault =
  '535 5.7.3' | '535 5.7.139' | '5.7.57' | '501 5.5.124' | '421' | 'drop' | 'no-starttls' | 'slow';

export interface SmtpTokenInfo {
  account: string;
  /** When present, must contain requiredScope (a Graph token gets 5.7.3 like at Microsoft). */
  scopes?: string[];
}

export interface SmtpStandinOptions {
  /** Normally entra.isValidAccessToken. */
  isValidAccessToken: (accessToken: string) => SmtpTokenInfo | undefined;
  flavor?: 'microsoft' | 'google';
  /** Default 'https://outlook.office.com/SMTP.Send' (microsoft) or 'https://mail.google.com/' (google); null: no check. */
  requiredScope?: string | null;
  /** Delay before the greeting, the AUTH answer, MAIL FROM and the end-of-data answer. */
  latencyMs?: number;
  /**
   * smtp-server waits 100 ms before the greeting to catch clients that talk first. A number replaces that pause (0: the
   * greeting waits only for `latencyMs`, so it costs one latency like every other exchange, as benchmarks assume).
   * Default: smtp-server's own pause.
   */
  greetingPauseMs?: number;
  /** Delay of the 'slow' fault; default 2000. */
  slowMs?: number;
  /** Name in the greeting; default 'localhost'. */
  hostname?: string;
}

export interface ReceivedMessage {
  from: string;
  to: string[];
  subject: string;
  raw: string;
  /** Mailbox the session authenticated as. */
  account: string;
  at: number;
}

export interface SmtpStats {
  connections: number;
  concurrent: number;
  maxConcurrent: number;
  authAttempts: number;
  authFailures: number;
}

export interface SmtpStandin {
  /** smtp://127.0.0.1:port (plain, upgrade with STARTTLS; the certificate is for localhost and 127.0.0.1). */
  url: string;
  host: string;
  port: number;
  flavor: 'microsoft' | 'google';
  messages: ReceivedMessage[];
  /** Setting queues one fault (see SmtpFault); reading shows the next queued AUTH fault. */
  nextAuthReply: SmtpFault | undefined;
  injectFault(fault: SmtpFault, times?: number): void;
  clearFaults(): void;
  latencyMs: number;
  readonly stats: SmtpStats;
  close(): Promise<void>;
}

type Connection = SMTPServer['connections'] extends Set<infer C> ? C : never;
type SendArgs = Parameters<Connection['send']>;

interface Flavor {
  greeting(hostname: string): string;
  starttls: string;
  authOk: string;
  mailOk: string;
  rcptOk: string;
  data: string;
  bye: string;
  queued(id: string, hostname: string): string;
}

const MICROSOFT: Flavor = {
  greeting: (h) => `${h} Microsoft ESMTP MAIL Service ready at ${new Date().toUTCString().replace('GMT', '+0000')}`,
  starttls: '2.0.0 SMTP server ready',
  authOk: '2.7.0 Authentication successful',
  mailOk: '2.1.0 Sender OK',
  rcptOk: '2.1.5 Recipient OK',
  data: 'Start mail input; end with <CRLF>.<CRLF>',
  bye: '2.0.0 Service closing transmission channel',
  queued: (id, h) => `2.0.0 OK <${id}@${h}> [Hostname=${h}]`,
};

const GOOGLE: Flavor = {
  greeting: (h) => `${h} ESMTP ${randomBytes(4).toString('hex')} - gsmtp`,
  starttls: '2.0.0 Ready to start TLS',
  authOk: '2.7.0 Accepted',
  mailOk: '2.1.0 OK - gsmtp',
  rcptOk: '2.1.5 OK - gsmtp',
  data: 'Go ahead - gsmtp',
  bye: '2.0.0 closing connection - gsmtp',
  queued: (id) => `2.0.0 OK  ${Math.floor(Date.now() / 1000)} ${id} - gsmtp`,
};

const AUTH_FAILURES: Partial<Record<SmtpFault, string>> = {
  '535 5.7.3': SMTP_REPLIES.auth535,
  '535 5.7.139': SMTP_REPLIES.auth139,
  '501 5.5.124': SMTP_REPLIES.badXoauth2,
  '421': SMTP_REPLIES.unavailable,
};

function smtpError(reply: string): Error & { responseCode: number } {
  return Object.assign(new Error(reply.slice(4)), { responseCode: Number(reply.slice(0, 3)) });
}

function decodeWords(s: string): string {
  return s.replace(/=\?([^?]+)\?([bBqQ])\?([^?]*)\?=/g, (_m, _charset: string, enc: string, text: string) =>
    enc.toUpperCase() === 'B'
      ? Buffer.from(text, 'base64').toString('utf8')
      : Buffer.from(
          text
            .replace(/_/g, ' ')
            .replace(/=([0-9A-Fa-f]{2})/g, (_x, h: string) => String.fromCharCode(parseInt(h, 16))),
          'latin1',
        ).toString('utf8'),
  );
}

function subjectOf(raw: string): string {
  const headerEnd = raw.search(/\r?\n\r?\n/);
  const headers = (headerEnd < 0 ? raw : raw.slice(0, headerEnd)).replace(/\r?\n[ \t]+/g, ' ');
  const m = /^subject:[ \t]*(.*)$/im.exec(headers);
  return m?.[1] ? decodeWords(m[1]).replace(/\?=\s+=\?/g, '') : '';
}

interface ConnectionInternals {
  needsUpgrade?: boolean;
  connectionReady(next?: () => void): void;
}

/**
 * smtp-server has no option for its early-talker pause: each new connection's init() arms a 100 ms timer that calls
 * connectionReady(). Here connectionReady() is made to run once, after `pauseMs` instead; the library's own timer then
 * finds it done. Only plain connections (STARTTLS, as this stand-in serves) are ready synchronously after init().
 */
function replaceGreetingPause(server: SMTPServer, pauseMs: number): void {
  const internals = server as unknown as {
    connect(socket: unknown, socketOptions: unknown): void;
    connections: Set<ConnectionInternals>;
  };
  const connect = internals.connect.bind(server);
  internals.connect = (socket, socketOptions) => {
    connect(socket, socketOptions);
    const conn = [...internals.connections].at(-1);
    if (!conn || conn.needsUpgrade) return;
    const ready = conn.connectionReady.bind(conn);
    let started = false;
    conn.connectionReady = (next) => {
      if (started) return;
      started = true;
      ready(next);
    };
    setTimeout(() => conn.connectionReady(), pauseMs).unref();
  };
}

export async function startSmtpStandin(opts: SmtpStandinOptions): Promise<SmtpStandin> {
  const flavorName = opts.flavor ?? 'microsoft';
  const flavor = flavorName === 'google' ? GOOGLE : MICROSOFT;
  const hostname = opts.hostname ?? 'localhost';
  const requiredScope =
    opts.requiredScope === undefined
      ? flavorName === 'google'
        ? 'https://mail.google.com/'
        : 'https://outlook.office.com/SMTP.Send'
      : opts.requiredScope;
  const slowMs = opts.slowMs ?? 2000;
  let latencyMs = opts.latencyMs ?? 0;
  const connectFaults: SmtpFault[] = [];
  const authFaults: SmtpFault[] = [];
  const refuseMailFrom = new Set<string>();
  const messages: ReceivedMessage[] = [];
  const stats: SmtpStats = { connections: 0, concurrent: 0, maxConcurrent: 0, authAttempts: 0, authFailures: 0 };

  const connectionOf = (session: SMTPServerSession): Connection | undefined => {
    for (const c of server.connections) if (c.session === session) return c;
    return undefined;
  };

  /** smtp-server's own texts, rewritten to the provider's (hideENHANCEDSTATUSCODES leaves codes to us). */
  function rewrite([code, data, context]: SendArgs): SendArgs {
    if (code === 220 && context === false && typeof data === 'string' && data.startsWith(`${hostname} ESMTP`)) {
      return [code, flavor.greeting(hostname), context];
    }
    if (code === 250 && context === false && Array.isArray(data)) {
      return [code, [...data.slice(0, 1), 'ENHANCEDSTATUSCODES', ...data.slice(1)], context];
    }
    if (code === 220 && data === 'Ready to start TLS') return [code, flavor.starttls, context];
    if (code === 235) return [code, flavor.authOk, context];
    if (code === 250 && context === 'MAIL_FROM_OK') return [code, flavor.mailOk, context];
    if (code === 250 && context === 'RCPT_TO_OK') return [code, flavor.rcptOk, context];
    if (code === 354) return [code, flavor.data, context];
    if (code === 221) return [code, flavor.bye, context];
    if (code === 250 && data === 'OK') return [code, '2.0.0 OK', context];
    if (code === 250 && data === 'Flushed') return [code, '2.0.0 Resetting', context];
    if (code === 501 && data === 'Error: invalid userdata') return [code, SMTP_REPLIES.badXoauth2.slice(4), context];
    if (code === 535 && data === 'Error: Username and Password not accepted')
      return [code, SMTP_REPLIES.google535.slice(4), context];
    if (
      (code === 500 && context === 'AUTH') ||
      (code === 504 && typeof data === 'string' && data.includes('Unrecognized authentication'))
    ) {
      return [504, '5.7.4 Unrecognized authentication type', context];
    }
    return [code, data, context];
  }

  const server = new SMTPServer({
    name: hostname,
    key: readFileSync(new URL('server.key', TLS_DIR)),
    cert: readFileSync(new URL('server.pem', TLS_DIR)),
    authMethods: ['XOAUTH2'],
    authOptional: false,
    hideENHANCEDSTATUSCODES: true,
    hideDSN: true,
    heloResponse: '%s Hello %s',
    authRequiredMessage: SMTP_REPLIES.notAuthenticated.slice(4),
    size: 157_286_400,
    disableReverseLookup: true,
    logger: false,
    closeTimeout: 200,
    onConnect(session, callback) {
      stats.connections++;
      stats.concurrent++;
      stats.maxConcurrent = Math.max(stats.maxConcurrent, stats.concurrent);
      const conn = connectionOf(session);
      if (conn) {
        // smtp-server has no hook for reply texts; wrapping this connection's send() is the narrowest place.
        const send = conn.send.bind(conn);
        conn.send = (...args: SendArgs) => send(...rewrite(args));
      }
      const noStarttls = connectFaults[0] === 'no-starttls' ? connectFaults.shift() : undefined;
      // Office 365 offers AUTH only after STARTTLS; onSecure lifts this.
      session.disabledCommands = noStarttls ? ['STARTTLS', 'AUTH'] : ['AUTH'];
      void sleep(latencyMs).then(() => callback());
    },
    onSecure(_socket, session, callback) {
      session.disabledCommands = [];
      callback();
    },
    onAuth(auth, session, callback) {
      void (async () => {
        stats.authAttempts++;
        await sleep(latencyMs);
        const fault = authFaults.shift();
        if (fault === 'slow') await sleep(slowMs);
        if (fault === 'drop') {
          connectionOf(session)?._socket.destroy();
          stats.authFailures++;
          return callback(new Error('connection dropped by fault injection'));
        }
        const canned = fault ? AUTH_FAILURES[fault] : undefined;
        if (canned) {
          stats.authFailures++;
          return callback(smtpError(canned));
        }
        const info = auth.accessToken ? opts.isValidAccessToken(auth.accessToken) : undefined;
        const ok =
          info !== undefined &&
          (auth.username ?? '').toLowerCase() === info.account.toLowerCase() &&
          (requiredScope === null || info.scopes === undefined || info.scopes.includes(requiredScope));
        if (!ok) {
          stats.authFailures++;
          if (flavorName === 'google') {
            return callback(null, { data: { status: '400', schemes: 'Bearer', scope: 'https://mail.google.com/' } });
          }
          return callback(smtpError(SMTP_REPLIES.auth535));
        }
        if (fault === '5.7.57') refuseMailFrom.add(session.id);
        callback(null, { user: { username: auth.username, account: info.account } });
      })().catch((err: unknown) => callback(err instanceof Error ? err : new Error(String(err))));
    },
    onMailFrom(_address, session, callback) {
      void sleep(latencyMs).then(() => {
        // AUTH is disabled before STARTTLS, which also switches off smtp-server's own "auth required" check.
        if (!session.user || refuseMailFrom.has(session.id)) return callback(smtpError(SMTP_REPLIES.notAuthenticated));
        callback();
      });
    },
    onRcptTo(_address, _session, callback) {
      callback();
    },
    onData(stream, session, callback) {
      receiveMessage(stream, session, ({ from, to, raw }) => {
        const user = session.user as { account?: string } | undefined;
        messages.push({ from, to, subject: subjectOf(raw), raw, account: user?.account ?? '', at: Date.now() });
        const id = randomBytes(12).toString('hex').toUpperCase();
        void sleep(latencyMs).then(() => callback(null, flavor.queued(id, hostname)));
      });
    },
    onClose(session) {
      stats.concurrent = Math.max(0, stats.concurrent - 1);
      refuseMailFrom.delete(session.id);
    },
  });

  if (opts.greetingPauseMs !== undefined) replaceGreetingPause(server, opts.greetingPauseMs);

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  // Errors of single client sockets (resets by fault tests) must not crash the test process.
  server.on('error', () => undefined);
  const port = (server.server.address() as AddressInfo).port;

  const inject = (fault: SmtpFault, times = 1): void => {
    const queue = fault === 'no-starttls' ? connectFaults : authFaults;
    for (let i = 0; i < times; i++) queue.push(fault);
  };

  let closing: Promise<void> | undefined;
  return {
    url: `smtp://127.0.0.1:${port}`,
    host: '127.0.0.1',
    port,
    flavor: flavorName,
    messages,
    get nextAuthReply() {
      return authFaults[0] ?? connectFaults[0];
    },
    set nextAuthReply(fault: SmtpFault | undefined) {
      if (fault) inject(fault);
    },
    injectFault: inject,
    clearFaults() {
      connectFaults.length = 0;
      authFaults.length = 0;
    },
    get latencyMs() {
      return latencyMs;
    },
    set latencyMs(ms: number) {
      latencyMs = ms;
    },
    get stats() {
      return { ...stats };
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        for (const c of server.connections) c._socket.destroy();
        server.close(() => resolve());
      });
      return closing;
    },
  };
}

/** Reads a session's DATA into the envelope's sender and recipients and the raw message (also used by test fixtures). */
export function receiveMessage(
  stream: NodeJS.ReadableStream,
  session: SMTPServerSession,
  done: (m: { from: string; to: string[]; raw: string }) => void,
): void {
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  stream.on('end', () => {
    const envelope = session.envelope;
    done({
      from: envelope.mailFrom ? envelope.mailFrom.address : '',
      to: envelope.rcptTo.map((r) => r.address),
      raw: Buffer.concat(chunks).toString('utf8'),
    });
  });
}
