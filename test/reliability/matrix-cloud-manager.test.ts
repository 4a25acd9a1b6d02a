import { afterAll, describe, expect, it } from 'vitest';
import { VALIDATION_TYPE } from '../../standins/cloudmanager.ts';
import type { Harness } from '../support/harness.ts';
import { runRow, type RowSpec } from './support/matrix.ts';
import { MatrixSink } from './support/results.ts';

/**
 * Fault matrix, Adobe IMS and Cloud Manager (the push). The token is promoted before any push, so a failed push loses
 * nothing: the target's staging label stays where it was and the next run pushes the current token again (the PATCH is
 * idempotent). Each credential has two targets; http.retries 3 means four attempts per request.
 */
const sink = new MatrixSink('cloud-manager');
afterAll(() => sink.flush());

const cm = 'Cloud Manager';
const ims = 'Adobe IMS';
const stage = 'push';
/** Four attempts for each of the two targets. */
const EVERY_ATTEMPT = 8;
const patchRequests = (h: Harness) => h.standins.cloudManager.faults.count('variables-patch');

const rows: RowSpec[] = [
  {
    group: cm,
    stage,
    fault: '401 Oauth token is not valid (IMS token revoked), once',
    inject: (h) =>
      h.standins.cloudManager.inject('variables-patch', {
        kind: 'status',
        status: 401,
        body: { error_code: '401013', message: 'Oauth token is not valid' },
      }),
    expect: { outcome: 'rotated', alerts: 0 },
    note: 'the IMS token is replaced once and the PATCH repeated',
  },
  {
    group: cm,
    stage,
    fault: '401 on every attempt (wrong API key / org)',
    runs: 2,
    inject: (h) =>
      h.standins.cloudManager.inject(
        'variables-patch',
        { kind: 'status', status: 401, body: { error_code: '401013', message: 'Oauth token is not valid' } },
        4,
      ),
    clear: (h) => h.standins.cloudManager.faults.clear(),
    expect: { failure: { class: 'configuration', code: 'CM_UNAUTHORIZED', stage }, alerts: 1 },
  },
  {
    group: cm,
    stage,
    fault: '403 (technical account lacks Deployment Manager)',
    runs: 2,
    inject: (h) => h.standins.cloudManager.setDeploymentManager(false),
    clear: (h) => h.standins.cloudManager.setDeploymentManager(true),
    expect: { failure: { class: 'configuration', code: 'CM_FORBIDDEN', stage }, alerts: 1 },
  },
  {
    group: cm,
    stage,
    fault: '404 program / environment not found',
    inject: (h) =>
      h.standins.cloudManager.inject(
        'variables-patch',
        {
          kind: 'status',
          status: 404,
          contentType: 'application/problem+json',
          body: { type: 'http://ns.adobe.com/adobecloud/problem/not-found', title: 'Not Found', status: 404 },
        },
        2,
      ),
    expect: { failure: { class: 'configuration', code: 'CM_NOT_FOUND', stage }, alerts: 1 },
  },
  {
    group: cm,
    stage,
    fault: '400 problem+json validation-exception quoting the value sent',
    inject: (h) => ({
      hooks: {
        afterStep: (step) => {
          // Only now is the new token known: the remote echoes it back, as validation messages do.
          if (step !== 'validate') return;
          const echoed = h.standins.entra.latestRefreshToken();
          h.standins.cloudManager.inject(
            'variables-patch',
            {
              kind: 'status',
              status: 400,
              contentType: 'application/problem+json',
              body: {
                type: VALIDATION_TYPE,
                title: 'Validation Failed',
                status: 400,
                errors: [`variables[0].value: '${echoed}' is not allowed`],
              },
            },
            2,
          );
        },
      },
    }),
    expect: {
      failure: { class: 'configuration', code: 'CM_VALIDATION', stage },
      alerts: 1,
      extra: (_h, runs) =>
        runs[0]?.failure?.message.includes('variables[0].value') ? [] : ['the reason of the 400 is not named'],
    },
    note: 'the echoed value is cut from the message',
  },
  {
    group: cm,
    stage,
    fault: 'environment updating for three runs (look before push)',
    runs: 3,
    inject: (h) => h.standins.cloudManager.setBusy(1_000),
    clear: (h) => h.standins.cloudManager.setBusy(0),
    expect: {
      outcome: 'up-to-date',
      deferred: true,
      alerts: 0,
      extra: (_h, runs) =>
        runs.every((r) => r.targets.every((t) => t.status === 'deferred' && t.code === 'CM_ENV_NOT_READY'))
          ? []
          : ['a push was attempted on an updating environment'],
    },
    note: 'no PATCH while the environment is not ready: deferred (not a failure), pushed by the next run once it is ready',
  },
  {
    group: cm,
    stage,
    fault: '412 busy on the PATCH itself (the environment said ready) for three runs',
    runs: 3,
    inject: (h) =>
      h.standins.cloudManager.inject('variables-patch', { kind: 'status', status: 412 }, 3 * EVERY_ATTEMPT),
    clear: (h) => h.standins.cloudManager.faults.clear('variables-patch'),
    expect: { failure: { class: 'transient', code: 'CM_BUSY', stage }, alerts: 1 },
    note: 'retried within each run; mails once the busy state has lasted three runs',
  },
  {
    group: cm,
    stage,
    fault: '429 with Retry-After: 1, once',
    inject: (h) =>
      h.standins.cloudManager.inject('variables-patch', {
        kind: 'status',
        status: 429,
        headers: { 'retry-after': '1' },
      }),
    expect: { outcome: 'rotated', alerts: 0, minMs: 950 },
  },
  {
    group: cm,
    stage,
    fault: '429 on every attempt',
    inject: (h) =>
      h.standins.cloudManager.inject(
        'variables-patch',
        { kind: 'status', status: 429, headers: { 'retry-after': '0' } },
        EVERY_ATTEMPT,
      ),
    expect: { failure: { class: 'transient', code: 'CM_THROTTLED', stage }, alerts: 0 },
  },
  {
    group: cm,
    stage,
    fault: '500, once',
    inject: (h) =>
      h.standins.cloudManager.inject('variables-patch', { kind: 'status', status: 500, body: { error: 'internal' } }),
    expect: { outcome: 'rotated', alerts: 0 },
  },
  {
    group: cm,
    stage,
    fault: '503 HTML gateway page on every attempt',
    inject: (h) => h.standins.cloudManager.inject('variables-patch', { kind: 'html', status: 503 }, EVERY_ATTEMPT),
    expect: { failure: { class: 'transient', code: 'CM_UNAVAILABLE', stage }, alerts: 0 },
  },
  {
    group: cm,
    stage,
    fault: 'PATCH applied but the answer lost (reset), every attempt',
    inject: (h) => h.standins.cloudManager.inject('variables-patch', { kind: 'reset', after: true }, EVERY_ATTEMPT),
    expect: { failure: { class: 'transient', code: /^(UND_ERR_SOCKET|ECONNRESET)$/, stage }, alerts: 0 },
    note: 'the next run PATCHes the same value again (idempotent)',
  },
  {
    group: cm,
    stage,
    fault: 'slow answer (0.6 s, within the deadline)',
    inject: (h) => h.standins.cloudManager.inject('variables-patch', { kind: 'delay', ms: 600 }, 2),
    expect: { outcome: 'rotated', alerts: 0, minMs: 550 },
  },
  {
    group: cm,
    stage,
    fault: 'no answer (timeout 300 ms), every attempt',
    harness: { configure: (doc) => void (doc.http = { timeoutMs: 300, retries: 1, maxConcurrency: 4 }) },
    inject: (h) => h.standins.cloudManager.inject('variables-patch', { kind: 'hang' }, 4),
    expect: { failure: { class: 'transient', code: 'TIMEOUT', stage }, alerts: 0, maxMs: 4_000 },
  },
  {
    group: cm,
    stage,
    fault: 'value over the length limit (maxSecretLength 500, token 1200 characters)',
    runs: 2,
    inject: () => ({ maxSecretLength: 500 }),
    expect: {
      failure: { class: 'configuration', code: 'CM_VALUE_TOO_LONG', stage },
      alerts: 1,
      extra: (h) => (patchRequests(h) === 0 ? [] : ['a PATCH was sent although the value is over the limit']),
    },
    note: "refused before any request; next run with the limit raised to the AEM documentation's 2048",
  },
  {
    group: ims,
    stage,
    fault: '401 invalid_client (client secret rotated in the Developer Console)',
    runs: 2,
    inject: (h) =>
      h.standins.ims.inject(
        'ims-token',
        {
          kind: 'status',
          status: 401,
          body: { error: 'invalid_client', error_description: 'invalid client_secret parameter' },
        },
        10,
      ),
    clear: (h) => h.standins.ims.faults.clear(),
    expect: { failure: { class: 'configuration', code: 'IMS_INVALID_CLIENT', stage }, alerts: 1 },
  },
  {
    group: ims,
    stage,
    fault: '400 invalid_scope (Cloud Manager API missing from the project)',
    inject: (h) =>
      h.standins.ims.inject(
        'ims-token',
        {
          kind: 'status',
          status: 400,
          body: { error: 'invalid_scope', error_description: 'Invalid scope(s): read_pc.dma_aem_ams' },
        },
        10,
      ),
    clear: (h) => h.standins.ims.faults.clear(),
    expect: { failure: { class: 'configuration', code: 'IMS_INVALID_SCOPE', stage }, alerts: 1 },
  },
  {
    group: ims,
    stage,
    fault: '429, once',
    inject: (h) => h.standins.ims.inject('ims-token', { kind: 'status', status: 429, headers: { 'retry-after': '0' } }),
    expect: { outcome: 'rotated', alerts: 0 },
  },
  {
    group: ims,
    stage,
    fault: '503 on every attempt',
    inject: (h) =>
      h.standins.ims.inject('ims-token', { kind: 'status', status: 503, body: { error: 'server_error' } }, 20),
    clear: (h) => h.standins.ims.faults.clear(),
    expect: { failure: { class: 'transient', code: 'IMS_UNAVAILABLE', stage }, alerts: 0 },
  },
  {
    group: ims,
    stage,
    fault: 'slow answer (0.6 s, within the deadline)',
    inject: (h) => h.standins.ims.inject('ims-token', { kind: 'delay', ms: 600 }),
    expect: { outcome: 'rotated', alerts: 0 },
    note: 'the IMS token is fetched while the refresh runs',
  },
];

// Rows are independent worlds (own stand-ins, secrets and alert recipient): they run concurrently.
describe.concurrent('fault matrix: Adobe IMS and Cloud Manager', () => {
  rows.forEach((row, i) => {
    it(`${row.group}: ${row.fault}`, async () => {
      expect(await runRow(sink, row, i)).toEqual([]);
    });
  });
});
