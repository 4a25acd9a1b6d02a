import type { Credential } from '../config/schema.ts';
import { isRefresherError } from '../core/errors.ts';
import type { TokenProvider } from '../core/types.ts';

/**
 * After a new sign-in: is the family of the token the targets still hold dead? A password reset or an admin's
 * revocation ends every refresh token of the family at once (Microsoft: AADSTS50173), so the copies in AEM are dead too
 * and are replaced at once instead of when they get old.
 *
 * Known from the last run's failure when a run saw it; otherwise asked once, by redeeming the old token, but only of
 * providers where using an old refresh token revokes nothing (Microsoft keeps the old one valid, Google does not rotate:
 * https://learn.microsoft.com/entra/identity-platform/refresh-tokens). A rotating provider with reuse detection
 * (RFC 9700 section 4.14) would treat that as theft, so for it only a seen failure counts.
 */
export async function oldFamilyDead(p: {
  credential: Credential;
  seenReauthorize: boolean;
  /** Some target holds a copy of an older version: without one there is nothing to replace early, and no need to ask. */
  oldCopies: boolean;
  oldRefreshToken: string | undefined;
  provider: () => TokenProvider;
}): Promise<boolean> {
  if (!p.oldCopies) return false;
  if (p.seenReauthorize) return true;
  if (!p.oldRefreshToken || (p.credential.provider !== 'microsoft' && p.credential.provider !== 'google')) return false;
  try {
    await p.provider().redeemRefreshToken(p.oldRefreshToken);
    return false;
  } catch (e) {
    return isRefresherError(e) && e.class === 'reauthorize';
  }
}
