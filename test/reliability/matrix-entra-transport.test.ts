import { afterAll, describe, expect, it } from 'vitest';
import { runRow, type RowSpec } from './support/matrix.ts';
import { MatrixSink } from './support/results.ts';

/**
 * Fault matrix, Entra ID token endpoint, transport-level faults: throttling with Retry-After, 5xx, resets before and
 * after the provider rotated the token, timeouts, bodies that are not a token response. Four attempts (http.retries 3)
 * exhaust the retries of one run.
 */
const sink = new MatrixSink('entra-transport');
afterAll(() => sink.flush());

const group = 'Entra ID';
const stage = 'refresh';
const ALL_ATTEMPTS = 4;

const rows: RowSpec[] = [
  {
    group,
    stage,
    fault: '429 with Retry-After: 1 (once)',
    inject: (h) =>
      h.standins.entra.inject('token', {
        kind: 'status',
        status: 429,
        headers: { 'retry-after': '1' },
        body: { error: 'temporarily_unavailable', error_codes: [90055] },
      }),
    expect: { outcome: 'rotated', alerts: 0, minMs: 950 },
    note: 'Retry-After honoured',
  },
  {
    group,
    stage,
    fault: '503 temporarily_unavailable with Retry-After: 1 (once)',
    inject: (h) => h.standins.entra.failWith('temporarily_unavailable', 1, { retryAfterSec: 1 }),
    expect: { outcome: 'rotated', alerts: 0, minMs: 950 },
    note: 'Retry-After honoured',
  },
  {
    group,
    stage,
    fault: '503 with Retry-After: 3600 (longer than one invocation may wait)',
    inject: (h) => h.standins.entra.failWith('temporarily_unavailable', 1, { retryAfterSec: 3600 }),
    expect: { failure: { class: 'transient', code: 'AADSTS90033', stage }, alerts: 0, maxMs: 5_000 },
    note: 'not slept: the next scheduled run retries',
  },
  {
    group,
    stage,
    fault: '429 on every attempt',
    inject: (h) =>
      h.standins.entra.inject(
        'token',
        {
          kind: 'status',
          status: 429,
          headers: { 'retry-after': '0' },
          body: { error: 'temporarily_unavailable', error_codes: [90055] },
        },
        ALL_ATTEMPTS,
      ),
    expect: { failure: { class: 'transient', code: 'AADSTS90055', stage }, alerts: 0 },
  },
  {
    group,
    stage,
    fault: '500 server_error (once)',
    inject: (h) => h.standins.entra.failWith('server_error', 1),
    expect: { outcome: 'rotated', alerts: 0 },
  },
  {
    group,
    stage,
    fault: '500 server_error on every attempt',
    inject: (h) => h.standins.entra.failWith('server_error', ALL_ATTEMPTS),
    expect: { failure: { class: 'transient', code: 'AADSTS50000', stage }, alerts: 0 },
  },
  {
    group,
    stage,
    fault: 'connection reset before the request is handled, every attempt',
    inject: (h) => h.standins.entra.inject('token', { kind: 'reset' }, ALL_ATTEMPTS),
    expect: { failure: { class: 'transient', code: /^(UND_ERR_SOCKET|ECONNRESET)$/, stage }, alerts: 0 },
  },
  {
    group,
    stage,
    fault: 'connection reset after the token was rotated (answer lost), once',
    inject: (h) => h.standins.entra.inject('token', { kind: 'reset', after: true }),
    expect: { outcome: 'rotated', alerts: 0 },
    note: 'the retry redeems the stored token again (Microsoft keeps it valid); the lost token is never used',
  },
  {
    group,
    stage,
    fault: 'connection reset after the token was rotated (answer lost), every attempt',
    inject: (h) => h.standins.entra.inject('token', { kind: 'reset', after: true }, ALL_ATTEMPTS),
    expect: { failure: { class: 'transient', code: /^(UND_ERR_SOCKET|ECONNRESET)$/, stage }, alerts: 0, window: true },
  },
  {
    group,
    stage,
    fault: 'no answer at all (timeout), every attempt',
    harness: { configure: (doc) => void (doc.http = { timeoutMs: 300, retries: 1, maxConcurrency: 4 }) },
    inject: (h) => h.standins.entra.inject('token', { kind: 'hang' }, 2),
    expect: { failure: { class: 'transient', code: 'TIMEOUT', stage }, alerts: 0, maxMs: 3_000 },
    note: 'deadline 300 ms per attempt',
  },
  {
    group,
    stage,
    fault: 'slow answer (0.8 s) within the deadline',
    inject: (h) => h.standins.entra.inject('token', { kind: 'delay', ms: 800 }),
    expect: { outcome: 'rotated', alerts: 0, minMs: 750 },
  },
  {
    group,
    stage,
    fault: 'HTML page with 200 (captive portal)',
    inject: (h) => h.standins.entra.inject('token', { kind: 'html', status: 200 }),
    expect: { failure: { class: 'transient', code: 'TOKEN_RESPONSE_INVALID', stage }, alerts: 0 },
  },
  {
    group,
    stage,
    fault: 'HTML page with 503 (gateway), every attempt',
    inject: (h) => h.standins.entra.inject('token', { kind: 'html', status: 503 }, ALL_ATTEMPTS),
    expect: { failure: { class: 'transient', code: 'HTTP_503', stage }, alerts: 0 },
  },
  {
    group,
    stage,
    fault: 'truncated JSON after the token was rotated',
    inject: (h) => h.standins.entra.inject('token', { kind: 'truncated' }),
    expect: { failure: { class: 'transient', code: 'TOKEN_RESPONSE_INVALID', stage }, alerts: 0, window: true },
  },
  {
    group,
    stage,
    fault: '200 with a new refresh_token but no access_token',
    inject: (h) => {
      // A real, valid token: the stand-in minted it, only the access token is missing from the answer.
      const refreshToken = h.standins.entra.issueRefreshToken({ account: h.config.credentials[0]!.mailbox });
      h.standins.entra.inject('token', {
        kind: 'status',
        status: 200,
        body: { token_type: 'Bearer', expires_in: 3600, refresh_token: refreshToken },
      });
    },
    expect: {
      failure: { class: 'transient', code: 'TOKEN_RESPONSE_NO_ACCESS_TOKEN', stage },
      alerts: 0,
      nextRedeemed: true,
    },
    note: 'the new refresh token is stored as pending first; the next run redeems that one',
  },
  {
    group,
    stage,
    fault: '200 with neither access_token nor refresh_token',
    inject: (h) =>
      h.standins.entra.inject('token', {
        kind: 'status',
        status: 200,
        body: { token_type: 'Bearer', expires_in: 3600 },
      }),
    expect: { failure: { class: 'transient', code: 'TOKEN_RESPONSE_INVALID', stage }, alerts: 0 },
  },
  {
    group,
    stage,
    fault: '200 with access_token of the wrong type (number)',
    inject: (h) =>
      h.standins.entra.inject('token', {
        kind: 'status',
        status: 200,
        body: { token_type: 'Bearer', access_token: 42, refresh_token: 'x'.repeat(40) },
      }),
    expect: { failure: { class: 'transient', code: 'TOKEN_RESPONSE_INVALID', stage }, alerts: 0 },
  },
  {
    group,
    stage,
    fault: 'persistent transient failure for three runs (50196 request loop)',
    runs: 3,
    inject: (h) => h.standins.entra.failWith(50196, ALL_ATTEMPTS, { retryAfterSec: 0 }),
    expect: { failure: { class: 'transient', code: 'AADSTS50196', stage }, alerts: 1 },
    note: 'a transient failure mails only once it has lasted three runs',
  },
];

// Rows are independent worlds (own stand-ins, secrets and alert recipient): they run concurrently.
describe.concurrent('fault matrix: Entra ID transport', () => {
  rows.forEach((row, i) => {
    it(`${row.fault}`, async () => {
      expect(await runRow(sink, row, i)).toEqual([]);
    });
  });
});
