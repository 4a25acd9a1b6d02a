import type { CloudManagerClient, CmExecution, CmPipeline } from './cloud-manager.ts';

/** What the running-pipeline check needs from the client; structural so tests can count calls. */
export type PipelineReader = Pick<CloudManagerClient, 'listPipelines' | 'currentExecution' | 'listExecutions'>;

export interface RunningExecution {
  pipelineId: string;
  pipelineName?: string;
  executionId: string;
  status: string;
}

/** The spec's PipelineExecution.status values after which nothing runs any more. */
const ENDED = new Set(['FINISHED', 'CANCELLED', 'ERROR', 'FAILED']);
/** The spec's values of an execution that has not ended. */
const NOT_ENDED = new Set(['NOT_STARTED', 'RUNNING', 'CANCELLING']);

/**
 * An execution has ended when its status says so. A status the spec does not list yet counts as not ended unless the
 * execution has a finishedAt: deferring a push by one check costs little, restarting AEM in the middle of a deployment
 * is what Adobe warns against: an update "may not succeed when a pipeline is in use" (https://experienceleague.adobe.com/en/docs/experience-manager-cloud-service/content/implementing/using-cloud-manager/environment-variables).
 */
export function hasEnded(e: Pick<CmExecution, 'status' | 'finishedAt'>): boolean {
  const s = e.status.toUpperCase();
  if (ENDED.has(s)) return true;
  if (NOT_ENDED.has(s)) return false;
  return e.finishedAt !== undefined;
}

/**
 * Whether a pipeline deploys to the environment: one of its DEPLOY phases names it (the spec makes environmentId
 * mandatory for DEPLOY phases), or a step of its execution does (the definition may have changed since it started).
 * A whole pipeline counts, not only its current phase: a production pipeline deploying stage goes on to production.
 */
export function deploysTo(
  pipeline: Pick<CmPipeline, 'phases'>,
  execution: CmExecution | undefined,
  environmentId: string,
): boolean {
  if (pipeline.phases.some((p) => p.type.toUpperCase() === 'DEPLOY' && p.environmentId === environmentId)) return true;
  return (execution?._embedded?.stepStates ?? []).some((s) => s.environmentId === environmentId);
}

/**
 * The execution of a pipeline of the program that has not ended and deploys to this environment, if any. Only the
 * pipelines whose definition deploys there are read further (one request each): their current execution, and when a
 * pipeline reports itself busy without one, the newest entry of its execution history.
 */
export async function findRunningExecution(
  client: PipelineReader,
  programId: string,
  environmentId: string,
): Promise<RunningExecution | undefined> {
  const pipelines = await client.listPipelines(programId);
  for (const pipeline of pipelines.filter((p) => deploysTo(p, undefined, environmentId))) {
    let execution = await client.currentExecution(programId, pipeline.id);
    const busy = pipeline.status !== undefined && pipeline.status.toUpperCase() !== 'IDLE';
    if (!execution && busy) execution = (await client.listExecutions(programId, pipeline.id, 1))[0];
    if (execution && !hasEnded(execution) && deploysTo(pipeline, execution, environmentId)) {
      return {
        pipelineId: pipeline.id,
        ...(pipeline.name ? { pipelineName: pipeline.name } : {}),
        executionId: execution.id,
        status: execution.status,
      };
    }
  }
  return undefined;
}
