/**
 * The recovery endpoint (a Lambda Function URL, payload format 2.0). Two routes, nothing else:
 *
 *   GET  /link?c=<credential>&t=<link token>   a page with one button; nothing is read or written (mail scanners that
 *                                             open links must not use them up)
 *   POST /link?c=<credential>&t=<link token>   the link token is consumed (single use, bound to the credential, not
 *                                             expired), PKCE S256 and a single-use state are made, 303 to the provider
 *   GET  /callback?code=...&state=...          the state is consumed, the code redeemed with the verifier, the account
 *                                             checked against the mailbox, then the regenerate pipeline runs
 *
 * Every refusal happens before anything is stored, says what happened and what to do, and never shows a link token,
 * state, code or token. A refusal that is the signer's own mistake (Cancel, the wrong account) gives the link back, so
 * the same alert can be used again; the per-credential limit still counts each start.
 */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { secretIds } from '../config/load.ts';
import { recoverySettings, type Config, type Credential } from '../config/schema.ts';
import { asRefresherError } from '../core/errors.ts';
import { registerSecret } from '../core/redact.ts';
import type { TokenProvider } from '../core/types.ts';
import { rotateCredential, type RotationDeps, type RotationSummary, type Step } from '../pipeline/rotate.ts';
import { OAuth2Provider } from '../refresh/oauth2-provider.ts';
import type { Log } from '../report/logger.ts';
import type { MetricSink } from '../report/metrics.ts';
import * as names from '../report/metric-names.ts';
import { CALLBACK_PATH, LINK_PATH, redirectUriOf } from '../report/recovery-link.ts';
import { clientSecretValue } from '../store/records.ts';
import type { OneTimeItem, StateStore } from '../store/state-store.ts';
import { signInScopes } from '../../cli/sign-in.ts';
import { signedInAccount } from './account.ts';
import { takeLinkUse } from './limit.ts';
import { escapeHtml, htmlResponse, notFound, p, redirectResponse, refusalPage } from './pages.ts';
import { resultPage } from './result-page.ts';
import { challengeOf, hashOf, looksLikeSecretValue, newSecretValue, openVerifier, sealVerifier } from './secrets.ts';

/** How long the provider's sign-in may take between the redirect and the callback. */
export const STATE_TTL_MS = 15 * 60_000;

export const RecoveryMetric = {
  LinkUsed: 'RecoveryLinkUsed',
  Refused: names.RECOVERY_REFUSED,
  Completed: 'RecoveryCompleted',
} as const;

export interface RecoveryDeps {
  config: Config;
  state: StateStore;
  /** The pipeline's dependencies, wired as for the scheduled function (lambdas/pipeline/wiring.ts). */
  pipeline: () => RotationDeps;
  log: Log;
  metrics: MetricSink;
  now?: () => Date;
  /** The endpoint's own base URL; default https://<the request's domain>. The redirect URI is <base>/callback. */
  publicUrl?: string;
}

type Result = APIGatewayProxyStructuredResultV2;

function queryOf(event: APIGatewayProxyEventV2): URLSearchParams {
  // rawQueryString, not queryStringParameters: the latter joins repeated keys with commas.
  return new URLSearchParams(event.rawQueryString ?? '');
}

export function createRecoveryHandler(deps: RecoveryDeps): (event: APIGatewayProxyEventV2) => Promise<Result> {
  const now = () => deps.now?.() ?? new Date();
  const settings = recoverySettings(deps.config);
  const refused = (credential: string, reason: string) => {
    deps.metrics.count(RecoveryMetric.Refused, credential, 1, { reason });
    deps.log.warn(`recovery refused: ${reason}`, { credential, reason });
  };
  const findCredential = (id: string | null): Credential | undefined =>
    id ? deps.config.credentials.find((c) => c.id === id) : undefined;
  const baseUrl = (event: APIGatewayProxyEventV2) => deps.publicUrl ?? `https://${event.requestContext.domainName}`;

  const providerFor = async (
    c: Credential,
    pipeline: RotationDeps,
    clientSecret: string | undefined,
  ): Promise<TokenProvider> => {
    const provider = pipeline.provider(
      { ...c, scopes: signInScopes(c) },
      clientSecret,
      secretIds(deps.config, c).clientSecret,
    );
    // An issuer-only provider learns its authorize endpoint from discovery first.
    if (provider instanceof OAuth2Provider) await provider.ready('regenerate');
    return provider;
  };

  /** A link route request that is not a possible link at all: nothing is looked up. */
  const badLink = (): Result =>
    refusalPage(
      400,
      'This sign-in link is not valid',
      'The address is incomplete or was changed (it must be copied whole from the alert).',
      'Open the link from the alert again, or copy the whole address; a link wrapped over two lines must be joined.',
    );

  async function linkPage(q: URLSearchParams): Promise<Result> {
    const c = findCredential(q.get('c'));
    if (!c || !looksLikeSecretValue(q.get('t'))) return badLink();
    // The form posts to this very URL (query included), so the token never appears in the page itself.
    const authorize = await providerFor(c, deps.pipeline(), undefined)
      .then(
        (pr) =>
          new URL(pr.authorizationUrl({ redirectUri: 'https://invalid.example/', state: 'x', codeChallenge: 'x' }))
            .origin,
      )
      .catch(() => undefined);
    return htmlResponse(
      200,
      `Sign in again: ${c.id}`,
      p(`The mail token of credential "${c.id}" needs a new sign-in. Continue, then sign in as ${c.mailbox}.`) +
        p(
          'After the sign-in the new token is stored, tested with a test send and handed to AEM; the next page shows each step.',
        ) +
        `<form method="post"><button type="submit" id="continue">Continue to sign-in as ${escapeHtml(c.mailbox)}</button></form>` +
        p('The link works once. Scanners that open links do not use it up; only this button does.'),
      { formTargets: authorize ? [authorize] : [] },
    );
  }

  async function startSignIn(event: APIGatewayProxyEventV2, q: URLSearchParams): Promise<Result> {
    const c = findCredential(q.get('c'));
    const token = q.get('t');
    if (!c || !looksLikeSecretValue(token)) return badLink();
    registerSecret(token);
    const at = now();
    const item = await deps.state.consumeOneTime(hashOf(token), at);
    if (!item || item.purpose !== 'link' || Date.parse(item.expiresAt) <= at.getTime()) {
      refused(c.id, item ? 'expired' : 'used-or-unknown');
      return refusalPage(
        410,
        'This sign-in link is used up or expired',
        'Each link works once and for a limited time; this one was already used, has expired, or was never issued.',
        `Use the link of the newest alert for "${c.id}" (reminders carry a new one), or ask whoever runs token-refresher to run \`token-refresher regenerate --credential ${c.id}\`.`,
      );
    }
    if (item.credentialId !== c.id) {
      refused(c.id, 'foreign-credential');
      return refusalPage(
        400,
        'This sign-in link is not valid',
        'The link was issued for another credential than the one in its address.',
        `Open the link exactly as the alert shows it.`,
      );
    }
    // Counted only for real links (a stranger posting made-up tokens cannot use up the day's sign-ins); a link refused
    // for the limit is given back and works tomorrow.
    if (!(await takeLinkUse(deps.state, c.id, settings.maxLinkUsesPerDay, at))) {
      await deps.state.putOneTime(item).catch(() => undefined);
      refused(c.id, 'limit');
      return refusalPage(
        429,
        'Too many sign-ins for this credential today',
        `Sign-ins for credential "${c.id}" were started ${settings.maxLinkUsesPerDay} times in the last 24 hours, which is the limit.`,
        `Try again tomorrow with this link (it still works until ${item.expiresAt}), or ask whoever runs token-refresher to run \`token-refresher regenerate --credential ${c.id}\`.`,
      );
    }
    deps.metrics.count(RecoveryMetric.LinkUsed, c.id);
    const pipeline = deps.pipeline();
    const provider = await providerFor(c, pipeline, undefined);
    const verifier = newSecretValue();
    const state = newSecretValue();
    const redirectUri = redirectUriOf(baseUrl(event));
    await deps.state.putOneTime({
      hash: hashOf(state),
      credentialId: c.id,
      purpose: 'state',
      expiresAt: new Date(at.getTime() + STATE_TTL_MS).toISOString(),
      data: { verifier: sealVerifier(verifier, state, c.id), link: item.hash, linkExpiresAt: item.expiresAt },
    });
    deps.log.info('recovery: sign-in started', { credential: c.id });
    return redirectResponse(
      provider.authorizationUrl({ redirectUri, state, codeChallenge: challengeOf(verifier), loginHint: c.mailbox }),
    );
  }

  /** Gives the link back after a refusal that was the signer's own mistake, so the alert's link works again. */
  async function returnLink(item: OneTimeItem, at: Date): Promise<void> {
    const hash = item.data?.link;
    const expiresAt = item.data?.linkExpiresAt;
    if (!hash || !expiresAt || Date.parse(expiresAt) <= at.getTime()) return;
    await deps.state
      .putOneTime({ hash, credentialId: item.credentialId, purpose: 'link', expiresAt })
      .catch(() => undefined);
  }

  async function callback(event: APIGatewayProxyEventV2, q: URLSearchParams): Promise<Result> {
    const state = q.get('state');
    const code = q.get('code');
    registerSecret(code);
    const again = 'Open the sign-in link from the alert again and finish the sign-in in that same window.';
    if (!looksLikeSecretValue(state)) {
      refused('unknown', 'no-state');
      return refusalPage(
        400,
        'This sign-in cannot be finished',
        'The answer from the sign-in page carries no valid state (an old tab, a bookmarked or a forged address).',
        again,
      );
    }
    registerSecret(state);
    const at = now();
    const item = await deps.state.consumeOneTime(hashOf(state), at);
    if (!item || item.purpose !== 'state' || Date.parse(item.expiresAt) <= at.getTime()) {
      refused('unknown', item ? 'state-expired' : 'state-used-or-unknown');
      return refusalPage(
        400,
        'This sign-in was already finished or has expired',
        'Each sign-in can be finished once, within 15 minutes; this answer was already used, came too late, or belongs to no sign-in started here.',
        again,
      );
    }
    const c = findCredential(item.credentialId);
    const verifier = c ? openVerifier(item.data?.verifier, state, c.id) : undefined;
    if (!c || !verifier) {
      refused(item.credentialId, 'no-verifier');
      return refusalPage(
        400,
        'This sign-in cannot be finished',
        'The sign-in has lost its proof key (PKCE verifier), so its code cannot be redeemed.',
        again,
      );
    }
    const error = q.get('error');
    if (error) {
      await returnLink(item, at);
      refused(c.id, 'provider-error');
      const described = (q.get('error_description') ?? '').replace(/\s+/g, ' ').slice(0, 300);
      return refusalPage(
        error === 'access_denied' ? 403 : 400,
        error === 'access_denied' ? 'The sign-in was cancelled' : 'The sign-in page refused the sign-in',
        `The provider answered error=${error}${described ? `: ${described}` : ''}.`,
        error === 'access_denied'
          ? `Open the link from the alert again and accept the requested permissions as ${c.mailbox}. If an administrator must consent for the organization, ask for that first.`
          : `Act on the error above (an AADSTS code names the cause: https://login.microsoftonline.com/error), then open the link from the alert again.`,
      );
    }
    if (!code) {
      refused(c.id, 'no-code');
      return refusalPage(
        400,
        'This sign-in cannot be finished',
        'The answer from the sign-in page carries neither a code nor an error.',
        again,
      );
    }

    const pipeline = deps.pipeline();
    const ids = secretIds(deps.config, c);
    const clientSecret = clientSecretValue((await pipeline.store.getValue(ids.clientSecret, 'AWSCURRENT'))?.value);
    registerSecret(clientSecret);
    const provider = await providerFor(c, pipeline, clientSecret);
    let tokens;
    try {
      tokens = await provider.redeemAuthorizationCode({
        code,
        redirectUri: redirectUriOf(baseUrl(event)),
        codeVerifier: verifier,
      });
    } catch (e) {
      const err = asRefresherError(e, provider.remote, 'regenerate');
      refused(c.id, 'redeem-failed');
      return refusalPage(
        502,
        'The sign-in could not be completed',
        `The provider did not exchange the sign-in for tokens: ${err.code}. ${err.message}`,
        `${err.fix} Then open the link from the alert again.`,
      );
    }
    registerSecret(tokens.refreshToken);
    registerSecret(tokens.accessToken);
    const account = await signedInAccount(tokens, c, { timeoutMs: deps.config.http.timeoutMs }).catch(() => undefined);
    if (!account || account.trim().toLowerCase() !== c.mailbox.trim().toLowerCase()) {
      await returnLink(item, at);
      refused(c.id, account ? 'wrong-account' : 'no-account');
      return refusalPage(
        403,
        `Sign in as ${c.mailbox}`,
        account
          ? `The sign-in was completed as ${account}, but credential "${c.id}" sends mail as ${c.mailbox}. The tokens of ${account} were thrown away.`
          : `The provider did not say which account signed in, so it cannot be checked against ${c.mailbox}.`,
        account
          ? `Open the link from the alert again and sign in as ${c.mailbox} (a private browser window, or sign out of ${account} first). The link works again.`
          : `An administrator must add "openid" and "email" to the scopes of credential "${c.id}" (or configure endpoints.userinfo); then open the link again.`,
      );
    }
    if (!tokens.refreshToken) {
      refused(c.id, 'no-refresh-token');
      return refusalPage(
        502,
        'The provider issued no refresh token',
        `The sign-in as ${account} worked, but without a refresh token there is nothing to rotate.`,
        c.provider === 'microsoft'
          ? `An administrator must add "offline_access" to the scopes of credential "${c.id}".`
          : 'An administrator must request offline access from the provider (for Google: remove the app at https://myaccount.google.com/permissions and sign in again).',
      );
    }

    const steps: Step[] = [];
    const outer = pipeline.hooks?.afterStep;
    const summary: RotationSummary = await rotateCredential(
      {
        ...pipeline,
        hooks: {
          afterStep: async (s, id) => {
            steps.push(s);
            await outer?.(s, id);
          },
        },
      },
      c,
      { newTokens: { ...tokens, account }, source: 'regenerate' },
    );
    if (summary.outcome === 'skipped') await returnLink(item, at);
    deps.metrics.count(
      summary.outcome === 'failed' || summary.outcome === 'skipped' ? RecoveryMetric.Refused : RecoveryMetric.Completed,
      c.id,
      1,
      summary.outcome === 'failed' || summary.outcome === 'skipped' ? { reason: `pipeline-${summary.outcome}` } : {},
    );
    deps.log.info(`recovery: pipeline ${summary.outcome}`, { credential: c.id, outcome: summary.outcome, steps });
    return resultPage(c, account, summary, steps);
  }

  return async (event) => {
    const method = event.requestContext?.http?.method ?? 'GET';
    const path = event.rawPath ?? '/';
    const q = queryOf(event);
    try {
      if (path === LINK_PATH) {
        if (method === 'GET') return await linkPage(q);
        if (method === 'POST') return await startSignIn(event, q);
        return {
          ...htmlResponse(405, 'Method not allowed', p('Open the link from the alert.')),
          headers: { ...htmlResponse(405, '', '').headers, allow: 'GET, POST' },
        };
      }
      if (path === CALLBACK_PATH) {
        if (method === 'GET') return await callback(event, q);
        return {
          ...htmlResponse(405, 'Method not allowed', p('Open the link from the alert.')),
          headers: { ...htmlResponse(405, '', '').headers, allow: 'GET' },
        };
      }
      return notFound();
    } catch (e) {
      const err = asRefresherError(e, 'lambda', 'regenerate');
      deps.log.error(`recovery failed: ${err.code}`, { error: err.toJSON() });
      return refusalPage(
        503,
        'Something went wrong',
        `The sign-in could not be handled (${err.code}).`,
        'Try again in a few minutes with the link from the alert; if it keeps failing, tell whoever runs token-refresher.',
      );
    }
  };
}
