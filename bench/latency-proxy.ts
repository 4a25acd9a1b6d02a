/**
 * Latency at the TCP level, in front of every peer of the benchmark: a round trip costs L whatever travels in it.
 *
 * The model is a link whose whole round-trip time sits on the way back: every chunk the peer sends reaches the client L
 * after the peer sent it (chunks keep their order and overlap: a burst of pipelined SMTP replies costs L once, not once
 * per reply), and what the client sends before the connection is L old is held until then (the TCP handshake). So a
 * new HTTPS connection costs connect L + TLS 1.3 handshake L + each request L; an SMTP session costs connect and
 * greeting L, each reply L, STARTTLS's handshake L. Nothing is charged by the stand-ins themselves (their latencyMs is 0).
 *
 * `tls: true` also terminates HTTPS behind the delay with the stand-ins' test certificate (standins/tls, localhost and
 * 127.0.0.1) and passes each request on to the plain-HTTP stand-in or moto_server, as a load balancer does. The
 * client's connection stays open between requests (keep-alive) even though moto_server closes its own after every
 * answer (an HTTP/1.0 development server): the real Secrets Manager endpoint keeps connections, and so does this side.
 * Clients trust the test CA (NODE_EXTRA_CA_CERTS in the rotation child).
 */
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';

export interface LatencyProxy {
  port: number;
  /** Where the proxy forwards to; set once the peer's port is known. */
  upstreamPort: number;
  /** Connections accepted so far (each charged a connect and, with `tls`, a handshake). */
  connections: number;
  close(): Promise<void>;
}

/** Releases chunks in order, each at its own time; one timer at a time. */
class DelayedPipe {
  private readonly queue: Array<{ at: number; chunk: Buffer | null }> = [];
  private timer: NodeJS.Timeout | undefined;
  constructor(private readonly to: Socket) {}

  push(at: number, chunk: Buffer | null): void {
    this.queue.push({ at, chunk });
    this.arm();
  }

  private arm(): void {
    if (this.timer || this.queue.length === 0) return;
    const wait = Math.max(0, this.queue[0]!.at - performance.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const now = performance.now();
      while (this.queue.length && this.queue[0]!.at <= now + 0.5) {
        const { chunk } = this.queue.shift()!;
        if (this.to.destroyed) continue;
        if (chunk === null) this.to.end();
        else this.to.write(chunk);
      }
      this.arm();
    }, wait);
  }

  clear(): void {
    clearTimeout(this.timer);
    this.queue.length = 0;
  }
}

function listen(server: Server | HttpsServer): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

function closeServer(server: Server | HttpsServer): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

export async function startLatencyProxy(o: {
  latencyMs: number;
  upstreamPort?: number;
  tls?: boolean;
}): Promise<LatencyProxy> {
  const sockets = new Set<Socket>();
  const track = (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  };
  let terminator: HttpsServer | undefined;
  let terminatorPort = 0;
  const proxy: LatencyProxy = { port: 0, upstreamPort: o.upstreamPort ?? 0, connections: 0, close: async () => {} };
  if (o.tls) {
    const dir = new URL('../standins/tls/', import.meta.url);
    terminator = createHttpsServer(
      {
        cert: readFileSync(new URL('server.pem', dir)),
        key: readFileSync(new URL('server.key', dir)),
        keepAliveTimeout: 60_000,
      },
      (req, res) => {
        const up = httpRequest(
          { host: '127.0.0.1', port: proxy.upstreamPort, method: req.method, path: req.url, headers: req.headers },
          (answer) => {
            const headers = { ...answer.headers };
            delete headers.connection;
            res.writeHead(answer.statusCode ?? 502, headers);
            answer.pipe(res);
          },
        );
        up.on('error', () => res.destroy());
        req.pipe(up);
      },
    );
    terminator.on('connection', (s: Socket) => track(s));
    terminatorPort = await listen(terminator);
  }
  const server = createServer((client) => {
    proxy.connections++;
    track(client);
    const opened = performance.now();
    const upstream = connect(o.tls ? terminatorPort : proxy.upstreamPort, '127.0.0.1');
    track(upstream);
    const toUpstream = new DelayedPipe(upstream);
    const toClient = new DelayedPipe(client);
    client.on('data', (chunk: Buffer) => toUpstream.push(Math.max(performance.now(), opened + o.latencyMs), chunk));
    client.on('end', () => toUpstream.push(Math.max(performance.now(), opened + o.latencyMs), null));
    upstream.on('data', (chunk: Buffer) => toClient.push(performance.now() + o.latencyMs, chunk));
    upstream.on('end', () => toClient.push(performance.now() + o.latencyMs, null));
    const kill = () => {
      toUpstream.clear();
      toClient.clear();
      client.destroy();
      upstream.destroy();
    };
    client.on('error', kill);
    upstream.on('error', kill);
    client.on('close', () => setTimeout(kill, o.latencyMs + 5).unref());
  });
  proxy.port = await listen(server);
  proxy.close = async () => {
    for (const s of sockets) s.destroy();
    await Promise.all([closeServer(server), terminator ? closeServer(terminator) : Promise.resolve()]);
  };
  return proxy;
}
