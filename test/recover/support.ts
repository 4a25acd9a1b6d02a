/**
 * The recovery world: the harness (moto's Secrets Manager and SES, the stand-ins, the real logger captured), a state
 * store, the recovery handler behind a local Function URL, and the Entra app with that endpoint's callback registered
 * as a Web redirect URI.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { secretIds } from '../../lambdas/config/load.ts';
import type { Credential } from '../../lambdas/config/schema.ts';
import { rotateCredential, type RotationSummary } from '../../lambdas/pipeline/rotate.ts';
import { createRecoveryHandler } from '../../lambdas/recover/endpoint.ts';
import { createLogger, powertoolsLog } from '../../lambdas/report/logger.ts';
import { createLinkIssuer, type LinkIssuer } from '../../lambdas/report/recovery-link.ts';
import type { StateStore } from '../../lambdas/store/state-store.ts';
import type { LocalEnvOptions } from '../../demo/local-env.ts';
import { DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET } from '../../standins/entra.ts';
import { startHarness, type Harness } from '../support/harness.ts';
import { serveFunctionUrl, type FunctionUrlServer } from '../support/function-url.ts';
import { FileStateStore } from '../../lambdas/store/file-state-store.ts';

export interface RecoveryWorld extends Harness {
  state: StateStore;
  endpoint: FunctionUrlServer;
  linkIssuer: LinkIssuer;
  credential(i?: number): Credential;
  /** A scheduled run of the credential (forced), with sign-in links in its alerts. */
  rotate(i?: number, over?: { linkIssuer?: LinkIssuer }): Promise<RotationSummary>;
  /** Versions and labels of the credential's secrets and what Cloud Manager holds: equal before and after = unchanged. */
  snapshot(i?: number): Promise<string>;
  /** The sign-in links in the alert mails received so far, oldest first. */
  mailedLinks(): Promise<string[]>;
}

export const LINK_IN_MAIL = /(http:\/\/127\.0\.0\.1:\d+\/link\?c=[a-z0-9-]+&t=[A-Za-z0-9_-]{43})/g;

export async function startRecoveryWorld(
  o: Partial<LocalEnvOptions> & { recovery?: { maxLinkUsesPerDay?: number } } = {},
): Promise<RecoveryWorld> {
  const { recovery, ...harnessOpts } = o;
  const h = await startHarness({
    ...harnessOpts,
    configure: (doc, standins) => {
      if (recovery) doc.recovery = recovery;
      harnessOpts.configure?.(doc, standins);
    },
  });
  await h.seed();
  const state: StateStore = new FileStateStore(join(mkdtempSync(join(tmpdir(), 'tr-recover-')), 'state'));
  const log = powertoolsLog(createLogger('token-refresher-recover-test'));
  // The handler needs the endpoint's address and the endpoint the handler: the box breaks the cycle.
  const box: { handler?: ReturnType<typeof createRecoveryHandler> } = {};
  const endpoint = await serveFunctionUrl((e) => box.handler!(e));
  box.handler = createRecoveryHandler({
    config: h.config,
    state,
    pipeline: () => h.wiring(),
    log,
    metrics: h.metrics,
    publicUrl: endpoint.url,
  });
  // The app registration: the endpoint's callback under the Web platform (exact match, unlike http://localhost).
  h.standins.entra.registerClient(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, {
    name: 'token-refresher',
    redirectUris: ['http://localhost', `${endpoint.url}/callback`],
  });
  const linkIssuer = createLinkIssuer({ store: state, baseUrl: endpoint.url, log });
  const credential = (i = 0) => h.config.credentials[i] as Credential;
  return {
    ...h,
    state,
    endpoint,
    linkIssuer,
    credential,
    rotate: (i = 0, over = {}) =>
      rotateCredential(h.wiring({ linkIssuer: over.linkIssuer ?? linkIssuer }), credential(i), { force: true }),
    snapshot: async (i = 0) => {
      const c = credential(i);
      const ids = secretIds(h.config, c);
      const versions = await Promise.all(
        [ids.token, ids.clientSecret].map(async (id) => [
          id,
          (await h.store.listVersions(id)).map((v) => ({ id: v.versionId, stages: [...v.stages].sort() })),
        ]),
      );
      const cm = c.targets.map((t) =>
        h.standins.cloudManager
          .variables(t.programId, t.environmentId)
          .map((v) => `${v.name}=${v.value.length}:${v.value.slice(-12)}`),
      );
      return JSON.stringify({ versions, cm, patches: h.standins.cloudManager.patchCount });
    },
    mailedLinks: async () =>
      (await h.alertMails()).flatMap((m) => [...m.body.matchAll(LINK_IN_MAIL)].map((x) => x[1] as string)),
    close: async () => {
      await endpoint.close();
      await h.close();
    },
  };
}
