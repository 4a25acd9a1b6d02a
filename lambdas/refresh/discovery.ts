import { z } from 'zod';
import { RefresherError, type Remote, type Stage } from '../core/errors.ts';
import { httpRequest, parseJson } from '../core/http.ts';

/**
 * OpenID Connect Discovery 1.0: the endpoints of any standard provider from `<issuer>/.well-known/openid-configuration`.
 * The document is fetched at most once per run (one cache per wiring), is bounded in size and time, and is trusted only
 * after its shape and its `issuer` check out: a wrong issuer URL must not send refresh tokens to whoever answers it.
 */

/** A discovery document is a few kilobytes; Microsoft's, the largest common one, is under 3 KiB. */
export const DISCOVERY_MAX_BYTES = 64 * 1024;

const endpointUrl = z
  .string()
  .url()
  .refine((u) => isHttpsOrLocal(u), { message: 'must be https:// (plain http:// only for localhost)' });

const discoverySchema = z.object({
  issuer: z.string().min(1),
  token_endpoint: endpointUrl,
  authorization_endpoint: endpointUrl.optional(),
  device_authorization_endpoint: endpointUrl.optional(),
  userinfo_endpoint: endpointUrl.optional(),
  token_endpoint_auth_methods_supported: z.array(z.string()).optional(),
  // RFC 9207 section 3: the server puts `iss` on every authorization response.
  authorization_response_iss_parameter_supported: z.boolean().optional(),
});

export interface DiscoveredEndpoints {
  issuer: string;
  token: string;
  authorize?: string;
  deviceCode?: string;
  userinfo?: string;
  authMethods?: string[];
  /** RFC 9207: authorization responses carry `iss`. */
  issParameter?: boolean;
}

export function isHttpsOrLocal(u: string): boolean {
  return u.startsWith('https://') || /^http:\/\/(127\.0\.0\.1|localhost|\[::1\])(:\d+)?(\/|$)/.test(u);
}

export function discoveryUrl(issuer: string): string {
  // Discovery section 4: the path is appended to the issuer after removing its trailing slash.
  return `${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
}

/** Issuers differ only by a trailing slash in practice (Auth0 publishes "https://x.auth0.com/"); anything else is another issuer. */
function sameIssuer(a: string, b: string): boolean {
  return a.replace(/\/+$/, '') === b.replace(/\/+$/, '');
}

export interface DiscoveryOptions {
  remote: Remote;
  stage?: Stage;
  timeoutMs: number;
  retries: number;
  baseDelayMs?: number;
  /** Named in fixes. */
  credentialId?: string;
}

export async function fetchDiscovery(issuer: string, o: DiscoveryOptions): Promise<DiscoveredEndpoints> {
  const url = discoveryUrl(issuer);
  const stage = o.stage ?? 'refresh';
  const where = `credential ${o.credentialId ?? ''}`.trim();
  const res = await httpRequest({
    remote: o.remote,
    stage,
    method: 'GET',
    url,
    headers: { accept: 'application/json' },
    timeoutMs: o.timeoutMs,
    retries: o.retries,
    baseDelayMs: o.baseDelayMs,
    maxBodyBytes: DISCOVERY_MAX_BYTES,
  });
  if (res.status === 429 || res.status >= 500) {
    throw new RefresherError({
      class: 'transient',
      code: 'DISCOVERY_UNAVAILABLE',
      remote: o.remote,
      stage,
      status: res.status,
      message: `the OpenID configuration of ${issuer} answered HTTP ${res.status}`,
      fix: 'Retried on the next run; nothing to do unless it persists.',
      retryAfterMs: res.retryAfterMs,
    });
  }
  if (res.status !== 200) {
    throw new RefresherError({
      class: 'configuration',
      code: 'DISCOVERY_NOT_FOUND',
      remote: o.remote,
      stage,
      status: res.status,
      message: `${url} answered HTTP ${res.status}: ${issuer} publishes no OpenID configuration there`,
      fix: `Check "issuer" of ${where} (the provider's issuer URL, exactly as its documentation gives it), or set "endpoints.token" (and "endpoints.authorize") instead.`,
    });
  }
  const parsed = discoverySchema.safeParse(parseJson(res.text));
  if (!parsed.success) {
    const fields = parsed.error.issues.map((i) => i.path.join('.') || 'document').join(', ');
    throw new RefresherError({
      class: 'configuration',
      code: 'DISCOVERY_INVALID',
      remote: o.remote,
      stage,
      status: res.status,
      message: `${url} is not a usable OpenID configuration (${fields})`,
      fix: `Check "issuer" of ${where}, or set "endpoints.token" (and "endpoints.authorize") instead of discovery.`,
    });
  }
  const d = parsed.data;
  if (!sameIssuer(d.issuer, issuer)) {
    // Discovery section 4.3: the document must name the issuer it was fetched for; otherwise it speaks for someone else.
    throw new RefresherError({
      class: 'configuration',
      code: 'DISCOVERY_ISSUER_MISMATCH',
      remote: o.remote,
      stage,
      message: `${url} describes issuer "${d.issuer.slice(0, 200)}", not the configured "${issuer}"; its endpoints were not used`,
      fix: `Set "issuer" of ${where} to the provider's own issuer value ("${d.issuer.slice(0, 200)}" if that provider is the intended one).`,
    });
  }
  return {
    issuer: d.issuer,
    token: d.token_endpoint,
    authorize: d.authorization_endpoint,
    deviceCode: d.device_authorization_endpoint,
    userinfo: d.userinfo_endpoint,
    authMethods: d.token_endpoint_auth_methods_supported,
    issParameter: d.authorization_response_iss_parameter_supported,
  };
}

/**
 * One discovery per issuer and run. A failed fetch is forgotten, so a later credential of the same run tries again
 * rather than inheriting a transient failure.
 */
export class DiscoveryCache {
  private readonly docs = new Map<string, Promise<DiscoveredEndpoints>>();
  fetches = 0;

  get(issuer: string, o: DiscoveryOptions): Promise<DiscoveredEndpoints> {
    const key = issuer.replace(/\/+$/, '');
    let p = this.docs.get(key);
    if (!p) {
      this.fetches++;
      p = fetchDiscovery(issuer, o);
      this.docs.set(key, p);
      p.catch(() => this.docs.delete(key));
    }
    return p;
  }
}
