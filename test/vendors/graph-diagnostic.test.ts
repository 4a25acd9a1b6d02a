import { describe, expect, it } from 'vitest';
import { runRotation } from '../../lambdas/pipeline/run.ts';
import { DEFAULT_CLIENT_SECRET, SMTP_SEND_SCOPE } from '../../standins/entra.ts';
import { GRAPH_MAIL_SEND } from '../../standins/graph.ts';
import { cmValue, scanAndCloseAfterEach, startVendorWorld, type VendorWorld } from './support.ts';

let w: VendorWorld | undefined;
const outputs = scanAndCloseAfterEach(
  () => w,
  () => (w = undefined),
);

/** A Microsoft credential with validation.graphDiagnostic on, the Graph stand-in, and consent for SMTP.Send (+ Mail.Send). */
async function graphWorld(o: { consentGraph?: boolean; diagnostic?: boolean } = {}): Promise<VendorWorld> {
  const world = await startVendorWorld({
    harness: { standins: { graph: {} } },
    patch: (c, _i, h) => ({
      validation: {
        ...c.validation,
        graphDiagnostic: o.diagnostic ?? true,
        graph: { endpoint: h.standins.graph!.url },
      },
    }),
  });
  const scopes = `${SMTP_SEND_SCOPE}${o.consentGraph === false ? '' : ` ${GRAPH_MAIL_SEND}`} email openid profile offline_access`;
  await world.putToken(world.h.standins.entra.issueRefreshToken({ scopes }));
  return world;
}

describe('Microsoft Graph sendMail as an optional diagnostic after the SMTP check', () => {
  it("runs after a passing SMTP check with a token of its own; the stored token is the SMTP refresh's, the Graph one is dropped", async () => {
    w = await graphWorld();
    const entra = w.h.standins.entra;
    const s = (await runRotation(w.deps(), {})).results[0]!;
    outputs.result = JSON.stringify(s);
    expect(s.failure).toBeUndefined();
    expect(s.outcome).toBe('rotated');
    expect(s.validation?.response).toMatch(/^250/);
    expect(s.diagnostics?.graph).toMatchObject({ ok: true, step: 'sendMail', status: 202 });
    expect(s.diagnostics?.graph?.interpretation).toContain('Graph and SMTP AUTH both accept mailer@contoso.com');
    const graph = w.h.standins.graph!;
    expect(graph.messages).toHaveLength(1);
    expect(graph.messages[0]).toMatchObject({
      account: 'mailer@contoso.com',
      to: ['mailer@contoso.com'],
      saveToSentItems: false,
    });
    // Two refreshes: the pipeline's (SMTP scope, stored) and the diagnostic's (Graph scope, never stored or pushed).
    const tokenCalls = entra.requests
      .filter((r) => r.route === 'token')
      .map((r) => new URLSearchParams(r.body).get('scope'));
    expect(tokenCalls).toEqual([`${SMTP_SEND_SCOPE} offline_access`, `${GRAPH_MAIL_SEND} offline_access`]);
    const issued = entra.issuedRefreshTokens();
    const [smtpRound, graphRound] = issued.slice(-2);
    const current = await w.current();
    expect(current?.record.refreshToken).toBe(smtpRound);
    expect(cmValue(w)).toBe(smtpRound);
    for (const stage of ['AWSCURRENT', 'AWSPENDING'])
      expect((await w.h.store.getValue(w.ids().token, stage))?.value ?? '').not.toContain(graphRound!);
    // Entra did not revoke the token the Graph round was redeemed from: the next run rotates from it as usual.
    const next = (await runRotation(w.deps({ now: () => new Date(Date.now() + 10 * 60_000) }), { force: true }))
      .results[0]!;
    expect(next.failure).toBeUndefined();
    expect(next.outcome).toBe('rotated');
  });

  it('SMTP AUTH disabled (5.7.139) while Graph can send: the failure and its alert stand, the diagnostic explains it', async () => {
    w = await graphWorld();
    w.h.standins.smtp.injectFault('535 5.7.139');
    const s = (await runRotation(w.deps(), {})).results[0]!;
    outputs.result = JSON.stringify(s);
    expect(s.failure).toMatchObject({ class: 'configuration', code: 'SMTP_535_5.7.139', stage: 'validate' });
    expect(s.promoted).toBe(false);
    expect(s.diagnostics?.graph).toMatchObject({ ok: true, status: 202 });
    expect(s.diagnostics?.graph?.interpretation).toContain('SMTP AUTH is disabled for this mailbox or the tenant');
    const mails = await w.h.alertMails();
    expect(mails).toHaveLength(1);
    expect(mails[0]!.subject).toContain('SMTP_535_5.7.139');
  });

  it('no consent for Graph Mail.Send: the diagnostic reports AADSTS65001 and the rotation completes (never blocks promotion)', async () => {
    w = await graphWorld({ consentGraph: false });
    const s = (await runRotation(w.deps(), {})).results[0]!;
    outputs.result = JSON.stringify(s);
    expect(s.failure).toBeUndefined();
    expect(s.promoted).toBe(true);
    expect(s.diagnostics?.graph).toMatchObject({ ok: false, step: 'token', code: 'AADSTS65001' });
    expect(s.diagnostics?.graph?.interpretation).toContain('Mail.Send');
    expect(w.h.standins.graph!.messages).toHaveLength(0);
    expect(await w.h.alertMails()).toHaveLength(0);
  });

  it('Graph failing (503, unlicensed mailbox) is reported, not retried, not alerted', async () => {
    w = await graphWorld();
    const graph = w.h.standins.graph!;
    graph.inject('sendMail', {
      kind: 'status',
      status: 503,
      body: { error: { code: 'ServiceUnavailable', message: 'Service unavailable.' } },
    });
    const s1 = (await runRotation(w.deps(), {})).results[0]!;
    outputs.s1 = JSON.stringify(s1);
    expect(s1.failure).toBeUndefined();
    expect(s1.diagnostics?.graph).toMatchObject({
      ok: false,
      step: 'sendMail',
      status: 503,
      code: 'GRAPH_ServiceUnavailable',
    });
    // sendMail is not idempotent: one attempt only.
    expect(graph.faults.count('sendMail')).toBe(1);
    graph.disableMailbox('mailer@contoso.com');
    const s2 = (await runRotation(w.deps({ now: () => new Date(Date.now() + 10 * 60_000) }), { force: true }))
      .results[0]!;
    outputs.s2 = JSON.stringify(s2);
    expect(s2.diagnostics?.graph).toMatchObject({ ok: false, status: 404, code: 'GRAPH_MailboxNotEnabledForRESTAPI' });
    expect(await w.h.alertMails()).toHaveLength(0);
  });

  it('off by default: no Graph token, no Graph call', async () => {
    w = await graphWorld({ diagnostic: false });
    const s = (await runRotation(w.deps(), {})).results[0]!;
    outputs.result = JSON.stringify(s);
    expect(s.diagnostics).toBeUndefined();
    expect(w.h.standins.entra.requests.filter((r) => r.route === 'token')).toHaveLength(1);
    expect(w.h.standins.graph!.requests).toHaveLength(0);
  });

  it('the Graph stand-in checks the audience: an SMTP token is refused (401), as SMTP refuses a Graph token (5.7.3)', async () => {
    w = await graphWorld();
    const entra = w.h.standins.entra;
    const rt = (await w.current())!.record.refreshToken;
    const redeem = async (scope: string) => {
      const res = await fetch(entra.tokenUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'refresh_token',
          client_id: w!.cred().clientId,
          client_secret: DEFAULT_CLIENT_SECRET,
          refresh_token: rt,
          scope,
        }),
      });
      return ((await res.json()) as { access_token: string }).access_token;
    };
    const smtpToken = await redeem(`${SMTP_SEND_SCOPE} offline_access`);
    const send = (token: string) =>
      fetch(`${w!.h.standins.graph!.url}/v1.0/me/sendMail`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          message: { subject: 'x', toRecipients: [{ emailAddress: { address: 'a@example.com' } }] },
        }),
      });
    const refused = await send(smtpToken);
    expect(refused.status).toBe(401);
    expect(((await refused.json()) as { error: { message: string } }).error.message).toBe('Invalid audience.');
    expect((await send(await redeem(`${GRAPH_MAIL_SEND} offline_access`))).status).toBe(202);
  });
});
