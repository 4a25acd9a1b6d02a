/**
 * The interactive sign-ins `regenerate` needs (docs/PROTOCOLS.md, Entra ID): authorization code with PKCE (S256) and a random
 * `state` on a loopback redirect, a pasted redirect URL for machines without a browser, and the device-code flow.
 * Every way out other than a code with the right state is a RefresherError saying what happened and what to do; none
 * of them has touched the store.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Credential } from '../lambdas/config/schema.ts';
import { RefresherError } from '../lambdas/core/errors.ts';
import { redactAndCut, registerSecret } from '../lambdas/core/redact.ts';
import type { TokenProvider, TokenSet } from '../lambdas/core/types.ts';

export interface Pkce {
  verifier: string;
  challenge: string;
}

export function newPkce(): Pkce {
  // 32 random bytes give the 43-character verifier RFC 7636 recommends.
  const verifier = randomBytes(32).toString('base64url');
  registerSecret(verifier);
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

export function newState(): string {
  return randomBytes(24).toString('base64url');
}

function signInError(code: string, message: string, fix: string): RefresherError {
  return new RefresherError({ class: 'input', code, remote: 'browser', stage: 'regenerate', message, fix });
}

function sameState(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export interface RedirectParams {
  code?: string;
  state?: string;
  error?: string;
  errorDescription?: string;
  /** RFC 9207: the issuer that sent the response. */
  iss?: string;
}

/** What the `iss` of an authorization response must be; from the issuer's OpenID configuration. */
export interface ExpectedIssuer {
  issuer: string;
  /** The server advertises authorization_response_iss_parameter_supported: a response without `iss` is refused. */
  required: boolean;
}

/**
 * RFC 9207 section 2.4: a response whose `iss` is not the issuer the request went to (a mix-up attack: another
 * server's code delivered to our redirect), or lacks it when the server always sends it, is refused before its code is
 * used. Trailing slashes aside, the comparison is exact (RFC 3986 simple string comparison).
 */
function checkIssuer(p: RedirectParams, expected: ExpectedIssuer | undefined, again: string): void {
  if (!expected) return;
  const norm = (u: string) => u.replace(/\/+$/, '');
  if (p.iss === undefined ? expected.required : norm(p.iss) !== norm(expected.issuer)) {
    throw signInError(
      'ISSUER_MISMATCH',
      p.iss === undefined
        ? `the authorization response carries no "iss", though ${expected.issuer} always sends one (RFC 9207); the code was not used and nothing was stored`
        : `the authorization response names issuer "${redactAndCut(p.iss, 200)}", not ${expected.issuer} (RFC 9207: a response from another server); the code was not used and nothing was stored`,
      `${again} in a fresh browser window; if it repeats, another authorization server is answering for this redirect address: check the browser's extensions and the network.`,
    );
  }
}

/** What a redirect to the loopback address means: the code, or a classified refusal. */
export function interpretRedirect(
  p: RedirectParams,
  expectedState: string,
  credential: Pick<Credential, 'id' | 'mailbox'>,
  expectedIssuer?: ExpectedIssuer,
): string {
  const again = `Run \`token-refresher regenerate --credential ${credential.id}\` again`;
  checkIssuer(p, expectedIssuer, again);
  if (p.error) {
    // error_description carries AADSTS codes and Microsoft's text, never a secret; it is shown as the provider sent it.
    const described = p.errorDescription ? `: ${redactAndCut(p.errorDescription.replace(/\s+/g, ' '), 300)}` : '';
    if (p.error === 'access_denied') {
      throw signInError(
        'SIGN_IN_DENIED',
        `the sign-in was cancelled or consent was refused (error=access_denied${described}); nothing was stored`,
        `${again} and accept the requested permissions as ${credential.mailbox}. If an administrator must consent for the tenant, ask for admin consent to the app first.`,
      );
    }
    throw signInError(
      'SIGN_IN_ERROR',
      `the identity provider refused the sign-in (error=${p.error}${described}); nothing was stored`,
      `Act on the error above (an AADSTS code names the cause: https://login.microsoftonline.com/error), then ${again.toLowerCase()}.`,
    );
  }
  if (p.state === undefined || !sameState(p.state, expectedState)) {
    throw signInError(
      'STATE_MISMATCH',
      'the redirect carried a different `state` than this sign-in sent (a stale browser tab, an old pasted URL, or a forged request); the code was not used and nothing was stored',
      `${again} and complete the sign-in in the browser window it opens (or paste the URL of that very sign-in).`,
    );
  }
  if (!p.code) {
    throw signInError('NO_CODE', 'the redirect carried neither a code nor an error; nothing was stored', `${again}.`);
  }
  registerSecret(p.code);
  return p.code;
}

/** Accepts the redirected URL as pasted: a full URL, or only its query (`code=...&state=...`). */
export function parsePastedRedirect(text: string): RedirectParams | undefined {
  const t = text.trim();
  if (!t) return undefined;
  let query: string;
  if (/^https?:\/\//i.test(t)) {
    try {
      const u = new URL(t);
      // Some providers put the answer in the fragment when response_mode is not honoured; accept either.
      query = u.search.length > 1 ? u.search.slice(1) : u.hash.slice(1);
    } catch {
      return undefined;
    }
  } else {
    query = t.replace(/^[?#]/, '');
  }
  const q = new URLSearchParams(query);
  if (!q.has('code') && !q.has('error')) return undefined;
  return paramsOf(q);
}

function paramsOf(q: URLSearchParams): RedirectParams {
  return {
    code: q.get('code') ?? undefined,
    state: q.get('state') ?? undefined,
    error: q.get('error') ?? undefined,
    errorDescription: q.get('error_description') ?? undefined,
    iss: q.get('iss') ?? undefined,
  };
}

const page = (title: string, body: string) =>
  `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>${title}</title></head><body style="font-family:sans-serif;max-width:40em;margin:3em auto"><h1>${title}</h1><p>${body}</p></body></html>`;

export interface LoopbackListener {
  port: number;
  redirectUri: string;
  /** Settles with the first redirect that carries a code or an error. */
  result: Promise<RedirectParams>;
  close(): Promise<void>;
}

/**
 * The redirect target: an HTTP server on 127.0.0.1 only (never all interfaces, never [::1], which Entra does not
 * accept), announced as http://localhost:PORT because Entra matches the registered http://localhost ignoring the port.
 */
export async function startLoopback(port: number): Promise<LoopbackListener> {
  let settle: (p: RedirectParams) => void = () => {};
  const result = new Promise<RedirectParams>((resolve) => {
    settle = resolve;
  });
  let done = false;
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const q = url.searchParams;
    const send = (status: number, html: string) => {
      res.writeHead(status, {
        'content-type': 'text/html; charset=utf-8',
        'cache-control': 'no-store',
        connection: 'close',
      });
      res.end(html);
    };
    if (req.method !== 'GET' || (!q.has('code') && !q.has('error'))) {
      // Favicon requests and prefetches: not the redirect.
      send(404, page('Waiting for the sign-in', 'This address receives the sign-in redirect for token-refresher.'));
      return;
    }
    if (done) {
      send(409, page('Already handled', 'token-refresher already received a sign-in answer; return to the terminal.'));
      return;
    }
    done = true;
    const p = paramsOf(q);
    if (p.error)
      send(
        400,
        page('Sign-in not completed', 'The sign-in was refused or cancelled. Return to the terminal for what to do.'),
      );
    else
      send(
        200,
        page(
          'Signed in',
          'token-refresher received the sign-in. You can close this window and return to the terminal.',
        ),
      );
    settle(p);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(
        e.code === 'EADDRINUSE'
          ? new RefresherError({
              class: 'input',
              code: 'PORT_IN_USE',
              remote: 'browser',
              stage: 'regenerate',
              message: `port ${port} on 127.0.0.1 is in use`,
              fix: 'Choose another --port, or leave it out to use a free one.',
            })
          : e,
      ),
    );
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const actual = (server.address() as AddressInfo).port;
  return {
    port: actual,
    redirectUri: `http://localhost:${actual}`,
    result,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export function timeoutError(credential: Pick<Credential, 'id'>, seconds: number): RefresherError {
  return signInError(
    'SIGN_IN_TIMEOUT',
    `no sign-in came back within ${seconds} s; nothing was stored`,
    `Run \`token-refresher regenerate --credential ${credential.id}\` again and finish the sign-in in time, or give more time with --timeout SECONDS.`,
  );
}

/** The account a token response was issued to, from the id_token's claims (unverified: only compared, never trusted for access). */
export function accountOf(idToken: string | undefined): string | undefined {
  if (!idToken) return undefined;
  const part = idToken.split('.')[1];
  if (!part) return undefined;
  try {
    const claims = JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as Record<string, unknown>;
    for (const k of ['preferred_username', 'email', 'upn', 'unique_name']) {
      const v = claims[k];
      if (typeof v === 'string' && v.includes('@')) return v;
    }
  } catch {
    return undefined;
  }
  return undefined;
}

/**
 * Scopes of the sign-in: the credential's, plus the OpenID Connect scopes that make the provider say who signed in,
 * so consent given by the wrong account is caught before anything is stored. Resource scopes stay first: the access
 * token's audience is the first resource scope's.
 */
export function signInScopes(c: Pick<Credential, 'provider' | 'scopes' | 'issuer'>): string[] {
  // A plain OAuth2 server (no issuer) may refuse OpenID scopes it does not know; an OpenID provider names the account.
  if (c.provider === 'oauth2' && !c.issuer) return c.scopes;
  if (c.provider === 'oauth2') return [...c.scopes, ...['openid', 'email'].filter((s) => !c.scopes.includes(s))];
  const oidc = c.provider === 'google' ? ['openid', 'email'] : ['openid', 'email', 'profile'];
  return [...c.scopes, ...oidc.filter((s) => !c.scopes.includes(s))];
}

function claimsOf(idToken: string | undefined): Record<string, unknown> | undefined {
  const part = idToken?.split('.')[1];
  if (!part) return undefined;
  try {
    return JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/**
 * The signed-in account: from the ID token, else from userinfo (OpenID Connect Core 5.4: with an access token issued,
 * the claims of the email scope come from userinfo, not the ID token). Core 5.3.2: the userinfo `sub` must be the ID
 * token's, or the answer is about someone else and is ignored.
 */
export async function accountFor(
  tokens: TokenSet,
  provider: Pick<TokenProvider, 'userinfo'>,
): Promise<string | undefined> {
  const fromIdToken = accountOf(tokens.idToken);
  if (fromIdToken || !provider.userinfo || !tokens.accessToken) return fromIdToken;
  const info = await provider.userinfo(tokens.accessToken);
  if (!info) return undefined;
  const sub = claimsOf(tokens.idToken)?.sub;
  if (sub !== undefined && info.sub !== sub) return undefined;
  for (const k of ['email', 'preferred_username', 'upn']) {
    const v = info[k];
    if (typeof v === 'string' && v.includes('@')) return v;
  }
  return undefined;
}

/**
 * Refuses tokens that belong to someone else or cannot be rotated; returns the signed-in account. `account` is what
 * accountFor found (the ID token's claims when not given).
 */
export function checkTokens(
  tokens: TokenSet,
  credential: Pick<Credential, 'id' | 'mailbox' | 'provider'> & { issuer?: string },
  account: string | undefined = accountOf(tokens.idToken),
): string {
  if (!account) {
    const plainOAuth2 = credential.provider === 'oauth2' && !credential.issuer;
    throw new RefresherError({
      class: 'configuration',
      code: 'NO_ID_TOKEN',
      remote: 'browser',
      stage: 'regenerate',
      message: `neither ${tokens.idToken ? 'the ID token' : 'an ID token'} nor the provider's userinfo names the signed-in account by e-mail, so it cannot be checked against the mailbox; nothing was stored`,
      fix: plainOAuth2
        ? `Credential ${credential.id} has no "issuer", so the provider is not asked who signed in: set "issuer" to the provider's OpenID issuer (token-refresher then asks for openid and email), or "endpoints.userinfo", then run regenerate again.`
        : `The sign-in asked for the openid and email scopes. Make the provider release the email claim to the app of credential ${credential.id} (in the ID token or from its userinfo endpoint; set "endpoints.userinfo" if discovery does not name it), then run regenerate again.`,
    });
  }
  if (account.trim().toLowerCase() !== credential.mailbox.trim().toLowerCase()) {
    throw new RefresherError({
      class: 'input',
      code: 'WRONG_ACCOUNT',
      remote: 'browser',
      stage: 'regenerate',
      message: `the sign-in was completed as ${account}, but credential ${credential.id} sends mail as ${credential.mailbox}; the token was refused and nothing was stored`,
      fix: `Run \`token-refresher regenerate --credential ${credential.id}\` again and sign in as ${credential.mailbox} (use a private browser window, or sign out of ${account} first).`,
    });
  }
  if (!tokens.refreshToken) {
    const fix =
      credential.provider === 'google'
        ? 'Google issues a refresh token only with access_type=offline and prompt=consent (regenerate sends both). If it still issues none, remove the app at https://myaccount.google.com/permissions and run regenerate again.'
        : credential.provider === 'microsoft'
          ? `Add "offline_access" to the scopes of credential ${credential.id}, then run regenerate again.`
          : 'Request offline access from the provider (often the "offline_access" scope), then run regenerate again.';
    throw new RefresherError({
      class: 'configuration',
      code: 'NO_REFRESH_TOKEN',
      remote: 'browser',
      stage: 'regenerate',
      message: `the provider returned no refresh token for ${account}; without one nothing can be rotated, and nothing was stored`,
      fix,
    });
  }
  return account;
}

export interface DeviceFlowHooks {
  sleep(ms: number): Promise<void>;
  now(): Date;
  /** Shown once the provider has issued a user code. */
  onCode(p: { message: string; verificationUri: string; userCode: string; expiresInSec: number }): void;
  onPoll?(status: 'pending' | 'slow_down', intervalMs: number): void;
}

/** RFC 8628: poll at the given interval, add 5 s on every slow_down, stop at the code's expiry. */
export async function deviceCodeFlow(
  provider: TokenProvider,
  credential: Pick<Credential, 'id'>,
  hooks: DeviceFlowHooks,
): Promise<TokenSet> {
  if (!provider.startDeviceCode || !provider.pollDeviceCode) {
    throw signInError(
      'NO_DEVICE_CODE',
      `the provider of credential ${credential.id} has no device-code flow`,
      'Use the browser flow (leave out --device-code).',
    );
  }
  const grant = await provider.startDeviceCode();
  hooks.onCode({
    message: grant.message ?? `To sign in, open ${grant.verificationUri} and enter the code ${grant.userCode}.`,
    verificationUri: grant.verificationUri,
    userCode: grant.userCode,
    expiresInSec: grant.expiresInSec,
  });
  // A server asking for no interval still gets one request per second at most.
  let intervalMs = Math.max(1, grant.intervalSec) * 1000;
  const deadline = hooks.now().getTime() + grant.expiresInSec * 1000;
  for (;;) {
    await hooks.sleep(intervalMs);
    if (hooks.now().getTime() > deadline) {
      throw new RefresherError({
        class: 'input',
        code: 'DEVICE_CODE_EXPIRED',
        remote: provider.remote,
        stage: 'regenerate',
        message: 'the device code expired before the sign-in was completed; nothing was stored',
        fix: `Run \`token-refresher regenerate --credential ${credential.id} --device-code\` again and finish the sign-in within the time shown.`,
      });
    }
    const r = await provider.pollDeviceCode(grant.deviceCode);
    if (r.status === 'done') return r.tokens;
    if (r.status === 'slow_down') intervalMs += 5000;
    hooks.onPoll?.(r.status, intervalMs);
  }
}
