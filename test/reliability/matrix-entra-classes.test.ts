import { afterAll, describe, expect, it } from 'vitest';
import type { EntraErrorName } from '../../standins/entra.ts';
import { runRow, type RowSpec } from './support/matrix.ts';
import { regenerate } from './support/regenerate.ts';
import { MatrixSink } from './support/results.ts';

/**
 * Fault matrix, Entra ID error classes (docs/PROTOCOLS.md, Entra ID) through the whole pipeline, answered the way Microsoft answers
 * them by the stand-in: representative codes of each class (classification-sweep.test.ts checks every listed code at the
 * provider, which is fast). Some person-must-act failures run twice (one alert, not two); the next run comes after the
 * fix: a new sign-in (`regenerate`) for re-authorization, the administrator's change for configuration.
 */
const sink = new MatrixSink('entra-classes');
afterAll(() => sink.flush());

const group = 'Entra ID';
const stage = 'refresh';

/** A person-must-act code answered once per run; 70043 and 7000215 run twice to show the failure mails once. */
function codeRow(code: number | EntraErrorName, cls: 'reauthorize' | 'configuration', expectedCode: string): RowSpec {
  const twice = code === 70043 || code === 7000215;
  return {
    group,
    stage,
    fault: typeof code === 'number' ? `AADSTS${code} (${cls})` : `${code} (${cls})`,
    runs: twice ? 2 : 1,
    inject: (h) => h.standins.entra.failWith(code, 1, { retryAfterSec: 0 }),
    next: cls === 'reauthorize' ? regenerate : undefined,
    expect: { failure: { class: cls, code: expectedCode, stage }, alerts: 1 },
    note:
      cls === 'reauthorize'
        ? 'next run: after the person signs in again (regenerate)'
        : 'next run: after the administrator fixed it',
  };
}

function suberrorRow(suberror: string): RowSpec {
  return {
    group,
    stage,
    fault: `invalid_grant with unknown code and suberror ${suberror}`,
    runs: 2,
    inject: (h) =>
      h.standins.entra.inject('token', {
        kind: 'status',
        status: 400,
        body: { error: 'invalid_grant', error_description: 'AADSTS99999: Simulated.', error_codes: [99999], suberror },
      }),
    next: regenerate,
    expect: { failure: { class: 'reauthorize', code: 'AADSTS99999', stage }, alerts: 1 },
    note: 'classified by the suberror; next run after regenerate',
  };
}

const reauthorize: RowSpec[] = [
  {
    group,
    stage,
    fault: 'refresh token dead after 90 days unused (AADSTS700082, real expiry at the stand-in)',
    runs: 2,
    inject: (h) => h.standins.entra.expireAll(700082),
    next: regenerate,
    expect: { failure: { class: 'reauthorize', code: 'AADSTS700082', stage }, alerts: 1 },
    note: 'next run after regenerate',
  },
  {
    group,
    stage,
    fault: 'password reset revoked every token of the mailbox (AADSTS50173, real revocation)',
    inject: (h) => h.standins.entra.revokeAccount(h.config.credentials[0]!.mailbox),
    next: regenerate,
    expect: { failure: { class: 'reauthorize', code: 'AADSTS50173', stage }, alerts: 1 },
    note: 'next run after regenerate',
  },
  ...[70043, 65001].map((c) => codeRow(c, 'reauthorize', `AADSTS${c}`)),
  codeRow('interaction_required', 'reauthorize', 'AADSTS50076'),
  codeRow('login_required', 'reauthorize', 'AADSTS50058'),
  suberrorRow('bad_token'),
];

const configuration: RowSpec[] = [
  {
    group,
    stage,
    fault: 'client secret expired (AADSTS7000222, real at the stand-in)',
    runs: 2,
    inject: (h) => h.standins.entra.setClientSecretExpired(true),
    clear: (h) => h.standins.entra.setClientSecretExpired(false),
    expect: { failure: { class: 'configuration', code: 'AADSTS7000222', stage }, alerts: 1 },
    note: 'next run after a new client secret',
  },
  ...[7000215, 700016, 53003, 70011].map((c) => codeRow(c, 'configuration', `AADSTS${c}`)),
];

const TRANSIENT_CODES = [50033, 50087, 70012, 90006, 90012, 90024, 90033, 90090, 90055, 50196];
const transient: RowSpec[] = [
  {
    group,
    stage,
    fault: `each transient code once in a row (${TRANSIENT_CODES.map((c) => `AADSTS${c}`).join(', ')})`,
    harness: {
      configure: (doc) => void (doc.http = { timeoutMs: 5_000, retries: TRANSIENT_CODES.length, maxConcurrency: 4 }),
    },
    inject: (h) => {
      for (const c of TRANSIENT_CODES) h.standins.entra.failWith(c, 1, { retryAfterSec: 0 });
    },
    expect: {
      outcome: 'rotated',
      alerts: 0,
      extra: (h) =>
        h.standins.entra.faults.count('token') === TRANSIENT_CODES.length + 1
          ? []
          : [`expected ${TRANSIENT_CODES.length + 1} token requests in the run`],
    },
    note: 'every one retried within the run (http.retries set to 10 for this row)',
  },
];

// Rows are independent worlds (own stand-ins, secrets and alert recipient): they run concurrently.
describe.concurrent('fault matrix: Entra ID error classes', () => {
  describe.each([
    ['re-authorize', reauthorize],
    ['configuration', configuration],
    ['transient', transient],
  ] as const)('%s', (name, rows) => {
    const base = name === 're-authorize' ? 0 : name === 'configuration' ? 100 : 200;
    rows.forEach((row, i) => {
      it(row.fault, async () => {
        expect(await runRow(sink, row, base + i)).toEqual([]);
      });
    });
  });
});
