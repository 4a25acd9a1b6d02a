import { request, type Dispatcher } from 'undici';
import { RefresherError, type Remote, type Stage } from './errors.ts';

export interface HttpRequest {
  remote: Remote;
  stage?: Stage;
  method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';
  url: string;
  headers?: Record<string, string>;
  body?: string;
  /** Deadline of one attempt, connection to last byte. */
  timeoutMs: number;
  /** Further attempts after the first. */
  retries: number;
  /** Decides whether a response is worth another attempt; default: 429 and 5xx. */
  shouldRetry?: (res: HttpResponse) => boolean;
  /** Longest Retry-After we are willing to sleep inside one invocation; longer ones end the attempts. */
  maxRetryAfterMs?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  maxBodyBytes?: number;
  dispatcher?: Dispatcher;
  /** Called before each retry, for metrics and logs. */
  onRetry?: (info: { attempt: number; delayMs: number; reason: string }) => void;
}

export interface HttpResponse {
  status: number;
  headers: Record<string, string>;
  text: string;
  attempts: number;
  retryAfterMs: number | undefined;
}

const DEFAULT_MAX_BODY = 1024 * 1024;

export function defaultShouldRetry(res: HttpResponse): boolean {
  return res.status === 429 || res.status >= 500;
}

/** Retry-After is either delta-seconds or an HTTP date (RFC 9110 10.2.3). */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

/** Full-jitter exponential backoff: spreads retries of many credentials so they do not arrive together. */
export function backoffDelay(attempt: number, baseMs: number, maxMs: number, random = Math.random): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** attempt);
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function headerMap(h: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) if (v !== undefined) out[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v;
  return out;
}

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return 'invalid-url';
  }
}

async function readLimited(body: AsyncIterable<Buffer>, limit: number, req: HttpRequest): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > limit) {
      throw new RefresherError({
        class: 'transient',
        code: 'RESPONSE_TOO_LARGE',
        remote: req.remote,
        stage: req.stage,
        message: `${req.remote} (${hostOf(req.url)}) answered with more than ${limit} bytes; the response was discarded`,
        fix: 'Check that the endpoint in the configuration points at the real service.',
      });
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

async function attempt(req: HttpRequest): Promise<Omit<HttpResponse, 'attempts'>> {
  const signal = AbortSignal.timeout(req.timeoutMs);
  const res = await request(req.url, {
    method: req.method,
    headers: req.headers,
    body: req.body,
    signal,
    headersTimeout: req.timeoutMs,
    bodyTimeout: req.timeoutMs,
    dispatcher: req.dispatcher,
  });
  try {
    const text = await readLimited(res.body, req.maxBodyBytes ?? DEFAULT_MAX_BODY, req);
    const headers = headerMap(res.headers);
    return { status: res.statusCode, headers, text, retryAfterMs: parseRetryAfter(headers['retry-after']) };
  } catch (e) {
    res.body.destroy();
    throw e;
  }
}

function networkError(req: HttpRequest, e: unknown, attempts: number): RefresherError {
  if (e instanceof RefresherError) return e;
  const err = e as { name?: string; code?: string; message?: string };
  const timedOut = err?.name === 'TimeoutError' || err?.name === 'AbortError' || /Timeout/i.test(err?.code ?? '');
  const code = timedOut ? 'TIMEOUT' : (err?.code ?? err?.name ?? 'NETWORK_ERROR');
  return new RefresherError({
    class: 'transient',
    code,
    remote: req.remote,
    stage: req.stage,
    message: timedOut
      ? `${req.remote} (${hostOf(req.url)}) did not answer within ${req.timeoutMs} ms (${attempts} attempt${attempts > 1 ? 's' : ''})`
      : `${req.remote} (${hostOf(req.url)}) connection failed: ${code} (${attempts} attempt${attempts > 1 ? 's' : ''})`,
    fix: `Retried with backoff; if it persists, check that ${hostOf(req.url)} is reachable from the function (VPC egress, DNS, firewall).`,
  });
}

/**
 * One HTTP exchange with a deadline per attempt, a size limit on the body, and retries with full-jitter backoff that
 * honour Retry-After. Non-retryable statuses come back to the caller, which classifies them; network failures that
 * outlast the retries become a transient RefresherError naming the remote (never the URL's query, which may carry codes).
 */
export async function httpRequest(req: HttpRequest): Promise<HttpResponse> {
  const shouldRetry = req.shouldRetry ?? defaultShouldRetry;
  const base = req.baseDelayMs ?? 200;
  const max = req.maxDelayMs ?? 5_000;
  const maxRetryAfter = req.maxRetryAfterMs ?? 30_000;
  for (let i = 0; ; i++) {
    let delay: number;
    let reason: string;
    try {
      const res = { ...(await attempt(req)), attempts: i + 1 };
      if (i >= req.retries || !shouldRetry(res)) return res;
      if (res.retryAfterMs !== undefined && res.retryAfterMs > maxRetryAfter) return res;
      delay = res.retryAfterMs ?? backoffDelay(i, base, max);
      reason = `HTTP ${res.status}`;
    } catch (e) {
      const err = networkError(req, e, i + 1);
      if (err.code === 'RESPONSE_TOO_LARGE' || i >= req.retries) throw err;
      delay = backoffDelay(i, base, max);
      reason = err.code;
    }
    req.onRetry?.({ attempt: i + 1, delayMs: delay, reason });
    await sleep(delay);
  }
}

export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

export function formBody(fields: Record<string, string | undefined>): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(fields)) if (v !== undefined) p.set(k, v);
  return p.toString();
}
