// The Cloud Manager routes delivery reads: pipelines and their executions, and AEM's logs (listing and download
// redirect). Every JSON answer is checked against its spec definition before it is sent.
import { assertInSpec, type CloudManagerSpec } from './cloudmanager-spec.ts';
import type { LogFileServer, LogStore } from './cloudmanager-logs.ts';
import type { PipelineBook } from './cloudmanager-pipelines.ts';
import { json, type Reply, type StandinRequest } from './http.ts';

export const PIPELINES_PATH = '/api/program/{programId}/pipelines';
export const CURRENT_EXECUTION_PATH = '/api/program/{programId}/pipeline/{pipelineId}/execution';
export const EXECUTIONS_PATH = '/api/program/{programId}/pipeline/{pipelineId}/executions';
export const LOGS_PATH = '/api/program/{programId}/environment/{environmentId}/logs';
export const LOGS_DOWNLOAD_PATH = '/api/program/{programId}/environment/{environmentId}/logs/download';

export const DELIVERY_ROUTES = [
  { name: 'pipelines-get', method: 'GET', pattern: PIPELINES_PATH },
  { name: 'execution-get', method: 'GET', pattern: CURRENT_EXECUTION_PATH },
  { name: 'executions-get', method: 'GET', pattern: EXECUTIONS_PATH },
  { name: 'logs-get', method: 'GET', pattern: LOGS_PATH },
  { name: 'logs-download-get', method: 'GET', pattern: LOGS_DOWNLOAD_PATH },
] as const;

/** Definitions the answers are checked against; startup fails if the spec lacks one. */
export const DELIVERY_DEFINITIONS = [
  'PipelineList',
  'PipelineExecution',
  'PipelineExecutionListRepresentation',
  'EnvironmentLogs',
  'Redirect',
  'BadRequestError',
] as const;

export type DeliveryRouteName = (typeof DELIVERY_ROUTES)[number]['name'];

export interface DeliveryContext {
  spec: CloudManagerSpec;
  now: () => number;
  book: PipelineBook;
  store: LogStore;
  files: LogFileServer;
  /** The API's own base URL (for absolute download links in the listing). */
  apiUrl: () => string;
  gate(req: StandinRequest): Reply | undefined;
  /** The environment of the request, or the 404 answer. */
  findEnv(req: StandinRequest): { programId: string; environmentId: string } | Reply;
  programKnown(programId: string): boolean;
  notFound(detail: string): Reply;
  /** false: the listing gives no tail links, so today's file too is only available as gzip. */
  tailLinks(): boolean;
}

const DAY_MS = 86_400_000;
const utcDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);
const isReply = (v: object): v is Reply => 'status' in v && typeof (v as { status: unknown }).status === 'number';

function checked(ctx: DeliveryContext, definition: string, status: number, body: unknown): Reply {
  assertInSpec(ctx.spec, definition, body);
  return json(status, body);
}

function badRequest(
  ctx: DeliveryContext,
  missing: string[],
  invalid: Array<{ name: string; reason: string }> = [],
): Reply {
  return checked(ctx, 'BadRequestError', 400, {
    status: 400,
    type: 'http://ns.adobe.com/adobecloud/problem/bad-request',
    title: 'Validation failed',
    ...(missing.length ? { missingParams: missing.map((name) => ({ name, type: 'string' })) } : {}),
    ...(invalid.length ? { invalidParams: invalid } : {}),
  });
}

function page(req: StandinRequest, total: number, defaultLimit: number): { start: number; limit: number } {
  const start = Math.max(0, Number(req.url.searchParams.get('start') ?? 0) || 0);
  const limit = Math.max(1, Number(req.url.searchParams.get('limit') ?? defaultLimit) || defaultLimit);
  return { start: Math.min(start, total), limit };
}

export function deliveryHandlers(ctx: DeliveryContext): Record<DeliveryRouteName, (req: StandinRequest) => Reply> {
  const program = (req: StandinRequest): string | Reply => {
    const denied = ctx.gate(req);
    if (denied) return denied;
    const programId = req.params.programId ?? '';
    return ctx.programKnown(programId) ? programId : ctx.notFound(`Program ${programId} not found`);
  };
  const pipelineOf = (req: StandinRequest) => {
    const programId = program(req);
    if (typeof programId !== 'string') return programId;
    const p = ctx.book.get(programId, req.params.pipelineId ?? '');
    return p ?? ctx.notFound(`Pipeline ${req.params.pipelineId ?? ''} not found in program ${programId}`);
  };
  const env = (req: StandinRequest) => {
    const denied = ctx.gate(req);
    return denied ?? ctx.findEnv(req);
  };

  return {
    'pipelines-get'(req) {
      const programId = program(req);
      if (typeof programId !== 'string') return programId;
      const all = ctx.book.ofProgram(programId);
      const { start, limit } = page(req, all.length, 500);
      const pipelines = all.slice(start, start + limit).map((p) => ctx.book.pipelineBody(p));
      return checked(ctx, 'PipelineList', 200, {
        _totalNumberOfItems: all.length,
        _page: { start, limit, ...(start + limit < all.length ? { next: start + limit } : {}) },
        _embedded: { pipelines },
        _links: { self: { href: `/api/program/${programId}/pipelines` } },
      });
    },
    'execution-get'(req) {
      const p = pipelineOf(req);
      if (isReply(p)) return p;
      // The newest execution, ended or not ("current" in the UI is the last one); none yet is 404 per the spec.
      const e = p.executions.at(-1);
      if (!e) return ctx.notFound(`No pipeline execution exists for pipeline ${p.id}`);
      return checked(ctx, 'PipelineExecution', 200, ctx.book.executionBody(p, e));
    },
    'executions-get'(req) {
      const p = pipelineOf(req);
      if (isReply(p)) return p;
      const newestFirst = [...p.executions].reverse();
      const { start, limit } = page(req, newestFirst.length, 20);
      return checked(ctx, 'PipelineExecutionListRepresentation', 200, {
        _totalNumberOfItems: newestFirst.length,
        _page: { start, limit },
        _embedded: { executions: newestFirst.slice(start, start + limit).map((e) => ctx.book.executionBody(p, e)) },
      });
    },
    'logs-get'(req) {
      const e = env(req);
      if (isReply(e)) return e;
      const q = req.url.searchParams;
      const services = q.getAll('service');
      const names = q.getAll('name');
      const daysText = q.get('days');
      const missing = [
        ...(services.length ? [] : ['service']),
        ...(names.length ? [] : ['name']),
        ...(daysText === null ? ['days'] : []),
      ];
      if (missing.length) return badRequest(ctx, missing);
      const days = Number(daysText);
      if (!Number.isInteger(days) || days < 1)
        return badRequest(ctx, [], [{ name: 'days', reason: 'must be a positive integer' }]);
      const now = ctx.now();
      const today = utcDay(now);
      const oldest = utcDay(now - (days - 1) * DAY_MS);
      const downloads = services.flatMap((service) =>
        names.flatMap((name) =>
          ctx.store
            .days({ ...e, service, name })
            .filter((date) => date >= oldest && date <= today)
            .map((date) => {
              const key = { ...e, service, name, date };
              const download = `${ctx.apiUrl()}/api/program/${e.programId}/environment/${e.environmentId}/logs/download?service=${encodeURIComponent(service)}&name=${encodeURIComponent(name)}&date=${date}`;
              return {
                service,
                name,
                date,
                programId: Number(e.programId),
                environmentId: Number(e.environmentId),
                _links: {
                  'http://ns.adobe.com/adobecloud/rel/logs/download': { href: download },
                  // Only the file still being written has a tail link (Adobe's CLI tails today's file).
                  ...(date === today && ctx.tailLinks()
                    ? { 'http://ns.adobe.com/adobecloud/rel/logs/tail': { href: ctx.files.tailUrl(key) } }
                    : {}),
                },
              };
            }),
        ),
      );
      return checked(ctx, 'EnvironmentLogs', 200, {
        service: services,
        name: names,
        days,
        _links: {
          'http://ns.adobe.com/adobecloud/rel/program': { href: `/api/program/${e.programId}` },
          self: { href: req.path + req.url.search },
        },
        _embedded: { downloads },
      });
    },
    'logs-download-get'(req) {
      const e = env(req);
      if (isReply(e)) return e;
      const q = req.url.searchParams;
      const [service, name, date] = [q.get('service'), q.get('name'), q.get('date')];
      const missing = [...(service ? [] : ['service']), ...(name ? [] : ['name']), ...(date ? [] : ['date'])];
      if (missing.length || !service || !name || !date) return badRequest(ctx, missing);
      if (!/^\d{4}-\d{2}-\d{2}$/.test(date))
        return badRequest(ctx, [], [{ name: 'date', reason: 'must be YYYY-MM-DD' }]);
      const key = { ...e, service, name, date };
      if (!ctx.store.days({ ...e, service, name }).includes(date))
        return ctx.notFound(`No ${service} ${name} log for ${date}`);
      const target = ctx.files.downloadUrl(key);
      const accept = String(req.headers.accept ?? '');
      if (accept.includes('application/json')) return checked(ctx, 'Redirect', 200, { redirect: target });
      return { status: 307, headers: { location: target } };
    },
  };
}
