import { describe, expect, it } from 'vitest';
import { RefresherError } from '../../lambdas/core/errors.ts';
import { redact } from '../../lambdas/core/redact.ts';
import { rotateCredential } from '../../lambdas/pipeline/rotate.ts';
import { runRotation } from '../../lambdas/pipeline/run.ts';
import {
  decideExpiry,
  expiryInstant,
  type ExpiryMemory,
  type SecretExpiry,
} from '../../lambdas/report/secret-expiry.ts';
import { DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET } from '../../standins/entra.ts';
import { scanAndCloseAfterEach, startVendorWorld, type VendorWorld } from './support.ts';

let w: VendorWorld | undefined;
const outputs = scanAndCloseAfterEach(
  () => w,
  () => (w = undefined),
);

const DAY = 86_400_000;
const T0 = Date.parse('2027-01-01T06:00:00Z');
const at = (days: number) => new Date(T0 + days * DAY);
const EXPIRES = '2027-02-10';

describe('client-secret expiry: the decision', () => {
  const secret: SecretExpiry = {
    key: 'client-secret',
    expiresAt: expiryInstant(EXPIRES).toISOString(),
    source: 'configuration',
  };

  it('mails once at 30, 14 and 3 days and once when expired, whatever days the runs fall on', () => {
    let memory: ExpiryMemory | undefined;
    const mailed: number[] = [];
    // Daily runs from 45 days before to 5 days after, with a few days skipped (a broken schedule must not skip a mail).
    for (let d = 0; d <= 45; d++) {
      if ([10, 11, 26, 37].includes(d)) continue;
      const s = decideExpiry(secret, memory, at(d));
      if (s.alert) {
        mailed.push(s.threshold!);
        memory = { expiresAt: s.expiresAt, threshold: s.threshold!, alertedAt: at(d).toISOString() };
      }
    }
    expect(mailed).toEqual([30, 14, 3, 0]);
  });

  it('a new expiry date (a replaced secret) starts over; a first look inside 14 days mails once, for the most urgent threshold', () => {
    const old: ExpiryMemory = {
      expiresAt: '2026-06-01T00:00:00.000Z',
      threshold: 0,
      alertedAt: '2026-06-02T00:00:00.000Z',
    };
    expect(decideExpiry(secret, old, at(12))).toMatchObject({ alert: true, threshold: 30 });
    const late = decideExpiry(secret, undefined, at(30));
    expect(late).toMatchObject({ alert: true, threshold: 14 });
    expect(
      decideExpiry(secret, { expiresAt: late.expiresAt, threshold: 14, alertedAt: at(30).toISOString() }, at(31)).alert,
    ).toBe(false);
    expect(decideExpiry(secret, undefined, at(0))).toMatchObject({ alert: false, threshold: undefined });
    expect(Math.round(decideExpiry(secret, undefined, at(0)).daysLeft * 100) / 100).toBe(39.75);
  });

  it('a bare date is the start of that day in UTC; a date-time keeps its offset', () => {
    expect(expiryInstant('2027-02-10').toISOString()).toBe('2027-02-10T00:00:00.000Z');
    expect(expiryInstant('2027-02-10T12:00:00+02:00').toISOString()).toBe('2027-02-10T10:00:00.000Z');
  });
});

describe('client-secret expiry on real peers (moto SES, stand-ins), with an injected clock', () => {
  async function world(o: { adobe?: string; credentials?: number; inSecret?: string } = {}): Promise<VendorWorld> {
    const v = await startVendorWorld({
      harness: { credentials: o.credentials ?? 1, targetsPerCredential: 1 },
      patch: () => (o.inSecret ? {} : { clientSecretExpiresAt: EXPIRES }),
      top: (h) => (o.adobe ? { adobe: { ...h.config.adobe, clientSecretExpiresAt: o.adobe } } : {}),
    });
    if (o.inSecret)
      await v.putSecret(
        v.ids().clientSecret,
        JSON.stringify({ clientSecret: DEFAULT_CLIENT_SECRET, expiresAt: o.inSecret }),
      );
    return v;
  }

  it('30, 14, 3 days and expired: four mails naming the app, the date and the client-secret command; ClientSecretDaysLeft every run', async () => {
    w = await world();
    const c = w.cred();
    const runs = [0, 5, 11, 12, 20, 27, 28, 38, 39, 41, 42];
    for (const d of runs) {
      const s = await rotateCredential(w.deps({ now: () => at(d) }), c, {});
      outputs[`day${d}`] = JSON.stringify(s);
      expect(s.secretExpiry?.[0]).toMatchObject({ name: 'client-secret', expiresAt: '2027-02-10T00:00:00.000Z' });
    }
    const mails = await w.h.alertMails();
    expect(mails.map((m) => m.subject)).toEqual([
      '[token-refresher] aem-mail: client secret expires in 28 days (2027-02-10)',
      '[token-refresher] aem-mail: client secret expires in 12 days (2027-02-10)',
      '[token-refresher] aem-mail: client secret expires in 1 day (2027-02-10)',
      '[token-refresher] aem-mail: client secret has expired (2027-02-10)',
    ]);
    const first = mails[0]!.body;
    expect(first).toContain(`Entra ID app ${DEFAULT_CLIENT_ID}`);
    expect(first).toContain('expires on 2027-02-10');
    expect(first).toContain('Certificates & secrets > Client secrets');
    expect(first).toContain('token-refresher client-secret --credential aem-mail');
    expect(first).toContain('clientSecretExpiresAt');
    expect(mails[3]!.body).toContain('AADSTS7000222');
    const days = w.h.metrics.points
      .filter((p) => p.name === 'ClientSecretDaysLeft' && p.credential === 'aem-mail')
      .map((p) => p.value);
    expect(days).toHaveLength(runs.length);
    expect(days[0]).toBeCloseTo(39.75, 2);
    expect(days.at(-1)).toBeLessThan(0);
    // The threshold is remembered in the credential state, next to the failure memory.
    const state = (await w.h.state.getState('aem-mail'))!.state;
    expect(state.secretExpiry?.['client-secret']).toMatchObject({
      expiresAt: '2027-02-10T00:00:00.000Z',
      threshold: 0,
    });
  });

  it('the Adobe client secret is watched by the first credential with targets only: one mail, metric under "adobe"', async () => {
    w = await world({ adobe: '2027-01-20', credentials: 2 });
    const result = await runRotation(w.deps({ now: () => at(0) }), {});
    outputs.result = JSON.stringify(result);
    const mails = await w.h.alertMails();
    const adobe = mails.filter((m) => m.subject.includes('Adobe'));
    expect(adobe).toHaveLength(1);
    expect(adobe[0]!.subject).toBe('[token-refresher] Adobe client secret expires in 18 days (2027-01-20)');
    expect(adobe[0]!.body).toContain('token-refresher client-secret --adobe');
    expect(adobe[0]!.body).toContain('Adobe Developer Console');
    expect(
      w.h.metrics.points.filter((p) => p.name === 'ClientSecretDaysLeft' && p.credential === 'adobe'),
    ).toHaveLength(1);
    expect(result.results[0]!.secretExpiry?.map((e) => e.name)).toEqual(['client-secret', 'adobe']);
    expect(result.results[1]!.secretExpiry?.map((e) => e.name)).toEqual(['client-secret']);
  });

  it('an expiry stored with the secret ({"clientSecret", "expiresAt"}) wins over the configuration', async () => {
    w = await world({ inSecret: '2027-01-04' });
    const s = await rotateCredential(w.deps({ now: () => at(0) }), w.cred(), {});
    outputs.result = JSON.stringify(s);
    expect(s.failure).toBeUndefined();
    expect(s.secretExpiry).toEqual([
      { name: 'client-secret', expiresAt: '2027-01-04T00:00:00.000Z', daysLeft: 2.75, alerted: true },
    ]);
    // The function returns its result redacted by key names: the expiry summary must come through readable.
    expect(redact(s).secretExpiry).toEqual(s.secretExpiry);
    const mails = await w.h.alertMails();
    expect(mails[0]!.body).toContain('Record the new expiry date with it');
  });

  it('a mail that could not be sent is sent by the next run (the threshold is remembered only once mailed)', async () => {
    w = await world();
    const failing = {
      send: async () =>
        Promise.reject(
          new RefresherError({
            class: 'transient',
            code: 'SES_Throttling',
            remote: 'ses',
            message: 'throttled',
            fix: 'retry',
          }),
        ),
    };
    const s1 = await rotateCredential(w.deps({ now: () => at(12), alerter: failing }), w.cred(), {});
    outputs.s1 = JSON.stringify(s1);
    expect(s1.secretExpiry?.[0]?.alerted).toBe('failed-to-send');
    expect(w.h.metrics.sum('AlertFailure', 'aem-mail')).toBe(1);
    const s2 = await rotateCredential(w.deps({ now: () => at(13) }), w.cred(), {});
    outputs.s2 = JSON.stringify(s2);
    expect(s2.secretExpiry?.[0]?.alerted).toBe(true);
    expect(await w.h.alertMails()).toHaveLength(1);
  });
});
