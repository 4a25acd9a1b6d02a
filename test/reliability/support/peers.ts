import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import type { Config, SmtpSettings } from '../../../lambdas/config/schema.ts';

/** A copy of the configuration with the first credential's SMTP settings changed. */
export function withSmtp(config: Config, smtp: Partial<SmtpSettings>): Config {
  const copy = structuredClone(config);
  const c = copy.credentials[0]!;
  c.validation.smtp = { ...c.validation.smtp, ...smtp };
  return copy;
}

/** A port nothing listens on (bound once, then released). */
export function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      s.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

export interface SlowSmtp {
  port: number;
  close(): Promise<void>;
}

/**
 * An SMTP server that greets at once and then answers one byte every `intervalMs`: no inactivity timeout ever fires,
 * so only an overall deadline ends the dialogue. Bounded: it stops writing when the client goes away or on close().
 */
export async function startSlowSmtp(intervalMs = 1_000): Promise<SlowSmtp> {
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
    socket.write('220 slow.example.com ESMTP trickle\r\n');
    socket.once('data', () => {
      const reply = Buffer.from('250-slow.example.com Hello\r\n250-STARTTLS\r\n250 AUTH XOAUTH2\r\n');
      let i = 0;
      const timer = setInterval(() => {
        if (socket.destroyed || i >= reply.length) {
          clearInterval(timer);
          timers.delete(timer);
          return;
        }
        socket.write(reply.subarray(i, i + 1));
        i++;
      }, intervalMs);
      timers.add(timer);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const t of timers) clearInterval(t);
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** What the kill-child prints when it reached its step and waits to be killed. */
export const READY_MARKER = '@@reached-step@@';

export interface ScriptedHttp {
  url: string;
  /** How the next requests are answered; replaced between property runs. */
  respond: (req: IncomingMessage, res: ServerResponse) => void;
  requests: number;
  /** Connections the client closed while the server was still writing (it stopped reading). */
  abortedByClient: number;
  close(): Promise<void>;
}

/** A tiny HTTP server whose answers a test scripts: arbitrary statuses, bodies, endless or trickling bodies, silence. */
export async function startScriptedHttp(): Promise<ScriptedHttp> {
  const timers = new Set<NodeJS.Timeout>();
  const state: ScriptedHttp = {
    url: '',
    respond: (_req, res) => res.end(),
    requests: 0,
    abortedByClient: 0,
    close: async () => undefined,
  };
  const server = createHttpServer((req, res) => {
    state.requests++;
    req.resume();
    res.on('close', () => {
      if (!res.writableFinished) state.abortedByClient++;
    });
    req.on('end', () => state.respond(req, res));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const addr = server.address();
  state.url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  state.close = () =>
    new Promise<void>((resolve) => {
      for (const t of timers) clearInterval(t);
      server.close(() => resolve());
      server.closeAllConnections();
    });
  return state;
}

/** Answers with headers, then writes `chunk` every `everyMs` until the client goes away (bounded by `maxMs`). */
export function endlessBody(
  chunk: Buffer,
  everyMs: number,
  maxMs = 10_000,
): (req: IncomingMessage, res: ServerResponse) => void {
  return (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    const until = Date.now() + maxMs;
    const timer = setInterval(() => {
      if (res.destroyed || Date.now() > until) {
        clearInterval(timer);
        res.destroy();
        return;
      }
      res.write(chunk);
    }, everyMs);
    res.on('close', () => clearInterval(timer));
  };
}
