// What a browser sees: the authorize endpoint's consent page and its redirects, the device login page, and the OpenID
// configuration document.
import { randomUUID } from 'node:crypto';
import { escapeHtml, formOf, html, json, randomId, type Reply, type StandinRequest } from '../http.ts';
import { aadErrorBody, failureFor, type Failure } from './errors.ts';
import {
  CODE_LIFETIME_MS,
  loopbackMatch,
  normalizeScope,
  randomToken,
  splitScopes,
  tenantFailure,
  type DeviceCodeInfo,
  type EntraWorld,
} from './model.ts';

export function authorizeErrorPage(f: Failure): Reply {
  const body = aadErrorBody(f);
  return html(
    400,
    `<!DOCTYPE html><html><head><meta charset="utf-8"><title>Sign in to your account</title></head><body>` +
      `<h1>Sorry, but we're having trouble signing you in.</h1><p id="error">${escapeHtml(String(body.error_description))}</p></body></html>`,
  );
}

export function redirectTo(redirectUri: string, params: Record<string, string | undefined>): Reply {
  const target = new URL(redirectUri);
  for (const [k, v] of Object.entries(params)) if (v !== undefined) target.searchParams.set(k, v);
  return { status: 302, headers: { location: target.toString(), 'cache-control': 'no-store, no-cache' } };
}

export function authorize(w: EntraWorld, req: StandinRequest): Reply {
  const { tenant, defaultAccount, retryAfterDefault, clients, txns } = w;
  const q = req.url.searchParams;
  const clientId = q.get('client_id') ?? undefined;
  const tf = tenantFailure(w, req.params.tenant ?? '', clientId);
  if (tf) return authorizeErrorPage(tf);
  if (!clientId) return authorizeErrorPage(failureFor(900144, { param: 'client_id' }, retryAfterDefault));
  const client = clients.get(clientId);
  if (!client) return authorizeErrorPage(failureFor(700016, { clientId, tenant }, retryAfterDefault));
  const redirectUri = q.get('redirect_uri');
  if (!redirectUri || !(client.redirectUris ?? []).some((r) => loopbackMatch(r, redirectUri))) {
    return authorizeErrorPage({
      code: 50011,
      error: 'invalid_request',
      status: 400,
      message: `The redirect URI '${redirectUri ?? ''}' specified in the request does not match the redirect URIs configured for the application '${clientId}'. Make sure the redirect URI sent in the request matches one added to your application in the Azure portal.`,
    });
  }
  const state = q.get('state') ?? undefined;
  const fail = (error: string, code: number, message: string): Reply =>
    redirectTo(redirectUri, { error, error_description: `AADSTS${code}: ${message}`, state });
  if (q.get('response_type') !== 'code') {
    return fail(
      'unsupported_response_type',
      70005,
      "The provided value for the input parameter 'response_type' is not allowed for this request.",
    );
  }
  const scope = q.get('scope');
  if (!scope) return fail('invalid_request', 900144, "The request body must contain the following parameter: 'scope'.");
  const mode = q.get('response_mode') ?? 'query';
  if (mode !== 'query')
    return fail('invalid_request', 900144, `This stand-in supports response_mode=query only, not '${mode}'.`);
  const challenge = q.get('code_challenge') ?? undefined;
  const method = q.get('code_challenge_method') ?? (challenge ? 'plain' : undefined);
  if (challenge && method !== 'S256' && method !== 'plain') {
    return fail('invalid_request', 50148, "The code_challenge_method must be 'S256' or 'plain'.");
  }
  const txn = randomId();
  const loginHint = q.get('login_hint');
  const scopes = splitScopes(scope).map(normalizeScope);
  txns.set(txn, {
    clientId,
    redirectUri,
    scopes,
    state,
    nonce: q.get('nonce') ?? undefined,
    codeChallenge: challenge,
    codeChallengeMethod: method,
    account: loginHint || defaultAccount,
  });
  const items = scopes.map((s) => `<li>${escapeHtml(s)}</li>`).join('');
  return html(
    200,
    `<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>Permissions requested</title></head><body>\n` +
      `<h1>Permissions requested</h1>\n<p>${escapeHtml(client.name ?? clientId)} (${escapeHtml(clientId)}) wants to:</p><ul>${items}</ul>\n` +
      `<form method="post" action="/${escapeHtml(req.params.tenant ?? tenant)}/oauth2/v2.0/authorize">\n` +
      `<input type="hidden" name="txn" value="${txn}">\n` +
      `<label for="account">Account</label> <input id="account" name="account" type="text" value="${escapeHtml(loginHint || defaultAccount)}">\n` +
      `<button id="accept" type="submit" name="decision" value="accept">Accept</button>\n` +
      `<button id="cancel" type="submit" name="decision" value="cancel">Cancel</button>\n` +
      `</form></body></html>\n`,
  );
}

export function consentDecision(w: EntraWorld, req: StandinRequest): Reply {
  const { clock, codes, txns } = w;
  const form = formOf(req);
  const txnId = form.get('txn') ?? '';
  const txn = txns.get(txnId);
  if (!txn) {
    return authorizeErrorPage({
      code: 9002313,
      error: 'invalid_request',
      status: 400,
      message: 'Invalid request. Request is malformed or invalid.',
    });
  }
  txns.delete(txnId);
  if (form.get('decision') !== 'accept') {
    return redirectTo(txn.redirectUri, {
      error: 'access_denied',
      error_subcode: 'cancel',
      error_description: 'AADSTS65004: User declined to consent to access the app.',
      state: txn.state,
    });
  }
  const code = randomToken('code-', 800);
  codes.set(code, {
    clientId: txn.clientId,
    redirectUri: txn.redirectUri,
    scopes: txn.scopes,
    nonce: txn.nonce,
    codeChallenge: txn.codeChallenge,
    codeChallengeMethod: txn.codeChallengeMethod,
    account: (form.get('account') ?? '').trim() || txn.account,
    expiresAt: clock.now() + CODE_LIFETIME_MS,
    redeemed: false,
  });
  return redirectTo(txn.redirectUri, { code, state: txn.state, session_state: randomUUID() });
}

export function findDevice(w: EntraWorld, code: string): DeviceCodeInfo {
  const { devices } = w;
  const wanted = code.trim().toUpperCase();
  for (const d of devices.values()) if (d.userCode === wanted) return d;
  throw new Error(`unknown user code ${code}`);
}

export function deviceLoginPage(w: EntraWorld): Reply {
  const { defaultAccount } = w;
  return html(
    200,
    `<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>Enter code</title></head><body>\n` +
      `<h1>Enter code</h1><form method="post" action="/devicelogin">\n` +
      `<label for="code">Code</label> <input id="code" name="code" type="text">\n` +
      `<label for="account">Account</label> <input id="account" name="account" type="text" value="${escapeHtml(defaultAccount)}">\n` +
      `<button id="accept" type="submit" name="decision" value="accept">Accept</button>\n` +
      `<button id="cancel" type="submit" name="decision" value="cancel">Cancel</button>\n` +
      `</form></body></html>\n`,
  );
}

export function deviceLoginSubmit(w: EntraWorld, req: StandinRequest): Reply {
  const { defaultAccount, clock } = w;
  const form = formOf(req);
  try {
    const d = findDevice(w, form.get('code') ?? '');
    if (d.state !== 'pending' || clock.now() > d.expiresAt) throw new Error('code no longer valid');
    if (form.get('decision') === 'accept') {
      d.state = 'approved';
      d.account = (form.get('account') ?? '').trim() || defaultAccount;
      return html(
        200,
        '<!DOCTYPE html><html><body><h1>You have signed in. You may now close this window.</h1></body></html>',
      );
    }
    d.state = 'declined';
    return html(200, '<!DOCTYPE html><html><body><h1>Sign-in cancelled.</h1></body></html>');
  } catch {
    return html(
      400,
      '<!DOCTYPE html><html><body><h1 id="error">That code didn\'t work. Check the code and try again.</h1></body></html>',
    );
  }
}

export function openidConfiguration(w: EntraWorld, req: StandinRequest): Reply {
  const { tenant, tenantId } = w;
  const base = `${w.baseUrl}/${req.params.tenant ?? tenant}`;
  return json(200, {
    issuer: `https://login.microsoftonline.com/${tenantId}/v2.0`,
    authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
    token_endpoint: `${base}/oauth2/v2.0/token`,
    device_authorization_endpoint: `${base}/oauth2/v2.0/devicecode`,
    response_types_supported: ['code'],
    response_modes_supported: ['query'],
    scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
    token_endpoint_auth_methods_supported: ['client_secret_post', 'client_secret_basic'],
    code_challenge_methods_supported: ['S256', 'plain'],
  });
}
