import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../lambdas/config/load.ts';
import type { FailureClass } from '../../lambdas/core/errors.ts';
import { isRefresherError } from '../../lambdas/core/errors.ts';
import { OAuth2Provider } from '../../lambdas/refresh/oauth2-provider.ts';
import {
  DEFAULT_CLIENT_ID,
  DEFAULT_CLIENT_SECRET,
  SMTP_SEND_SCOPE,
  startEntraStandin,
  type EntraErrorName,
  type EntraStandin,
} from '../../standins/entra.ts';
import { writeFigures } from './support/results.ts';

/**
 * Every Entra code the classifier knows (docs/PROTOCOLS.md, Entra ID; Microsoft's error code reference), answered by the Entra stand-in the way Microsoft answers it, classified by the
 * provider the pipeline uses. The pipeline rows of the matrix take representative codes; this sweep takes all of them.
 */
const EXPECTED: Array<[number | EntraErrorName, FailureClass]> = [
  ...([70008, 700082, 700084, 50173, 70043, 50076, 50078, 50079, 65001, 70000, 50089] as const).map(
    (c) => [c, 'reauthorize'] as [number, FailureClass],
  ),
  ['interaction_required', 'reauthorize'],
  ['consent_required', 'reauthorize'],
  ['login_required', 'reauthorize'],
  ...(
    [
      7000215, 7000222, 7000218, 700025, 700016, 7000112, 53003, 530032, 530035, 50057, 70011, 700022, 50194, 900144,
      90009,
    ] as const
  ).map((c) => [c, 'configuration'] as [number, FailureClass]),
  ...([50033, 50087, 70012, 90006, 90012, 90024, 90033, 90090, 90055, 50196] as const).map(
    (c) => [c, 'transient'] as [number, FailureClass],
  ),
  ['temporarily_unavailable', 'transient'],
  ['server_error', 'transient'],
];
const SUBERRORS = [
  'basic_action',
  'additional_action',
  'message_only',
  'user_password_expired',
  'consent_required',
  'bad_token',
];

let entra: EntraStandin;
let provider: OAuth2Provider;
const observed: Array<{ code: string; expected: FailureClass; observed: string; errorCode: string }> = [];

beforeAll(async () => {
  entra = await startEntraStandin();
  const config = parseConfig({
    credentials: [
      {
        id: 'sweep',
        authority: entra.url,
        tenant: entra.tenant,
        clientId: DEFAULT_CLIENT_ID,
        scopes: [SMTP_SEND_SCOPE, 'offline_access'],
        mailbox: 'mailer@contoso.com',
        validation: { smtp: { host: 'smtp.office365.com' } },
      },
    ],
  });
  // No retries: a transient answer is reported at once (the pipeline's retries are shown by the matrix).
  provider = new OAuth2Provider(config.credentials[0]!, {
    clientSecret: DEFAULT_CLIENT_SECRET,
    clientSecretRef: 'sweep/client-secret',
    timeoutMs: 2_000,
    retries: 0,
  });
});

afterAll(async () => {
  await entra?.close();
  writeFigures('classification', {
    codes: observed.length,
    correct: observed.filter((o) => o.expected === o.observed).length,
    rows: observed,
  });
});

async function classOf(): Promise<{ cls: string; code: string }> {
  const token = entra.issueRefreshToken();
  try {
    await provider.redeemRefreshToken(token);
    return { cls: 'none', code: 'none' };
  } catch (e) {
    if (!isRefresherError(e)) return { cls: `crash ${(e as Error).name}`, code: '' };
    return { cls: e.class, code: e.code };
  }
}

describe('every Entra code is classified as Microsoft documents it', () => {
  it.each(EXPECTED)('%s is %s', async (code, cls) => {
    entra.failWith(code, 1, { retryAfterSec: 0 });
    const r = await classOf();
    observed.push({
      code: typeof code === 'number' ? `AADSTS${code}` : code,
      expected: cls,
      observed: r.cls,
      errorCode: r.code,
    });
    expect(r.cls).toBe(cls);
  });
  it.each(SUBERRORS)('suberror %s with an unknown code is reauthorize', async (suberror) => {
    entra.inject('token', {
      kind: 'status',
      status: 400,
      body: { error: 'invalid_grant', error_codes: [99999], suberror },
    });
    const r = await classOf();
    observed.push({ code: `suberror ${suberror}`, expected: 'reauthorize', observed: r.cls, errorCode: r.code });
    expect(r.cls).toBe('reauthorize');
  });
});
