// Local stand-ins for Entra ID, Adobe IMS, Cloud Manager and Office 365 SMTP (optionally Google or another OAuth2
// provider, and Microsoft Graph), for the demo, integration tests and benchmarks. startAllStandins() wires them the way
// the real services relate.
import { startCloudManagerStandin, type CloudManagerStandin, type CloudManagerStandinOptions } from './cloudmanager.ts';
import { startEntraStandin, type EntraStandin, type EntraStandinOptions } from './entra.ts';
import { startGraphStandin, type GraphStandin, type GraphStandinOptions } from './graph.ts';
import { startImsStandin, type ImsStandin, type ImsStandinOptions } from './ims.ts';
import { startOAuth2Standin, type OAuth2Standin, type OAuth2StandinOptions } from './oauth2.ts';
import { startSmtpStandin, type SmtpStandin, type SmtpStandinOptions } from './smtp.ts';

export * from './faults.ts';
export * from './clock.ts';
export * from './entra.ts';
export * from './ims.ts';
export * from './cloudmanager.ts';
export * from './smtp.ts';
export * from './oauth2.ts';
export * from './graph.ts';
export type { Reply, RequestRecord, StandinRequest } from './http.ts';

export interface AllStandinsOptions {
  entra?: EntraStandinOptions;
  ims?: ImsStandinOptions;
  /** apiKey, orgId and isValidToken come from the IMS stand-in. */
  cloudManager?: Omit<CloudManagerStandinOptions, 'apiKey' | 'orgId' | 'isValidToken'>;
  /** isValidAccessToken comes from the Entra stand-in (and the oauth2 one, when started). */
  smtp?: Omit<SmtpStandinOptions, 'isValidAccessToken'>;
  /** Also start a Google (or generic OAuth2) provider whose access tokens the SMTP stand-in accepts too. */
  oauth2?: OAuth2StandinOptions;
  /** Also start Microsoft Graph sendMail, checking Entra's access tokens. */
  graph?: Omit<GraphStandinOptions, 'isValidAccessToken'>;
  /** Initial latency of every stand-in (each one's latencyMs can be changed later). */
  latencyMs?: number;
}

export interface AllStandins {
  entra: EntraStandin;
  ims: ImsStandin;
  cloudManager: CloudManagerStandin;
  smtp: SmtpStandin;
  oauth2?: OAuth2Standin;
  graph?: GraphStandin;
  close(): Promise<void>;
}

export async function startAllStandins(opts: AllStandinsOptions = {}): Promise<AllStandins> {
  const latency = opts.latencyMs === undefined ? {} : { latencyMs: opts.latencyMs };
  const started: Array<{ close(): Promise<void> }> = [];
  const track = <T extends { close(): Promise<void> }>(s: T): T => {
    started.push(s);
    return s;
  };
  try {
    const [entra, ims, oauth2] = await Promise.all([
      startEntraStandin({ ...latency, ...opts.entra }).then(track),
      startImsStandin({ ...latency, ...opts.ims }).then(track),
      opts.oauth2 ? startOAuth2Standin({ ...latency, ...opts.oauth2 }).then(track) : Promise.resolve(undefined),
    ]);
    const graph = opts.graph
      ? await startGraphStandin({
          ...latency,
          ...opts.graph,
          isValidAccessToken: (t) => entra.isValidAccessToken(t),
        }).then(track)
      : undefined;
    const [cloudManager, smtp] = await Promise.all([
      startCloudManagerStandin({
        ...latency,
        ...opts.cloudManager,
        apiKey: ims.clientId,
        orgId: ims.orgId,
        isValidToken: (t) => ims.isValidToken(t),
      }).then(track),
      startSmtpStandin({
        ...latency,
        ...opts.smtp,
        isValidAccessToken: (t) => entra.isValidAccessToken(t) ?? oauth2?.isValidAccessToken(t),
      }).then(track),
    ]);
    return {
      entra,
      ims,
      cloudManager,
      smtp,
      oauth2,
      graph,
      close: async () => {
        await Promise.all(started.map((s) => s.close()));
      },
    };
  } catch (err) {
    await Promise.allSettled(started.map((s) => s.close()));
    throw err;
  }
}
