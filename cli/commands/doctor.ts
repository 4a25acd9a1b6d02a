import { adobeFor, adobeOrgs, defaultAdobe } from '../../lambdas/config/adobe.ts';
import { connect } from 'node:net';
import { adobeSecretId, secretIds } from '../../lambdas/config/load.ts';
import { recoverySettings, type Config, type Credential, type Target } from '../../lambdas/config/schema.ts';
import { asRefresherError, type FailureClass, isRefresherError } from '../../lambdas/core/errors.ts';
import { httpRequest } from '../../lambdas/core/http.ts';
import { rotateCredential } from '../../lambdas/pipeline/rotate.ts';
import { readSecretValue } from '../../lambdas/pipeline/wiring.ts';
import {
  connectCloudManager,
  DEFAULT_MAX_SECRET_LENGTH,
  targetLabel,
  type CloudManagerConnection,
} from '../../lambdas/push/cloud-manager-target.ts';
import { trimSlash } from '../../lambdas/push/common.ts';
import { fetchDiscovery, type DiscoveredEndpoints } from '../../lambdas/refresh/discovery.ts';
import { endpointsFor } from '../../lambdas/refresh/oauth2-provider.ts';
import { parseTokenRecord, type TokenRecord } from '../../lambdas/store/records.ts';
import { validatorFor } from '../../lambdas/validate/smtp-validator.ts';
import { bool, str } from '../args.ts';
import type { Command } from '../command.ts';
import { clientSecretValue } from '../../lambdas/store/records.ts';
import type { Context } from '../context.ts';
import { Exit, exitCodeForClass, worstExit, type ExitCode } from '../errors.ts';
import { redirectUriOf } from '../../lambdas/report/recovery-link.ts';
import {
  adobeSecretExpiry,
  clientSecretExpiry,
  describeExpiry,
  WARN_DAYS,
  type SecretExpiryInfo,
} from '../../lambdas/report/secret-expiry.ts';
import { readCertificate } from '../certificate.ts';

export type FindingStatus = 'ok' | 'warn' | 'fail' | 'skip';

export interface Finding {
  /** What the finding is about: "configuration", a credential id, "Adobe IMS", a target. */
  subject: string;
  check: string;
  status: FindingStatus;
  message: string;
  fix?: string;
  /** For failures classified by the pipeline: who must act (decides the exit code). */
  class?: FailureClass;
}

/** An access token this close to expiry is not used for the AUTH check (the check itself takes seconds). */
const ACCESS_TOKEN_MARGIN_MS = 2 * 60_000;

class Findings {
  readonly all: Finding[] = [];
  constructor(private readonly onAdd?: (f: Finding) => void) {}
  add(f: Finding): void {
    this.all.push(f);
    this.onAdd?.(f);
  }
  fromError(subject: string, check: string, e: unknown, remote: Parameters<typeof asRefresherError>[1]): void {
    const err = asRefresherError(e, remote);
    this.add({
      subject,
      check,
      status: 'fail',
      message: `${err.code}: ${err.message}`,
      fix: err.fix,
      class: err.class,
    });
  }
}

function configChecks(f: Findings, c: Credential): void {
  const s = c.id;
  const resources = new Set(c.scopes.filter((x) => /^https?:\/\//.test(x)).map((x) => new URL(x).origin));
  if (c.scopes.some((x) => x.startsWith('https://graph.microsoft.com'))) {
    f.add({
      subject: s,
      check: 'scopes',
      status: 'fail',
      message: 'a Microsoft Graph scope is configured: its token has the wrong audience for SMTP (535 5.7.3)',
      fix: 'Use exactly "https://outlook.office.com/SMTP.Send" and "offline_access".',
    });
  } else if (resources.size > 1) {
    f.add({
      subject: s,
      check: 'scopes',
      status: 'warn',
      message: `scopes of ${resources.size} resources: a token is issued for the first one only`,
      fix: 'Keep the SMTP scope and offline_access only.',
    });
  } else if (c.provider === 'microsoft' && !c.scopes.includes('offline_access')) {
    f.add({
      subject: s,
      check: 'scopes',
      status: 'fail',
      message: 'offline_access is missing: Entra issues no refresh token without it',
      fix: 'Add "offline_access" to the scopes, then run regenerate.',
    });
  } else {
    f.add({ subject: s, check: 'scopes', status: 'ok', message: c.scopes.join(' ') });
  }
  if (c.provider === 'microsoft' && ['common', 'organizations', 'consumers'].includes(c.tenant ?? '')) {
    f.add({
      subject: s,
      check: 'tenant',
      status: 'warn',
      message: `tenant "${c.tenant}" fails for single-tenant apps (AADSTS50194)`,
      fix: 'Use the tenant id or primary domain.',
    });
  }
  if (c.targets.length === 0) {
    f.add({
      subject: s,
      check: 'targets',
      status: 'warn',
      message: 'no Cloud Manager targets: rotated tokens reach no AEM environment',
      fix: 'Add the environments that send mail as "targets".',
    });
  }
}

/**
 * Where the sign-in links of reauthorize alerts return to: the redirect URI to register on the app, exactly (from
 * TOKEN_REFRESHER_RECOVERY_URL, the stack output RecoveryUrl) or by the name of the stack output.
 */
function recoveryCheck(f: Findings, config: Config, c: Credential, env: NodeJS.ProcessEnv): void {
  if (!recoverySettings(config).enabled) {
    f.add({
      subject: c.id,
      check: 'recovery link',
      status: 'ok',
      message:
        'the recovery endpoint is switched off (recovery.enabled false): reauthorize alerts name the regenerate command',
    });
    return;
  }
  const base = env.TOKEN_REFRESHER_RECOVERY_URL;
  const uri = base ? redirectUriOf(base) : 'the stack output RecoveryRedirectUri';
  const where =
    c.provider === 'microsoft'
      ? `Entra ID > App registrations > ${c.clientId} > Authentication > add a platform "Web" with redirect URI ${uri} (keep http://localhost for the CLI under "Mobile and desktop applications"; one URI never under both)`
      : c.provider === 'google'
        ? `Google Cloud console > Google Auth Platform > Clients > ${c.clientId} > Authorized redirect URIs: add ${uri}`
        : `register ${uri} as a redirect URI of OAuth client ${c.clientId} at the provider`;
  f.add({
    subject: c.id,
    check: 'recovery link',
    status: 'ok',
    message: `reauthorize alerts carry a sign-in link; the sign-in returns to ${uri}`,
    fix: `${where}.${base ? '' : ' Set TOKEN_REFRESHER_RECOVERY_URL to the stack output RecoveryUrl to see the exact URI here.'}`,
  });
}

/** TCP reachability of every host:port the pipeline talks to (each once). */
async function reachability(
  f: Findings,
  config: Config,
  credentials: Credential[],
  timeoutMs: number,
  tokenUrls: ReadonlyMap<string, string | undefined>,
): Promise<void> {
  const endpoints = new Map<string, string>();
  const addUrl = (what: string, url: string | undefined) => {
    if (!url) return;
    const u = new URL(url);
    const key = `${u.hostname}:${u.port || (u.protocol === 'https:' ? 443 : 80)}`;
    if (!endpoints.has(key)) endpoints.set(key, what);
  };
  for (const c of credentials) {
    // An issuer-only credential's token endpoint is the discovered one (none when discovery failed: reported there).
    addUrl(`token endpoint (${c.id})`, tokenUrls.get(c.id));
    const smtp = c.validation.smtp;
    const key = `${smtp.host}:${smtp.port}`;
    if (!endpoints.has(key)) endpoints.set(key, `SMTP (${c.id})`);
  }
  if (config.adobe && credentials.some((c) => c.targets.length > 0)) {
    for (const org of adobeOrgs(config)) {
      addUrl(`Adobe IMS${org.name ? ` (${org.name})` : ''}`, org.imsEndpoint);
      addUrl(`Cloud Manager${org.name ? ` (${org.name})` : ''}`, org.cloudManagerEndpoint);
    }
  }
  await Promise.all(
    [...endpoints].map(async ([hostPort, what]) => {
      const i = hostPort.lastIndexOf(':');
      const host = hostPort.slice(0, i);
      const port = Number(hostPort.slice(i + 1));
      const t0 = Date.now();
      const err = await new Promise<string | undefined>((resolve) => {
        const sock = connect({ host, port, timeout: timeoutMs });
        sock.once('connect', () => {
          sock.destroy();
          resolve(undefined);
        });
        sock.once('timeout', () => {
          sock.destroy();
          resolve(`no answer within ${timeoutMs} ms`);
        });
        sock.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
      });
      f.add(
        err
          ? {
              subject: 'network',
              check: what,
              status: 'fail',
              message: `${hostPort}: ${err}`,
              fix: `Check DNS, proxy and firewall egress to ${hostPort} from where the function runs (and from here).`,
            }
          : { subject: 'network', check: what, status: 'ok', message: `${hostPort} reachable (${Date.now() - t0} ms)` },
      );
    }),
  );
}

/**
 * The token endpoint authentication the credential asks for explicitly, as OpenID discovery names the methods; undefined
 * for the default (client_secret_post, or none for a public client), which a provider need not list.
 */
function explicitAuthMethod(c: Credential): string | undefined {
  if (c.credentialType === 'certificate') return 'private_key_jwt';
  return c.tokenEndpointAuthMethod;
}

/**
 * OpenID discovery of a credential with an `issuer`, fetched fresh (not the run's cache): the document is reachable,
 * describes the configured issuer, and names the endpoints the credential does not configure itself.
 */
async function discovery(
  config: Config,
  c: Credential,
): Promise<{ finding: Finding; discovered?: DiscoveredEndpoints }> {
  const issuer = c.issuer as string;
  try {
    const d = await fetchDiscovery(issuer, {
      remote: c.provider === 'microsoft' ? 'entra' : c.provider,
      stage: 'regenerate',
      timeoutMs: config.http.timeoutMs,
      retries: 0,
      credentialId: c.id,
    });
    const message = `${issuer} publishes its OpenID configuration and names itself as issuer; token endpoint ${c.endpoints.token ?? d.token}`;
    const method = explicitAuthMethod(c);
    if (method && d.authMethods && !d.authMethods.includes(method)) {
      return {
        discovered: d,
        finding: {
          subject: c.id,
          check: 'discovery',
          status: 'warn',
          message: `${message}; but it lists only ${d.authMethods.join(', ')} as token endpoint authentication, not ${method}`,
          fix:
            c.credentialType === 'certificate'
              ? 'Check that the provider accepts private_key_jwt client assertions for this client.'
              : `Set tokenEndpointAuthMethod to one of: ${d.authMethods.join(', ')}.`,
        },
      };
    }
    if (!c.endpoints.authorize && !d.authorize) {
      return {
        discovered: d,
        finding: {
          subject: c.id,
          check: 'discovery',
          status: 'warn',
          message: `${message}; no authorization endpoint`,
          fix: 'regenerate needs one: set endpoints.authorize, or sign in with --device-code.',
        },
      };
    }
    return { discovered: d, finding: { subject: c.id, check: 'discovery', status: 'ok', message } };
  } catch (e) {
    const err = asRefresherError(e, c.provider === 'microsoft' ? 'entra' : c.provider);
    return {
      finding: {
        subject: c.id,
        check: 'discovery',
        status: 'fail',
        message: `${err.code}: ${err.message}`,
        fix: err.fix,
        class: err.class,
      },
    };
  }
}

/** The client secret's expiry date: a reminder of work ahead, a failure once past. */
function expiryFinding(
  subject: string,
  e: SecretExpiryInfo | undefined,
  fix: string,
  none: Finding | undefined,
  field = 'clientSecretExpiresAt',
): Finding | undefined {
  if (!e) return none;
  const when = describeExpiry(e.expiresAt, e.daysLeft);
  const from = e.source === 'secret' ? 'date stored with the secret' : field;
  if (e.daysLeft <= 0)
    return {
      subject,
      check: 'client secret expiry',
      status: 'fail',
      class: 'configuration',
      message: `expired on ${when} (${from})`,
      fix,
    };
  if (e.warn)
    return {
      subject,
      check: 'client secret expiry',
      status: 'warn',
      message: `expires ${when}, under ${WARN_DAYS} days (${from})`,
      fix,
    };
  return { subject, check: 'client secret expiry', status: 'ok', message: `expires ${when} (${from})` };
}

/** The key document of a certificate credential: readable, RSA, matching its certificate, its days left. */
async function certificateCheck(ctx: Context, f: Findings, config: Config, c: Credential): Promise<boolean> {
  if (c.certificate?.kmsKeyId) {
    f.add({
      subject: c.id,
      check: 'certificate',
      status: 'ok',
      message: `key in AWS KMS (${c.certificate.kmsKeyId}): signing is proven by the token request; the certificate's expiry is not known here`,
    });
    return true;
  }
  try {
    const info = await readCertificate(config, ctx.store(), c, ctx.io.now());
    const dates =
      info.notAfter && info.daysLeft !== undefined
        ? `certificate expires ${describeExpiry(info.notAfter, info.daysLeft)}`
        : undefined;
    if (info.error) {
      f.add({
        subject: c.id,
        check: 'certificate',
        status: 'fail',
        class: 'configuration',
        message: `${info.error.code}: ${info.error.message}${dates && info.error.code !== 'CERTIFICATE_EXPIRED' ? ` (${dates})` : ''}`,
        fix: info.error.fix,
      });
      return false;
    }
    const what = [
      `RSA ${info.bits ?? '?'}-bit key in ${info.secretId}`,
      info.certificateChecked
        ? 'matches its certificate'
        : 'only a thumbprint stored: not checked against a certificate, expiry unknown',
    ];
    if (dates) what.push(dates);
    if (info.thumbprint)
      what.push(
        `SHA-1 thumbprint ${info.thumbprint} (must be listed on app ${c.clientId} under Certificates & secrets)`,
      );
    f.add(
      info.warn
        ? {
            subject: c.id,
            check: 'certificate',
            status: 'warn',
            message: `${what.join('; ')}: under ${WARN_DAYS} days`,
            fix: `Create a new certificate, upload it to app ${c.clientId} (Certificates & secrets > Certificates) and store its key: \`token-refresher client-secret --credential ${c.id} --certificate --from-file FILE\`.`,
          }
        : {
            subject: c.id,
            check: 'certificate',
            status: info.certificateChecked ? 'ok' : 'warn',
            message: what.join('; '),
            fix: info.certificateChecked
              ? undefined
              : 'Store the certificate with the key, so the key is checked against it and its expiry is watched.',
          },
    );
    return true;
  } catch (e) {
    f.fromError(c.id, 'certificate', e, 'secretsmanager');
    return false;
  }
}

/**
 * Token endpoint and SMTP AUTH. A stored access token that is still valid is used as is (nothing changes). Otherwise a
 * token must be redeemed, and a redeemed Microsoft token rotates: it is then stored through the pipeline (pending,
 * validated with AUTH only instead of a test mail, current), so the new refresh token is never lost, but not pushed:
 * pushing restarts AEM environments, and the targets' previous token stays valid until the next run pushes the new one.
 */
async function tokenAndSmtp(
  ctx: Context,
  f: Findings,
  c: Credential,
  record: TokenRecord | undefined,
  noRedeem: boolean,
): Promise<void> {
  const s = c.id;
  const exp = record?.accessTokenExpiresAt ? Date.parse(record.accessTokenExpiresAt) : 0;
  if (record?.accessToken && exp - ctx.io.now().getTime() > ACCESS_TOKEN_MARGIN_MS) {
    f.add({
      subject: s,
      check: 'token endpoint',
      status: 'skip',
      message: 'not called: the stored access token is still valid',
    });
    try {
      const r = await validatorFor(c, { ca: ctx.smtpCa() }).validate({
        mailbox: c.mailbox,
        accessToken: record.accessToken,
        mode: 'auth',
        to: c.mailbox,
        subject: 'token-refresher doctor',
        text: '',
      });
      f.add({
        subject: s,
        check: 'SMTP AUTH',
        status: 'ok',
        message: `${c.validation.smtp.host}:${c.validation.smtp.port} accepted the stored access token for ${c.mailbox}: ${r.response}`,
      });
    } catch (e) {
      f.fromError(s, 'SMTP AUTH', e, 'smtp');
    }
    return;
  }
  if (noRedeem) {
    f.add({
      subject: s,
      check: 'SMTP AUTH',
      status: 'skip',
      message: 'no unexpired access token is stored, and --no-redeem forbids getting one',
      fix: 'Run doctor without --no-redeem (the redeemed token is stored through the pipeline).',
    });
    return;
  }
  ctx.ui.progress(
    'info',
    `${s}: redeeming the refresh token for an access token (the new token is stored; targets receive it on the next run)`,
  );
  const deps = { ...ctx.deps(), targets: () => [], prefetchPush: undefined };
  const summary = await rotateCredential(
    deps,
    { ...c, validation: { ...c.validation, mode: 'auth' } },
    { force: true, source: 'cli' },
  );
  if (summary.outcome === 'skipped') {
    f.add({
      subject: s,
      check: 'SMTP AUTH',
      status: 'warn',
      message: `not checked: ${summary.note ?? 'another run holds the lease'}`,
      fix: 'Run doctor again when that run has finished.',
    });
    return;
  }
  const fail = summary.failure;
  if (fail && (fail.stage === 'refresh' || fail.stage === 'read')) {
    f.add({
      subject: s,
      check: 'token endpoint',
      status: 'fail',
      message: `${fail.code}: ${fail.message}`,
      fix: fail.fix,
      class: fail.class,
    });
    f.add({ subject: s, check: 'SMTP AUTH', status: 'skip', message: 'not checked: no access token' });
    return;
  }
  f.add({
    subject: s,
    check: 'token endpoint',
    status: 'ok',
    message: `redeemed${summary.promoted ? '; the new refresh token is current' : ''}`,
  });
  if (fail && fail.stage === 'validate')
    f.add({
      subject: s,
      check: 'SMTP AUTH',
      status: 'fail',
      message: `${fail.code}: ${fail.message}`,
      fix: fail.fix,
      class: fail.class,
    });
  else if (fail)
    f.add({
      subject: s,
      check: `pipeline (${fail.stage ?? '?'})`,
      status: 'fail',
      message: `${fail.code}: ${fail.message}`,
      fix: fail.fix,
      class: fail.class,
    });
  else
    f.add({
      subject: s,
      check: 'SMTP AUTH',
      status: 'ok',
      message: `${c.validation.smtp.host}:${c.validation.smtp.port} accepted ${c.mailbox}: ${summary.validation?.response ?? ''}`,
    });
}

/** An empty update: needs the same permission as a push, changes no variable (Adobe does not document it; opt-in). */
async function probeWrite(config: Config, conn: CloudManagerConnection, t: Target): Promise<number> {
  const adobe = adobeFor(config, t);
  const token = await conn.ims.token();
  const res = await httpRequest({
    remote: 'cloudmanager',
    stage: 'push',
    method: 'PATCH',
    url: `${trimSlash(adobe.cloudManagerEndpoint)}/api/program/${encodeURIComponent(t.programId)}/environment/${encodeURIComponent(t.environmentId)}/variables`,
    headers: {
      Authorization: `Bearer ${token}`,
      'x-api-key': adobe.clientId,
      'x-gw-ims-org-id': adobe.imsOrgId,
      'Content-Type': 'application/json',
      Accept: 'application/json',
    },
    body: '[]',
    timeoutMs: config.http.timeoutMs,
    retries: 0,
  });
  return res.status;
}

async function cloudManager(
  ctx: Context,
  f: Findings,
  config: Config,
  credentials: Credential[],
  lengths: Map<string, { token?: number; secret?: number }>,
): Promise<void> {
  const targeted = credentials.filter((c) => c.targets.length > 0);
  if (targeted.length === 0 || !config.adobe) return;
  const store = ctx.store();
  const conn = connectCloudManager(config, { readSecret: (id) => readSecretValue(store, id) });
  try {
    await conn.ims.token();
    f.add({
      subject: 'Adobe IMS',
      check: 'server-to-server credential',
      status: 'ok',
      message: `issued a token for ${defaultAdobe(config)?.clientId ?? ''}`,
    });
  } catch (e) {
    const err = asRefresherError(e, 'ims');
    f.add({
      subject: 'Adobe IMS',
      check: 'server-to-server credential',
      status: 'fail',
      message: `${err.code}: ${err.message}`,
      fix:
        err.code === 'SECRET_EMPTY'
          ? `Store it with \`token-refresher client-secret --adobe\` (${adobeSecretId(config)}).`
          : err.fix,
      class: err.class,
    });
    return;
  }
  const probe = bool(ctx.values, 'probe-write');
  for (const c of targeted) {
    for (const t of c.targets) {
      const subject = `${c.id} → ${targetLabel(t)}`;
      try {
        const env = await conn.client.getEnvironment(t.programId, t.environmentId);
        f.add(
          env.status && env.status !== 'ready'
            ? {
                subject,
                check: 'environment',
                status: 'warn',
                message: `status "${env.status}": variable updates may be refused until it is ready`,
                fix: 'Wait for the running pipeline or update to finish.',
              }
            : {
                subject,
                check: 'environment',
                status: 'ok',
                message: `${env.name ?? t.environmentId} is ${env.status ?? 'reachable'}`,
              },
        );
        const vars = await conn.client.listVariables(t.programId, t.environmentId);
        f.add({
          subject,
          check: 'read permission',
          status: 'ok',
          message: `listed ${vars.length} variable${vars.length === 1 ? '' : 's'}`,
        });
        const find = (name: string) =>
          vars.find((v) => v.name === name && (v.service === undefined || v.service === t.service));
        const checkVar = (name: string, role: string, pushedByUs: boolean) => {
          const v = find(name);
          if (!v) {
            f.add(
              pushedByUs
                ? {
                    subject,
                    check: name,
                    status: 'warn',
                    message: `${role} variable does not exist yet`,
                    fix: 'The next push creates it (as secretString).',
                  }
                : // token-refresher never writes it with pushClientSecret false: AEM's own setup, not a failure of ours.
                  {
                    subject,
                    check: name,
                    status: 'warn',
                    message: `${role} variable does not exist, and token-refresher does not push it (pushClientSecret is false)`,
                    fix: `AEM needs it to redeem the refresh token: create ${name} as a secret variable in Cloud Manager with the app's client secret, or set pushClientSecret: true and run \`token-refresher client-secret --credential ${c.id} --push\`.`,
                  },
            );
          } else if (v.type !== 'secretString') {
            f.add({
              subject,
              check: name,
              status: 'fail',
              message: `${role} variable exists with type "${v.type}": a type cannot change, and a plain variable exposes the secret`,
              fix: `Delete ${name} in Cloud Manager; the next push recreates it as secretString.`,
            });
          } else {
            f.add({
              subject,
              check: name,
              status: 'ok',
              message: `${role} variable is a secretString${v.status && v.status !== 'ready' ? ` (${v.status})` : ''}`,
            });
          }
        };
        checkVar(t.refreshTokenVariable, 'refresh token', true);
        checkVar(t.clientSecretVariable, 'client secret', t.pushClientSecret);
      } catch (e) {
        f.fromError(subject, 'read permission', e, 'cloudmanager');
        continue;
      }
      if (probe) {
        try {
          const status = await probeWrite(config, conn, t);
          if (status >= 200 && status < 300)
            f.add({
              subject,
              check: 'write permission',
              status: 'ok',
              message: `an empty update was accepted (HTTP ${status})`,
            });
          else if (status === 403)
            f.add({
              subject,
              check: 'write permission',
              status: 'fail',
              class: 'configuration',
              message: 'Cloud Manager refused an update (HTTP 403): the technical account may not change variables',
              fix: 'Add the Cloud Manager product profile "Deployment Manager" to the OAuth Server-to-Server credential’s technical account in the Adobe Developer Console.',
            });
          else
            f.add({
              subject,
              check: 'write permission',
              status: 'warn',
              message: `an empty update was answered HTTP ${status}`,
              fix: 'Inconclusive: the next push shows whether updates are allowed.',
            });
        } catch (e) {
          f.fromError(subject, 'write permission', e, 'cloudmanager');
        }
      } else {
        f.add({
          subject,
          check: 'write permission',
          status: 'skip',
          message: 'not probed (reading does not prove the "Deployment Manager" profile a push needs)',
          fix: 'Run with --probe-write, or see the last push in `token-refresher status`.',
        });
      }
      const len = lengths.get(c.id);
      const max = DEFAULT_MAX_SECRET_LENGTH;
      if (len?.token !== undefined) {
        f.add(
          len.token > max
            ? {
                subject,
                check: 'value length',
                status: 'fail',
                message: `the refresh token is ${len.token} characters, over the ${max} Cloud Manager accepts: it cannot be pushed`,
                fix: 'Nothing in the token can be shortened; raise the limit only if Adobe accepts longer values.',
              }
            : {
                subject,
                check: 'value length',
                status: 'ok',
                message: `refresh token ${len.token} of ${max} characters${len.secret !== undefined && t.pushClientSecret ? `, client secret ${len.secret}` : ''}`,
              },
        );
      }
    }
  }
}

export const doctorCommand: Command = {
  name: 'doctor',
  summary: 'check configuration, endpoints, SMTP AUTH, the IMS credential, Cloud Manager permissions and value lengths',
  options: { credential: { type: 'string' }, 'no-redeem': { type: 'boolean' }, 'probe-write': { type: 'boolean' } },
  help: `Usage: token-refresher doctor [--credential ID] [--no-redeem] [--probe-write]

Checks, each reported ok / warn / fail with what to do:
  configuration    the document, scopes, tenant, targets
  recovery link    the redirect URI the sign-in links of alerts return to, and where to register it on the app
                   (exact with TOKEN_REFRESHER_RECOVERY_URL = the stack output RecoveryUrl)
  discovery        for an "issuer": its OpenID configuration is reachable, names that issuer, gives the endpoints
  certificate      for credentialType "certificate": the key document is readable, an RSA key >= 2048 bits that
                   matches its certificate, not expired (warned under ${WARN_DAYS} days), with the thumbprint the header needs
  store            a current refresh token, the client secret (a warning for certificate credentials: AEM still
                   needs it), the Adobe secret; the last run's failure
  expiry           days left of the client secrets (clientSecretExpiresAt or the date stored with the secret,
                   adobe.clientSecretExpiresAt): warned under ${WARN_DAYS} days, failed once past
  network          a TCP connection to every token endpoint, SMTP host, IMS and Cloud Manager
  token endpoint   and SMTP AUTH for the mailbox (AUTH only, no mail is sent):
                   with the stored access token while it is valid (nothing changes). Otherwise the refresh token is
                   redeemed, and since Microsoft rotates it on every use, the new one goes through the pipeline:
                   stored as pending, checked with AUTH, made current. It is NOT pushed (a push restarts AEM); the
                   targets keep their still-valid token until the next run pushes the new one.
  Adobe IMS        the server-to-server credential gets a token
  Cloud Manager    per target: the environment, reading its variables, both variables present as secretString,
                   the refresh token's length against the ${DEFAULT_MAX_SECRET_LENGTH}-character limit
  --no-redeem      never redeem: SMTP AUTH is only checked with a stored, unexpired access token
  --probe-write    also send an empty variables update to prove the "Deployment Manager" permission (changes no
                   variable; Adobe does not document whether an empty update restarts the environment)
Exit codes: 0 nothing failed, 1 something failed, 2 usage or configuration, 3 a sign-in is needed (run regenerate).`,

  async run(ctx) {
    const ui = ctx.ui;
    // Ended before the report is printed; a thrown error ends it too (Ui.failure).
    const waiting = ui.wait('checking (the network checks can take a while)');
    const f = new Findings((x) => waiting.update(`checked ${x.subject}: ${x.check}`));
    const config = ctx.config();
    f.add({
      subject: 'configuration',
      check: 'document',
      status: 'ok',
      message: `valid, ${config.credentials.length} credential${config.credentials.length === 1 ? '' : 's'}`,
    });
    const id = str(ctx.values, 'credential');
    const credentials = id ? [ctx.credential(id)] : config.credentials;
    const store = ctx.store();
    const lengths = new Map<string, { token?: number; secret?: number }>();
    const discovered = new Map(
      await Promise.all(
        credentials.filter((c) => c.issuer).map(async (c) => [c.id, await discovery(config, c)] as const),
      ),
    );
    const tokenUrls = new Map(
      credentials.map((c) => [
        c.id,
        c.endpoints.token ?? (c.issuer ? discovered.get(c.id)?.discovered?.token : endpointsFor(c).token),
      ]),
    );
    await reachability(f, config, credentials, Math.min(config.http.timeoutMs, 5_000), tokenUrls);

    for (const c of credentials) {
      configChecks(f, c);
      recoveryCheck(f, config, c, ctx.io.env);
      const found = discovered.get(c.id);
      if (found) f.add(found.finding);
      const certificate = c.credentialType === 'certificate';
      const certificateOk = certificate ? await certificateCheck(ctx, f, config, c) : true;
      const ids = secretIds(config, c);
      let record: TokenRecord | undefined;
      let secret: string | undefined;
      try {
        const [cur, sec, st] = await Promise.all([
          store.getValue(ids.token, 'AWSCURRENT'),
          store.getValue(ids.clientSecret, 'AWSCURRENT'),
          ctx
            .state()
            .getState(c.id)
            .catch(() => undefined),
        ]);
        record = cur ? parseTokenRecord(cur.value, ids.token) : undefined;
        secret = clientSecretValue(sec?.value);
        lengths.set(c.id, { token: record?.refreshToken.length, secret: secret?.length });
        // No current version: either the secret does not exist (the stack is not deployed, or the name is wrong) or
        // it exists without a token yet (a first setup). Only listing its versions tells the two apart.
        const missing = record
          ? undefined
          : await store.listVersions(ids.token).then(
              () => undefined,
              (e: unknown) => (isRefresherError(e) && e.code === 'SECRET_NOT_FOUND' ? e : undefined),
            );
        f.add(
          record
            ? {
                subject: c.id,
                check: 'refresh token',
                status: 'ok',
                message: `stored in ${ids.token}${record.account ? ` for ${record.account}` : ''}`,
              }
            : missing
              ? {
                  subject: c.id,
                  check: 'refresh token',
                  status: 'fail',
                  class: 'configuration',
                  message: `secret ${ids.token} does not exist`,
                  fix: missing.fix,
                }
              : {
                  subject: c.id,
                  check: 'refresh token',
                  status: 'fail',
                  class: 'reauthorize',
                  message: `${ids.token} holds no refresh token`,
                  fix: `Run \`token-refresher regenerate --credential ${c.id}\`.`,
                },
        );
        if (record?.account && record.account.toLowerCase() !== c.mailbox.toLowerCase()) {
          f.add({
            subject: c.id,
            check: 'account',
            status: 'fail',
            class: 'reauthorize',
            message: `the stored token belongs to ${record.account}, not the mailbox ${c.mailbox}`,
            fix: `Run \`token-refresher regenerate --credential ${c.id}\` and sign in as ${c.mailbox}.`,
          });
        }
        f.add(
          c.tokenEndpointAuthMethod === 'none'
            ? {
                subject: c.id,
                check: 'client secret',
                status: 'ok',
                message:
                  'a public client (tokenEndpointAuthMethod "none"): it has no client secret, and none is needed',
              }
            : secret
              ? { subject: c.id, check: 'client secret', status: 'ok', message: `stored in ${ids.clientSecret}` }
              : certificate
                ? {
                    subject: c.id,
                    check: 'client secret',
                    status: 'warn',
                    message: `${ids.clientSecret} holds no client secret: token-refresher signs in with the certificate, but AEM redeems its refresh token with a client secret (SECRET_SMTP_OAUTH_CLIENT_SECRET)`,
                    fix: `Add a client secret to app ${c.clientId} for AEM and store it: \`token-refresher client-secret --credential ${c.id}\` (delivered to targets with pushClientSecret), or set the Cloud Manager variable yourself.`,
                  }
                : {
                    subject: c.id,
                    check: 'client secret',
                    status: c.provider === 'oauth2' ? 'warn' : 'fail',
                    message: `${ids.clientSecret} holds no client secret`,
                    fix: `Run \`token-refresher client-secret --credential ${c.id}\`.`,
                  },
        );
        const expiry = expiryFinding(
          c.id,
          clientSecretExpiry(c, sec?.value, ctx.io.now()),
          `Add a new client secret to app ${c.clientId} at the provider, then \`token-refresher client-secret --credential ${c.id} --expires DATE${c.targets.some((t) => t.pushClientSecret) ? ' --push' : ''}\`; AEM needs it too (SECRET_SMTP_OAUTH_CLIENT_SECRET).`,
          secret && c.provider !== 'google'
            ? {
                subject: c.id,
                check: 'client secret expiry',
                status: 'skip',
                message:
                  'no expiry date recorded, so no reminder comes before it expires (Entra ID secrets last at most 24 months)',
                fix: `Set clientSecretExpiresAt of credential ${c.id}, or store the secret again with \`token-refresher client-secret --credential ${c.id} --expires DATE\`.`,
              }
            : undefined,
        );
        if (expiry) f.add(expiry);
        const state = st?.state ?? { v: 1 as const };
        if (state.failure) {
          const fl = state.failure;
          f.add({
            subject: c.id,
            check: 'last runs',
            status: fl.class === 'transient' ? 'warn' : 'fail',
            class: fl.class,
            message: `failing since ${fl.since} (${fl.runs} run${fl.runs > 1 ? 's' : ''}) at ${fl.stage}: ${fl.code}${fl.message ? `: ${fl.message}` : ''}`,
            fix: fl.fix,
          });
        } else if (state.lastRun) {
          f.add({
            subject: c.id,
            check: 'last runs',
            status: 'ok',
            message: `last run ${state.lastRun.at}: ${state.lastRun.outcome}`,
          });
        }
      } catch (e) {
        f.fromError(c.id, 'store', e, 'secretsmanager');
        continue;
      }
      if (found && !found.discovered)
        f.add({
          subject: c.id,
          check: 'SMTP AUTH',
          status: 'skip',
          message: 'not checked: the token endpoint comes from discovery, which failed',
        });
      else if (!certificateOk)
        f.add({
          subject: c.id,
          check: 'SMTP AUTH',
          status: 'skip',
          message: 'not checked: a usable certificate key document is needed first',
        });
      else if (record && (secret || c.provider === 'oauth2' || certificate))
        await tokenAndSmtp(ctx, f, c, record, bool(ctx.values, 'no-redeem'));
      else
        f.add({
          subject: c.id,
          check: 'SMTP AUTH',
          status: 'skip',
          message: `not checked: a refresh token${certificate || c.provider === 'oauth2' ? '' : ' and the client secret'} are needed first`,
        });
    }
    if (config.adobe && credentials.some((c) => c.targets.length > 0)) {
      try {
        const v = await store.getValue(adobeSecretId(config), 'AWSCURRENT');
        if (!v)
          f.add({
            subject: 'Adobe IMS',
            check: 'client secret',
            status: 'fail',
            message: `${adobeSecretId(config)} holds no value`,
            fix: 'Run `token-refresher client-secret --adobe`.',
          });
        const expiry = expiryFinding(
          'Adobe IMS',
          adobeSecretExpiry(config, ctx.io.now()),
          'Generate a new client secret in the Adobe Developer Console (OAuth Server-to-Server), store it with `token-refresher client-secret --adobe` and update adobe.clientSecretExpiresAt.',
          undefined,
          'adobe.clientSecretExpiresAt',
        );
        if (expiry) f.add(expiry);
      } catch (e) {
        f.fromError('Adobe IMS', 'client secret', e, 'secretsmanager');
      }
    }
    await cloudManager(ctx, f, config, credentials, lengths);

    waiting.stop();
    const failed = f.all.filter((x) => x.status === 'fail');
    if (ui.json) ui.emit({ ok: failed.length === 0, findings: f.all });
    else {
      let subject = '';
      for (const x of f.all) {
        if (x.subject !== subject) {
          subject = x.subject;
          ui.out(ui.c('bold', subject));
        }
        ui.out(`  ${ui.mark(x.status)} ${x.check}: ${x.message}`);
        if (x.fix && x.status !== 'ok') ui.out(`      ${ui.c('gray', 'what to do:')} ${x.fix}`);
      }
      const warned = f.all.filter((x) => x.status === 'warn').length;
      ui.out();
      ui.out(
        failed.length
          ? ui.c(
              'red',
              `${failed.length} check${failed.length > 1 ? 's' : ''} failed, ${warned} warning${warned === 1 ? '' : 's'}`,
            )
          : ui.c('green', `all checks passed${warned ? `, ${warned} warning${warned === 1 ? '' : 's'}` : ''}`),
      );
    }
    const codes: ExitCode[] = failed.map((x) =>
      x.class === 'reauthorize' ? exitCodeForClass('reauthorize') : Exit.failure,
    );
    return worstExit(codes);
  },
};
