import type { Readable } from 'node:stream';
import { request } from 'undici';
import { backoffDelay, parseRetryAfter, sleep } from '../core/http.ts';
import { RefresherError } from '../core/errors.ts';
import type { HttpTuning } from './common.ts';

/**
 * Reads of AEM log files on the storage host Cloud Manager links to: the gzip file a logs/download redirect points at,
 * and the tail link of the file being written. Those URLs are signed (the signature is in the query) and live on
 * another host than the API, so nothing of ours is sent there: no Authorization, no x-api-key, no org id. Adobe's own
 * client fetches them the same way, without headers (aio-lib-cloudmanager, tailLog and _download:
 * https://github.com/adobe/aio-lib-cloudmanager/blob/main/src/index.js).
 */
export interface LogFileRequest extends HttpTuning {
  url: URL;
  /** Inclusive byte range of the raw file (tail link only; RFC 9110 14.2). */
  range?: { start: number; end: number };
  /** Deadline of the answer's start, and the longest silence between two chunks of the body. */
  timeoutMs: number;
  retries: number;
  /** Aborts the request and the body: the caller's overall deadline. */
  signal?: AbortSignal;
}

export interface LogFileResponse {
  /** 200: the whole file from byte 0; 206: from `start`; 416: nothing at or after the range start; 404: no file. */
  status: 200 | 206 | 404 | 416;
  start: number;
  /** The file's size when the server told it (Content-Range). */
  total?: number;
  /** Only with 200/206. The caller must consume or destroy it. */
  body?: Readable;
}

function hostOf(url: URL): string {
  return url.host;
}

function failure(
  url: URL,
  code: string,
  message: string,
  fix: string,
  status?: number,
  retryAfterMs?: number,
): RefresherError {
  return new RefresherError({
    class: 'transient',
    code,
    remote: 'cloudmanager',
    stage: 'push',
    status,
    retryAfterMs,
    message,
    fix,
  });
}

/** Content-Range: bytes 0-99/1234, or bytes * /1234 on a 416 (RFC 9110 14.4). */
export function parseContentRange(v: string | undefined): { start?: number; total?: number } {
  const m = /^bytes\s+(?:(\d+)-\d+|\*)\/(\d+|\*)$/i.exec(v?.trim() ?? '');
  if (!m) return {};
  return {
    ...(m[1] !== undefined ? { start: Number(m[1]) } : {}),
    ...(m[2] !== '*' && m[2] !== undefined ? { total: Number(m[2]) } : {}),
  };
}

/**
 * Opens the file, retrying 429/5xx and connection failures with backoff that honours Retry-After. The body is handed
 * over as a stream: a production author's aemerror is hundreds of MB a day and must never be held in memory.
 */
export async function openLogFile(req: LogFileRequest): Promise<LogFileResponse> {
  const base = req.baseDelayMs ?? 200;
  const max = req.maxDelayMs ?? 5_000;
  const maxRetryAfter = req.maxRetryAfterMs ?? 30_000;
  const headers: Record<string, string> = { 'accept-encoding': 'identity' };
  if (req.range) headers.range = `bytes=${req.range.start}-${req.range.end}`;
  for (let i = 0; ; i++) {
    let delay: number;
    let reason: string;
    try {
      const res = await request(req.url, {
        method: 'GET',
        headers,
        signal: req.signal,
        headersTimeout: req.timeoutMs,
        bodyTimeout: req.timeoutMs,
        dispatcher: req.dispatcher,
      });
      const status = res.statusCode;
      const h = (k: string) => {
        const v = res.headers[k];
        return Array.isArray(v) ? v[0] : v;
      };
      if (status === 200 || status === 206) {
        const cr = parseContentRange(h('content-range'));
        const start = status === 206 ? (cr.start ?? req.range?.start ?? 0) : 0;
        const length = Number(h('content-length'));
        const total = cr.total ?? (status === 200 && Number.isFinite(length) ? length : undefined);
        return { status, start, ...(total !== undefined ? { total } : {}), body: res.body };
      }
      // Error bodies are small; dump() reads and drops them so the connection can be reused (destroy() would throw).
      await res.body.dump().catch(() => undefined);
      if (status === 416) {
        const total = parseContentRange(h('content-range')).total;
        return { status, start: req.range?.start ?? 0, ...(total !== undefined ? { total } : {}) };
      }
      if (status === 404) return { status, start: 0 };
      const retryAfterMs = parseRetryAfter(h('retry-after'));
      const retryable = status === 429 || status >= 500;
      if (!retryable || i >= req.retries || (retryAfterMs !== undefined && retryAfterMs > maxRetryAfter)) {
        if (status === 401 || status === 403) {
          throw failure(
            req.url,
            'CM_LOG_LINK_REFUSED',
            `the log storage host ${hostOf(req.url)} refused the log link (HTTP ${status})`,
            'The signed link has probably expired; the next check asks Cloud Manager for a fresh one. Nothing to do unless it persists.',
            status,
          );
        }
        throw failure(
          req.url,
          'CM_LOG_UNAVAILABLE',
          `the log storage host ${hostOf(req.url)} answered HTTP ${status} (${i + 1} attempt${i > 0 ? 's' : ''})`,
          'The next check retries from where this one stopped; check https://status.adobe.com if it persists.',
          status,
          retryAfterMs,
        );
      }
      delay = retryAfterMs ?? backoffDelay(i, base, max);
      reason = `HTTP ${status}`;
    } catch (e) {
      if (e instanceof RefresherError) throw e;
      if (req.signal?.aborted) throw e;
      const err = e as { code?: string; name?: string };
      const code = err.code ?? err.name ?? 'NETWORK_ERROR';
      if (i >= req.retries) {
        throw failure(
          req.url,
          'CM_LOG_UNAVAILABLE',
          `the log storage host ${hostOf(req.url)} could not be read: ${code} (${i + 1} attempt${i > 0 ? 's' : ''})`,
          `Check that ${hostOf(req.url)} is reachable from the function; the next check retries from where this one stopped.`,
        );
      }
      delay = backoffDelay(i, base, max);
      reason = code;
    }
    req.onRetry?.({ attempt: i + 1, delayMs: delay, reason });
    await sleep(delay);
  }
}
