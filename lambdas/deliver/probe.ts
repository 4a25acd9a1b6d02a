/**
 * What the delivery stage needs to know of an AEM environment before and after a push, through Cloud Manager: its
 * status, whether a pipeline is deploying to it, and whether AEM's own mail service reports OAuth failures in its log.
 * The Cloud Manager implementation lives beside the client (lambdas/deliver/cloud-manager-probe.ts); tests and the
 * year simulation may pass their own.
 */
import type { LogCursor } from '../store/state-store.ts';

export type AemService = 'author' | 'publish' | 'preview';

export interface RunningPipeline {
  pipelineId: string;
  executionId: string;
  /** e.g. RUNNING, NOT_STARTED (an execution that has not ended). */
  status: string;
}

export interface MailLogScan {
  /** Mail-auth failure lines of AEM's mail service written after `since`, already redacted, at most a few per service. */
  failures: string[];
  /** Where the next scan continues, per service. */
  cursor: Record<string, LogCursor>;
  bytesRead: number;
  /** True when the byte or time bound stopped the scan before the end of the log: the result says so to people. */
  cutShort: boolean;
}

export interface EnvironmentProbe {
  /** The environment's `status` from GET /api/program/{p}/environment/{e} (ready, updating, ...). */
  environmentStatus(programId: string, environmentId: string): Promise<string>;
  /** A pipeline execution of the program that is running against this environment, if any. */
  runningPipeline(programId: string, environmentId: string): Promise<RunningPipeline | undefined>;
  /**
   * Reads AEM's aemerror log of the given services from `cursor` (or from `since` when there is none), streaming and
   * bounded by `maxBytes` and `deadlineMs` (an absolute Date.now() deadline), and returns the mail-auth failures of
   * com.day.cq.mailer written at or after `since`.
   */
  scanMailLog(
    programId: string,
    environmentId: string,
    p: {
      services: AemService[];
      since: Date;
      cursor?: Record<string, LogCursor>;
      maxBytes: number;
      deadlineMs: number;
    },
  ): Promise<MailLogScan>;
}
