/**
 * A local HTTP server that hands each request to a Lambda handler the way a Lambda Function URL does (payload format
 * 2.0: rawPath, rawQueryString, lower-case headers, requestContext.http, base64 bodies for non-text content) and writes
 * the structured result back. Every exchange is recorded, so a test can scan every page and Location header.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';

export interface Exchange {
  method: string;
  /** Path and query as the browser sent them. */
  url: string;
  status: number;
  headers: Record<string, string>;
  body: string;
}

export interface FunctionUrlServer {
  url: string;
  exchanges: Exchange[];
  close(): Promise<void>;
}

async function bodyOf(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

export function functionUrlEvent(req: {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: Buffer;
  sourceIp: string;
  host: string;
}): APIGatewayProxyEventV2 {
  const u = new URL(req.url, 'http://placeholder');
  const text =
    /^(text\/|application\/(json|x-www-form-urlencoded))/.test(req.headers['content-type'] ?? '') ||
    req.body.length === 0;
  const query: Record<string, string> = {};
  for (const [k, v] of u.searchParams) query[k] = query[k] === undefined ? v : `${query[k]},${v}`;
  const now = new Date();
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: u.pathname,
    rawQueryString: u.search.slice(1),
    headers: req.headers,
    ...(u.search ? { queryStringParameters: query } : {}),
    requestContext: {
      accountId: 'anonymous',
      apiId: 'localfunctionurl',
      domainName: req.host,
      domainPrefix: 'localfunctionurl',
      http: {
        method: req.method,
        path: u.pathname,
        protocol: 'HTTP/1.1',
        sourceIp: req.sourceIp,
        userAgent: req.headers['user-agent'] ?? '',
      },
      requestId: randomUUID(),
      routeKey: '$default',
      stage: '$default',
      time: now.toUTCString(),
      timeEpoch: now.getTime(),
    },
    ...(req.body.length ? { body: text ? req.body.toString('utf8') : req.body.toString('base64') } : {}),
    isBase64Encoded: !text && req.body.length > 0,
  };
}

export async function serveFunctionUrl(
  handler: (e: APIGatewayProxyEventV2) => Promise<APIGatewayProxyStructuredResultV2>,
): Promise<FunctionUrlServer> {
  const exchanges: Exchange[] = [];
  const server = createServer(async (req, res) => {
    try {
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers))
        if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(',') : v;
      const event = functionUrlEvent({
        method: req.method ?? 'GET',
        url: req.url ?? '/',
        headers,
        body: await bodyOf(req),
        sourceIp: req.socket.remoteAddress ?? '127.0.0.1',
        host: headers.host ?? '127.0.0.1',
      });
      const r = await handler(event);
      const status = r.statusCode ?? 200;
      const out: Record<string, string> = {};
      for (const [k, v] of Object.entries(r.headers ?? {})) out[k.toLowerCase()] = String(v);
      const body = r.isBase64Encoded ? Buffer.from(r.body ?? '', 'base64') : Buffer.from(r.body ?? '', 'utf8');
      exchanges.push({
        method: event.requestContext.http.method,
        url: req.url ?? '/',
        status,
        headers: out,
        body: body.toString('utf8'),
      });
      res.writeHead(status, { ...out, 'content-length': String(body.length) });
      res.end(body);
    } catch (e) {
      // What Lambda answers when the handler throws.
      res.writeHead(502, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ Message: 'Internal Server Error', error: (e as Error).message }));
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    exchanges,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
