// The token endpoint's grants (refresh_token, authorization_code with PKCE, device_code) and the devicecode endpoint:
// what each issues and how each refuses (https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-auth-code-flow).
import { createHash } from 'node:crypto';
import { basicAuth, formOf, json, type Reply, type StandinRequest } from '../http.ts';
import { authenticate } from './assertions.ts';
import { deviceError, errorReply, failureFor, failureForName, type Failure } from './errors.ts';
import {
  b64url,
  ctxOf,
  DEVICE_CODE_GRANT,
  GRAPH,
  mintRefreshToken,
  normalizeScope,
  OIDC_SCOPES,
  randomToken,
  resourceOf,
  splitScopes,
  tenantFailure,
  userCode,
  uuidFrom,
  type DeviceCodeInfo,
  type EntraClient,
  type EntraWorld,
} from './model.ts';

export function idToken(w: EntraWorld, account: string, clientId: string, scopes: string[], nonce?: string): string {
  const { tenantId, atLifetimeSec, clock } = w;
  const now = Math.floor(clock.now() / 1000);
  const payload: Record<string, unknown> = {
    aud: clientId,
    iss: `https://login.microsoftonline.com/${tenantId}/v2.0`,
    iat: now,
    nbf: now,
    exp: now + atLifetimeSec,
    name: account.split('@')[0],
    oid: uuidFrom(account),
    preferred_username: account,
    sub: uuidFrom(`${account}|${clientId}`),
    tid: tenantId,
    ver: '2.0',
  };
  if (scopes.includes('email')) payload.email = account;
  if (nonce) payload.nonce = nonce;
  // Unsigned on purpose: clients only read the claims (to spot consent given for the wrong mailbox).
  return `${b64url({ typ: 'JWT', alg: 'none' })}.${b64url(payload)}.`;
}

/** Resolves the scopes of the access token; a Failure when a requested one was never consented. */
export function resolveScopes(
  w: EntraWorld,
  granted: string[],
  requested: string[],
  client: EntraClient,
): { audience: string; scopes: string[] } | Failure {
  const { retryAfterDefault } = w;
  const resourceRequested = requested.filter((s) => !OIDC_SCOPES.has(s));
  const grantedResource = granted.filter((s) => !OIDC_SCOPES.has(s));
  if (resourceRequested.length === 0) {
    const first = grantedResource[0] ?? `${GRAPH}/User.Read`;
    const audience = resourceOf(first);
    return { audience, scopes: grantedResource.filter((s) => resourceOf(s) === audience) };
  }
  // One token, one audience: scopes of other resources are silently dropped (an access token is for one resource:
  // https://learn.microsoft.com/en-us/entra/identity-platform/scopes-oidc).
  const audience = resourceOf(resourceRequested[0] ?? '');
  const out = new Set<string>();
  for (const s of resourceRequested.filter((x) => resourceOf(x) === audience)) {
    if (s.endsWith('/.default')) {
      const all = grantedResource.filter((g) => resourceOf(g) === audience);
      if (all.length === 0) return failureFor(65001, ctxOf(w, client, { resource: audience }), retryAfterDefault);
      all.forEach((g) => out.add(g));
    } else if (granted.includes(s)) {
      out.add(s);
    } else {
      return failureFor(65001, ctxOf(w, client, { resource: audience }), retryAfterDefault);
    }
  }
  return { audience, scopes: [...out] };
}

export function tokenResponse(
  w: EntraWorld,
  args: {
    client: EntraClient;
    account: string;
    granted: string[];
    requested: string[];
    nonce?: string;
    newRefreshToken: boolean;
  },
): Reply {
  const { atLifetimeSec, clock, accessTokens } = w;
  const resolved = resolveScopes(w, args.granted, args.requested, args.client);
  if ('error' in resolved) return errorReply(resolved);
  const accessToken = randomToken('at-', 1400);
  accessTokens.set(accessToken, {
    account: args.account,
    clientId: args.client.clientId,
    scopes: resolved.scopes,
    audience: resolved.audience,
    expiresAt: clock.now() + atLifetimeSec * 1000,
  });
  const oidcRequested = args.requested.filter(
    (s) => OIDC_SCOPES.has(s) && s !== 'offline_access' && args.granted.includes(s),
  );
  const body: Record<string, unknown> = {
    token_type: 'Bearer',
    scope: [...resolved.scopes, ...oidcRequested].join(' '),
    expires_in: atLifetimeSec,
    ext_expires_in: atLifetimeSec,
    access_token: accessToken,
  };
  if (args.newRefreshToken && args.granted.includes('offline_access')) {
    body.refresh_token = mintRefreshToken(w, args.account, args.client.clientId, args.granted);
  }
  if (args.requested.includes('openid') && args.granted.includes('openid')) {
    body.id_token = idToken(w, args.account, args.client.clientId, args.granted, args.nonce);
  }
  return json(200, body, { 'cache-control': 'no-store, no-cache', pragma: 'no-cache' });
}

export function missing(w: EntraWorld, param: string): Reply {
  const { retryAfterDefault } = w;
  return errorReply(failureFor(900144, { param }, retryAfterDefault));
}

export function token(w: EntraWorld, req: StandinRequest): Reply {
  const { tenant, retryAfterDefault, clients, failQueue } = w;
  const form = formOf(req);
  const basic = basicAuth(req);
  const clientId = form.get('client_id') ?? basic?.id ?? undefined;
  const tf = tenantFailure(w, req.params.tenant ?? '', clientId);
  if (tf) return errorReply(tf);
  const queued = failQueue.shift();
  if (queued) {
    const client = clients.get(clientId ?? '');
    const ctx = ctxOf(w, client, { clientId });
    return errorReply(
      typeof queued.code === 'number'
        ? failureFor(queued.code, ctx, queued.retryAfterSec)
        : failureForName(queued.code, ctx, queued.retryAfterSec),
    );
  }
  const grantType = form.get('grant_type');
  if (!grantType) return missing(w, 'grant_type');
  if (!clientId) return missing(w, 'client_id');
  const client = clients.get(clientId);
  if (!client) return errorReply(failureFor(700016, { clientId, tenant }, retryAfterDefault));
  if (grantType === 'refresh_token') return refreshGrant(w, client, form, req);
  if (grantType === 'authorization_code') return codeGrant(w, client, form, req);
  if (grantType === DEVICE_CODE_GRANT) return deviceGrant(w, client, form, req);
  return errorReply(failureFor(70003, { param: grantType }, retryAfterDefault));
}

export function refreshGrant(w: EntraWorld, client: EntraClient, form: URLSearchParams, req: StandinRequest): Reply {
  const { rotate, retryAfterDefault, clock, refreshTokens } = w;
  const rt = form.get('refresh_token');
  if (!rt) return missing(w, 'refresh_token');
  const scope = form.get('scope');
  if (!scope) return missing(w, 'scope');
  const authFailure = authenticate(w, client, form, req, false);
  if (authFailure) return errorReply(authFailure);
  const rec = refreshTokens.get(rt);
  if (!rec) return errorReply(failureFor(9002313, ctxOf(w, client), retryAfterDefault));
  if (rec.clientId !== client.clientId) return errorReply(failureFor(70000, ctxOf(w, client), retryAfterDefault));
  const ctx = ctxOf(w, client, { issuedAt: rec.issuedAt });
  if (rec.revoked) return errorReply(failureFor(50173, ctx, retryAfterDefault));
  if (rec.deadCode !== undefined) return errorReply(failureFor(rec.deadCode, ctx, retryAfterDefault));
  if (clock.now() > rec.expiresAt) return errorReply(failureFor(700082, ctx, retryAfterDefault));
  const requested = splitScopes(scope).map(normalizeScope);
  const reply = tokenResponse(w, {
    client,
    account: rec.account,
    granted: rec.scopes,
    requested,
    newRefreshToken: rotate,
  });
  if (reply.status === 200) rec.uses++;
  return reply;
}

export function codeGrant(w: EntraWorld, client: EntraClient, form: URLSearchParams, req: StandinRequest): Reply {
  const { retryAfterDefault, clock, codes } = w;
  const code = form.get('code');
  if (!code) return missing(w, 'code');
  const redirectUri = form.get('redirect_uri');
  if (!redirectUri) return missing(w, 'redirect_uri');
  const authFailure = authenticate(w, client, form, req, false);
  if (authFailure) return errorReply(authFailure);
  const rec = codes.get(code);
  if (!rec) return errorReply(failureFor(9002313, ctxOf(w, client), retryAfterDefault));
  if (rec.redeemed) return errorReply(failureFor(54005, ctxOf(w, client), retryAfterDefault));
  if (clock.now() > rec.expiresAt) return errorReply(failureFor(70008, ctxOf(w, client), retryAfterDefault));
  if (rec.clientId !== client.clientId) return errorReply(failureFor(70000, ctxOf(w, client), retryAfterDefault));
  if (rec.redirectUri !== redirectUri) return errorReply(failureFor(500112, ctxOf(w, client), retryAfterDefault));
  if (rec.codeChallenge !== undefined) {
    const verifier = form.get('code_verifier');
    if (!verifier) return missing(w, 'code_verifier');
    const computed =
      rec.codeChallengeMethod === 'plain' ? verifier : createHash('sha256').update(verifier).digest('base64url');
    if (computed !== rec.codeChallenge) return errorReply(failureFor(501481, ctxOf(w, client), retryAfterDefault));
  }
  rec.redeemed = true;
  const requested = form.get('scope') ? splitScopes(form.get('scope') ?? '').map(normalizeScope) : rec.scopes;
  return tokenResponse(w, {
    client,
    account: rec.account,
    granted: rec.scopes,
    requested,
    nonce: rec.nonce,
    newRefreshToken: true,
  });
}

export function deviceGrant(w: EntraWorld, client: EntraClient, form: URLSearchParams, req: StandinRequest): Reply {
  const { defaultAccount, retryAfterDefault, clock, devices, lastPoll } = w;
  const deviceCode = form.get('device_code') ?? form.get('code');
  if (!deviceCode) return missing(w, 'device_code');
  const authFailure = authenticate(w, client, form, req, true);
  if (authFailure) return errorReply(authFailure);
  const rec = devices.get(deviceCode);
  if (!rec || rec.clientId !== client.clientId) {
    return deviceError(
      'bad_verification_code',
      70000,
      "The provided value for the input parameter 'device_code' is not valid.",
    );
  }
  const now = clock.now();
  if (now > rec.expiresAt) {
    return deviceError(
      'expired_token',
      70020,
      "The provided value for the input parameter 'device_code' is not valid. This device code has expired.",
    );
  }
  const last = lastPoll.get(deviceCode);
  lastPoll.set(deviceCode, now);
  switch (rec.state) {
    case 'declined':
      return deviceError('authorization_declined', undefined, 'The end user denied the authorization request.');
    case 'redeemed':
      return errorReply(failureFor(54005, ctxOf(w, client), retryAfterDefault));
    case 'pending':
      if (last !== undefined && now - last < rec.intervalSec * 1000) {
        return deviceError('slow_down', undefined, 'The client is polling too quickly. Increase the polling interval.');
      }
      return deviceError(
        'authorization_pending',
        70016,
        'OAuth 2.0 device flow error. Authorization is pending. Continue polling.',
      );
    case 'approved':
      rec.state = 'redeemed';
      return tokenResponse(w, {
        client,
        account: rec.account ?? defaultAccount,
        granted: rec.scopes,
        requested: rec.scopes,
        newRefreshToken: true,
      });
  }
}

export function deviceCodeEndpoint(w: EntraWorld, req: StandinRequest): Reply {
  const { tenant, deviceExpiresInSec, deviceIntervalSec, retryAfterDefault, clock, clients, devices } = w;
  const form = formOf(req);
  const clientId = form.get('client_id') ?? undefined;
  const tf = tenantFailure(w, req.params.tenant ?? '', clientId);
  if (tf) return errorReply(tf);
  if (!clientId) return missing(w, 'client_id');
  const client = clients.get(clientId);
  if (!client) return errorReply(failureFor(700016, { clientId, tenant }, retryAfterDefault));
  const scope = form.get('scope');
  if (!scope) return missing(w, 'scope');
  const rec: DeviceCodeInfo = {
    deviceCode: randomToken('dc-', 180),
    userCode: userCode(),
    clientId,
    scopes: splitScopes(scope).map(normalizeScope),
    expiresAt: clock.now() + deviceExpiresInSec * 1000,
    intervalSec: deviceIntervalSec,
    state: 'pending',
  };
  devices.set(rec.deviceCode, rec);
  const verificationUri = `${w.baseUrl}/devicelogin`;
  return json(200, {
    user_code: rec.userCode,
    device_code: rec.deviceCode,
    verification_uri: verificationUri,
    expires_in: deviceExpiresInSec,
    interval: deviceIntervalSec,
    message: `To sign in, use a web browser to open the page ${verificationUri} and enter the code ${rec.userCode} to authenticate.`,
  });
}
