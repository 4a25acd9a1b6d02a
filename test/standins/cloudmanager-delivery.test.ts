import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { CloudManagerClient } from '../../lambdas/push/cloud-manager.ts';
import { findRunningExecution } from '../../lambdas/push/cloud-manager-pipelines.ts';
import {
  CLOUD_MANAGER_ROUTES,
  DEFAULT_SPEC_PATH,
  assertRoutesInSpec,
  loadCloudManagerSpec,
  specViolations,
  startCloudManagerStandin,
  type CloudManagerStandin,
} from '../../standins/cloudmanager.ts';

const P = '12345';
const DEV = '100';
const STAGE = '200';
const TOKEN = 'standin-token-abcdef123456';

describe('Cloud Manager stand-in: delivery routes against the spec', () => {
  it('every served route, delivery ones included, exists in the spec', () => {
    const spec = loadCloudManagerSpec();
    expect(() => assertRoutesInSpec(spec, CLOUD_MANAGER_ROUTES)).not.toThrow();
    expect(CLOUD_MANAGER_ROUTES.map((r) => r.pattern)).toEqual(
      expect.arrayContaining([
        '/api/program/{programId}/pipelines',
        '/api/program/{programId}/environment/{environmentId}/logs/download',
      ]),
    );
  });

  it('the body checker finds properties, enum values and types outside the spec', () => {
    const spec = loadCloudManagerSpec();
    expect(specViolations(spec, 'PipelineExecution', { id: '1', status: 'RUNNING' })).toEqual([]);
    expect(specViolations(spec, 'PipelineExecution', { id: '1', status: 'SLEEPING', colour: 'red' })).toEqual([
      expect.stringContaining('"SLEEPING" is not one of'),
      'PipelineExecution.colour: not in the spec',
    ]);
    expect(specViolations(spec, 'EnvironmentLogs', { days: 'two' })).toEqual([
      'EnvironmentLogs.days: expected an integer',
    ]);
    expect(specViolations(spec, 'Redirect', {})).toEqual(['Redirect.redirect: required']);
  });

  it('startup fails against a spec without a definition the delivery answers use', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cm-spec-'));
    const path = join(dir, 'api.yaml');
    writeFileSync(
      path,
      readFileSync(DEFAULT_SPEC_PATH, 'utf8').replace(/\n {2}EnvironmentLogs:\n/, '\n  EnvironmentLogsRenamed:\n'),
    );
    await expect(startCloudManagerStandin({ specPath: path })).rejects.toThrow(/EnvironmentLogs/);
  });
});

describe('Cloud Manager stand-in: restart, pipelines, logs', () => {
  // A clock that moves only when told: status transitions and execution times are exact.
  let t = Date.UTC(2026, 11, 1, 10, 0, 0);
  const clock = { now: () => t, advance: (ms: number) => void (t += ms) };
  let cm: CloudManagerStandin;
  let client: CloudManagerClient;

  beforeAll(async () => {
    cm = await startCloudManagerStandin({
      apiKey: 'k',
      orgId: 'O@AdobeOrg',
      isValidToken: (t) => t === TOKEN,
      now: () => clock.now(),
      updateDurationMs: 10 * 60_000,
      environments: [
        { programId: P, environmentId: DEV },
        { programId: P, environmentId: STAGE, type: 'stage' },
      ],
    });
    client = new CloudManagerClient({
      endpoint: cm.url,
      apiKey: 'k',
      orgId: 'O@AdobeOrg',
      token: async () => TOKEN,
      timeoutMs: 2_000,
      retries: 0,
      baseDelayMs: 1,
    });
  });
  afterAll(async () => {
    await cm.close();
  });

  const patch = () =>
    client.patchVariables(P, DEV, [{ name: 'SECRET_X', value: 'value-123456', type: 'secretString' }]);

  it('after a PATCH the environment is updating for the configured time on the stand-in clock, refusing PATCH, then ready', async () => {
    expect((await client.getEnvironment(P, DEV)).status).toBe('ready');
    const patchedAt = clock.now();
    await patch();
    expect(cm.patches.filter((x) => x.environmentId === DEV)).toEqual([
      { programId: P, environmentId: DEV, at: patchedAt, names: ['SECRET_X'] },
    ]);
    expect((await client.getEnvironment(P, DEV)).status).toBe('updating');
    await expect(patch()).rejects.toMatchObject({ code: 'CM_BUSY', status: 412 });
    clock.advance(9 * 60_000);
    expect(cm.environmentStatus(P, DEV)).toBe('updating');
    clock.advance(60_000);
    expect((await client.getEnvironment(P, DEV)).status).toBe('ready');
    cm.setUpdateDuration(0);
    await patch();
    expect((await client.getEnvironment(P, DEV)).status).toBe('ready');
    // The refused PATCH is not a restart.
    expect(cm.patches.filter((x) => x.environmentId === DEV)).toHaveLength(2);
    cm.setUpdating(P, DEV, 1_000);
    expect((await client.getEnvironment(P, DEV)).status).toBe('updating');
    clock.advance(1_000);
    expect(cm.environmentStatus(P, DEV)).toBe('ready');
  });

  it('an environment status must be one of the spec', async () => {
    expect(() => cm.setEnvironmentStatus(P, STAGE, 'sleeping')).toThrow(/not an environment status of the spec/);
    cm.setEnvironmentStatus(P, STAGE, 'deploy_failed');
    expect((await client.getEnvironment(P, STAGE)).status).toBe('deploy_failed');
    cm.setEnvironmentStatus(P, STAGE, 'ready');
  });

  it('a running pipeline is listed BUSY against its environment, blocks PATCH there only, and ends', async () => {
    const toStage = cm.addPipeline(P, { name: 'stage deploy', deploysTo: [STAGE] });
    cm.addPipeline(P, { name: 'dev deploy', deploysTo: [DEV] });
    const executionId = cm.startExecution(P, toStage);
    const listed = await client.listPipelines(P);
    expect(listed.find((p) => p.id === toStage)).toMatchObject({
      status: 'BUSY',
      phases: expect.arrayContaining([{ name: `DEPLOY ${STAGE}`, type: 'DEPLOY', environmentId: STAGE }]),
    });
    await expect(findRunningExecution(client, P, STAGE)).resolves.toMatchObject({
      pipelineId: toStage,
      executionId,
      status: 'RUNNING',
    });
    await expect(findRunningExecution(client, P, DEV)).resolves.toBeUndefined();
    await expect(
      client.patchVariables(P, STAGE, [{ name: 'SECRET_X', value: 'value-123456', type: 'secretString' }]),
    ).rejects.toMatchObject({ code: 'CM_BUSY' });
    await patch();

    clock.advance(60_000);
    cm.setExecutionStatus(P, toStage, 'FINISHED');
    const current = await client.currentExecution(P, toStage);
    expect(current).toMatchObject({
      id: executionId,
      status: 'FINISHED',
      finishedAt: new Date(clock.now()).toISOString(),
    });
    await expect(findRunningExecution(client, P, STAGE)).resolves.toBeUndefined();
    const second = cm.startExecution(P, toStage, 'NOT_STARTED');
    expect((await client.listExecutions(P, toStage)).map((e) => e.id)).toEqual([second, executionId]);
    cm.setExecutionStatus(P, toStage, 'CANCELLED');
    await client.patchVariables(P, STAGE, [{ name: 'SECRET_X', value: 'value-123456', type: 'secretString' }]);
  });

  it('logs: day files listed per service with download links, a tail link on the current day only', async () => {
    const today = new Date(clock.now()).toISOString().slice(0, 10);
    const yesterday = new Date(clock.now() - 86_400_000).toISOString().slice(0, 10);
    cm.appendLog(P, DEV, 'author', { at: clock.now() - 86_400_000, message: 'yesterday line' });
    cm.appendLog(P, DEV, 'author', {
      message: 'Failed messaging: javax.mail.AuthenticationFailedException: 535 5.7.3 Authentication unsuccessful',
    });
    cm.appendLog(P, DEV, 'publish', 'a raw publish line');
    const files = await client.listLogs(P, DEV, { service: 'author', name: 'aemerror', days: 2 });
    expect(files.map((f) => [f.date, f.tailHref !== undefined])).toEqual([
      [today, true],
      [yesterday, false],
    ]);
    expect(await client.listLogs(P, DEV, { service: 'author', name: 'aemerror', days: 1 })).toHaveLength(1);
    const tail = new URL(files[0]!.tailHref!);
    expect(tail.origin).toBe(cm.logFiles.url);
    expect(tail.origin).not.toBe(new URL(cm.url).origin);

    const url = await client.logFileLocation(P, DEV, { service: 'author', name: 'aemerror', date: today });
    expect(url.origin).toBe(cm.logFiles.url);
    const gz = await request(url);
    expect(gz.statusCode).toBe(200);
    const text = gunzipSync(Buffer.from(await gz.body.arrayBuffer())).toString('utf8');
    expect(text).toMatch(
      /^\d{2}\.\d{2}\.\d{4} \d{2}:\d{2}:\d{2}\.\d{3} \*ERROR\* \[qtp1234-56\] com\.day\.cq\.mailer\.impl\.DefaultMailService Failed messaging: javax\.mail\.AuthenticationFailedException: 535/,
    );
    expect(Buffer.byteLength(text)).toBe(cm.logSize(P, DEV, 'author', today));
    // Without Accept: application/json the API answers 307 to the same storage host.
    const raw = await request(
      `${cm.url}/api/program/${P}/environment/${DEV}/logs/download?service=author&name=aemerror&date=${today}`,
      {
        headers: { authorization: `Bearer ${TOKEN}`, 'x-api-key': 'k', 'x-gw-ims-org-id': 'O@AdobeOrg' },
      },
    );
    await raw.body.dump();
    expect(raw.statusCode).toBe(307);
    expect(new URL(String(raw.headers.location)).origin).toBe(cm.logFiles.url);
  });

  it('logs: tail link with Range (206, 416 with the size), a forged signature is 403, missing parameters 400', async () => {
    const today = new Date(clock.now()).toISOString().slice(0, 10);
    const size = cm.logSize(P, DEV, 'author', today);
    const [file] = await client.listLogs(P, DEV, { service: 'author', name: 'aemerror', days: 1 });
    const tail = file!.tailHref!;
    const part = await request(tail, { headers: { range: 'bytes=0-9' } });
    expect([part.statusCode, part.headers['content-range'], (await part.body.text()).length]).toEqual([
      206,
      `bytes 0-9/${size}`,
      10,
    ]);
    const none = await request(tail, { headers: { range: `bytes=${size}-` } });
    await none.body.dump();
    expect([none.statusCode, none.headers['content-range']]).toEqual([416, `bytes */${size}`]);
    const forged = await request(tail.replace(/sig=[^&]+/, 'sig=forged'));
    await forged.body.dump();
    expect(forged.statusCode).toBe(403);
    const bad = await request(`${cm.url}/api/program/${P}/environment/${DEV}/logs?service=author`, {
      headers: { authorization: `Bearer ${TOKEN}`, 'x-api-key': 'k', 'x-gw-ims-org-id': 'O@AdobeOrg' },
    });
    expect(bad.statusCode).toBe(400);
    expect(
      ((await bad.body.json()) as { missingParams: Array<{ name: string }> }).missingParams.map((m) => m.name),
    ).toEqual(['name', 'days']);
    const noAuth = await request(
      `${cm.url}/api/program/${P}/environment/${DEV}/logs?service=author&name=aemerror&days=1`,
    );
    await noAuth.body.dump();
    expect(noAuth.statusCode).toBe(403);
  });

  it('faults apply to the storage routes too (503 with Retry-After on the file, then the file)', async () => {
    const today = new Date(clock.now()).toISOString().slice(0, 10);
    const url = await client.logFileLocation(P, DEV, { service: 'author', name: 'aemerror', date: today });
    cm.inject('log-file', { kind: 'status', status: 503, headers: { 'retry-after': '1' } });
    const first = await request(url);
    await first.body.dump();
    expect([first.statusCode, first.headers['retry-after']]).toEqual([503, '1']);
    const second = await request(url);
    await second.body.dump();
    expect(second.statusCode).toBe(200);
    expect(cm.faults.stats()['log-file']).toMatchObject({ faulted: 1 });
  });
});
