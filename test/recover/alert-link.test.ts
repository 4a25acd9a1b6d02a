// Which alerts carry a sign-in link, on real peers (moto's SES and Secrets Manager, the stand-ins, the file StateStore):
// the first reauthorize mail and every reminder get a fresh one whose hash only is stored; other classes, a pipeline
// without a link issuer and an issuer whose store fails fall back to the CLI command, and the alert still goes out.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { rotateCredential } from '../../lambdas/pipeline/rotate.ts';
import { hashOf } from '../../lambdas/recover/secrets.ts';
import { createLinkIssuer } from '../../lambdas/report/recovery-link.ts';
import { FileStateStore } from '../../lambdas/store/file-state-store.ts';
import { startHarness, type Harness } from '../support/harness.ts';
import { LINK_IN_MAIL } from './support.ts';

const BASE = 'http://127.0.0.1:1';
let h: Harness | undefined;

afterEach(async () => {
  await h?.close();
  h = undefined;
});

async function world() {
  h = await startHarness();
  await h.seed();
  const state = new FileStateStore(join(mkdtempSync(join(tmpdir(), 'tr-alert-link-')), 'state'));
  return { h, state };
}

const links = (body: string) => [...body.matchAll(LINK_IN_MAIL)].map((m) => m[1] as string);

describe('sign-in links in alerts', () => {
  it('the first reauthorize mail and the reminder a day later each carry a fresh link; only their hashes are stored', async () => {
    const { h, state } = await world();
    let now = new Date();
    const issuer = createLinkIssuer({ store: state, baseUrl: BASE, now: () => now });
    h.standins.entra.revokeAccount(h.config.credentials[0]!.mailbox);
    const run = () =>
      rotateCredential(h.wiring({ linkIssuer: issuer, now: () => now }), h.config.credentials[0]!, { force: true });
    expect((await run()).alert).toBe('failure');
    expect((await run()).alert).toBe('none');
    now = new Date(now.getTime() + 25 * 3_600_000);
    expect((await run()).alert).toBe('reminder');
    const mails = await h.alertMails();
    expect(mails).toHaveLength(2);
    const [first, reminder] = mails.map((m) => links(m.body));
    expect(first).toHaveLength(1);
    expect(reminder).toHaveLength(1);
    expect(first![0]).not.toBe(reminder![0]);
    expect(mails[1]!.body).toContain('Click this link and sign in as mailer@contoso.com');
    // The CLI stays named as the fallback, and the redirect URI to register is named.
    expect(mails[1]!.body).toContain('token-refresher regenerate --credential aem-mail');
    expect(mails[1]!.body).toContain(`${BASE}/callback`);
    for (const link of [first![0]!, reminder![0]!]) {
      const token = new URL(link).searchParams.get('t')!;
      const item = await state.consumeOneTime(hashOf(token), now);
      expect(item).toMatchObject({ purpose: 'link', credentialId: 'aem-mail', hash: hashOf(token) });
      // 72 hours from when the alert was composed.
      expect(Date.parse(item!.expiresAt) - now.getTime()).toBeGreaterThan(46 * 3_600_000);
      // The token itself is nowhere in the store, nor in any log line.
      expect(JSON.stringify(item)).not.toContain(token);
      expect(h.logs.join('\n')).not.toContain(token);
    }
  });

  it('a failure of another class gets no link: no sign-in would help', async () => {
    const { h, state } = await world();
    const issued: string[] = [];
    const counting = createLinkIssuer({
      store: {
        putOneTime: async (i) => {
          issued.push(i.hash);
          await state.putOneTime(i);
        },
      },
      baseUrl: BASE,
    });
    h.standins.entra.setClientSecretExpired(true);
    const s = await rotateCredential(h.wiring({ linkIssuer: counting }), h.config.credentials[0]!, { force: true });
    expect(s.failure?.class).toBe('configuration');
    expect(s.alert).toBe('failure');
    expect(issued).toEqual([]);
    expect(links((await h.alertMails()).at(-1)!.body)).toEqual([]);
  });

  const failingStore = {
    putOneTime: async () => {
      throw new Error('table unavailable');
    },
  };
  it.each([
    ['no link issuer (recovery switched off)', undefined],
    ['an issuer whose table write fails', createLinkIssuer({ store: failingStore, baseUrl: BASE })],
  ])('%s: the reauthorize alert still goes out and names the CLI command', async (_name, linkIssuer) => {
    const { h } = await world();
    h.standins.entra.revokeAccount(h.config.credentials[0]!.mailbox);
    const r = await rotateCredential(h.wiring({ linkIssuer }), h.config.credentials[0]!, { force: true });
    expect(r.alert).toBe('failure');
    const body = (await h.alertMails()).at(-1)!.body;
    expect(links(body)).toEqual([]);
    expect(body).not.toContain('Click this link');
    expect(body).not.toContain('{{sign-in-link}}');
    expect(body).toContain('token-refresher regenerate --credential aem-mail');
  });
});
