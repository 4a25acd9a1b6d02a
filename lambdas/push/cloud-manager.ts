import { z } from 'zod';
import { httpRequest, parseJson, type HttpResponse } from '../core/http.ts';
import { asRefresherError, RefresherError } from '../core/errors.ts';
import { registerSecret } from '../core/redact.ts';
import { safeIdentifier, scrubRemoteText, trimSlash, type HttpTuning } from './common.ts';

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

const idLike = z.union([z.string().min(1), z.number()]).transform(String);

const environmentSchema = z.object({
  id: idLike,
  programId: idLike.optional(),
  name: z.string().optional(),
  type: z.string().optional(),
  status: z.string().optional(),
});

const variableSchema = z.object({
  name: z.string().min(1),
  // The spec: "Default `string` if missing".
  type: z.string().default('string'),
  service: z.string().optional(),
  status: z.string().optional(),
});

const variableListSchema = z.object({
  // An environment without variables may come without _embedded; anything present must have the documented shape.
  _embedded: z.object({ variables: z.array(variableSchema).default([]) }).optional(),
});

/**
 * Cloud Manager rejects changes while a pipeline runs on the environment: 412 "busy" has been seen, and 409 is the
 * natural status for the same condition. Both clear by themselves, like 429 and 5xx, so they are retried with backoff.
 */
function isBusy(status: number): boolean {
  return status === 409 || status === 412;
}

function cmShouldRetry(res: HttpResponse): boolean {
  return isBusy(res.status) || res.status === 429 || res.status >= 500;
}

interface Call {
  method: 'GET' | 'PATCH';
  programId: string;
  environmentId: string;
  path: '' | '/variables';
  body?: string;
  /** Values that went out in the body: cut from any text the remote sends back. */
  sent: string[];
  /** For messages: "list the variables of". */
  action: string;
}

/**
 * The three Cloud Manager calls the push needs. Unlike Adobe's own client it retries what is worth retrying, has a
 * deadline on every attempt, validates what comes back, and its errors carry neither the token nor any value.
 */
export class CloudManagerClient {
  readonly #opts: CloudManagerClientOptions;

  constructor(opts: CloudManagerClientOptions) {
    this.#opts = opts;
  }

  async getEnvironment(programId: string, environmentId: string): Promise<CmEnvironment> {
    const call: Call = { method: 'GET', programId, environmentId, path: '', sent: [], action: 'read' };
    const res = await this.#send(call);
    return this.#parse(res, environmentSchema, call);
  }

  async listVariables(programId: string, environmentId: string): Promise<CmVariable[]> {
    const call: Call = { method: 'GET', programId, environmentId, path: '/variables', sent: [], action: 'list the variables of' };
    const res = await this.#send(call);
    const list = this.#parse(res, variableListSchema, call);
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
    const body = vars.map((v) => ({ name: v.name, value: v.value, type: v.type, ...(v.service ? { service: v.service } : {}) }));
    for (const v of vars) if (v.type === 'secretString') registerSecret(v.value);
    await this.#send({
      method: 'PATCH',
      programId,
      environmentId,
      path: '/variables',
      body: JSON.stringify(body),
      sent: vars.map((v) => v.value),
      action: `set ${vars.map((v) => v.name).join(', ')} on`,
    });
  }

  async #send(call: Call): Promise<HttpResponse> {
    const o = this.#opts;
    const first = await this.#attempt(call);
    if (first.res.status !== 401 || !o.invalidateToken) return this.#accept(first.res, call);
    o.invalidateToken(first.token);
    return this.#accept((await this.#attempt(call)).res, call);
  }

  #accept(res: HttpResponse, call: Call): HttpResponse {
    if (res.status >= 200 && res.status < 300) return res;
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
    const res = await httpRequest({
      remote: 'cloudmanager',
      stage: 'push',
      method: call.method,
      url: `${trimSlash(o.endpoint)}/api/program/${encodeURIComponent(call.programId)}/environment/${encodeURIComponent(call.environmentId)}${call.path}`,
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
      throw badResponse(res.status, `Cloud Manager answered the request to ${call.action} ${where} with HTTP ${res.status} and a body that is not JSON`);
    }
    const parsed = schema.safeParse(body);
    if (!parsed.success) {
      // Only paths and issue codes: zod messages can quote what was received, and a listing may hold plain values.
      const issues = parsed.error.issues.slice(0, 3).map((i) => `${i.path.map(String).join('.') || '(body)'} ${i.code}`);
      throw badResponse(res.status, `Cloud Manager answered the request to ${call.action} ${where} with HTTP ${res.status} and an unexpected body (${issues.join('; ')})`);
    }
    return parsed.data;
  }
}

function describeTarget(call: Pick<Call, 'programId' | 'environmentId'>): string {
  return `program ${call.programId} / environment ${call.environmentId}`;
}

function badResponse(status: number, message: string): RefresherError {
  return new RefresherError({
    class: 'transient',
    code: 'CM_BAD_RESPONSE',
    remote: 'cloudmanager',
    stage: 'push',
    status,
    message,
    fix: 'Retried on the next run; if it persists, check that adobe.cloudManagerEndpoint points at https://cloudmanager.adobe.io and not at a proxy or login page.',
  });
}

function asRecord(v: unknown): Record<string, unknown> | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

function firstString(o: Record<string, unknown>, keys: readonly string[]): string | undefined {
  for (const k of keys) {
    const v = o[k];
    if (typeof v === 'string' && v) return v;
  }
  return undefined;
}

/**
 * Reads the reasons out of a 400: problem+json `errors[]` (validation-exception), the spec's BadRequestError
 * `invalidParams[]`/`missingParams[]`, else title/detail. Each reason is scrubbed of everything we sent.
 */
function validationReasons(body: unknown, sent: readonly string[]): string[] {
  const o = asRecord(body);
  if (!o) return [];
  const items = [o.errors, o.invalidParams, o.missingParams].flatMap((a) => (Array.isArray(a) ? (a as unknown[]) : []));
  const reasons: string[] = [];
  for (const item of items) {
    const rec = asRecord(item);
    let text: string | undefined;
    if (typeof item === 'string') text = item;
    else if (rec) {
      const field = firstString(rec, ['field', 'name', 'path', 'property', 'param', 'pointer']);
      const why = firstString(rec, ['message', 'reason', 'detail', 'title', 'code', 'type']);
      text = field && why ? `${field}: ${why}` : (field ?? why);
    }
    if (text) reasons.push(scrubRemoteText(text, sent));
  }
  if (reasons.length === 0) {
    const summary = firstString(o, ['detail', 'title', 'message']);
    if (summary) reasons.push(scrubRemoteText(summary, sent));
  }
  const shown = reasons.slice(0, 10);
  if (reasons.length > shown.length) shown.push(`and ${reasons.length - shown.length} more`);
  return shown;
}

/** The API gateway answers auth failures as {error_code, message}; Cloud Manager itself as problem+json. */
function gatewayDetail(body: unknown, sent: readonly string[]): string {
  const o = asRecord(body);
  if (!o) return '';
  const code = safeIdentifier(o.error_code) ?? safeIdentifier(typeof o.error_code === 'number' ? String(o.error_code) : undefined);
  const text = firstString(o, ['message', 'title', 'detail']);
  const parts = [code, text ? scrubRemoteText(text, sent) : undefined].filter(Boolean);
  return parts.length ? `, ${parts.join(': ')}` : '';
}

function classifyCloudManagerFailure(res: HttpResponse, call: Call, orgId: string): RefresherError {
  const where = describeTarget(call);
  const attempts = `${res.attempts} attempt${res.attempts > 1 ? 's' : ''}`;
  const body = parseJson(res.text);
  const base = { remote: 'cloudmanager' as const, stage: 'push' as const, status: res.status };

  if (res.status === 400) {
    const reasons = validationReasons(body, call.sent);
    return new RefresherError({
      ...base,
      class: 'configuration',
      code: 'CM_VALIDATION',
      message: `Cloud Manager refused to ${call.action} ${where} (HTTP 400)${reasons.length ? `:\n${reasons.map((r) => `  - ${r}`).join('\n')}` : ' without naming a reason'}`,
      fix: 'Check the target variable names (2-100 characters [a-zA-Z_][a-zA-Z_0-9]*, not starting INTERNAL_, ADOBE_ or CONST_), that an existing variable of the same name is not of type "string" (a type cannot change: delete it in Cloud Manager first), and that the environment has fewer than 200 variables.',
    });
  }
  if (res.status === 401) {
    return new RefresherError({
      ...base,
      class: 'configuration',
      code: 'CM_UNAUTHORIZED',
      message: `Cloud Manager did not accept the IMS token to ${call.action} ${where} (HTTP 401${gatewayDetail(body, call.sent)})`,
      fix: `Check that the Developer Console project has the Cloud Manager API with an OAuth Server-to-Server credential, that adobe.clientId (sent as x-api-key) is that credential's client id, and that adobe.imsOrgId (${orgId}) is the organization owning the project.`,
    });
  }
  if (res.status === 403) {
    return new RefresherError({
      ...base,
      class: 'configuration',
      code: 'CM_FORBIDDEN',
      message: `Cloud Manager does not allow the technical account to ${call.action} ${where} (HTTP 403${gatewayDetail(body, call.sent)})`,
      fix: 'In the Adobe Developer Console project, add the Cloud Manager product profile "Deployment Manager" to the technical account of the OAuth Server-to-Server credential (it is required to change environment variables), and check that the program belongs to that organization.',
    });
  }
  if (res.status === 404) {
    return new RefresherError({
      ...base,
      class: 'configuration',
      code: 'CM_NOT_FOUND',
      message: `Cloud Manager has no ${where} visible to the technical account (HTTP 404 while trying to ${call.action} it)`,
      fix: `Check programId ${call.programId} and environmentId ${call.environmentId} in the target (both are in the Cloud Manager URL of the environment) and that the program belongs to ${orgId}.`,
    });
  }
  if (isBusy(res.status)) {
    return new RefresherError({
      ...base,
      class: 'transient',
      code: 'CM_BUSY',
      message: `Cloud Manager reported ${where} busy (HTTP ${res.status}, ${attempts})`,
      fix: 'A pipeline or an update is probably running on the environment; Cloud Manager accepts variable changes again when it ends. The next run retries; nothing to do unless it persists.',
      retryAfterMs: res.retryAfterMs,
    });
  }
  if (res.status === 429) {
    return new RefresherError({
      ...base,
      class: 'transient',
      code: 'CM_THROTTLED',
      message: `Cloud Manager throttled the request to ${call.action} ${where} (HTTP 429, ${attempts})`,
      fix: 'The next run retries; nothing to do unless it persists (then spread the schedules of the credentials).',
      retryAfterMs: res.retryAfterMs,
    });
  }
  if (res.status >= 500) {
    return new RefresherError({
      ...base,
      class: 'transient',
      code: 'CM_UNAVAILABLE',
      message: `Cloud Manager failed with HTTP ${res.status} trying to ${call.action} ${where} (${attempts})`,
      fix: 'Cloud Manager is having trouble; the next run retries. Check https://status.adobe.com if it persists.',
    });
  }
  return new RefresherError({
    ...base,
    class: 'configuration',
    code: 'CM_UNEXPECTED_STATUS',
    message: `Cloud Manager answered the request to ${call.action} ${where} with unexpected HTTP ${res.status}`,
    fix: 'Check that adobe.cloudManagerEndpoint is https://cloudmanager.adobe.io (no path, no proxy that redirects).',
  });
}
