// Types of the Cloud Manager stand-in: its options and the test-control API (see standins/cloudmanager.ts).
import type { FaultControls } from './faults.ts';
import type { RequestRecord } from './http.ts';
import type { AemLogEntry } from './cloudmanager-logs.ts';
import type { ExecutionStatus, PipelineSeed } from './cloudmanager-pipelines.ts';

export const SERVICES = ['author', 'publish', 'preview'] as const;

export type VariableType = 'string' | 'secretString';
export type Service = (typeof SERVICES)[number];
export type VariableStatus = 'creating' | 'ready' | 'deleting' | 'deleted' | 'updating' | 'failed' | 'deleted_failed';

export interface StoredVariable {
  name: string;
  type: VariableType;
  service?: Service;
  value: string;
  /** Stand-in clock (ms) at which the variable stops being 'creating'/'updating'. */
  readyAt: number;
  created: boolean;
}

export interface EnvironmentSeed {
  programId: string;
  environmentId: string;
  status?: string;
  name?: string;
  type?: string;
}

export interface CloudManagerStandinOptions {
  /** Expected x-api-key (the IMS client id); default DEFAULT_IMS_CLIENT_ID. */
  apiKey?: string;
  /** Expected x-gw-ims-org-id; default DEFAULT_IMS_ORG_ID. */
  orgId?: string;
  /** Bearer token check, normally ims.isValidToken. Default: any non-empty token passes. */
  isValidToken?: (token: string) => boolean;
  /** Default: one environment DEFAULT_PROGRAM_ID / DEFAULT_ENVIRONMENT_ID. */
  environments?: EnvironmentSeed[];
  /** secretString value limit. The spec text says < 500, AEM docs say 2048; default 2048. */
  maxSecretLength?: number;
  maxVariables?: number;
  /** Answer PATCH with 200 and the VariableList (seen in the wild) instead of the documented 204. */
  patchReturns200?: boolean;
  /**
   * After a PATCH the environment reports 'updating' (and changed variables 'updating') this long, on the stand-in's
   * clock: the restart AEM goes through. A PATCH meanwhile answers 412, as Cloud Manager refuses updates of a busy
   * environment. Default DEFAULT_UPDATE_DURATION_MS; changeable with setUpdateDuration.
   */
  updateDurationMs?: number;
  /** The stand-in's clock for status transitions, execution times, log days and log line timestamps. Default Date.now. */
  now?: () => number;
  /** false: the technical account lacks the "Deployment Manager" profile, PATCH answers 403. Default true. */
  deploymentManager?: boolean;
  /** false: the logs listing gives no tail links (today's file is then only downloadable as gzip). Default true. */
  tailLinks?: boolean;
  specPath?: string;
  latencyMs?: number;
}

export interface CloudManagerStandin extends FaultControls {
  url: string;
  requests: RequestRecord[];
  /** Successful PATCHes. */
  readonly patchCount: number;
  /**
   * Every successful PATCH in order, with the stand-in clock's time and the variable names: each one restarts the
   * environment, so this is the restart history a simulation counts (per environment, inside or outside a window).
   */
  readonly patches: ReadonlyArray<{ programId: string; environmentId: string; at: number; names: string[] }>;
  addEnvironment(
    programId: string,
    environmentId: string,
    extra?: Omit<EnvironmentSeed, 'programId' | 'environmentId'>,
  ): void;
  /** The status the environment reports outside an update (must be one of the spec's Environment.status values). */
  setEnvironmentStatus(programId: string, environmentId: string, status: string): void;
  /** The environment reports 'updating' (and refuses PATCH) for `ms` from now on the stand-in's clock. */
  setUpdating(programId: string, environmentId: string, ms: number): void;
  /** How long the restart after each later PATCH lasts. */
  setUpdateDuration(ms: number): void;
  /** The status GET environment answers now. */
  environmentStatus(programId: string, environmentId: string): string;
  /** A pipeline of the program whose DEPLOY phases target the given environments; returns its id. */
  addPipeline(programId: string, seed: PipelineSeed): string;
  /** Starts an execution (RUNNING unless told); while it has not ended, PATCH on its environments answers 412. */
  startExecution(programId: string, pipelineId: string, status?: ExecutionStatus): string;
  /** Sets the newest execution's status; FINISHED, CANCELLED, ERROR, FAILED end it. */
  setExecutionStatus(programId: string, pipelineId: string, status: ExecutionStatus): void;
  /**
   * Appends to AEM's log of the service (default log aemerror): a string is written as is (a newline added) into
   * the file of the stand-in's current day; an entry is formatted as AEM does and goes into the file of its day.
   */
  appendLog(
    programId: string,
    environmentId: string,
    service: Service,
    line: string | AemLogEntry,
    opts?: { name?: string; date?: string },
  ): void;
  /** Streams generated text into a day's log file without holding it (for logs of hundreds of MB). */
  appendLogStream(
    programId: string,
    environmentId: string,
    service: Service,
    date: string,
    source: Iterable<string | Buffer> | AsyncIterable<string | Buffer>,
    name?: string,
  ): Promise<void>;
  /** Whether the logs listing gives today's file a tail link. */
  setTailLinks(on: boolean): void;
  /** Size in bytes of a day's (uncompressed) log file. */
  logSize(programId: string, environmentId: string, service: Service, date: string, name?: string): number;
  /** The storage host log files are served from (not the API host): its requests and body bytes sent per route. */
  readonly logFiles: { url: string; requests: RequestRecord[]; bytesSent: Record<string, number> };
  /** Next n PATCHes answer 412 (environment status 'updating' meanwhile), then PATCHes succeed again. */
  setBusy(n: number): void;
  setDeploymentManager(allowed: boolean): void;
  /** Stored value, secrets included (test introspection; the API never returns secret values). */
  valueOf(programId: string, environmentId: string, name: string, service?: string): string | undefined;
  variables(programId: string, environmentId: string): StoredVariable[];
  /** Seed a variable without going through the API. */
  setVariable(
    programId: string,
    environmentId: string,
    v: { name: string; value: string; type?: VariableType; service?: Service },
  ): void;
  close(): Promise<void>;
}
