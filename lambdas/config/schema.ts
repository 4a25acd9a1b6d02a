import { z } from 'zod';
import { deliveryProblems, deliverySettingsSchema, effectiveDelivery } from './delivery-schema.ts';

/**
 * The configuration document: credentials and shared settings. It holds no secret values, only where they live,
 * so it can sit in a repository, a CloudFormation template and the function bundle.
 */

const secretRef = z
  .object({
    secretId: z.string().min(1).describe('Secrets Manager secret name or ARN holding the value'),
  })
  .strict();

const httpsOrLocalUrl = z
  .string()
  .url()
  .refine((u) => u.startsWith('https://') || /^http:\/\/(127\.0\.0\.1|localhost|\[::1\])(:\d+)?(\/|$)/.test(u), {
    message: 'must be an https:// URL (plain http:// is allowed only for localhost stand-ins)',
  });

const variableName = z
  .string()
  .regex(/^[a-zA-Z_][a-zA-Z_0-9]*$/, 'must match [a-zA-Z_][a-zA-Z_0-9]* (Cloud Manager variable name)')
  .min(2)
  .max(100)
  .refine((n) => !/^(INTERNAL_|ADOBE_|CONST_)/.test(n), {
    message: 'names starting INTERNAL_, ADOBE_ or CONST_ are reserved by Cloud Manager',
  });

export const targetSchema = z
  .object({
    programId: z.string().regex(/^\d+$/, 'Cloud Manager program id (digits)'),
    environmentId: z.string().regex(/^\d+$/, 'Cloud Manager environment id (digits)'),
    refreshTokenVariable: variableName.default('SECRET_SMTP_OAUTH_REFRESH_TOKEN'),
    clientSecretVariable: variableName.default('SECRET_SMTP_OAUTH_CLIENT_SECRET'),
    pushClientSecret: z
      .boolean()
      .default(false)
      .describe('also push the client secret (normally set once by `token-refresher client-secret`)'),
    service: z.enum(['author', 'publish', 'preview']).optional().describe('absent = all services'),
    stage: z
      .string()
      .min(1)
      .max(40)
      .optional()
      .describe("rollout stage of this target, one of the credential's delivery.stages (e.g. dev, stage, prod)"),
    delivery: deliverySettingsSchema
      .optional()
      .describe("overrides the credential's delivery settings for this target"),
    adobe: z
      .string()
      .min(1)
      .optional()
      .describe(
        'name of the Adobe credential (adobe[].name) this program belongs to; default: the first (or only) one',
      ),
  })
  .strict();

/**
 * Longest deadline of one HTTP attempt or SMTP dialogue step. Node's timers hold a signed 32-bit count of milliseconds
 * and fire after 1 ms past it (https://nodejs.org/api/timers.html#settimeoutcallback-delay-args); the SMTP validator
 * multiplies its timeout by three, so 715,827,883 ms already overflowed. Five minutes is longer than any real answer.
 */
export const MAX_TIMEOUT_MS = 300_000;
/** Targets per credential: each is a Cloud Manager environment (and service); more is a configuration mistake. */
export const MAX_TARGETS = 100;

export const smtpSchema = z
  .object({
    // A host name: no whitespace or control characters (a NUL or CR LF here would reach the SMTP dialogue and DNS).
    host: z
      .string()
      .min(1)
      .max(253)
      .regex(/^[^\u0000-\u0020\u007f]+$/, 'a host name or address, without spaces or control characters'),
    port: z.number().int().min(1).max(65535).default(587),
    starttls: z.boolean().default(true).describe('STARTTLS on a plain connection; false means implicit TLS (port 465)'),
    timeoutMs: z.number().int().positive().max(MAX_TIMEOUT_MS).default(20_000),
  })
  .strict();

export const providerKinds = ['microsoft', 'google', 'oauth2'] as const;
export const credentialTypes = ['secret', 'certificate'] as const;

/**
 * When a client secret (or certificate) stops working. A bare date is read as the start of that day in UTC: Entra shows
 * the date only, and alerting a few hours early is harmless while alerting late is not.
 */
const expiryDate = z
  .union([z.iso.date(), z.iso.datetime({ offset: true })])
  .describe(
    'ISO date (2027-03-31) or date-time when the client secret expires; alerts go out 30, 14 and 3 days before',
  );

/** Key id (optionally multi-Region mrk-), key ARN, alias name or alias ARN: every form KMS Sign accepts as KeyId. */
const KMS_KEY_ID =
  /^((mrk-)?[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32}|alias\/[A-Za-z0-9/_-]{1,250}|arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key\/[A-Za-z0-9-]+|alias\/[A-Za-z0-9/_-]+))$/;

export const certificateSchema = z
  .object({
    secretId: z
      .string()
      .min(1)
      .optional()
      .describe(
        'default: <secretPrefix>/<id>/certificate; holds {"privateKey": PEM, "certificate": PEM} or the two PEM blocks',
      ),
    algorithm: z
      .enum(['PS256', 'RS256'])
      .default('PS256')
      .describe('PS256 with the x5t#S256 header (current Entra guidance) or RS256 with x5t (SHA-1)'),
    thumbprintHeader: z.enum(['x5t#S256', 'x5t']).optional().describe('default: x5t#S256 for PS256, x5t for RS256'),
    kmsKeyId: z
      .string()
      .regex(KMS_KEY_ID, 'a KMS key id, key ARN, alias name (alias/...) or alias ARN')
      .optional()
      .describe(
        "the private key is an asymmetric AWS KMS key (RSA_2048/3072/4096, SIGN_VERIFY) instead of a key document in Secrets Manager; give the certificate's thumbprint too",
      ),
    thumbprintSha256: z
      .string()
      .regex(/^(([0-9a-fA-F]{2}:?){32}|[A-Za-z0-9_-]{43})$/, '64 hex digits or 43 base64url characters')
      .optional()
      .describe('with kmsKeyId: SHA-256 thumbprint of the certificate (header x5t#S256)'),
    thumbprint: z
      .string()
      .regex(/^([0-9a-fA-F]{2}:?){20}$/, '40 hex digits (the SHA-1 thumbprint Entra shows)')
      .optional()
      .describe('with kmsKeyId: SHA-1 thumbprint of the certificate as Entra shows it (header x5t)'),
  })
  .strict();

/**
 * Where a KMS-held certificate key is read from. The key document in Secrets Manager and a KMS key are alternatives:
 * each problem names its path, so the operator sees which field to drop or add.
 */
function checkCertificate(cert: z.infer<typeof certificateSchema>, ctx: z.RefinementCtx): void {
  const at = (field: string) => ['certificate', field];
  if (!cert.kmsKeyId) {
    for (const f of ['thumbprint', 'thumbprintSha256'] as const) {
      if (cert[f])
        ctx.addIssue({
          code: 'custom',
          path: at(f),
          message: `only with certificate.kmsKeyId; a key document in Secrets Manager carries its own "${f}"`,
        });
    }
    return;
  }
  if (cert.secretId) {
    ctx.addIssue({
      code: 'custom',
      path: at('secretId'),
      message:
        'certificate.kmsKeyId and certificate.secretId exclude each other: the key is either in KMS or in a key document, not both',
    });
  }
  const algorithm = cert.algorithm ?? 'PS256';
  const header = cert.thumbprintHeader ?? (algorithm === 'PS256' ? 'x5t#S256' : 'x5t');
  if (header === 'x5t#S256' && !cert.thumbprintSha256) {
    ctx.addIssue({
      code: 'custom',
      path: at('thumbprintSha256'),
      message: `required with certificate.kmsKeyId for the x5t#S256 header (${algorithm}): the certificate's SHA-256 thumbprint (openssl x509 -noout -fingerprint -sha256)`,
    });
  }
  if (header === 'x5t' && !cert.thumbprint) {
    ctx.addIssue({
      code: 'custom',
      path: at('thumbprint'),
      message:
        "required with certificate.kmsKeyId for the x5t header: the certificate's SHA-1 thumbprint as Entra shows it",
    });
  }
}

const chatId = (what: string) =>
  z.string().regex(/^[A-Za-z0-9:_.@%+=/,-]{1,256}$/, `${what} as AWS Chatbot or the channel link shows it`);

export const chatbotSchema = z
  .object({
    slack: z
      .array(
        z
          .object({ workspaceId: chatId('Slack workspace id (T...)'), channelId: chatId('Slack channel id (C...)') })
          .strict(),
      )
      .max(10)
      .default([]),
    teams: z
      .array(
        z
          .object({
            tenantId: z.string().uuid().describe('Microsoft Entra tenant id of the team'),
            teamId: z
              .string()
              .uuid()
              .describe('Microsoft Teams team id (after the team is authorized in the AWS Chatbot console)'),
            channelId: chatId('Teams channel id (19:...@thread.tacv2, or URL-encoded as in the channel link)'),
          })
          .strict(),
      )
      .max(10)
      .default([]),
  })
  .strict();

export const webhookSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,39}$/, 'lower-case letters, digits and dashes (used in metrics)'),
    url: httpsOrLocalUrl.describe(
      'receives POST application/json {credential, kind, class, code, stage, subject, text, fix, link}',
    ),
    format: z
      .enum(['json', 'pagerduty'])
      .default('json')
      .describe('json: the alert document; pagerduty: a PagerDuty Events API v2 event'),
    signingSecret: secretRef
      .optional()
      .describe(
        'HMAC-SHA256 key read from Secrets Manager: header X-Token-Refresher-Signature: v1=<hex of HMAC(timestamp + "." + body)>',
      ),
    routingKey: secretRef
      .optional()
      .describe('format pagerduty: the integration (routing) key, read from Secrets Manager'),
    timeoutMs: z.number().int().min(100).max(30_000).default(5_000),
    retries: z.number().int().min(0).max(5).default(3),
  })
  .strict()
  .refine((w) => w.format !== 'pagerduty' || w.routingKey, {
    message: 'format "pagerduty" needs routingKey',
    path: ['routingKey'],
  });

export const graphSchema = z
  .object({
    endpoint: httpsOrLocalUrl
      .default('https://graph.microsoft.com')
      .describe('Microsoft Graph host (national clouds differ)'),
    scope: z
      .string()
      .min(1)
      .default('https://graph.microsoft.com/Mail.Send')
      .describe('delegated permission the diagnostic token is requested for'),
  })
  .strict();

export const credentialSchema = z
  .object({
    id: z
      .string()
      .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'lower-case letters, digits and dashes (used in secret names and metrics)'),
    provider: z.enum(providerKinds).default('microsoft'),
    authority: httpsOrLocalUrl
      .default('https://login.microsoftonline.com')
      .describe('Entra ID authority host (national clouds differ)'),
    tenant: z.string().min(1).optional().describe('Entra tenant id or domain; required for microsoft'),
    issuer: httpsOrLocalUrl
      .optional()
      .describe(
        'OpenID Connect issuer: endpoints not set under "endpoints" are read from <issuer>/.well-known/openid-configuration once per run',
      ),
    endpoints: z
      .object({
        token: httpsOrLocalUrl.optional(),
        authorize: httpsOrLocalUrl.optional(),
        deviceCode: httpsOrLocalUrl.optional(),
        userinfo: httpsOrLocalUrl
          .optional()
          .describe(
            'OpenID Connect userinfo endpoint: names the signed-in account for the recovery endpoint when the ID token does not',
          ),
      })
      .strict()
      .default({}),
    clientId: z.string().min(1),
    clientSecret: secretRef.optional().describe('default: <secretPrefix>/<id>/client-secret'),
    // New fields are optional without defaults, so credentials built in code before they existed still type-check.
    credentialType: z
      .enum(credentialTypes)
      .optional()
      .describe(
        'default "secret": how token-refresher authenticates the app: its client secret, or a client_assertion JWT signed with a certificate key',
      ),
    certificate: certificateSchema.optional().describe('for credentialType "certificate"; defaults apply when absent'),
    clientSecretExpiresAt: expiryDate.optional(),
    tokenEndpointAuthMethod: z
      .enum(['client_secret_post', 'client_secret_basic', 'none'])
      .optional()
      .describe(
        'default client_secret_post: how the client secret is sent (RFC 6749 2.3.1); some OAuth2 servers accept only client_secret_basic; "none": a public client, which has no secret (oauth2)',
      ),
    refreshTokenReuse: z
      .enum(['revokes', 'allowed'])
      .optional()
      .describe(
        'default "revokes" for oauth2, "allowed" for microsoft and google: whether the provider revokes the grant when a used refresh token is presented again (rotation with reuse detection, RFC 9700 4.14.2). With "revokes" a refresh request that may have reached the provider is never sent again',
      ),
    tokenSecretId: z.string().min(1).optional().describe('default: <secretPrefix>/<id>/refresh-token'),
    stateSecretId: z.string().min(1).optional().describe('default: <secretPrefix>/<id>/state'),
    scopes: z.array(z.string().min(1)).min(1),
    mailbox: z.string().max(254, 'at most 254 characters (RFC 5321 4.5.3.1.3 path limit)').email(),
    validation: z
      .object({
        mode: z.enum(['send', 'auth']).default('send').describe('send a test mail, or only authenticate'),
        to: z.string().email().optional().describe('test mail recipient; default the mailbox itself'),
        smtp: smtpSchema,
        graphDiagnostic: z
          .boolean()
          .optional()
          .describe(
            'default false; microsoft only: after the SMTP check, also send through Microsoft Graph sendMail with a token of its own; reported, never blocks',
          ),
        graph: graphSchema
          .optional()
          .describe('Graph endpoint and scope of the diagnostic; defaults apply when absent'),
      })
      .strict(),
    targets: z.array(targetSchema).max(MAX_TARGETS, `at most ${MAX_TARGETS} targets per credential`).default([]),
    delivery: deliverySettingsSchema
      .extend({
        stages: z
          .array(z.string().min(1).max(40))
          .min(1)
          .optional()
          .describe(
            'ordered rollout stages: a stage is pushed only after every target of the earlier stages is confirmed and has soaked',
          ),
      })
      .strict()
      .optional()
      .describe('when targets receive a new copy: age, maintenance windows, staged rollout, confirmation'),
    rotation: z
      .object({
        maxAgeDays: z
          .number()
          .positive()
          .max(89)
          .default(7)
          .describe('rotate when the stored token is older than this'),
        force: z.boolean().default(false),
      })
      .strict()
      .default({ maxAgeDays: 7, force: false }),
    schedule: z
      .object({
        expression: z.string().min(1).default('rate(1 day)'),
        timeZone: z.string().min(1).default('UTC'),
      })
      .strict()
      .default({ expression: 'rate(1 day)', timeZone: 'UTC' }),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.provider === 'microsoft' && !c.tenant) {
      ctx.addIssue({
        code: 'custom',
        path: ['tenant'],
        message: 'required for provider "microsoft" (tenant id or domain)',
      });
    }
    if (c.provider === 'oauth2' && !c.endpoints.token && !c.issuer) {
      ctx.addIssue({
        code: 'custom',
        path: ['endpoints', 'token'],
        message: 'required for provider "oauth2" (or set "issuer" for OpenID discovery)',
      });
    }
    if (c.tokenEndpointAuthMethod === 'none' && (c.provider !== 'oauth2' || c.credentialType === 'certificate')) {
      ctx.addIssue({
        code: 'custom',
        path: ['tokenEndpointAuthMethod'],
        message: '"none" (a public client) is for provider "oauth2" with credentialType "secret" only',
      });
    }
    if (c.credentialType === 'certificate' && c.provider === 'google') {
      ctx.addIssue({
        code: 'custom',
        path: ['credentialType'],
        message: 'Google OAuth clients for Gmail authenticate with a client secret only',
      });
    }
    if (c.credentialType !== 'certificate' && c.certificate) {
      ctx.addIssue({ code: 'custom', path: ['certificate'], message: 'only for credentialType "certificate"' });
    }
    if (c.certificate) checkCertificate(c.certificate, ctx);
    if (c.validation.graphDiagnostic && c.provider !== 'microsoft') {
      ctx.addIssue({
        code: 'custom',
        path: ['validation', 'graphDiagnostic'],
        message: 'Microsoft Graph is for provider "microsoft" only',
      });
    }
    checkDelivery(c, ctx);
    const seen = new Set<string>();
    c.targets.forEach((t, i) => {
      const key = `${t.programId}/${t.environmentId}/${t.service ?? 'all'}`;
      if (seen.has(key)) ctx.addIssue({ code: 'custom', path: ['targets', i], message: `duplicate target ${key}` });
      seen.add(key);
    });
  });

/**
 * Refuses delivery settings that cannot keep every copy under the token lifetime, naming the field where it is set
 * (on the target, else on the credential, else the target whose defaults fail).
 */
function checkDelivery(
  c: {
    delivery?: z.infer<typeof deliverySettingsSchema> & { stages?: string[] };
    targets: Array<z.infer<typeof targetSchema>>;
    rotation: { maxAgeDays: number };
  },
  ctx: z.RefinementCtx,
): void {
  const reported = new Set<string>();
  c.targets.forEach((t, j) => {
    if (t.stage !== undefined && !(c.delivery?.stages ?? []).includes(t.stage)) {
      ctx.addIssue({
        code: 'custom',
        path: ['targets', j, 'stage'],
        message: `"${t.stage}" is not one of delivery.stages (${(c.delivery?.stages ?? []).join(', ') || 'none set'})`,
      });
    }
    if (c.delivery?.stages && t.stage === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['targets', j, 'stage'],
        message: `required when delivery.stages is set (one of ${c.delivery.stages.join(', ')})`,
      });
    }
    for (const p of deliveryProblems(effectiveDelivery(c.delivery, t.delivery), {
      rotationMaxAgeDays: c.rotation.maxAgeDays,
    })) {
      const path =
        t.delivery?.[p.field] !== undefined || c.delivery?.[p.field] === undefined
          ? ['targets', j, 'delivery', p.field]
          : ['delivery', p.field];
      const key = path.join('.');
      if (reported.has(key)) continue;
      reported.add(key);
      ctx.addIssue({ code: 'custom', path, message: p.message });
    }
  });
}

const adobeName = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,64}$/, 'a name of 1-64 letters, digits, _ or -')
  .describe(
    'how targets name this Adobe credential (target.adobe); its client secret defaults to <secretPrefix>/adobe/<name>/client-secret',
  );

export const adobeSchema = z
  .object({
    name: adobeName.optional(),
    imsOrgId: z.string().regex(/@AdobeOrg$/, 'an IMS organization id ending in @AdobeOrg'),
    clientId: z.string().min(1),
    clientSecret: secretRef
      .optional()
      .describe('default: <secretPrefix>/adobe/client-secret (unnamed) or <secretPrefix>/adobe/<name>/client-secret'),
    scopes: z
      .array(z.string().min(1))
      .default([
        'openid',
        'AdobeID',
        'read_organizations',
        'additional_info.projectedProductContext',
        'read_pc.dma_aem_ams',
      ]),
    imsEndpoint: httpsOrLocalUrl.default('https://ims-na1.adobelogin.com'),
    cloudManagerEndpoint: httpsOrLocalUrl.default('https://cloudmanager.adobe.io'),
    clientSecretExpiresAt: expiryDate.optional(),
  })
  .strict();

export const configSchema = z
  .object({
    $schema: z.string().optional(),
    secretPrefix: z
      .string()
      .regex(/^[A-Za-z0-9/_+=.@-]+$/)
      .default('token-refresher'),
    stateTable: z
      .string()
      .regex(/^[A-Za-z0-9_.-]{3,255}$/, 'a DynamoDB table name (3-255 of A-Z a-z 0-9 _ . -)')
      .optional()
      .describe(
        'default: <secretPrefix>-state; the DynamoDB table of leases, credential state and delivery records (TOKEN_REFRESHER_STATE_TABLE, set by the stack, wins)',
      ),
    adobe: z
      .union([adobeSchema, z.array(adobeSchema).min(1).max(100)])
      .optional()
      .describe(
        'the Adobe OAuth Server-to-Server credential Cloud Manager is called with; a list of named ones for several organizations (a target names its own with "adobe", else the first is used)',
      ),
    alerts: z
      .object({
        from: z.string().email(),
        to: z.array(z.string().email()).min(1),
        remindAfterHours: z.number().positive().default(24),
        sns: z
          .boolean()
          .optional()
          .describe(
            'default false (true when chatbot is set): also publish every alert as JSON to an SNS topic the stack creates (output AlertTopicArn)',
          ),
        chatbot: chatbotSchema
          .optional()
          .describe('Slack channels and Microsoft Teams channels that show the alert topic through AWS Chatbot'),
        webhooks: z
          .array(webhookSchema)
          .max(10)
          .optional()
          .describe('HTTPS endpoints that receive every alert as a JSON POST'),
      })
      .strict()
      .optional(),
    recovery: z
      .object({
        enabled: z
          .boolean()
          .default(true)
          .describe('false: no recovery endpoint (no public URL); reauthorize alerts name the CLI command'),
        linkTtlHours: z
          .number()
          .positive()
          .max(168)
          .default(72)
          .describe('how long the sign-in link of an alert stays valid'),
        maxLinkUsesPerDay: z
          .number()
          .int()
          .min(1)
          .max(100)
          .default(10)
          .describe('sign-ins started from links per credential and 24 hours'),
        reservedConcurrency: z
          .number()
          .int()
          .min(1)
          .max(20)
          .default(2)
          .describe("the endpoint's reserved concurrency: bounds abuse and cost"),
      })
      .strict()
      .optional()
      .describe('the one-click sign-in endpoint for reauthorize alerts (a Lambda Function URL); enabled by default'),
    http: z
      .object({
        timeoutMs: z.number().int().positive().max(MAX_TIMEOUT_MS).default(10_000),
        retries: z.number().int().min(0).max(10).default(3),
        maxConcurrency: z.number().int().positive().default(8),
      })
      .strict()
      .default({ timeoutMs: 10_000, retries: 3, maxConcurrency: 8 }),
    credentials: z.array(credentialSchema).min(1),
  })
  .strict()
  .superRefine((c, ctx) => {
    const hooks = new Set<string>();
    c.alerts?.webhooks?.forEach((w, i) => {
      if (hooks.has(w.name))
        ctx.addIssue({
          code: 'custom',
          path: ['alerts', 'webhooks', i, 'name'],
          message: `duplicate webhook name "${w.name}"`,
        });
      hooks.add(w.name);
    });
    if (Array.isArray(c.adobe)) {
      const names = new Set<string>();
      c.adobe.forEach((a, i) => {
        if (a.name === undefined)
          ctx.addIssue({
            code: 'custom',
            path: ['adobe', i, 'name'],
            message: 'required in a list: targets name their Adobe credential by it',
          });
        else if (names.has(a.name))
          ctx.addIssue({
            code: 'custom',
            path: ['adobe', i, 'name'],
            message: `duplicate Adobe credential name "${a.name}"`,
          });
        if (a.name !== undefined) names.add(a.name);
      });
    }
    const ids = new Set<string>();
    c.credentials.forEach((cred, i) => {
      if (ids.has(cred.id))
        ctx.addIssue({
          code: 'custom',
          path: ['credentials', i, 'id'],
          message: `duplicate credential id "${cred.id}"`,
        });
      ids.add(cred.id);
      if (cred.targets.length > 0 && !c.adobe) {
        ctx.addIssue({
          code: 'custom',
          path: ['adobe'],
          message: `required because credential "${cred.id}" has Cloud Manager targets`,
        });
      }
      const orgNames =
        c.adobe === undefined ? [] : Array.isArray(c.adobe) ? c.adobe.map((a) => a.name) : [c.adobe.name];
      cred.targets.forEach((t, j) => {
        if (t.adobe !== undefined && c.adobe !== undefined && !orgNames.includes(t.adobe)) {
          ctx.addIssue({
            code: 'custom',
            path: ['credentials', i, 'targets', j, 'adobe'],
            message: `no Adobe credential named "${t.adobe}" (known: ${orgNames.filter(Boolean).join(', ') || 'none named'})`,
          });
        }
      });
    });
  });

export type Config = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
export type Credential = z.infer<typeof credentialSchema>;
export type Target = z.infer<typeof targetSchema>;
export type AdobeSettings = z.infer<typeof adobeSchema>;
export type SmtpSettings = z.infer<typeof smtpSchema>;
export type CertificateSettings = z.infer<typeof certificateSchema>;
export type GraphSettings = z.infer<typeof graphSchema>;
export type WebhookSettings = z.infer<typeof webhookSchema>;
export type RecoverySettings = NonNullable<Config['recovery']>;

/** The recovery endpoint is on unless switched off; its settings with defaults filled in. */
export function recoverySettings(c: Pick<Config, 'recovery'>): RecoverySettings & { enabled: boolean } {
  return { enabled: true, linkTtlHours: 72, maxLinkUsesPerDay: 10, reservedConcurrency: 2, ...c.recovery };
}

export function configJsonSchema(): unknown {
  return z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' });
}
