import { rotateCredential, type RotationSummary } from '../../../lambdas/pipeline/rotate.ts';
import type { WiringOptions } from '../../../lambdas/pipeline/wiring.ts';
import { DEFAULT_CLIENT_SECRET } from '../../../standins/entra.ts';
import type { Harness } from '../../support/harness.ts';

/**
 * What a person does after a "re-authorize" alert: signs in again (the stand-in mints a token as consent would), the
 * tokens of that sign-in are redeemed, and the pipeline takes them in place of its own redeem (`regenerate`).
 */
export async function regenerate(h: Harness, over: Partial<WiringOptions>): Promise<RotationSummary> {
  const c = h.config.credentials[0]!;
  const deps = h.wiring(over);
  const signedIn = h.standins.entra.issueRefreshToken({ account: c.mailbox });
  const tokens = await deps.provider(c, DEFAULT_CLIENT_SECRET, 'client-secret').redeemRefreshToken(signedIn);
  return rotateCredential(deps, c, { newTokens: { ...tokens, account: c.mailbox }, source: 'regenerate' });
}
