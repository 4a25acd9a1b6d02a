import { secretIds } from '../../lambdas/config/load.ts';
import type { Credential } from '../../lambdas/config/schema.ts';
import { rotateCredential, type Step } from '../../lambdas/pipeline/rotate.ts';
import { certificateSecretId } from '../../lambdas/refresh/client-assertion.ts';
import type { TokenProvider, TokenSet } from '../../lambdas/core/types.ts';
import { parseState } from '../../lambdas/store/records.ts';
import { bool, intOption, requireStr } from '../args.ts';
import type { Command } from '../command.ts';
import { clientSecretValue } from '../../lambdas/store/records.ts';
import type { Context } from '../context.ts';
import { CliError, Exit, exitCodeForSummary } from '../errors.ts';
import { LineReader, readHiddenLine } from '../io.ts';
import {
  accountFor,
  checkTokens,
  deviceCodeFlow,
  interpretRedirect,
  newPkce,
  newState,
  parsePastedRedirect,
  signInScopes,
  startLoopback,
  timeoutError,
  type RedirectParams,
} from '../sign-in.ts';
import { printSummary } from '../summary.ts';
import type { Waiting } from '../ui.ts';

const DEFAULT_TIMEOUT_SEC = 300;

export const regenerateCommand: Command = {
  name: 'regenerate',
  summary: 'sign in again and store, validate and push a new refresh token (after it died, or for a first setup)',
  options: {
    credential: { type: 'string' },
    'no-browser': { type: 'boolean' },
    'device-code': { type: 'boolean' },
    port: { type: 'string' },
    timeout: { type: 'string' },
  },
  help: `Usage: token-refresher regenerate --credential ID [--no-browser | --device-code] [--port N] [--timeout SEC]

Signs in as the credential's mailbox and puts the new refresh token through the pipeline: stored as pending,
validated (test mail or SMTP AUTH, as configured), made current, pushed to every Cloud Manager target.

Browser flow (default): authorization code with PKCE (S256) and a random state. A listener on 127.0.0.1 receives the
redirect to http://localhost:PORT (register plain http://localhost on the app; Entra ignores the port). The URL is
printed, and opened in a browser when one is available.
  --no-browser     print the URL only; open it on any machine, sign in, then paste the address the browser was sent to
                   (http://localhost:PORT/?code=...; the page itself will not load) and press Enter
  --device-code    device-code flow instead: open the shown address anywhere and enter the code (the app must allow
                   public client flows; not for Google, which refuses the Gmail scope on that flow: use --no-browser)
  --port N         loopback port (default: a free one)
  --timeout SEC    how long to wait for the sign-in (default ${DEFAULT_TIMEOUT_SEC})

Endpoints of a provider known by its "issuer" come from its OpenID configuration. A certificate credential
(credentialType "certificate") redeems the code with a client assertion and needs no client secret here; AEM still does.

Refused, with nothing stored: a cancelled sign-in (access_denied), a redirect whose state differs, a timeout, a sign-in
as another account than the mailbox, a response without a refresh token.
Exit codes: 0 stored and pushed, 1 refused or failed, 2 usage or configuration, 3 sign-in needed again, 4 another run holds
the credential's lease.`,

  async run(ctx) {
    const id = requireStr(ctx.values, 'credential', 'the credential to sign in for');
    const credential = ctx.credential(id);
    const config = ctx.config();
    const ui = ctx.ui;
    const timeoutSec = intOption(ctx.values, 'timeout', DEFAULT_TIMEOUT_SEC, 1, 86_400);
    const port = intOption(ctx.values, 'port', 0, 0, 65_535);
    const useDeviceCode = bool(ctx.values, 'device-code');
    if (useDeviceCode && bool(ctx.values, 'no-browser'))
      throw new CliError('--device-code and --no-browser exclude each other', Exit.usage);
    if (useDeviceCode && credential.provider === 'google') {
      // Google's device flow serves "limited input devices" and refuses https://mail.google.com/ (invalid_scope).
      throw new CliError(
        `Google does not allow the Gmail scope (https://mail.google.com/) on its device-code flow, so credential ${id} cannot sign in with --device-code`,
        Exit.usage,
        `Use the browser flow: \`token-refresher regenerate --credential ${id}\`, or on a machine without a browser \`token-refresher regenerate --credential ${id} --no-browser\` (open the address anywhere, then paste the address the browser was sent to).`,
        'DEVICE_CODE_NOT_SUPPORTED',
      );
    }

    const ids = secretIds(config, credential);
    const store = ctx.store();
    const [stateRaw, secretRaw] = await Promise.all([
      store.getValue(ids.state, 'AWSCURRENT'),
      store.getValue(ids.clientSecret, 'AWSCURRENT'),
    ]);
    // Checked before the sign-in: a consent given while another run holds the lease would be thrown away.
    const lease = parseState(stateRaw?.value).lease;
    if (lease && Date.parse(lease.until) > ctx.io.now().getTime()) {
      throw new CliError(
        `another run (${lease.runId}) is rotating credential ${id} until ${lease.until}`,
        Exit.conflict,
        'Wait for it to finish (its lease ends at the time shown), then run regenerate again.',
        'LEASE_HELD',
      );
    }
    const clientSecret = clientSecretValue(secretRaw?.value);
    const certificate = credential.credentialType === 'certificate';
    if (clientSecret === undefined && credential.provider !== 'oauth2' && !certificate) {
      throw new CliError(
        `${ids.clientSecret} holds no client secret, so the new token could neither be redeemed nor rotated later`,
        Exit.usage,
        `Store the app's client secret value first: \`token-refresher client-secret --credential ${id}\`.`,
        'CLIENT_SECRET_MISSING',
      );
    }
    if (clientSecret === undefined && certificate) {
      ui.progress(
        'warn',
        `${ids.clientSecret} holds no client secret: token-refresher signs in with the certificate (${certificateSecretId(config, credential)}), but AEM redeems the token with a client secret (SECRET_SMTP_OAUTH_CLIENT_SECRET); store one with \`token-refresher client-secret --credential ${id}\``,
      );
    }
    // Discovery (an `issuer`) runs here, before anything else: an unreachable provider fails before the sign-in.
    const provider = await ctx.provider(
      { ...credential, scopes: signInScopes(credential) },
      clientSecret,
      ids.clientSecret,
    );

    const tokens = useDeviceCode
      ? await deviceCodeSignIn(ctx, provider, credential)
      : await browserSignIn(ctx, provider, credential, { port, timeoutSec });
    // The account from the ID token, else from userinfo (strict OpenID providers put no e-mail in the ID token).
    const account = checkTokens(tokens, credential, await accountFor(tokens, provider));
    ui.progress('ok', `signed in as ${account}`);

    const targets = credential.targets.length;
    const announce: Partial<Record<Step, () => void>> = {
      redeem: () =>
        ui.progress(
          'info',
          `storing the token as pending and validating it (${credential.validation.mode === 'send' ? 'test mail' : 'SMTP AUTH'} through ${credential.validation.smtp.host}:${credential.validation.smtp.port})`,
        ),
      store: () => ui.progress('ok', 'stored as pending'),
      validate: () => ui.progress('ok', 'validated'),
      promote: () =>
        ui.progress(
          'ok',
          `made current${targets ? `; pushing to ${targets} Cloud Manager target${targets > 1 ? 's' : ''}` : ''}`,
        ),
      'push-target': () => ui.progress('ok', 'pushed to a target'),
    };
    const deps = ctx.deps({ hooks: { afterStep: (step) => announce[step]?.() } });
    const summary = await rotateCredential(deps, credential, {
      newTokens: { ...tokens, account },
      source: 'regenerate',
    });
    if (ui.json)
      ui.emit({ credential: id, account, flow: useDeviceCode ? 'device-code' : 'authorization-code', summary });
    else printSummary(ui, summary);
    if (summary.outcome === 'failed' && summary.failure?.stage === 'push') {
      ui.err(
        `The new token is current; the failed targets receive it on the next run (or \`token-refresher rotate --credential ${id}\`).`,
      );
    }
    return exitCodeForSummary(summary);
  },
};

async function browserSignIn(
  ctx: Context,
  provider: TokenProvider,
  credential: Credential,
  o: { port: number; timeoutSec: number },
): Promise<TokenSet> {
  const ui = ctx.ui;
  const noBrowser = bool(ctx.values, 'no-browser');
  const pkce = newPkce();
  const state = newState();
  const listener = await startLoopback(o.port);
  const abort = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  try {
    const url = provider.authorizationUrl({
      redirectUri: listener.redirectUri,
      state,
      codeChallenge: pkce.challenge,
      loginHint: credential.mailbox,
    });
    ui.err(`Sign in as ${ui.ce('bold', credential.mailbox)} at this address:`);
    ui.err('');
    ui.err(`  ${url}`);
    ui.err('');
    const waiters: Array<Promise<RedirectParams>> = [listener.result];
    if (noBrowser) {
      ui.err(
        `On a machine with a browser, open the address and sign in. The browser is then sent to an address starting with`,
      );
      ui.err(
        `${listener.redirectUri}/ (that page will not load there): copy the whole address from the address bar, paste it here and press Enter.`,
      );
      waiters.push(readPasted(ctx, abort.signal));
    } else {
      const opened = await ctx.io.openUrl(url, ctx.io.env);
      ui.progress(
        'info',
        opened
          ? 'opened in your browser; waiting for the sign-in'
          : 'no browser to open here: open the address in one; waiting for the sign-in',
      );
    }
    ui.progress('info', `listening on ${listener.redirectUri} (timeout ${o.timeoutSec} s)`);
    waiters.push(
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(timeoutError(credential, o.timeoutSec)), o.timeoutSec * 1000);
      }),
    );
    const params = await Promise.race(waiters);
    const code = interpretRedirect(params, state, credential, provider.expectedIssuer?.());
    ui.progress('ok', 'received the authorization code; exchanging it');
    return await provider.redeemAuthorizationCode({
      code,
      redirectUri: listener.redirectUri,
      codeVerifier: pkce.verifier,
    });
  } finally {
    clearTimeout(timer);
    abort.abort();
    await listener.close();
  }
}

/** Lines from stdin until one is a redirect URL (or its query); hidden on a terminal, since it carries the code. */
async function readPasted(ctx: Context, signal: AbortSignal): Promise<RedirectParams> {
  const stdin = ctx.io.stdin;
  if (stdin.isTTY) {
    for (;;) {
      ctx.io.stderr.write('Redirected address (input hidden): ');
      const line = await readHiddenLine(stdin, (s) => ctx.io.stderr.write(s), signal).catch(() => undefined);
      if (line === undefined) return new Promise<never>(() => {});
      const p = parsePastedRedirect(line);
      if (p) return p;
      ctx.ui.progress(
        'warn',
        'that is not the redirected address (it starts with http://localhost and carries a code or an error); try again',
      );
    }
  }
  const reader = new LineReader(stdin);
  for (;;) {
    const line = await reader.next();
    // End of input: the loopback listener or the timeout decides.
    if (line === undefined || signal.aborted) return new Promise<never>(() => {});
    const p = parsePastedRedirect(line);
    if (p) return p;
    if (line.trim())
      ctx.ui.progress(
        'warn',
        'that is not the redirected address (it starts with http://localhost and carries a code or an error); waiting for another line',
      );
  }
}

async function deviceCodeSignIn(ctx: Context, provider: TokenProvider, credential: Credential): Promise<TokenSet> {
  const ui = ctx.ui;
  let polls = 0;
  let waiting: Waiting | undefined;
  try {
    return await deviceCodeFlow(provider, credential, {
      sleep: (ms) => ctx.io.sleep(ms),
      now: () => ctx.io.now(),
      onCode: (c) => {
        ui.err(
          `Sign in as ${ui.ce('bold', credential.mailbox)}: open ${c.verificationUri} and enter the code ${ui.ce('bold', c.userCode)}`,
        );
        waiting = ui.wait(`waiting for the sign-in (the code expires in ${Math.round(c.expiresInSec / 60)} min)`);
      },
      onPoll: (status, intervalMs) => {
        polls++;
        if (status === 'slow_down')
          ui.progress('info', `the provider asked to poll more slowly; now every ${intervalMs / 1000} s`);
        else if (polls % 12 === 0) ui.progress('info', 'still waiting for the sign-in');
      },
    });
  } finally {
    waiting?.stop();
  }
}
