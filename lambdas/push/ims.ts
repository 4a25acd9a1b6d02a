import { z } from 'zod';
import { formBody, httpRequest, parseJson, type HttpResponse } from '../core/http.ts';
import { asRefresherError, RefresherError } from '../core/errors.ts';
import { registerSecret } from '../core/redact.ts';
import { safeIdentifier, scrubRemoteText, trimSlash, type HttpTuning } from './common.ts';

export interface ImsTokenSourceOptions extends HttpTuning {
  /** IMS host, e.g. https://ims-na1.adobelogin.com (config adobe.imsEndpoint). */
  endpoint: string;
  clientId: string;
  /** Read lazily (Secrets Manager), so a run without Cloud Manager targets never touches the Adobe secret. */
  clientSecret: () => Promise<string>;
  scopes: readonly string[];
  timeoutMs: number;
  retries: number;
  /** Injected clock for expiry tests. */
  now?: () => number;
}

/** IMS answers `expires_in` in seconds (86399 for server-to-server); refetching early keeps a token from expiring mid-PATCH. */
const EXPIRY_MARGIN_MS = 5 * 60_000;
const DEFAULT_LIFETIME_SEC = 3600;

const tokenResponse = z.object({
  access_token: z.string().min(1),
  token_type: z.string().optional(),
  expires_in: z.union([z.number(), z.string().regex(/^\d+$/).transform(Number)]).optional(),
});

const errorResponse = z.object({
  error: z.unknown().optional(),
  error_description: z.unknown().optional(),
});

const CREDENTIAL_FIX =
  'Check the OAuth Server-to-Server credential of the Adobe Developer Console project (client id in adobe.clientId) and that the client secret stored in Secrets Manager is its current secret.';

/**
 * Adobe IMS OAuth server-to-server (client_credentials). One token serves every Cloud Manager target of a run, so
 * token() is single-flight and memoized until shortly before expiry; concurrent callers share one request and its
 * outcome. A failure is not memoized: the next call after it tries again (the secret may have been fixed meanwhile).
 */
export class ImsTokenSource {
  readonly #opts: ImsTokenSourceOptions;
  readonly #now: () => number;
  #cached: { token: string; refreshAt: number } | undefined;
  #inflight: Promise<string> | undefined;

  constructor(opts: ImsTokenSourceOptions) {
    this.#opts = opts;
    this.#now = opts.now ?? Date.now;
  }

  token(): Promise<string> {
    if (this.#cached && this.#now() < this.#cached.refreshAt) return Promise.resolve(this.#cached.token);
    if (!this.#inflight) {
      this.#inflight = this.#fetch().finally(() => {
        this.#inflight = undefined;
      });
    }
    return this.#inflight;
  }

  /**
   * Forgets the cached token after a remote rejected it (revoked, or the credential changed while the container
   * lived). With the rejected token given, a token fetched since by another caller is kept.
   */
  invalidate(rejected?: string): void {
    if (!rejected || this.#cached?.token === rejected) this.#cached = undefined;
  }

  /**
   * Starts the token request so it overlaps other work (the refresh). The outcome, success or failure, is delivered to
   * whoever calls token() next; the handler attached here only keeps a failure from being an unhandled rejection.
   */
  prefetch(): void {
    this.token().catch(() => undefined);
  }

  async #fetch(): Promise<string> {
    const o = this.#opts;
    let clientSecret: string;
    try {
      clientSecret = await o.clientSecret();
    } catch (e) {
      throw asRefresherError(e, 'secretsmanager', 'push');
    }
    registerSecret(clientSecret);
    if (!clientSecret) {
      throw imsError(
        'configuration',
        'IMS_NO_CLIENT_SECRET',
        undefined,
        'the Adobe client secret is empty',
        'Store the client secret of the OAuth Server-to-Server credential in the Secrets Manager secret named by adobe.clientSecret.',
      );
    }
    const started = this.#now();
    const res = await httpRequest({
      remote: 'ims',
      stage: 'push',
      method: 'POST',
      url: `${trimSlash(o.endpoint)}/ims/token/v3`,
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: formBody({
        grant_type: 'client_credentials',
        client_id: o.clientId,
        client_secret: clientSecret,
        scope: o.scopes.join(','),
      }),
      timeoutMs: o.timeoutMs,
      retries: o.retries,
      baseDelayMs: o.baseDelayMs,
      maxDelayMs: o.maxDelayMs,
      maxRetryAfterMs: o.maxRetryAfterMs,
      dispatcher: o.dispatcher,
      onRetry: o.onRetry,
      // A few KB at most; anything bigger is not IMS.
      maxBodyBytes: 64 * 1024,
    });
    if (res.status < 200 || res.status >= 300) throw classifyImsFailure(res, o.endpoint, [clientSecret]);
    const body = parseJson(res.text);
    if (body === undefined || body === null || typeof body !== 'object') {
      throw imsError(
        'transient',
        'IMS_BAD_RESPONSE',
        res.status,
        `IMS (${hostOf(o.endpoint)}) answered HTTP ${res.status} with a body that is not JSON`,
        'Retried on the next run; if it persists, check that adobe.imsEndpoint points at Adobe IMS (not a proxy or login page).',
      );
    }
    // Registered before validation, so even a half-valid answer cannot leak its token through a later message.
    const raw = (body as { access_token?: unknown }).access_token;
    if (typeof raw === 'string') registerSecret(raw);
    const parsed = tokenResponse.safeParse(body);
    if (!parsed.success) {
      throw imsError(
        'transient',
        'IMS_NO_ACCESS_TOKEN',
        res.status,
        `IMS (${hostOf(o.endpoint)}) answered HTTP ${res.status} without an access_token`,
        'Retried on the next run; if it persists, check that adobe.imsEndpoint points at Adobe IMS and the /ims/token/v3 endpoint.',
      );
    }
    const lifetimeMs = (parsed.data.expires_in ?? DEFAULT_LIFETIME_SEC) * 1000;
    this.#cached = {
      token: parsed.data.access_token,
      refreshAt: started + Math.max(lifetimeMs / 2, lifetimeMs - EXPIRY_MARGIN_MS),
    };
    return parsed.data.access_token;
  }
}

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return 'invalid-url';
  }
}

function imsError(
  cls: 'configuration' | 'transient',
  code: string,
  status: number | undefined,
  message: string,
  fix: string,
  retryAfterMs?: number,
): RefresherError {
  return new RefresherError({ class: cls, code, remote: 'ims', stage: 'push', status, message, fix, retryAfterMs });
}

function classifyImsFailure(res: HttpResponse, endpoint: string, sent: string[]): RefresherError {
  const host = hostOf(endpoint);
  const attempts = `${res.attempts} attempt${res.attempts > 1 ? 's' : ''}`;
  const parsed = errorResponse.safeParse(parseJson(res.text));
  const error = parsed.success ? safeIdentifier(parsed.data.error) : undefined;
  const rawDescription =
    parsed.success && typeof parsed.data.error_description === 'string' ? parsed.data.error_description : '';
  const description = rawDescription ? `: ${scrubRemoteText(rawDescription, sent)}` : '';
  const what = `IMS (${host}) rejected the client credentials request with HTTP ${res.status}${error ? ` ${error}` : ''}${description}`;

  if (error === 'invalid_client' && (res.status === 400 || res.status === 401)) {
    return imsError('configuration', 'IMS_INVALID_CLIENT', res.status, what, CREDENTIAL_FIX);
  }
  if (error === 'invalid_scope') {
    return imsError(
      'configuration',
      'IMS_INVALID_SCOPE',
      res.status,
      what,
      'Add the Cloud Manager API to the Adobe Developer Console project with an OAuth Server-to-Server credential, and check adobe.scopes against the scopes the credential lists.',
    );
  }
  if (error === 'unauthorized_client') {
    return imsError(
      'configuration',
      'IMS_UNAUTHORIZED_CLIENT',
      res.status,
      what,
      'The credential may not use client_credentials: create an OAuth Server-to-Server credential (JWT credentials no longer work) and put its client id and secret in the configuration and Secrets Manager.',
    );
  }
  if (res.status === 429) {
    return imsError(
      'transient',
      'IMS_THROTTLED',
      res.status,
      `IMS (${host}) throttled the token request (HTTP 429, ${attempts})`,
      'Retried on the next run; nothing to do unless it persists.',
      res.retryAfterMs,
    );
  }
  if (res.status >= 500) {
    return imsError(
      'transient',
      'IMS_UNAVAILABLE',
      res.status,
      `IMS (${host}) failed with HTTP ${res.status} (${attempts})`,
      'Adobe IMS is having trouble; the next run retries. Check https://status.adobe.com if it persists.',
    );
  }
  if (res.status === 400 || res.status === 401 || res.status === 403) {
    return imsError('configuration', 'IMS_REJECTED', res.status, what, CREDENTIAL_FIX);
  }
  return imsError(
    'transient',
    'IMS_UNEXPECTED_STATUS',
    res.status,
    `IMS (${host}) answered the token request with unexpected HTTP ${res.status}`,
    'Check that adobe.imsEndpoint points at Adobe IMS (e.g. https://ims-na1.adobelogin.com); the next run retries.',
  );
}
