// Pipelines and their executions, as the Cloud Manager API lists them: a test (or the year simulation) starts an
// execution of a pipeline that deploys to an environment and ends it later; Cloud Manager refuses variable updates of
// an environment while a pipeline deploying there runs, and the stand-in does the same.

export type ExecutionStatus = 'NOT_STARTED' | 'RUNNING' | 'CANCELLING' | 'CANCELLED' | 'FINISHED' | 'ERROR' | 'FAILED';
const ENDED: ReadonlySet<string> = new Set(['CANCELLED', 'FINISHED', 'ERROR', 'FAILED']);

export interface StoredExecution {
  id: string;
  status: ExecutionStatus;
  createdAt: number;
  updatedAt: number;
  finishedAt?: number;
}

export interface StoredPipeline {
  programId: string;
  id: string;
  name: string;
  /** Environments its DEPLOY phases target, in order. */
  deploysTo: string[];
  /** Newest last. */
  executions: StoredExecution[];
}

export interface PipelineSeed {
  id?: string;
  name?: string;
  deploysTo: string[];
}

const link = (href: string) => ({ href, templated: false });
const iso = (ms: number) => new Date(ms).toISOString();

export class PipelineBook {
  readonly #pipelines = new Map<string, StoredPipeline>();
  readonly #now: () => number;
  #nextId = 100;

  constructor(now: () => number) {
    this.#now = now;
  }

  add(programId: string, seed: PipelineSeed): string {
    const id = seed.id ?? String(this.#nextId++);
    this.#pipelines.set(`${programId}/${id}`, {
      programId,
      id,
      name: seed.name ?? `Pipeline ${id}`,
      deploysTo: [...seed.deploysTo],
      executions: [],
    });
    return id;
  }

  get(programId: string, id: string): StoredPipeline | undefined {
    return this.#pipelines.get(`${programId}/${id}`);
  }

  must(programId: string, id: string): StoredPipeline {
    const p = this.get(programId, id);
    if (!p) throw new Error(`unknown pipeline ${programId}/${id}`);
    return p;
  }

  ofProgram(programId: string): StoredPipeline[] {
    return [...this.#pipelines.values()].filter((p) => p.programId === programId);
  }

  start(programId: string, pipelineId: string, status: ExecutionStatus = 'RUNNING'): string {
    const p = this.must(programId, pipelineId);
    const current = p.executions.at(-1);
    if (current && !ENDED.has(current.status))
      throw new Error(`pipeline ${programId}/${pipelineId} already runs execution ${current.id}`);
    const now = this.#now();
    const id = String(this.#nextId++);
    p.executions.push({ id, status, createdAt: now, updatedAt: now });
    return id;
  }

  /** Sets the status of the newest execution; an ended status stamps finishedAt. */
  setStatus(programId: string, pipelineId: string, status: ExecutionStatus): void {
    const e = this.must(programId, pipelineId).executions.at(-1);
    if (!e) throw new Error(`pipeline ${programId}/${pipelineId} has no execution`);
    const now = this.#now();
    e.status = status;
    e.updatedAt = now;
    if (ENDED.has(status)) e.finishedAt = now;
  }

  /** The execution of a pipeline deploying to the environment that has not ended, if any. */
  runningAgainst(
    programId: string,
    environmentId: string,
  ): { pipeline: StoredPipeline; execution: StoredExecution } | undefined {
    for (const p of this.ofProgram(programId)) {
      const e = p.executions.at(-1);
      if (e && !ENDED.has(e.status) && p.deploysTo.includes(environmentId)) return { pipeline: p, execution: e };
    }
    return undefined;
  }

  /** Pipeline (spec definition Pipeline). */
  pipelineBody(p: StoredPipeline): Record<string, unknown> {
    const base = `/api/program/${p.programId}/pipeline/${p.id}`;
    const e = p.executions.at(-1);
    const busy = e !== undefined && !ENDED.has(e.status);
    return {
      id: p.id,
      programId: p.programId,
      name: p.name,
      trigger: 'MANUAL',
      status: busy ? 'BUSY' : 'IDLE',
      type: 'CI_CD',
      ...(e ? { lastStartedAt: iso(e.createdAt) } : {}),
      ...(e?.finishedAt !== undefined ? { lastFinishedAt: iso(e.finishedAt) } : {}),
      phases: [
        { name: 'VALIDATE', type: 'VALIDATE' },
        { name: 'BUILD', type: 'BUILD', repositoryId: '1', branch: 'main' },
        ...p.deploysTo.map((environmentId) => ({ name: `DEPLOY ${environmentId}`, type: 'DEPLOY', environmentId })),
      ],
      _links: {
        'http://ns.adobe.com/adobecloud/rel/program': link(`/api/program/${p.programId}`),
        'http://ns.adobe.com/adobecloud/rel/execution': link(`${base}/execution`),
        'http://ns.adobe.com/adobecloud/rel/executions': link(`${base}/executions`),
        self: link(base),
      },
    };
  }

  /** PipelineExecution, with one step state per deploy phase naming its environment. */
  executionBody(p: StoredPipeline, e: StoredExecution): Record<string, unknown> {
    const running = !ENDED.has(e.status);
    const stepStatus = running
      ? e.status === 'NOT_STARTED'
        ? 'NOT_STARTED'
        : 'RUNNING'
      : e.status === 'FINISHED'
        ? 'FINISHED'
        : e.status === 'CANCELLED'
          ? 'CANCELLED'
          : 'FAILED';
    return {
      id: e.id,
      programId: p.programId,
      pipelineId: p.id,
      status: e.status,
      trigger: 'MANUAL',
      pipelineExecutionMode: 'NORMAL',
      pipelineType: 'CI_CD',
      createdAt: iso(e.createdAt),
      updatedAt: iso(e.updatedAt),
      ...(e.finishedAt !== undefined ? { finishedAt: iso(e.finishedAt) } : {}),
      _embedded: {
        stepStates: p.deploysTo.map((environmentId, i) => ({
          id: `${e.id}-${i}`,
          action: 'deploy',
          environmentId,
          status: stepStatus,
        })),
      },
      _links: {
        'http://ns.adobe.com/adobecloud/rel/program': link(`/api/program/${p.programId}`),
        'http://ns.adobe.com/adobecloud/rel/pipeline': link(`/api/program/${p.programId}/pipeline/${p.id}`),
        self: link(`/api/program/${p.programId}/pipeline/${p.id}/execution/${e.id}`),
      },
    };
  }
}
