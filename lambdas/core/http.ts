import { getGlobalDispatcher, request, type Dispatcher } from 'undici';
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
  /**
   * false: the request must not reach the server twice (a refresh POST to a server that revokes the grant when a used
   * refresh token comes back). Once its bytes may have been written, the attempt is not aborted at `timeoutMs` but
   * waits for the answer until `sentDeadlineAt`, and a failure after that point (reset, timeout) is not retried but
   * thrown as `ambiguous` builds it. Failures before the connection carried the request (connect, DNS, TLS) and
   * answers that say the server did not act (429, 503) are still retried. Default true.
   */
  replayable?: boolean;
  /** With replayable false: the latest time (ms since the epoch) an answer to a sent request is awaited. */
  sentDeadlineAt?: number;
  /** With replayable false: the error for a request that may have reached the server but got no answer. */
  ambiguous?: (info: AmbiguousFailure) => RefresherError;
}

/** What is known of a request that may have been delivered and got no (complete) answer. */
export interface AmbiguousFailure {
  /** 'timeout': no complete answer by the deadline; 'connection': the connection failed after the request was written. */
  kind: 'timeout' | 'connection';
  /** The transport's code (ECONNRESET, UND_ERR_SOCKET, TIMEOUT). */
  code: string;
  /** How long the answer was awaited after the request was written. */
  waitedMs: number;
  host: string;
  attempts: number;
}

/** Node's timers hold a signed 32-bit count of milliseconds; anything longer fires after 1 ms. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** Without a deadline from the caller (the CLI), this long is waited for the answer to a request that must not be replayed. */
export const DEFAULT_SENT_WAIT_MS = 120_000;

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
  for (const [k, v] of Object.entries(h))
    if (v !== undefined) out[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v;
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

/** Marks the moment undici hands the request to a connected socket: from then on the server may receive it. */
function sentTracker(onSent: () => void): Dispatcher.DispatcherComposeInterceptor {
  return (dispatch) => (opts, handler) =>
    dispatch(opts, {
      onRequestStart: (controller, context) => {
        onSent();
        handler.onRequestStart?.(controller, context);
      },
      onRequestUpgrade: (...a) => handler.onRequestUpgrade?.(...a),
      onResponseStart: (...a) => handler.onResponseStart?.(...a),
      onResponseData: (...a) => handler.onResponseData?.(...a),
      onResponseEnd: (...a) => handler.onResponseEnd?.(...a),
      onResponseError: (...a) => handler.onResponseError?.(...a),
    });
}

interface AttemptState {
  /** The request may have reached the server. */
  sent: boolean;
  sentAt: number;
}

function timeoutReason(): Error {
  const e = new Error('the attempt timed out');
  e.name = 'TimeoutError';
  return e;
}

async function attempt(req: HttpRequest, state: AttemptState): Promise<Omit<HttpResponse, 'attempts'>> {
  const controller = new AbortController();
  const perAttempt = Math.min(req.timeoutMs, MAX_TIMER_MS);
  let timer = setTimeout(() => controller.abort(timeoutReason()), perAttempt);
  const patient = req.replayable === false;
  // A request that must not be replayed is not given up at the per-attempt deadline once it may have been delivered.
  const afterSend = patient
    ? Math.min(
        MAX_TIMER_MS,
        Math.max(perAttempt, (req.sentDeadlineAt ?? Date.now() + DEFAULT_SENT_WAIT_MS) - Date.now()),
      )
    : perAttempt;
  const base = req.dispatcher ?? getGlobalDispatcher();
  const dispatcher = patient
    ? base.compose(
        sentTracker(() => {
          state.sent = true;
          state.sentAt = Date.now();
          clearTimeout(timer);
          timer = setTimeout(() => controller.abort(timeoutReason()), afterSend);
        }),
      )
    : base;
  try {
    const res = await request(req.url, {
      method: req.method,
      headers: req.headers,
      body: req.body,
      signal: controller.signal,
      headersTimeout: afterSend,
      bodyTimeout: afterSend,
      dispatcher,
    });
    try {
      const text = await readLimited(res.body, req.maxBodyBytes ?? DEFAULT_MAX_BODY, req);
      const headers = headerMap(res.headers);
      return { status: res.statusCode, headers, text, retryAfterMs: parseRetryAfter(headers['retry-after']) };
    } catch (e) {
      res.body.destroy();
      throw e;
    }
  } finally {
    clearTimeout(timer);
  }
}

function transportCode(e: unknown): { timedOut: boolean; code: string } {
  const err = e as { name?: string; code?: string; message?: string };
  const timedOut = err?.name === 'TimeoutError' || err?.name === 'AbortError' || /Timeout/i.test(err?.code ?? '');
  return { timedOut, code: timedOut ? 'TIMEOUT' : (err?.code ?? err?.name ?? 'NETWORK_ERROR') };
}

function networkError(req: HttpRequest, e: unknown, attempts: number): RefresherError {
  if (e instanceof RefresherError) return e;
  const { timedOut, code } = transportCode(e);
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

function ambiguousError(req: HttpRequest, info: AmbiguousFailure): RefresherError {
  return new RefresherError({
    class: 'transient',
    code: 'OUTCOME_UNKNOWN',
    remote: req.remote,
    stage: req.stage,
    message: `${req.remote} (${info.host}): the request may have reached the server, but ${info.kind === 'timeout' ? `no answer came within ${info.waitedMs} ms` : `the connection failed (${info.code}) before the answer`}; it was not sent again`,
    fix: `Check at ${info.host} whether the request took effect before repeating it.`,
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
    const state: AttemptState = { sent: false, sentAt: 0 };
    try {
      const res = { ...(await attempt(req, state)), attempts: i + 1 };
      if (i >= req.retries || !shouldRetry(res)) return res;
      // 429 and 503 say the server did not act on the request (RFC 6585 4, RFC 9110 15.6.4); any other answer
      // (500, a gateway's 502/504) may follow a request the server did act on.
      if (req.replayable === false && res.status !== 429 && res.status !== 503) return res;
      if (res.retryAfterMs !== undefined && res.retryAfterMs > maxRetryAfter) return res;
      delay = res.retryAfterMs ?? backoffDelay(i, base, max);
      reason = `HTTP ${res.status}`;
    } catch (e) {
      if (req.replayable === false && state.sent && !(e instanceof RefresherError && e.code === 'RESPONSE_TOO_LARGE')) {
        const { timedOut, code } = transportCode(e);
        const info: AmbiguousFailure = {
          kind: timedOut ? 'timeout' : 'connection',
          code,
          waitedMs: Date.now() - state.sentAt,
          host: hostOf(req.url),
          attempts: i + 1,
        };
        throw req.ambiguous?.(info) ?? ambiguousError(req, info);
      }
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
