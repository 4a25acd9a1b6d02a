// Minimal node:http plumbing shared by the HTTP stand-ins: route matching, body reading, fault application,
// request log. Handlers return a Reply instead of writing to the response so that faults such as
// 'truncated' and 'reset after' can run the real handler and then mangle or drop its answer.
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { htmlFaultPage, sleep, type Fault, type Faults } from './faults.ts';

export interface StandinRequest {
  method: string;
  url: URL;
  path: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** Path parameters from the route pattern, e.g. { programId: '1' }. */
  params: Record<string, string>;
  route: string;
}

export interface Reply {
  status: number;
  headers?: Record<string, string | string[]>;
  body?: string | Buffer;
}

export interface RouteDef {
  name: string;
  method: string;
  /** Path with {param} placeholders, e.g. '/api/program/{programId}'. */
  pattern: string;
  handler(req: StandinRequest): Reply | Promise<Reply>;
}

export interface RequestRecord {
  at: number;
  method: string;
  path: string;
  query: string;
  route: string;
  headers: IncomingHttpHeaders;
  /** The raw body as text (test-only: it contains secrets as sent). */
  body: string;
  /** Status sent, or 'reset' / 'hang' for faults without an answer. */
  status?: number | 'reset' | 'hang';
}

export interface HttpServing {
  url: string;
  port: number;
  requests: RequestRecord[];
  close(): Promise<void>;
}

export const UNMATCHED_ROUTE = 'unmatched';

const MAX_BODY = 8 * 1024 * 1024;

interface CompiledRoute extends RouteDef {
  regex: RegExp;
  names: string[];
}

function compile(route: RouteDef): CompiledRoute {
  const names: string[] = [];
  const source = route.pattern
    .split(/(\{[^}]+\})/)
    .map((part) => {
      const m = /^\{([^}]+)\}$/.exec(part);
      if (m?.[1]) {
        names.push(m[1]);
        return '([^/]+)';
      }
      return part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    })
    .join('');
  return { ...route, regex: new RegExp(`^${source}$`), names };
}

export function json(status: number, body: unknown, headers: Record<string, string> = {}): Reply {
  return {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8', ...headers },
    body: JSON.stringify(body),
  };
}

export function html(status: number, body: string, headers: Record<string, string> = {}): Reply {
  return { status, headers: { 'content-type': 'text/html; charset=utf-8', ...headers }, body };
}

export function formOf(req: StandinRequest): URLSearchParams {
  const type = String(req.headers['content-type'] ?? '').toLowerCase();
  // The real services ignore bodies of other types and then complain about missing parameters.
  if (!type.startsWith('application/x-www-form-urlencoded')) return new URLSearchParams();
  return new URLSearchParams(req.body.toString('utf8'));
}

export function randomId(bytes = 16): string {
  return randomBytes(bytes).toString('hex');
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) {
        reject(new Error('body too large'));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, reply: Reply): void {
  const headers: Record<string, string | string[]> = { ...(reply.headers ?? {}) };
  const body = reply.body ?? '';
  headers['content-length'] = String(Buffer.byteLength(body));
  res.writeHead(reply.status, headers);
  res.end(body);
}

function faultReply(fault: Extract<Fault, { kind: 'status' | 'html' }>): Reply {
  if (fault.kind === 'html') return html(fault.status ?? 200, htmlFaultPage(fault.status ?? 200));
  const isString = typeof fault.body === 'string';
  const body = fault.body === undefined ? '' : isString ? (fault.body as string) : JSON.stringify(fault.body);
  const contentType = fault.contentType ?? (isString ? 'text/plain; charset=utf-8' : 'application/json; charset=utf-8');
  return {
    status: fault.status,
    headers: { ...(body ? { 'content-type': contentType } : {}), ...(fault.headers ?? {}) },
    body,
  };
}

function truncate(reply: Reply): Reply {
  const full = Buffer.from(reply.body ?? '');
  const cut = full.length > 1 ? full.subarray(0, Math.floor(full.length / 2)) : Buffer.from('{"');
  const headers = { 'content-type': 'application/json; charset=utf-8', ...(reply.headers ?? {}) };
  return { status: reply.status === 204 ? 200 : reply.status, headers, body: cut };
}

export interface ServeOptions {
  routes: RouteDef[];
  faults: Faults;
  /** Answer for paths no route matches. */
  notFound?: (req: StandinRequest) => Reply;
  /** Answer for a known path with another method. */
  methodNotAllowed?: (req: StandinRequest) => Reply;
  /** Oldest entries are dropped beyond this many (benchmarks send many requests). */
  maxLog?: number;
}

export async function serveHttp(opts: ServeOptions): Promise<HttpServing> {
  const routes = opts.routes.map(compile);
  const requests: RequestRecord[] = [];
  const maxLog = opts.maxLog ?? 10_000;
  const notFound = opts.notFound ?? (() => json(404, { error: 'not_found' }));
  const methodNotAllowed = opts.methodNotAllowed ?? (() => json(405, { error: 'method_not_allowed' }));

  const server = createServer((req, res) => {
    void handle(req, res).catch((err: unknown) => {
      console.error('stand-in handler failed:', err);
      if (!res.headersSent) send(res, json(500, { error: 'standin_bug', message: String(err) }));
      else res.destroy();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const method = (req.method ?? 'GET').toUpperCase();
    let matched: CompiledRoute | undefined;
    let params: Record<string, string> = {};
    let pathKnown = false;
    for (const r of routes) {
      const m = r.regex.exec(url.pathname);
      if (!m) continue;
      pathKnown = true;
      if (r.method !== method) continue;
      matched = r;
      params = Object.fromEntries(r.names.map((n, i) => [n, decodeURIComponent(m[i + 1] ?? '')]));
      break;
    }
    const route = matched?.name ?? UNMATCHED_ROUTE;
    const leave = opts.faults.enter(route);
    res.on('close', leave);

    const body = await readBody(req);
    const record: RequestRecord = {
      at: Date.now(),
      method,
      path: url.pathname,
      query: url.search,
      route,
      headers: req.headers,
      body: body.toString('utf8'),
    };
    requests.push(record);
    if (requests.length > maxLog) requests.splice(0, requests.length - maxLog);

    const sreq: StandinRequest = { method, url, path: url.pathname, headers: req.headers, body, params, route };
    await sleep(opts.faults.latencyMs);

    const run = async (): Promise<Reply> => {
      if (matched) return matched.handler(sreq);
      return pathKnown ? methodNotAllowed(sreq) : notFound(sreq);
    };

    const fault = opts.faults.take(route);
    if (fault) opts.faults.noteFaulted(route);
    switch (fault?.kind) {
      case 'hang':
        record.status = 'hang';
        return;
      case 'reset':
        if (fault.after) await run();
        record.status = 'reset';
        req.socket.destroy();
        return;
      case 'status':
      case 'html': {
        const reply = faultReply(fault);
        record.status = reply.status;
        send(res, reply);
        return;
      }
      case 'truncated': {
        const reply = truncate(await run());
        record.status = reply.status;
        send(res, reply);
        return;
      }
      case 'delay':
        await sleep(fault.ms);
        break;
      case undefined:
        break;
    }
    const reply = await run();
    record.status = reply.status;
    if (!res.destroyed) send(res, reply);
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  let closing: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Hung requests and idle keep-alive sockets would otherwise hold close() open.
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

/** client_secret_basic (RFC 6749 2.3.1): the client id and secret, form-encoded, in a Basic Authorization header. */
export function basicAuth(req: StandinRequest): { id: string; secret: string } | undefined {
  const h = req.headers.authorization;
  if (!h?.startsWith('Basic ')) return undefined;
  const decoded = Buffer.from(h.slice(6), 'base64').toString('utf8');
  const i = decoded.indexOf(':');
  if (i < 0) return undefined;
  return { id: decodeURIComponent(decoded.slice(0, i)), secret: decodeURIComponent(decoded.slice(i + 1)) };
}

/** HTML-escapes text the stand-ins' pages show (as numeric character references). */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function unescapeHtml(s: string): string {
  return s.replace(/&#(\d+);/g, (_m, n: string) => String.fromCharCode(Number(n)));
}

/**
 * What a browser does on a stand-in's consent page (Entra, OAuth2): load the authorize URL, keep the account the page
 * pre-fills unless one is given, press Accept (or Cancel) and return the redirect Location
 * (redirect_uri?code=...&state=...). The form is posted to `action`, or to the action the page's form names.
 */
export async function consentThroughPage(
  authorizeUrl: string,
  baseUrl: string,
  o: { account?: string; decision?: 'accept' | 'cancel' } = {},
  action?: string,
): Promise<string> {
  const page = await fetch(authorizeUrl, { redirect: 'manual' });
  const text = await page.text();
  const txn = /name="txn" value="([^"]+)"/.exec(text)?.[1];
  if (page.status !== 200 || !txn) throw new Error(`authorize page failed (${page.status}): ${text.slice(0, 300)}`);
  const prefilled = unescapeHtml(/id="account" name="account" type="text" value="([^"]*)"/.exec(text)?.[1] ?? '');
  const target = action ?? unescapeHtml(/<form method="post" action="([^"]+)"/.exec(text)?.[1] ?? '');
  const res = await fetch(new URL(target, baseUrl), {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ txn, account: o.account ?? prefilled, decision: o.decision ?? 'accept' }),
  });
  await res.arrayBuffer();
  const location = res.headers.get('location');
  if (res.status !== 302 || !location) throw new Error(`consent did not redirect (${res.status})`);
  return location;
}
