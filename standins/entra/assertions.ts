// How Entra authenticates a client at the token endpoint: client secret (post or basic), none for a public client, or a
// client assertion signed with a registered certificate (https://learn.microsoft.com/en-us/entra/identity-platform/certificate-credentials).
import { constants, createHash, verify, X509Certificate } from 'node:crypto';
import { basicAuth, type StandinRequest } from '../http.ts';
import { failureFor, type Failure } from './errors.ts';
import { ctxOf, JWT_BEARER_ASSERTION, type EntraClient, type EntraWorld, type SeenAssertion } from './model.ts';

/**
 * Verifies a client assertion like Entra: a registered certificate named by x5t#S256 (or x5t), a valid RS256/PS256
 * signature by its key, aud = the token endpoint it was sent to, iss = sub = client id, and now within nbf..exp.
 */
export function checkAssertion(
  w: EntraWorld,
  client: EntraClient,
  assertion: string,
  form: URLSearchParams,
  req: StandinRequest,
): Failure | undefined {
  const { tenant, retryAfterDefault, clock, seenAssertions } = w;
  const ctx = ctxOf(w, client);
  const seen: SeenAssertion = { header: {}, claims: {}, accepted: false };
  seenAssertions.push(seen);
  const fail = (code: number, f: Failure = failureFor(code, ctx, retryAfterDefault)): Failure => {
    seen.code = code;
    return f;
  };
  if (form.get('client_assertion_type') !== JWT_BEARER_ASSERTION)
    return fail(900144, failureFor(900144, { param: 'client_assertion_type' }, retryAfterDefault));
  const parts = assertion.split('.');
  try {
    seen.header = JSON.parse(Buffer.from(parts[0] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
    seen.claims = JSON.parse(Buffer.from(parts[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
  } catch {
    return fail(50027, {
      code: 50027,
      error: 'invalid_client',
      status: 401,
      message: 'JWT token is invalid or malformed.',
    });
  }
  if (parts.length !== 3)
    return fail(50027, {
      code: 50027,
      error: 'invalid_client',
      status: 401,
      message: 'JWT token is invalid or malformed.',
    });
  const h = seen.header;
  const c = seen.claims;
  const alg = h.alg;
  const s256 = typeof h['x5t#S256'] === 'string' ? h['x5t#S256'] : undefined;
  const s1 = typeof h.x5t === 'string' ? h.x5t : undefined;
  const cert = (client.certificates ?? [])
    .map((pem) => new X509Certificate(pem))
    .find(
      (x) =>
        (s256 && createHash('sha256').update(x.raw).digest('base64url') === s256) ||
        (s1 && createHash('sha1').update(x.raw).digest('base64url') === s1),
    );
  if (!cert) {
    return fail(700027, {
      code: 700027,
      error: 'invalid_client',
      status: 401,
      message: `Client assertion failed signature validation. [Reason - The key was not found., Thumbprint of key used by client: '${String(s256 ?? s1 ?? '')}', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '${client.clientId}'.]`,
    });
  }
  const input = Buffer.from(`${parts[0]}.${parts[1]}`);
  const signature = Buffer.from(parts[2] ?? '', 'base64url');
  const ok =
    alg === 'PS256'
      ? verify(
          'sha256',
          input,
          { key: cert.publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 },
          signature,
        )
      : alg === 'RS256'
        ? verify('sha256', input, { key: cert.publicKey, padding: constants.RSA_PKCS1_PADDING }, signature)
        : false;
  if (!ok) {
    return fail(700027, {
      code: 700027,
      error: 'invalid_client',
      status: 401,
      message: `Client assertion contains an invalid signature. [Reason - The provided signature value did not match the expected signature value., Thumbprint of key used by client: '${String(s256 ?? s1)}', Found key 'Start=${new Date(cert.validFrom).toISOString()}, End=${new Date(cert.validTo).toISOString()}']`,
    });
  }
  const expectedAud = `${w.baseUrl}/${req.params.tenant ?? tenant}/oauth2/v2.0/token`;
  if (c.aud !== expectedAud)
    return fail(50012, {
      code: 50012,
      error: 'invalid_client',
      status: 401,
      message: 'Client assertion audience claim does not match Realm issuer.',
    });
  if (c.iss !== client.clientId || c.sub !== client.clientId) {
    return fail(700021, {
      code: 700021,
      error: 'invalid_client',
      status: 401,
      message: "Client assertion application identifier doesn't match 'client_id' parameter.",
    });
  }
  const nowSec = Math.floor(clock.now() / 1000);
  const skew = 300;
  if (typeof c.exp !== 'number' || typeof c.nbf !== 'number' || nowSec > c.exp + skew || nowSec + skew < c.nbf) {
    return fail(700024, {
      code: 700024,
      error: 'invalid_client',
      status: 401,
      message: `Client assertion is not within its valid time range. Current time: ${new Date(clock.now()).toISOString()}, assertion valid from ${new Date(Number(c.nbf ?? 0) * 1000).toISOString()}, expiry time of assertion ${new Date(Number(c.exp ?? 0) * 1000).toISOString()}.`,
    });
  }
  if (Date.parse(cert.validTo) < clock.now()) return fail(700027, failureFor(700027, ctx, retryAfterDefault));
  seen.accepted = true;
  return undefined;
}

export function authenticate(
  w: EntraWorld,
  client: EntraClient,
  form: URLSearchParams,
  req: StandinRequest,
  publicFlow: boolean,
): Failure | undefined {
  const { retryAfterDefault } = w;
  const basic = basicAuth(req);
  const secret = form.get('client_secret') ?? basic?.secret ?? undefined;
  const assertion = form.get('client_assertion');
  const ctx = ctxOf(w, client);
  const confidential = client.clientSecret !== undefined || (client.certificates?.length ?? 0) > 0;
  if (!confidential) {
    return secret || assertion ? failureFor(700025, ctx, retryAfterDefault) : undefined;
  }
  if (!secret && !assertion) {
    return publicFlow && client.allowPublicClientFlows ? undefined : failureFor(7000218, ctx, retryAfterDefault);
  }
  if (assertion && !secret) return checkAssertion(w, client, assertion, form, req);
  if (secret !== client.clientSecret) return failureFor(7000215, ctx, retryAfterDefault);
  if (client.secretExpired) return failureFor(7000222, ctx, retryAfterDefault);
  return undefined;
}
