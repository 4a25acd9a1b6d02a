// Local stand-ins for Entra ID, Adobe IMS, Cloud Manager and Office 365 SMTP, for the demo, integration
// tests and benchmarks. startAllStandins() wires them the way the real services relate.
import { startCloudManagerStandin, type CloudManagerStandin, type CloudManagerStandinOptions } from './cloudmanager.ts';
import { startEntraStandin, type EntraStandin, type EntraStandinOptions } from './entra.ts';
import { startImsStandin, type ImsStandin, type ImsStandinOptions } from './ims.ts';
import { startSmtpStandin, type SmtpStandin, type SmtpStandinOptions } from './smtp.ts';

export * from './faults.ts';
export * from './clock.ts';
export * from './entra.ts';
export * from './ims.ts';
export * from './cloudmanager.ts';
export * from './smtp.ts';
export type { Reply, RequestRecord, StandinRequest } from './http.ts';

export interface AllStandinsOptions {
  entra?: EntraStandinOptions;
  ims?: ImsStandinOptions;
  /** apiKey, orgId and isValidToken come from the IMS stand-in. */
  cloudManager?: Omit<CloudManagerStandinOptions, 'apiKey' | 'orgId' | 'isValidToken'>;
  /** isValidAccessToken comes from the Entra stand-in. */
  smtp?: Omit<SmtpStandinOptions, 'isValidAccessToken'>;
  /** Initial latency of every stand-in (each one's latencyMs can be changed later). */
  latencyMs?: number;
}

export interface AllStandins {
  entra: EntraStandin;
  ims: ImsStandin;
  cloudManager: CloudManagerStandin;
  smtp: SmtpStandin;
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
    const [entra, ims] = await Promise.all([
      startEntraStandin({ ...latency, ...opts.entra }).then(track),
      startImsStandin({ ...latency, ...opts.ims }).then(track),
    ]);
    const [cloudManager, smtp] = await Promise.all([
      startCloudManagerStandin({
        ...latency,
        ...opts.cloudManager,
        apiKey: ims.clientId,
        orgId: ims.orgId,
        isValidToken: (t) => ims.isValidToken(t),
      }).then(track),
      startSmtpStandin({ ...latency, ...opts.smtp, isValidAccessToken: (t) => entra.isValidAccessToken(t) }).then(track),
    ]);
    return {
      entra,
      ims,
      cloudManager,
      smtp,
      close: async () => {
        await Promise.all(started.map((s) => s.close()));
      },
    };
  } catch (err) {
    await Promise.allSettled(started.map((s) => s.close()));
    throw err;
  }
}
