import type { Credential } from '../config/schema.ts';
import { httpRequest, parseJson } from '../core/http.ts';
import type { TokenSet } from '../core/types.ts';
import { accountOf } from '../../cli/sign-in.ts';

/**
 * Who signed in: the ID token's claims, else the provider's userinfo endpoint with the new access token (OpenID
 * Connect Core 5.3 and 5.4: with an access token issued, email may come only from userinfo). The ID token is not
 * verified because it is only compared with the mailbox, never trusted for access; the token endpoint it came from is
 * the configured one, over TLS.
 */
export async function signedInAccount(
  tokens: TokenSet,
  credential: Pick<Credential, 'endpoints'>,
  o: { timeoutMs: number; userinfoUrl?: string },
): Promise<string | undefined> {
  const fromIdToken = accountOf(tokens.idToken);
  if (fromIdToken) return fromIdToken;
  const url = o.userinfoUrl ?? credential.endpoints.userinfo;
  if (!url || !tokens.accessToken) return undefined;
  const res = await httpRequest({
    remote: 'oauth2',
    stage: 'regenerate',
    method: 'GET',
    url,
    headers: { authorization: `Bearer ${tokens.accessToken}`, accept: 'application/json' },
    timeoutMs: o.timeoutMs,
    retries: 1,
    maxBodyBytes: 64 * 1024,
  });
  if (res.status !== 200) return undefined;
  const doc = parseJson(res.text) as Record<string, unknown> | undefined;
  for (const k of ['email', 'preferred_username', 'upn']) {
    const v = doc?.[k];
    if (typeof v === 'string' && v.includes('@')) return v;
  }
  return undefined;
}
