import type { z } from 'zod';
import { httpRequest, parseJson, type HttpResponse } from '../core/http.ts';
import { asRefresherError } from '../core/errors.ts';
import { registerSecret } from '../core/redact.ts';
import { trimSlash, type HttpTuning } from './common.ts';
import {
  badResponse,
  classifyCloudManagerFailure,
  cmShouldRetry,
  describeTarget,
  type CallContext,
} from './cloud-manager-errors.ts';
import {
  environmentLogsSchema,
  environmentSchema,
  executionListSchema,
  executionSchema,
  pipelineListSchema,
  redirectSchema,
  REL_LOGS_DOWNLOAD,
  REL_LOGS_TAIL,
  variableListSchema,
  type CmExecution,
  type CmPipeline,
} from './cloud-manager-schemas.ts';

export type { CmExecution, CmPipeline } from './cloud-manager-schemas.ts';
export type VariableType = 'string' | 'secretString';
export type VariableService = 'author' | 'publish' | 'preview';

/** A variable as listed. Secret values are never returned by Cloud Manager, and plain values are dropped here on purpose. */
export interface CmVariable {
  name: string;
  // `string & {}` keeps the known names for editors while a type Cloud Manager adds later does not fail the listing.
  type: VariableType | (string & {});
  service?: string;
  status?: string;
}

export interface CmVariableUpdate {
  name: string;
  /** An empty value deletes the variable (Cloud Manager semantics). */
  value: string;
  type: VariableType;
  /** Absent: the variable applies to every service. */
  service?: VariableService;
}

export interface CmEnvironment {
  id: string;
  programId?: string;
  name?: string;
  type?: string;
  /** ready, updating, ... (variables cannot be changed reliably while it is not ready). */
  status?: string;
}

/** One day's file of one log of one service, from the logs listing (EnvironmentLog). */
export interface CmLogFile {
  service: string;
  name: string;
  /** YYYY-MM-DD; Cloud Manager's log days are UTC days (its CLI restarts a tail at UTC midnight). */
  date: string;
  /** Cloud Manager's download link (answers a redirect to the gzip file). */
  downloadHref?: string;
  /** Direct link to the uncompressed file as it is being written, on the storage host; readable with Range. */
  tailHref?: string;
}

export interface CloudManagerClientOptions extends HttpTuning {
  /** https://cloudmanager.adobe.io (config adobe.cloudManagerEndpoint). */
  endpoint: string;
  /** The IMS client id of the Developer Console project; Cloud Manager calls it the API key. */
  apiKey: string;
  /** IMS organization id, ...@AdobeOrg. */
  orgId: string;
  token: () => Promise<string>;
  /**
   * Called with a token Cloud Manager answered 401 to; the call is then repeated once with a fresh token. A memoized
   * token can be revoked while a warm container still holds it, and one retry tells that apart from a wrong setup.
   */
  invalidateToken?: (rejected: string) => void;
  timeoutMs: number;
  retries: number;
}

interface Call extends CallContext {
  method: 'GET' | 'PATCH';
  /** Below /api/program/{programId}, e.g. `/environment/2/variables`; the query is in `query`. */
  path: string;
  query?: Record<string, string | number>;
  body?: string;
  /** Non-2xx statuses the caller handles itself (404: no current execution; 307: a log redirect). */
  pass?: readonly number[];
}

const PIPELINE_PAGE = 500;
const MAX_PIPELINE_PAGES = 20;

/**
 * The Cloud Manager calls of the push and of delivery. Unlike Adobe's own client it retries what is worth retrying, has
 * a deadline on every attempt, validates what comes back, and its errors carry neither the token nor any value. The
 * IMS token and the API key go only to the configured endpoint: log files live on another host (see cloud-manager-logs.ts).
 */
export class CloudManagerClient {
  readonly #opts: CloudManagerClientOptions;

  constructor(opts: CloudManagerClientOptions) {
    this.#opts = opts;
  }

  get endpoint(): string {
    return trimSlash(this.#opts.endpoint);
  }

  /** Tuning for the log-file reads, which go to another host without the token. */
  get tuning(): HttpTuning & { timeoutMs: number; retries: number } {
    const o = this.#opts;
    return {
      timeoutMs: o.timeoutMs,
      retries: o.retries,
      baseDelayMs: o.baseDelayMs,
      maxDelayMs: o.maxDelayMs,
      maxRetryAfterMs: o.maxRetryAfterMs,
      dispatcher: o.dispatcher,
      onRetry: o.onRetry,
    };
  }

  async getEnvironment(programId: string, environmentId: string): Promise<CmEnvironment> {
    const call = envCall(programId, environmentId, '', 'read');
    return this.#parse(await this.#send(call), environmentSchema, call);
  }

  async listVariables(programId: string, environmentId: string): Promise<CmVariable[]> {
    const call = envCall(programId, environmentId, '/variables', 'list the variables of');
    const list = this.#parse(await this.#send(call), variableListSchema, call);
    return (list._embedded?.variables ?? []).map((v) => ({
      name: v.name,
      type: v.type,
      ...(v.service !== undefined ? { service: v.service } : {}),
      ...(v.status !== undefined ? { status: v.status } : {}),
    }));
  }

  /**
   * Sets the listed variables; others are left alone. PATCH with the same body is idempotent, so a retry after a
   * lost answer or a busy environment cannot do harm. Any 2xx is success (204 is documented, 200 with a body is seen).
   */
  async patchVariables(programId: string, environmentId: string, vars: readonly CmVariableUpdate[]): Promise<void> {
    if (vars.length === 0) return;
    const body = vars.map((v) => ({
      name: v.name,
      value: v.value,
      type: v.type,
      ...(v.service ? { service: v.service } : {}),
    }));
    for (const v of vars) if (v.type === 'secretString') registerSecret(v.value);
    await this.#send({
      ...envCall(programId, environmentId, '/variables', `set ${vars.map((v) => v.name).join(', ')} on`),
      method: 'PATCH',
      body: JSON.stringify(body),
      sent: vars.map((v) => v.value),
    });
  }

  /** Every pipeline of the program (GET /api/program/{p}/pipelines), following the start/limit pagination. */
  async listPipelines(programId: string): Promise<CmPipeline[]> {
    const out: CmPipeline[] = [];
    for (let page = 0; page < MAX_PIPELINE_PAGES; page++) {
      const call: Call = {
        method: 'GET',
        programId,
        path: '/pipelines',
        query: { start: out.length, limit: PIPELINE_PAGE },
        sent: [],
        action: 'list the pipelines of',
      };
      const list = this.#parse(await this.#send(call), pipelineListSchema, call);
      const got = list._embedded?.pipelines ?? [];
      out.push(...got);
      const total = list._totalNumberOfItems ?? out.length;
      if (got.length === 0 || out.length >= total) break;
    }
    return out;
  }

  /** The pipeline's current execution (GET .../pipeline/{id}/execution), undefined when it has none (404). */
  async currentExecution(programId: string, pipelineId: string): Promise<CmExecution | undefined> {
    const call: Call = {
      method: 'GET',
      programId,
      pipelineId,
      path: `/pipeline/${enc(pipelineId)}/execution`,
      sent: [],
      action: 'read the current execution of',
      pass: [404],
    };
    const res = await this.#send(call);
    return res.status === 404 ? undefined : this.#parse(res, executionSchema, call);
  }

  /** The newest executions of the pipeline, newest first (GET .../pipeline/{id}/executions). */
  async listExecutions(programId: string, pipelineId: string, limit = 5): Promise<CmExecution[]> {
    const call: Call = {
      method: 'GET',
      programId,
      pipelineId,
      path: `/pipeline/${enc(pipelineId)}/executions`,
      query: { start: 0, limit },
      sent: [],
      action: 'list the executions of',
    };
    return this.#parse(await this.#send(call), executionListSchema, call)._embedded?.executions ?? [];
  }

  /** The day files of one log of one service for the last `days` days (GET .../environment/{e}/logs). */
  async listLogs(
    programId: string,
    environmentId: string,
    p: { service: string; name: string; days: number },
  ): Promise<CmLogFile[]> {
    const call = {
      ...envCall(programId, environmentId, '/logs', `list the ${p.service} ${p.name} logs of`),
      query: { service: p.service, name: p.name, days: p.days },
    };
    const list = this.#parse(await this.#send(call), environmentLogsSchema, call);
    return (list._embedded?.downloads ?? []).map((d) => {
      const download = d._links?.[REL_LOGS_DOWNLOAD]?.[0];
      const tail = d._links?.[REL_LOGS_TAIL]?.[0];
      return {
        service: d.service,
        name: d.name,
        date: d.date,
        ...(download ? { downloadHref: download } : {}),
        ...(tail ? { tailHref: tail } : {}),
      };
    });
  }

  /**
   * Where the gzip file of one day's log is (GET .../logs/download): asked with Accept: application/json, Cloud Manager
   * answers a Redirect body; without it a 307 with Location. Both are read and the redirect is never followed here,
   * so that the token stays on the Cloud Manager host. The link is built from the path parameters rather than taken
   * from the listing, so a listing can never make us send the token elsewhere.
   */
  async logFileLocation(
    programId: string,
    environmentId: string,
    p: { service: string; name: string; date: string },
  ): Promise<URL> {
    const call: Call = {
      ...envCall(programId, environmentId, '/logs/download', `download the ${p.service} ${p.name} log of ${p.date} of`),
      query: { service: p.service, name: p.name, date: p.date },
      pass: [301, 302, 303, 307, 308],
    };
    const res = await this.#send(call);
    const target = res.status >= 300 ? res.headers.location : this.#parse(res, redirectSchema, call).redirect;
    let url: URL | undefined;
    try {
      url = target ? new URL(target, this.endpoint) : undefined;
    } catch {
      url = undefined;
    }
    if (!url || !(url.protocol === 'https:' || url.protocol === new URL(this.endpoint).protocol)) {
      throw badResponse(
        res.status,
        `Cloud Manager answered the request to ${call.action} ${describeTarget(call)} without a usable redirect to the log file`,
      );
    }
    // A storage link carries its signature in the query: treat it like a credential in anything we print.
    for (const v of url.searchParams.values()) registerSecret(v);
    return url;
  }

  async #send(call: Call): Promise<HttpResponse> {
    const o = this.#opts;
    const first = await this.#attempt(call);
    if (first.res.status !== 401 || !o.invalidateToken) return this.#accept(first.res, call);
    o.invalidateToken(first.token);
    return this.#accept((await this.#attempt(call)).res, call);
  }

  #accept(res: HttpResponse, call: Call): HttpResponse {
    if ((res.status >= 200 && res.status < 300) || call.pass?.includes(res.status)) return res;
    throw classifyCloudManagerFailure(res, call, this.#opts.orgId);
  }

  async #attempt(call: Call): Promise<{ res: HttpResponse; token: string }> {
    const o = this.#opts;
    let token: string;
    try {
      token = await o.token();
    } catch (e) {
      throw asRefresherError(e, 'ims', 'push');
    }
    registerSecret(token);
    const headers: Record<string, string> = {
      Authorization: `Bearer ${token}`,
      'x-api-key': o.apiKey,
      'x-gw-ims-org-id': o.orgId,
      Accept: 'application/json',
    };
    if (call.body !== undefined) headers['Content-Type'] = 'application/json';
    const query = call.query
      ? `?${new URLSearchParams(Object.entries(call.query).map(([k, v]): [string, string] => [k, String(v)])).toString()}`
      : '';
    const res = await httpRequest({
      remote: 'cloudmanager',
      stage: 'push',
      method: call.method,
      url: `${this.endpoint}/api/program/${enc(call.programId)}${call.path}${query}`,
      headers,
      body: call.body,
      timeoutMs: o.timeoutMs,
      retries: o.retries,
      shouldRetry: cmShouldRetry,
      baseDelayMs: o.baseDelayMs,
      maxDelayMs: o.maxDelayMs,
      maxRetryAfterMs: o.maxRetryAfterMs,
      dispatcher: o.dispatcher,
      onRetry: o.onRetry,
    });
    return { res, token };
  }

  #parse<T extends z.ZodType>(res: HttpResponse, schema: T, call: Call): z.infer<T> {
    const where = describeTarget(call);
    const body = parseJson(res.text);
    if (body === undefined) {
      throw badResponse(
        res.status,
        `Cloud Manager answered the request to ${call.action} ${where} with HTTP ${res.status} and a body that is not JSON`,
      );
    }
    const parsed = schema.safeParse(body);
    if (!parsed.success) {
      // Only paths and issue codes: zod messages can quote what was received, and a listing may hold plain values.
      const issues = parsed.error.issues
        .slice(0, 3)
        .map((i) => `${i.path.map(String).join('.') || '(body)'} ${i.code}`);
      throw badResponse(
        res.status,
        `Cloud Manager answered the request to ${call.action} ${where} with HTTP ${res.status} and an unexpected body (${issues.join('; ')})`,
      );
    }
    return parsed.data;
  }
}

const enc = encodeURIComponent;

function envCall(programId: string, environmentId: string, path: string, action: string): Call {
  return {
    method: 'GET',
    programId,
    environmentId,
    path: `/environment/${enc(environmentId)}${path}`,
    sent: [],
    action,
  };
}
