import { parseJson, type HttpResponse } from '../core/http.ts';
import { RefresherError } from '../core/errors.ts';
import { safeIdentifier, scrubRemoteText } from './common.ts';

/** What a failed Cloud Manager call was about, for messages: never a value, a token or a URL query. */
export interface CallContext {
  programId: string;
  environmentId?: string;
  pipelineId?: string;
  /** Values that went out in the body: cut from any text the remote sends back. */
  sent: readonly string[];
  /** For messages: "list the variables of". */
  action: string;
}

/**
 * Cloud Manager rejects changes while a pipeline runs on the environment: 412 "busy" has been seen, and 409 is the
 * natural status for the same condition. Both clear by themselves, like 429 and 5xx, so they are retried with backoff.
 */
export function isBusy(status: number): boolean {
  return status === 409 || status === 412;
}

export function cmShouldRetry(res: HttpResponse): boolean {
  return isBusy(res.status) || res.status === 429 || res.status >= 500;
}

export function describeTarget(call: Pick<CallContext, 'programId' | 'environmentId' | 'pipelineId'>): string {
  if (call.environmentId !== undefined) return `program ${call.programId} / environment ${call.environmentId}`;
  if (call.pipelineId !== undefined) return `program ${call.programId} / pipeline ${call.pipelineId}`;
  return `program ${call.programId}`;
}

export function badResponse(status: number, message: string): RefresherError {
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
  const code =
    safeIdentifier(o.error_code) ?? safeIdentifier(typeof o.error_code === 'number' ? String(o.error_code) : undefined);
  const text = firstString(o, ['message', 'title', 'detail']);
  const parts = [code, text ? scrubRemoteText(text, sent) : undefined].filter(Boolean);
  return parts.length ? `, ${parts.join(': ')}` : '';
}

export function classifyCloudManagerFailure(res: HttpResponse, call: CallContext, orgId: string): RefresherError {
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
      fix:
        call.environmentId !== undefined
          ? `Check programId ${call.programId} and environmentId ${call.environmentId} in the target (both are in the Cloud Manager URL of the environment) and that the program belongs to ${orgId}.`
          : `Check programId ${call.programId} in the target (it is in the Cloud Manager URL of the program) and that the program belongs to ${orgId}.`,
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
