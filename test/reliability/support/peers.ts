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
