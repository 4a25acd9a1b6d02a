import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Credential } from '../../lambdas/config/schema.ts';
import { endpointsFor, resolveEndpoints, type ProviderEndpoints } from '../../lambdas/refresh/oauth2-provider.ts';
import { requireStr, str } from '../args.ts';
import type { Command } from '../command.ts';
import { Exit, usageError } from '../errors.ts';

export const OAUTH_PID = 'com.day.cq.mailer.oauth.impl.OAuthConfigurationProviderImpl';
export const MAIL_PID = 'com.day.cq.mailer.DefaultMailService';

const DEFAULT_REFRESH_VAR = 'SECRET_SMTP_OAUTH_REFRESH_TOKEN';
const DEFAULT_SECRET_VAR = 'SECRET_SMTP_OAUTH_CLIENT_SECRET';

/** The Cloud Manager variable names the files refer to: the targets', which must agree (one file serves them all). */
function variableNames(c: Credential, target: string | undefined): { refreshToken: string; clientSecret: string } {
  let targets = c.targets;
  if (target) {
    targets = c.targets.filter(
      (t) =>
        `${t.programId}/${t.environmentId}` === target ||
        `${t.programId}/${t.environmentId}/${t.service ?? 'all'}` === target,
    );
    if (targets.length === 0)
      throw usageError(
        `credential ${c.id} has no target ${target}`,
        `Use PROGRAM/ENVIRONMENT of one of: ${c.targets.map((t) => `${t.programId}/${t.environmentId}`).join(', ') || '(none)'}.`,
      );
  }
  if (targets.length === 0) return { refreshToken: DEFAULT_REFRESH_VAR, clientSecret: DEFAULT_SECRET_VAR };
  const names = new Set(targets.map((t) => `${t.refreshTokenVariable} ${t.clientSecretVariable}`));
  if (names.size > 1) {
    throw usageError(
      `the targets of credential ${c.id} use different variable names, and one OSGi file can name only one pair`,
      'Pick the target the files are for with --target PROGRAM/ENVIRONMENT (or give every target the same variable names).',
    );
  }
  const first = targets[0] as (typeof targets)[number];
  return { refreshToken: first.refreshTokenVariable, clientSecret: first.clientSecretVariable };
}

/**
 * The two files exactly as the AEM documentation describes them (docs/PROTOCOLS.md, AEM); secrets only as $[secret:...]
 * references. `endpoints` default to the configured ones; for a credential known by its `issuer` pass the discovered
 * ones (resolveEndpoints), since AEM itself does no discovery.
 */
export function osgiFiles(
  c: Credential,
  target?: string,
  endpoints: ProviderEndpoints = endpointsFor(c),
): Record<string, Record<string, unknown>> {
  const e = endpoints;
  const vars = variableNames(c, target);
  return {
    [`${OAUTH_PID}.cfg.json`]: {
      authUrl: e.authorize,
      tokenUrl: e.token,
      clientId: c.clientId,
      clientSecret: `$[secret:${vars.clientSecret}]`,
      scopes: [...c.scopes],
      // The redirect registered on the app (AEM's mail OAuth2 setup); AEM never receives it, the consent happens elsewhere.
      authCodeRedirectUrl: 'http://localhost',
      refreshUrl: e.token,
      refreshToken: `$[secret:${vars.refreshToken}]`,
    },
    [`${MAIL_PID}.cfg.json`]: {
      'smtp.host': '$[env:AEM_PROXY_HOST;default=proxy.tunnel]',
      'smtp.user': c.mailbox,
      'smtp.password': 'value not used',
      // The advanced-networking port forward to the real SMTP host and port.
      'smtp.port': 30465,
      'from.address': c.mailbox,
      'smtp.ssl': false,
      'smtp.starttls': true,
      'smtp.requiretls': true,
      'debug.email': false,
      'oauth.flow': true,
    },
  };
}

export const osgiCommand: Command = {
  name: 'osgi',
  summary: 'write the two AEM OSGi configuration files for a credential',
  options: { credential: { type: 'string' }, out: { type: 'string' }, target: { type: 'string' } },
  help: `Usage: token-refresher osgi --credential ID [--out DIR] [--target PROGRAM/ENVIRONMENT]

Writes ${OAUTH_PID}.cfg.json and ${MAIL_PID}.cfg.json for the credential: the provider's endpoints, client id
and scopes, the mailbox as user and sender, and the two secrets as $[secret:...] references to the Cloud Manager
variables the pipeline pushes (no secret value is ever written). SMTP goes through the advanced-networking port
forward: smtp.host $[env:AEM_PROXY_HOST;default=proxy.tunnel], port 30465, STARTTLS required; forward port 30465 to
${'<validation.smtp.host>'}:587 in the environment's advanced networking.
  --out DIR        write the files into DIR (e.g. ui.config/src/main/content/jcr_root/apps/<site>/osgiconfig/config);
                   without it both are printed to stdout (with --json: one document {file: content})
  --target P/E     the target whose variable names the files use, when the targets differ
A credential known only by its "issuer" gets the endpoints its OpenID configuration names (fetched now). For a
certificate credential a warning says that AEM still needs a client secret in the client-secret variable.
Exit codes: 0 written, 1 the OpenID configuration could not be read, 2 usage or configuration.`,

  async run(ctx) {
    const c = ctx.credential(requireStr(ctx.values, 'credential', 'the credential to write the files for'));
    const target = str(ctx.values, 'target');
    const vars = variableNames(c, target);
    const http = ctx.config().http;
    // AEM needs literal URLs: endpoints that only the issuer's OpenID configuration knows are fetched now.
    const endpoints = c.issuer
      ? await resolveEndpoints(c, { timeoutMs: http.timeoutMs, retries: http.retries, stage: 'regenerate' }, [
          'token',
          'authorize',
        ])
      : endpointsFor(c);
    if (c.issuer) ctx.ui.progress('info', `endpoints from the OpenID configuration of ${c.issuer}`);
    const files = osgiFiles(c, target, endpoints);
    if (c.credentialType === 'certificate') {
      // AEM's OAuthConfigurationProviderImpl knows only clientSecret: the certificate serves token-refresher alone.
      ctx.ui.progress(
        'warn',
        `credential ${c.id} signs in with a certificate, but AEM redeems its refresh token with a client secret: ${vars.clientSecret} must hold a client secret of app ${c.clientId} (\`token-refresher client-secret --credential ${c.id}\`, with pushClientSecret or set in Cloud Manager)`,
      );
    }
    const out = str(ctx.values, 'out');
    if (out) {
      const dir = resolve(ctx.io.cwd, out);
      mkdirSync(dir, { recursive: true });
      for (const [name, content] of Object.entries(files)) {
        writeFileSync(join(dir, name), `${JSON.stringify(content, null, 2)}\n`);
        ctx.ui.progress('ok', `wrote ${join(dir, name)}`);
      }
      if (ctx.ui.json) ctx.ui.emit({ dir, files: Object.keys(files) });
      return Exit.ok;
    }
    if (ctx.ui.json) {
      ctx.ui.trusted(JSON.stringify(files, null, 2));
      return Exit.ok;
    }
    for (const [name, content] of Object.entries(files)) {
      ctx.ui.trusted(ctx.ui.c('gray', `# ${name}`));
      ctx.ui.trusted(JSON.stringify(content, null, 2));
    }
    return Exit.ok;
  },
};
