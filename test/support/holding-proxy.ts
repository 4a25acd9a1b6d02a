/**
 * An HTTP proxy on loopback that forwards each request to a real server and then does something to the answer: holds
 * it (a slow network path after the server has acted), drops it (connection reset after the server has acted), or
 * refuses the request before forwarding it. It is what "the request reached the server but its answer was lost"
 * looks like from the client, with the server's side effects real.
 */
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type ProxyAction =
  | { kind: 'pass' }
  /** Forward, then send the answer `ms` later (or never, if the client has gone). */
  | { kind: 'hold'; ms: number }
  /** Forward, then reset the connection instead of answering. */
  | { kind: 'drop' }
  /** Reset the connection before forwarding: the server never sees the request. */
  | { kind: 'refuse' }
  /** Answer this status without forwarding (e.g. 503 with Retry-After from a gateway). */
  | { kind: 'status'; status: number; headers?: Record<string, string> };

export interface ProxiedRequest {
  method: string;
  path: string;
  body: string;
}

export interface HoldingProxy {
  url: string;
  /** Requests that reached the upstream server, in order. */
  forwarded: ProxiedRequest[];
  /** Decides per request; default pass. */
  policy: (r: ProxiedRequest, index: number) => ProxyAction;
  close(): Promise<void>;
}

export async function startHoldingProxy(upstream: string): Promise<HoldingProxy> {
  const target = new URL(upstream);
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  let seen = 0;
  const proxy: HoldingProxy = { url: '', forwarded: [], policy: () => ({ kind: 'pass' }), close: async () => {} };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const r: ProxiedRequest = { method: req.method ?? 'GET', path: req.url ?? '/', body: body.toString('utf8') };
      const action = proxy.policy(r, seen++);
      if (action.kind === 'refuse') {
        req.socket.destroy();
        return;
      }
      if (action.kind === 'status') {
        res.writeHead(action.status, { 'content-type': 'application/json', ...action.headers });
        res.end(JSON.stringify({ error: 'temporarily_unavailable' }));
        return;
      }
      proxy.forwarded.push(r);
      const headers: IncomingHttpHeaders = { ...req.headers, host: target.host, 'content-length': String(body.length) };
      const up = request(
        { host: target.hostname, port: target.port, path: r.path, method: r.method, headers },
        (answer) => {
          const parts: Buffer[] = [];
          answer.on('data', (c: Buffer) => parts.push(c));
          answer.on('end', () => {
            const send = () => {
              if (res.destroyed) return;
              const { 'transfer-encoding': _te, ...h } = answer.headers;
              res.writeHead(answer.statusCode ?? 502, { ...h, 'content-length': String(Buffer.concat(parts).length) });
              res.end(Buffer.concat(parts));
            };
            if (action.kind === 'drop') req.socket.destroy();
            else if (action.kind === 'hold') {
              const t = setTimeout(() => {
                timers.delete(t);
                send();
              }, action.ms);
              timers.add(t);
            } else send();
          });
        },
      );
      up.on('error', () => req.socket.destroy());
      up.end(body);
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  proxy.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  proxy.close = async () => {
    for (const t of timers) clearTimeout(t);
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  };
  return proxy;
}
