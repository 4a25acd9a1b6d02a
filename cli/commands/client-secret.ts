import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { defaultAdobe } from '../../lambdas/config/adobe.ts';
import { adobeSecretId, secretIds } from '../../lambdas/config/load.ts';
import type { Credential } from '../../lambdas/config/schema.ts';
import { asRefresherError } from '../../lambdas/core/errors.ts';
import { registerSecret } from '../../lambdas/core/redact.ts';
import { runRotation } from '../../lambdas/pipeline/run.ts';
import { targetKey } from '../../lambdas/push/cloud-manager-target.ts';
import { ImsTokenSource } from '../../lambdas/push/ims.ts';
import { bool, str } from '../args.ts';
import type { Command } from '../command.ts';
import type { Context } from '../context.ts';
import { CliError, Exit, usageError, type ExitCode } from '../errors.ts';
import { readAll, readHiddenLine } from '../io.ts';
import { certificateSecretId } from '../../lambdas/refresh/client-assertion.ts';
import { describeExpiry, expiryInstant, WARN_DAYS } from '../../lambdas/report/secret-expiry.ts';
import { inspectKeyDocument } from '../certificate.ts';

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function readFile(ctx: Context, file: string): string {
  try {
    return readFileSync(resolve(ctx.io.cwd, file), 'utf8');
  } catch (e) {
    throw usageError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
  }
}

/** The value from --from-file, a hidden prompt on a terminal, or the whole of piped stdin; never from the command line. */
async function readValue(ctx: Context, what: string): Promise<string> {
  const file = str(ctx.values, 'from-file');
  let raw: string;
  if (file) {
    raw = readFile(ctx, file);
  } else if (ctx.io.stdin.isTTY) {
    ctx.io.stderr.write(`${what} (input hidden): `);
    raw = await readHiddenLine(ctx.io.stdin, (s) => ctx.io.stderr.write(s));
  } else {
    raw = await readAll(ctx.io.stdin);
  }
  const value = raw.trim();
  registerSecret(value);
  if (!value)
    throw usageError(`no ${what} was given`, 'Type it at the prompt, pipe it on stdin, or pass --from-file FILE.');
  if (/\s/.test(value))
    throw usageError(`the ${what} contains spaces or line breaks`, 'Give the value alone, on one line.');
  return value;
}

/**
 * A key document spans lines (PEM): read whole from --from-file or piped stdin, never typed at a prompt. It is the
 * private key, so it is registered for redaction before anything looks at it.
 */
async function readDocument(ctx: Context): Promise<string> {
  const file = str(ctx.values, 'from-file');
  let raw: string;
  if (file) {
    raw = readFile(ctx, file);
  } else if (ctx.io.stdin.isTTY) {
    throw usageError(
      'a certificate key document is not typed at a prompt',
      'Pipe it (`cat key.pem cert.pem | token-refresher client-secret ... --certificate`) or pass --from-file FILE.',
    );
  } else {
    raw = await readAll(ctx.io.stdin);
  }
  registerSecret(raw);
  const doc = raw.trim();
  registerSecret(doc);
  if (!doc)
    throw usageError(
      'no certificate key document was given',
      'Pipe the PEM private key and certificate on stdin, or pass --from-file FILE.',
    );
  return doc;
}

/** --expires: an ISO date or date-time in the future, as `clientSecretExpiresAt` takes it. */
function expiresOption(ctx: Context): string | undefined {
  const v = str(ctx.values, 'expires');
  if (v === undefined) return undefined;
  const iso =
    /^\d{4}-\d{2}-\d{2}$/.test(v) || /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(v);
  const at = iso ? expiryInstant(v) : undefined;
  if (!at || Number.isNaN(at.getTime()))
    throw usageError(
      `--expires must be an ISO date (2027-06-30) or date-time with offset, got "${v}"`,
      'Give the "Expires" date the provider shows next to the secret.',
    );
  if (at.getTime() <= ctx.io.now().getTime())
    throw usageError(
      `--expires ${v} is not in the future: that secret has expired already`,
      'Create a new client secret at the provider and store that one, with its expiry date.',
    );
  return v;
}

async function certificate(ctx: Context, c: Credential): Promise<ExitCode> {
  for (const o of ['push', 'expires', 'force'])
    if (ctx.values[o] !== undefined) throw usageError(`--${o} does not apply to --certificate`);
  if (c.credentialType !== 'certificate') {
    throw usageError(
      `credential ${c.id} authenticates with a client secret, not a certificate`,
      'Set "credentialType": "certificate" on the credential (and deploy, so the stack creates and grants the certificate secret) before storing its key.',
    );
  }
  if (c.certificate?.kmsKeyId) {
    throw usageError(
      `credential ${c.id} signs with the KMS key ${c.certificate.kmsKeyId}; there is no key document to store`,
      'Upload a new certificate for that key to the app in Entra ID and update certificate.thumbprintSha256 in the configuration.',
    );
  }
  const secretId = certificateSecretId(ctx.config(), c);
  const doc = await readDocument(ctx);
  // Checked exactly as the function will use it; nothing is stored unless it would work.
  const info = inspectKeyDocument(doc, secretId, c, ctx.io.now());
  if (info.error)
    throw new CliError(`${info.error.message}; nothing was stored`, Exit.usage, info.error.fix, info.error.code);
  await storeValue(ctx, secretId, doc);
  const parts = [`RSA ${info.bits ?? '?'} bits`];
  if (info.thumbprint) parts.push(`SHA-1 thumbprint ${info.thumbprint} (as Entra ID lists it)`);
  if (info.notAfter && info.daysLeft !== undefined)
    parts.push(`certificate expires ${describeExpiry(info.notAfter, info.daysLeft)}`);
  ctx.ui.progress('info', parts.join(', '));
  if (info.warn)
    ctx.ui.progress(
      'warn',
      `the certificate expires in less than ${WARN_DAYS} days: upload a new one to the app and store its key soon`,
    );
  if (!info.certificateChecked)
    ctx.ui.progress(
      'warn',
      'only a thumbprint was given: the key could not be checked against its certificate, and its expiry is unknown',
    );
  ctx.ui.progress(
    'info',
    'the certificate must be registered on the app (Entra ID > App registrations > Certificates & secrets > Certificates)',
  );
  if (ctx.ui.json)
    ctx.ui.emit({
      credential: c.id,
      secretId,
      stored: true,
      thumbprint: info.thumbprint,
      notAfter: info.notAfter,
      daysLeft: info.daysLeft,
    });
  return Exit.ok;
}

async function storeValue(ctx: Context, secretId: string, value: string): Promise<string> {
  const versionId = await ctx
    .store()
    .putValue(secretId, value, { clientRequestToken: randomUUID(), stages: ['AWSCURRENT'] });
  ctx.ui.progress('ok', `stored as the current value of ${secretId}`);
  return versionId;
}

async function adobe(ctx: Context): Promise<ExitCode> {
  const config = ctx.config();
  const org = defaultAdobe(config);
  if (!org)
    throw usageError('the configuration has no "adobe" section', 'Add adobe.imsOrgId and adobe.clientId first.');
  const value = await readValue(ctx, 'Adobe OAuth Server-to-Server client secret');
  const id = adobeSecretId(config, org);
  if (!bool(ctx.values, 'no-verify')) {
    // Cheap and without side effects: an IMS token proves the secret before it replaces a working one.
    const ims = new ImsTokenSource({
      endpoint: org.imsEndpoint,
      clientId: org.clientId,
      clientSecret: async () => value,
      scopes: org.scopes,
      timeoutMs: config.http.timeoutMs,
      retries: config.http.retries,
    });
    try {
      await ims.token();
      ctx.ui.progress('ok', 'Adobe IMS issued a token with it');
    } catch (e) {
      const err = asRefresherError(e, 'ims');
      throw new CliError(
        `Adobe IMS refused the secret, so it was not stored: ${err.message}`,
        Exit.failure,
        `${err.fix} (--no-verify stores it anyway)`,
        err.code,
      );
    }
  }
  await storeValue(ctx, id, value);
  if (ctx.ui.json) ctx.ui.emit({ secretId: id, stored: true });
  return Exit.ok;
}

async function pushClientSecret(ctx: Context, c: Credential, _value: string): Promise<ExitCode> {
  const wanted = c.targets.filter((t) => t.pushClientSecret);
  if (wanted.length === 0) {
    ctx.ui.progress('skip', 'no target has pushClientSecret: true; nothing to push');
    return Exit.ok;
  }
  // The delivery stage pushes the stored secret with the current token in one PATCH per target, under the credential's
  // lease, and records which secret version each target now holds. Each push restarts that AEM environment.
  ctx.ui.progress(
    'warn',
    `pushing the client secret to ${wanted.length} target(s) now: each push restarts its AEM environment`,
  );
  const result = await runRotation(ctx.deps(), {
    credentials: [c.id],
    source: 'cli',
    mode: 'deliver',
    pushNow: wanted.map((t) => targetKey(t)),
  });
  const s = result.results[0];
  if (!s) return Exit.ok;
  if (s.outcome === 'skipped')
    throw new CliError(
      `another run is working on credential ${c.id}: ${s.note ?? ''}`,
      Exit.conflict,
      'Run client-secret --push again when it has finished.',
      'LEASE_HELD',
    );
  if (s.failure?.code === 'NO_TOKEN')
    throw new CliError(
      `credential ${c.id} holds no refresh token to push along with the client secret`,
      Exit.reauthorize,
      `Run \`token-refresher regenerate --credential ${c.id}\`; it pushes both.`,
      'NO_TOKEN',
    );
  let failed = 0;
  for (const t of s.targets) {
    if (t.status === 'pushed') ctx.ui.progress('ok', `pushed the client secret (and the current token) to ${t.target}`);
    else if (t.status === 'failed' || t.status === 'deferred') {
      failed++;
      ctx.ui.progress('fail', `${t.target}: ${t.code ?? t.status}: ${t.why ?? ''}`);
    }
  }
  if (s.failure && failed === 0) {
    failed++;
    ctx.ui.progress('fail', `${s.failure.code}: ${s.failure.message}`);
    ctx.ui.err(`  what to do: ${s.failure.fix}`);
  }
  return failed ? Exit.failure : Exit.ok;
}

export const clientSecretCommand: Command = {
  name: 'client-secret',
  summary: 'store a new client secret (read from stdin, never from the command line) and optionally push it',
  options: {
    credential: { type: 'string' },
    adobe: { type: 'boolean' },
    push: { type: 'boolean' },
    'from-file': { type: 'string' },
    force: { type: 'boolean' },
    'no-verify': { type: 'boolean' },
    expires: { type: 'string' },
    certificate: { type: 'boolean' },
  },
  help: `Usage: token-refresher client-secret --credential ID [--expires DATE] [--push] [--from-file FILE] [--force]
       token-refresher client-secret --credential ID --certificate [--from-file FILE]
       token-refresher client-secret --adobe [--from-file FILE] [--no-verify]

Stores a new client secret as the current value of its secret; the value is read at a hidden prompt on a terminal,
else from stdin (\`... < file\`), or from --from-file, and is never shown.
  --credential ID  the Entra (or other provider's) app secret of that credential, used to redeem its refresh token
  --push           also push it now to the targets with pushClientSecret: true (with the current refresh token, in one
                   update, which restarts the environment); without --push the next rotation delivers it
  --expires DATE   the secret's expiry date (2027-06-30, as the provider shows it): stored with the value as
                   {"clientSecret", "expiresAt"}, so the reminders (30, 14, 3 days) follow the new secret
  --force          store a value that looks like a secret's ID (a GUID) instead of its value (AADSTS7000215)
  --certificate    for credentialType "certificate": the key document (PEM private key and certificate, as
                   \`cat key.pem cert.pem\` gives, or {"privateKey", "certificate"} JSON) from stdin or --from-file, checked
                   as the function will use it (RSA >= 2048 bits, key matches certificate, not expired) before it is
                   stored in its certificate secret (default <prefix>/<id>/certificate)
  --adobe          the Adobe OAuth Server-to-Server client secret (Cloud Manager); checked by getting an IMS token
                   first unless --no-verify
Exit codes: 0 stored (and pushed), 1 refused by IMS or a push failed, 2 usage (or an unusable key document), 4 another
run holds the lease.`,

  async run(ctx) {
    if (bool(ctx.values, 'adobe')) {
      if (str(ctx.values, 'credential')) throw usageError('--adobe and --credential exclude each other');
      if (bool(ctx.values, 'certificate') || str(ctx.values, 'expires'))
        throw usageError(
          '--certificate and --expires are for --credential',
          "The Adobe secret's expiry is adobe.clientSecretExpiresAt in the configuration.",
        );
      return adobe(ctx);
    }
    const id = str(ctx.values, 'credential');
    if (!id) throw usageError('--credential ID (or --adobe) is required');
    const c = ctx.credential(id);
    if (bool(ctx.values, 'certificate')) return certificate(ctx, c);
    const ids = secretIds(ctx.config(), c);
    const expires = expiresOption(ctx);
    const value = await readValue(ctx, `client secret value for ${c.clientId}`);
    if (GUID.test(value) && !bool(ctx.values, 'force')) {
      throw usageError(
        'that looks like the client secret’s ID (a GUID), not its value; Entra answers AADSTS7000215 to it',
        'In Entra ID > App registrations > Certificates & secrets, copy the "Value" column (shown only right after creation), or pass --force.',
      );
    }
    // With its date, the secret document carries its own expiry, which wins over clientSecretExpiresAt.
    await storeValue(
      ctx,
      ids.clientSecret,
      expires ? JSON.stringify({ clientSecret: value, expiresAt: expires }) : value,
    );
    if (expires) ctx.ui.progress('info', `expiry ${expires} stored with it: reminders go out 30, 14 and 3 days before`);
    else if (c.clientSecretExpiresAt)
      ctx.ui.progress(
        'info',
        `no --expires: reminders follow clientSecretExpiresAt of the configuration (${c.clientSecretExpiresAt}); update it if the new secret expires on another date`,
      );
    const manual = c.targets.filter((t) => !t.pushClientSecret);
    for (const t of manual) {
      ctx.ui.progress(
        'info',
        `program ${t.programId} / environment ${t.environmentId}: pushClientSecret is false, set ${t.clientSecretVariable} in Cloud Manager yourself`,
      );
    }
    let code: ExitCode = Exit.ok;
    if (bool(ctx.values, 'push')) code = await pushClientSecret(ctx, c, value);
    else if (c.targets.some((t) => t.pushClientSecret))
      ctx.ui.progress(
        'info',
        'the next rotation pushes it to the targets with pushClientSecret (or run again with --push)',
      );
    if (ctx.ui.json)
      ctx.ui.emit({
        credential: id,
        secretId: ids.clientSecret,
        stored: true,
        expiresAt: expires,
        pushed: bool(ctx.values, 'push') && code === Exit.ok,
      });
    return code;
  },
};
