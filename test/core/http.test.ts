import { createServer, type Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { backoffDelay, httpRequest, parseRetryAfter } from '../../lambdas/core/http.ts';
import { RefresherError } from '../../lambdas/core/errors.ts';

let server: Server | undefined;
afterEach(() => new Promise<void>((r) => (server ? server.close(() => r()) : r())));

function serve(handler: Parameters<typeof createServer>[1]): Promise<string> {
  server = createServer(handler);
  return new Promise((resolve) =>
    server!.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server!.address() as { port: number }).port}`)),
  );
}

describe('http', () => {
  it('parses Retry-After as seconds or an HTTP date', () => {
    expect(parseRetryAfter('3')).toBe(3000);
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:05 GMT', now)).toBe(5000);
    expect(parseRetryAfter('soon')).toBeUndefined();
  });

  it('backs off exponentially with jitter, capped', () => {
    expect(backoffDelay(0, 200, 5000, () => 0)).toBe(100);
    expect(backoffDelay(3, 200, 5000, () => 1)).toBe(1600);
    expect(backoffDelay(10, 200, 5000, () => 1)).toBe(5000);
  });

  it('retries 429 honouring Retry-After, then returns the success', async () => {
    let n = 0;
    const times: number[] = [];
    const url = await serve((_req, res) => {
      times.push(Date.now());
      if (n++ === 0) {
        res.writeHead(429, { 'retry-after': '1' }).end();
        return;
      }
      res.end('ok');
    });
    const r = await httpRequest({ remote: 'entra', method: 'GET', url, timeoutMs: 2000, retries: 2 });
    expect(r.status).toBe(200);
    expect(r.attempts).toBe(2);
    expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(950);
  });

  it('does not sleep through a Retry-After longer than the limit', async () => {
    const url = await serve((_req, res) => void res.writeHead(503, { 'retry-after': '3600' }).end());
    const r = await httpRequest({
      remote: 'entra',
      method: 'GET',
      url,
      timeoutMs: 2000,
      retries: 3,
      maxRetryAfterMs: 1000,
    });
    expect(r.status).toBe(503);
    expect(r.attempts).toBe(1);
    expect(r.retryAfterMs).toBe(3_600_000);
  });

  it('a server that never answers ends in a classified timeout after the retries', async () => {
    const url = await serve(() => {});
    const err = await httpRequest({
      remote: 'cloudmanager',
      method: 'GET',
      url,
      timeoutMs: 150,
      retries: 1,
      baseDelayMs: 10,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RefresherError);
    expect(err).toMatchObject({ class: 'transient', code: 'TIMEOUT', remote: 'cloudmanager' });
  });

  it('refuses a body over the size limit', async () => {
    const url = await serve((_req, res) => res.end('x'.repeat(5000)));
    const err = await httpRequest({
      remote: 'ims',
      method: 'GET',
      url,
      timeoutMs: 2000,
      retries: 2,
      maxBodyBytes: 1000,
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'RESPONSE_TOO_LARGE', remote: 'ims' });
  });

  it('replayable false: a refused connection (nothing sent) is retried', async () => {
    // A port that was free a moment ago: connect fails with ECONNREFUSED before any byte of the request is written.
    const url = await serve(() => {});
    await new Promise<void>((r) => server!.close(() => r()));
    server = undefined;
    const retries: string[] = [];
    const err = await httpRequest({
      remote: 'oauth2',
      method: 'POST',
      url,
      body: 'x',
      timeoutMs: 500,
      retries: 2,
      baseDelayMs: 5,
      replayable: false,
      onRetry: (i) => retries.push(i.reason),
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ class: 'transient', code: 'ECONNREFUSED' });
    expect(retries).toEqual(['ECONNREFUSED', 'ECONNREFUSED']);
  });

  it('replayable false: a 500 is returned, not retried (the server may have acted); a 429 is retried', async () => {
    let n = 0;
    const url = await serve((_req, res) => void res.writeHead(n++ === 0 ? 429 : 500, { 'retry-after': '0' }).end());
    const r = await httpRequest({
      remote: 'oauth2',
      method: 'POST',
      url,
      body: 'x',
      timeoutMs: 1000,
      retries: 3,
      baseDelayMs: 5,
      replayable: false,
    });
    expect(r.status).toBe(500);
    expect(r.attempts).toBe(2);
  });

  it('timer values past 2^31-1 ms do not overflow into an immediate timeout', async () => {
    const url = await serve((_req, res) => void setTimeout(() => res.end('ok'), 50));
    const r = await httpRequest({ remote: 'oauth2', method: 'GET', url, timeoutMs: 3 * 715_827_883, retries: 0 });
    expect(r.status).toBe(200);
  });
});
