import { afterEach, describe, expect, it } from 'vitest';
import { CloudManagerClient, type CloudManagerClientOptions } from '../../lambdas/push/cloud-manager.ts';
import { findRunningExecution, hasEnded } from '../../lambdas/push/cloud-manager-pipelines.ts';
import { openLogFile, parseContentRange } from '../../lambdas/push/cloud-manager-logs.ts';
import { RefresherError } from '../../lambdas/core/errors.ts';
import { redactText } from '../../lambdas/core/redact.ts';
import { sequence, startServer, type Handler, type Reply, type TestServer } from './server.ts';

const TOKEN = 'eyJ-CM-DELIVERY-TOKEN-sentinel-4444';
const ORG = 'ABCDEF0123456789@AdobeOrg';

const servers: TestServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function serve(handler: Handler): Promise<TestServer> {
  const s = await startServer(handler);
  servers.push(s);
  return s;
}

async function client(
  handler: Handler,
  extra: Partial<CloudManagerClientOptions> = {},
): Promise<{ cm: CloudManagerClient; srv: TestServer }> {
  const srv = await serve(handler);
  const cm = new CloudManagerClient({
    endpoint: srv.url,
    apiKey: 'cm-client-id',
    orgId: ORG,
    token: async () => TOKEN,
    timeoutMs: 2_000,
    retries: 3,
    baseDelayMs: 1,
    maxDelayMs: 5,
    ...extra,
  });
  return { cm, srv };
}

const deploy = (environmentId: string) => ({ name: `deploy ${environmentId}`, type: 'DEPLOY', environmentId });
const pipeline = (id: string, envs: string[], status = 'BUSY') => ({
  id,
  name: `p${id}`,
  status,
  phases: [{ name: 'build', type: 'BUILD' }, ...envs.map(deploy)],
});
const pipelines = (...list: object[]): Reply => ({
  status: 200,
  body: { _totalNumberOfItems: list.length, _embedded: { pipelines: list } },
});
const execution = (id: string, status: string, extra: object = {}): Reply => ({
  status: 200,
  body: { id, pipelineId: '1', status, ...extra },
});

/** Routes by path; unknown paths 404 like Cloud Manager does for a pipeline without a current execution. */
function routes(table: Record<string, Reply | Reply[]>): Handler {
  const seen = new Map<string, number>();
  return (req) => {
    const path = req.path.split('?')[0] ?? '';
    const entry = table[path];
    if (!entry) return { status: 404, body: { title: 'Not Found' } };
    if (!Array.isArray(entry)) return entry;
    const n = seen.get(path) ?? 0;
    seen.set(path, n + 1);
    return entry[Math.min(n, entry.length - 1)]!;
  };
}

describe('running pipeline against an environment', () => {
  it('finds an execution that has not ended of a pipeline deploying to the environment', async () => {
    const { cm, srv } = await client(
      routes({
        '/api/program/1/pipelines': pipelines(pipeline('10', ['77']), pipeline('11', ['2'])),
        '/api/program/1/pipeline/10/execution': execution('900', 'FINISHED'),
        '/api/program/1/pipeline/11/execution': execution('901', 'RUNNING'),
      }),
    );
    await expect(findRunningExecution(cm, '1', '2')).resolves.toEqual({
      pipelineId: '11',
      pipelineName: 'p11',
      executionId: '901',
      status: 'RUNNING',
    });
    // The pipeline deploying elsewhere is not even read further.
    expect(srv.requests.map((r) => r.path.split('?')[0])).toEqual([
      '/api/program/1/pipelines',
      '/api/program/1/pipeline/11/execution',
    ]);
    expect(srv.requests[0]!.path).toContain('limit=500');
    for (const r of srv.requests)
      expect([r.headers.authorization, r.headers['x-api-key'], r.headers['x-gw-ims-org-id']]).toEqual([
        `Bearer ${TOKEN}`,
        'cm-client-id',
        ORG,
      ]);
  });

  it('ignores a running pipeline that deploys to another environment, and ended executions', async () => {
    const { cm } = await client(
      routes({
        '/api/program/1/pipelines': pipelines(pipeline('10', ['3']), pipeline('11', ['2'], 'IDLE')),
        '/api/program/1/pipeline/10/execution': execution('900', 'RUNNING'),
        '/api/program/1/pipeline/11/execution': execution('901', 'CANCELLED'),
      }),
    );
    await expect(findRunningExecution(cm, '1', '2')).resolves.toBeUndefined();
  });

  it('a step state naming the environment counts; a busy pipeline without a current execution is read from its history', async () => {
    const { cm } = await client(
      routes({
        '/api/program/1/pipelines': pipelines(pipeline('10', ['2']), pipeline('12', ['2'], 'WAITING')),
        '/api/program/1/pipeline/10/execution': execution('900', 'FINISHED'),
        '/api/program/1/pipeline/12/executions': {
          status: 200,
          body: { _embedded: { executions: [{ id: '77', status: 'NOT_STARTED' }] } },
        },
      }),
    );
    await expect(findRunningExecution(cm, '1', '2')).resolves.toMatchObject({
      pipelineId: '12',
      executionId: '77',
      status: 'NOT_STARTED',
    });
  });

  it('reads every page of the pipeline list', async () => {
    const first = {
      status: 200,
      body: { _totalNumberOfItems: 2, _embedded: { pipelines: [pipeline('10', ['3'])] } },
    } as const;
    const second = {
      status: 200,
      body: { _totalNumberOfItems: 2, _embedded: { pipelines: [pipeline('11', ['2'])] } },
    } as const;
    const { cm, srv } = await client(routes({ '/api/program/1/pipelines': [first, second] }));
    expect((await cm.listPipelines('1')).map((p) => p.id)).toEqual(['10', '11']);
    expect(srv.requests[1]!.path).toContain('start=1');
  });

  it('an unknown status counts as not ended unless the execution has finished', () => {
    expect(hasEnded({ status: 'PAUSED' })).toBe(false);
    expect(hasEnded({ status: 'PAUSED', finishedAt: '2026-12-01T10:00:00Z' })).toBe(true);
    expect(hasEnded({ status: 'ERROR' })).toBe(true);
    expect(hasEnded({ status: 'CANCELLING' })).toBe(false);
  });

  it('429 with Retry-After and 5xx are retried on the reads', async () => {
    const { cm, srv } = await client(
      sequence(
        { status: 429, headers: { 'retry-after': '1' } },
        { status: 503 },
        pipelines(pipeline('10', ['2'], 'IDLE')),
      ),
    );
    const started = Date.now();
    expect(await cm.listPipelines('1')).toHaveLength(1);
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(srv.requests).toHaveLength(3);
  });

  it('a program it cannot see is CM_NOT_FOUND naming the program', async () => {
    const { cm } = await client(sequence({ status: 404, body: { title: 'Not Found' } }));
    const err = await cm.listPipelines('99').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RefresherError);
    expect([(err as RefresherError).code, (err as RefresherError).message]).toEqual([
      'CM_NOT_FOUND',
      expect.stringContaining('program 99'),
    ]);
  });
});

describe('environment logs', () => {
  const listing = (storage: string): Reply => ({
    status: 200,
    body: {
      service: ['author'],
      name: ['aemerror'],
      days: 2,
      _embedded: {
        downloads: [
          {
            service: 'author',
            name: 'aemerror',
            date: '2026-11-30',
            _links: { 'http://ns.adobe.com/adobecloud/rel/logs/download': { href: '/dl?date=2026-11-30' } },
          },
          {
            service: 'author',
            name: 'aemerror',
            date: '2026-12-01',
            _links: {
              'http://ns.adobe.com/adobecloud/rel/logs/download': [{ href: '/dl?date=2026-12-01' }],
              'http://ns.adobe.com/adobecloud/rel/logs/tail': { href: `${storage}/tail?sig=abc` },
            },
          },
        ],
      },
    },
  });

  it('lists the day files with their download and tail links', async () => {
    const { cm, srv } = await client(sequence(listing('http://storage.example')));
    const files = await cm.listLogs('1', '2', { service: 'author', name: 'aemerror', days: 2 });
    expect(files).toEqual([
      { service: 'author', name: 'aemerror', date: '2026-11-30', downloadHref: '/dl?date=2026-11-30' },
      {
        service: 'author',
        name: 'aemerror',
        date: '2026-12-01',
        downloadHref: '/dl?date=2026-12-01',
        tailHref: 'http://storage.example/tail?sig=abc',
      },
    ]);
    expect(srv.requests[0]!.path).toBe('/api/program/1/environment/2/logs?service=author&name=aemerror&days=2');
  });

  it('reads the download redirect from the JSON body and from a 307, never following it with the token', async () => {
    const storage = await serve(() => ({ status: 200, body: 'log bytes' }));
    const json = await client(
      sequence({ status: 200, body: { redirect: `${storage.url}/file.log.gz?sig=SIGNATURE-abcdef` } }),
    );
    const url = await json.cm.logFileLocation('1', '2', { service: 'author', name: 'aemerror', date: '2026-12-01' });
    expect(url.href).toBe(`${storage.url}/file.log.gz?sig=SIGNATURE-abcdef`);
    expect(json.srv.requests[0]!.path).toBe(
      '/api/program/1/environment/2/logs/download?service=author&name=aemerror&date=2026-12-01',
    );
    expect(json.srv.requests[0]!.headers.accept).toBe('application/json');
    // The signature is treated as a credential in anything printed.
    expect(redactText(`fetching ${url.href}`)).not.toContain('SIGNATURE-abcdef');

    const moved = await client(sequence({ status: 307, headers: { location: `${storage.url}/other.log.gz` } }));
    expect(
      (await moved.cm.logFileLocation('1', '2', { service: 'author', name: 'aemerror', date: '2026-12-01' })).href,
    ).toBe(`${storage.url}/other.log.gz`);
    expect(moved.srv.requests).toHaveLength(1);
    expect(storage.requests).toHaveLength(0);

    const res = await openLogFile({ url, ...json.cm.tuning });
    res.body?.resume();
    expect(storage.requests).toHaveLength(1);
    const sent = storage.requests[0]!.headers;
    expect(sent.authorization).toBeUndefined();
    expect(sent['x-api-key']).toBeUndefined();
    expect(sent['x-gw-ims-org-id']).toBeUndefined();
    expect(JSON.stringify(sent)).not.toContain(TOKEN);
  });

  it('a download answer without a usable redirect is CM_BAD_RESPONSE', async () => {
    const { cm } = await client(sequence({ status: 307 }));
    const err = await cm
      .logFileLocation('1', '2', { service: 'author', name: 'aemerror', date: '2026-12-01' })
      .catch((e: unknown) => e);
    expect((err as RefresherError).code).toBe('CM_BAD_RESPONSE');
  });

  it('reads a byte range of the tail link, retries 429 with Retry-After and 5xx, reports 416 with the size', async () => {
    const storage = await serve(
      sequence(
        { status: 503 },
        { status: 429, headers: { 'retry-after': '1' } },
        { status: 206, headers: { 'content-range': 'bytes 10-14/15' }, body: 'hello' },
        { status: 416, headers: { 'content-range': 'bytes */15' } },
      ),
    );
    const url = new URL(`${storage.url}/tail`);
    const started = Date.now();
    const res = await openLogFile({ url, range: { start: 10, end: 99 }, timeoutMs: 2_000, retries: 3, baseDelayMs: 1 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect([res.status, res.start, res.total]).toEqual([206, 10, 15]);
    let text = '';
    for await (const c of res.body!) text += String(c);
    expect(text).toBe('hello');
    expect(storage.requests[2]!.headers.range).toBe('bytes=10-99');
    const none = await openLogFile({ url, range: { start: 15, end: 99 }, timeoutMs: 2_000, retries: 0 });
    expect([none.status, none.total, none.body]).toEqual([416, 15, undefined]);
  });

  it('a storage host that keeps failing is a transient CM_LOG_UNAVAILABLE naming the host only', async () => {
    const storage = await serve(sequence({ status: 500 }));
    const err = await openLogFile({
      url: new URL(`${storage.url}/f.gz?sig=SECRET-SIG-123456`),
      timeoutMs: 2_000,
      retries: 2,
      baseDelayMs: 1,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RefresherError);
    expect([(err as RefresherError).class, (err as RefresherError).code]).toEqual(['transient', 'CM_LOG_UNAVAILABLE']);
    expect((err as RefresherError).message).not.toContain('SECRET-SIG');
    expect(storage.requests).toHaveLength(3);
  });

  it('parses Content-Range forms', () => {
    expect(parseContentRange('bytes 0-99/1234')).toEqual({ start: 0, total: 1234 });
    expect(parseContentRange('bytes */1234')).toEqual({ total: 1234 });
    expect(parseContentRange('bytes 5-9/*')).toEqual({ start: 5 });
    expect(parseContentRange(undefined)).toEqual({});
  });
});
