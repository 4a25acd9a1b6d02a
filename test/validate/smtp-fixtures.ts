/**
 * Test fixtures for the SMTP validator: certificates (a trusted test CA, an untrusted one, a trusted one whose server
 * certificate names another host) and real SMTP servers (smtp-server) whose AUTH / MAIL FROM answers a test scripts,
 * plus raw TCP servers for the failures smtp-server cannot produce (silence).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { SMTPServer, type SMTPServerAuthentication, type SMTPServerOptions, type SMTPServerSession } from 'smtp-server';
import { receiveMessage } from '../../standins/smtp.ts';

export interface TlsMaterial {
  ca: string;
  key: string;
  cert: string;
}

export interface Pki {
  /** Trusted by the validator via `ca`: certificate for localhost and 127.0.0.1. */
  trusted: TlsMaterial;
  /** Same names, signed by a CA the validator does not know. */
  untrusted: TlsMaterial;
  /** Signed by its own CA (given to the validator), but issued for smtp.example.test only. */
  wrongName: TlsMaterial;
  dispose(): void;
}

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
}

function makeCaAndLeaf(dir: string, name: string, san: string): TlsMaterial {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(dir, [
    'req',
    '-x509',
    ...ec,
    '-keyout',
    `${name}-ca.key`,
    '-out',
    `${name}-ca.pem`,
    '-days',
    '2',
    '-subj',
    `/CN=${name} test CA`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  openssl(dir, ['req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`]);
  writeFileSync(
    join(dir, `${name}.ext`),
    `subjectAltName=${san}\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n`,
  );
  openssl(dir, [
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    `${name}-ca.pem`,
    '-CAkey',
    `${name}-ca.key`,
    '-CAcreateserial',
    '-out',
    `${name}.pem`,
    '-days',
    '2',
    '-extfile',
    `${name}.ext`,
  ]);
  return {
    ca: readFileSync(join(dir, `${name}-ca.pem`), 'utf8'),
    key: readFileSync(join(dir, `${name}.key`), 'utf8'),
    cert: readFileSync(join(dir, `${name}.pem`), 'utf8'),
  };
}

/** The shared stand-in material when present and fit for 127.0.0.1 and localhost; otherwise a freshly made pair. */
function trustedMaterial(dir: string): TlsMaterial {
  const base = join(import.meta.dirname, '..', '..', 'standins', 'tls');
  const files = ['ca.pem', 'server.key', 'server.pem'].map((f) => join(base, f));
  if (files.every((f) => existsSync(f))) {
    const [ca, key, cert] = files.map((f) => readFileSync(f, 'utf8')) as [string, string, string];
    const x509 = new X509Certificate(cert);
    if (x509.checkIP('127.0.0.1') && x509.checkHost('localhost') && new Date(x509.validTo) > new Date())
      return { ca, key, cert };
  }
  return makeCaAndLeaf(dir, 'trusted', 'DNS:localhost,IP:127.0.0.1');
}

export function makePki(): Pki {
  const dir = mkdtempSync(join(tmpdir(), 'smtp-validator-pki-'));
  return {
    trusted: trustedMaterial(dir),
    untrusted: makeCaAndLeaf(dir, 'rogue', 'DNS:localhost,IP:127.0.0.1'),
    wrongName: makeCaAndLeaf(dir, 'other', 'DNS:smtp.example.test'),
    dispose: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** What the scripted server answers to AUTH XOAUTH2. */
export type AuthAnswer =
  | { kind: 'ok' }
  /** An error reply; with hideENHANCEDSTATUSCODES the text is sent exactly as given (Microsoft's replies). */
  | { kind: 'error'; responseCode: number; text: string }
  /** Google: `334 base64(JSON)`, then `535 5.7.8` after the client's empty response. */
  | { kind: 'google'; data: Record<string, string> }
  /** The server drops the connection in the middle of the AUTH exchange. */
  | { kind: 'drop' };

export interface Received {
  from: string;
  to: string[];
  raw: string;
  subject: string | undefined;
}

export interface SmtpStandIn {
  port: number;
  auths: Array<{ username: string; accessToken: string }>;
  received: Received[];
  close(): Promise<void>;
}

export interface StandInOptions {
  tls: TlsMaterial;
  /** Decides the AUTH answer; the default accepts exactly `expectedToken` for `expectedUser`. */
  auth?: (a: { username: string; accessToken: string }) => AuthAnswer;
  expectedUser?: string;
  expectedToken?: string;
  /** Rejects MAIL FROM with this reply (e.g. Microsoft's 5.7.57). */
  mailFromError?: { responseCode: number; text: string };
  /** Reproduces Microsoft's exact reply texts: with hideENHANCEDSTATUSCODES smtp-server adds no enhanced code of its own. */
  hideEnhanced?: boolean;
  noStartTls?: boolean;
  /** Implicit TLS (port 465 style). */
  secure?: boolean;
}

function smtpError(responseCode: number, text: string): Error & { responseCode: number } {
  return Object.assign(new Error(text), { responseCode });
}

export async function startSmtp(opts: StandInOptions): Promise<SmtpStandIn> {
  const auths: SmtpStandIn['auths'] = [];
  const received: Received[] = [];
  const decide =
    opts.auth ??
    ((a) =>
      a.username === opts.expectedUser && a.accessToken === opts.expectedToken
        ? { kind: 'ok' }
        : { kind: 'error', responseCode: 535, text: '5.7.3 Authentication unsuccessful [test.stand-in]' });

  const options: SMTPServerOptions = {
    logger: false,
    secure: opts.secure ?? false,
    key: opts.tls.key,
    cert: opts.tls.cert,
    authMethods: ['XOAUTH2'],
    hideENHANCEDSTATUSCODES: opts.hideEnhanced ?? false,
    disabledCommands: opts.noStartTls ? ['STARTTLS'] : [],
    // Without STARTTLS the server must still offer AUTH, so the test proves the client refuses to send the token.
    allowInsecureAuth: opts.noStartTls ?? false,
    closeTimeout: 200,
    onAuth(auth: SMTPServerAuthentication, _session: SMTPServerSession, callback) {
      const entry = { username: auth.username ?? '', accessToken: auth.accessToken ?? '' };
      auths.push(entry);
      const answer = decide(entry);
      switch (answer.kind) {
        case 'ok':
          return callback(null, { user: entry.username });
        case 'error':
          return callback(smtpError(answer.responseCode, answer.text));
        case 'google':
          return callback(null, { data: answer.data });
        case 'drop':
          // smtp-server has no API to drop a session; its connection objects are reached through a private field.
          for (const c of (server as unknown as { connections: Set<{ _socket: net.Socket }> }).connections)
            c._socket.destroy();
          return;
      }
    },
    onMailFrom(_address, _session, callback) {
      if (opts.mailFromError) return callback(smtpError(opts.mailFromError.responseCode, opts.mailFromError.text));
      callback();
    },
    onData(stream, session, callback) {
      receiveMessage(stream, session, ({ from, to, raw }) => {
        received.push({ from, to, raw, subject: /^Subject: (.*)$/im.exec(raw)?.[1]?.trim() });
        callback(null, 'Queued as 4711');
      });
    },
  };
  const server = new SMTPServer(options);
  server.on('error', () => {}); // dropped and refused sessions are the point of several tests
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as net.AddressInfo).port;
  return {
    port,
    auths,
    received,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A TCP server that accepts connections and never says a word (a blackholed or wedged SMTP host). */
export async function startSilent(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A port nothing listens on (taken, then released). */
export async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
