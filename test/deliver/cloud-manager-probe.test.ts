import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CloudManagerClient } from '../../lambdas/push/cloud-manager.ts';
import { cloudManagerProbe, cloudManagerProbeForTargets } from '../../lambdas/deliver/cloud-manager-probe.ts';
import { registerSecret } from '../../lambdas/core/redact.ts';
import { aemTimestamp, startCloudManagerStandin, type CloudManagerStandin } from '../../standins/cloudmanager.ts';
import type { EnvironmentProbe } from '../../lambdas/deliver/probe.ts';

const P = '12345';
const E = '67890';
const OTHER = '67891';
const TOKEN = 'eyJ-PROBE-IMS-TOKEN-sentinel-9A8b7C6d';
const HOUR = 3_600_000;
const AUTH_ERROR =
  'Error sending mail: javax.mail.AuthenticationFailedException: 535 5.7.3 Authentication unsuccessful [AM0PR01CA0001.eurprd01.prod.exchangelabs.com]';

// A clock that moves only when told: status transitions, log days and line timestamps follow it.
let t = Date.UTC(2026, 11, 1, 10, 0, 0);
const day = (ms = t) => new Date(ms).toISOString().slice(0, 10);

let cm: CloudManagerStandin;
let probe: EnvironmentProbe;
const far = () => Date.now() + 60_000;

beforeAll(async () => {
  cm = await startCloudManagerStandin({
    apiKey: 'k',
    orgId: 'O@AdobeOrg',
    isValidToken: (x) => x === TOKEN,
    now: () => t,
    environments: [
      { programId: P, environmentId: E },
      { programId: P, environmentId: OTHER },
    ],
  });
  const client = new CloudManagerClient({
    endpoint: cm.url,
    apiKey: 'k',
    orgId: 'O@AdobeOrg',
    token: async () => TOKEN,
    timeoutMs: 5_000,
    retries: 3,
    baseDelayMs: 1,
    maxDelayMs: 5,
  });
  probe = cloudManagerProbe({ client }, { now: () => new Date(t) });
});
afterAll(async () => {
  await cm.close();
});

/** Each test works on a day of its own, so files of other tests do not interfere. */
beforeEach(() => {
  t += 3 * 86_400_000;
});

const scan = (p: Partial<Parameters<EnvironmentProbe['scanMailLog']>[2]> = {}) =>
  probe.scanMailLog(P, E, {
    services: ['author'],
    since: new Date(t - HOUR),
    maxBytes: 50_000_000,
    deadlineMs: far(),
    ...p,
  });

describe('environment status and running pipelines through the probe', () => {
  it('follows the restart after a PATCH: updating for the configured time, then ready', async () => {
    cm.setUpdateDuration(5 * 60_000);
    const client = new CloudManagerClient({
      endpoint: cm.url,
      apiKey: 'k',
      orgId: 'O@AdobeOrg',
      token: async () => TOKEN,
      timeoutMs: 5_000,
      retries: 0,
    });
    await client.patchVariables(P, E, [
      { name: 'SECRET_SMTP_OAUTH_REFRESH_TOKEN', value: 'refresh-value-123456', type: 'secretString' },
    ]);
    expect(await probe.environmentStatus(P, E)).toBe('updating');
    t += 4 * 60_000;
    expect(await probe.environmentStatus(P, E)).toBe('updating');
    t += 60_000;
    expect(await probe.environmentStatus(P, E)).toBe('ready');
    cm.setUpdateDuration(0);
  });

  it('finds a running pipeline deploying to the environment and ignores one deploying elsewhere', async () => {
    const other = cm.addPipeline(P, { deploysTo: [OTHER] });
    cm.startExecution(P, other);
    expect(await probe.runningPipeline(P, E)).toBeUndefined();
    const mine = cm.addPipeline(P, { deploysTo: [E] });
    const execution = cm.startExecution(P, mine);
    expect(await probe.runningPipeline(P, E)).toEqual({ pipelineId: mine, executionId: execution, status: 'RUNNING' });
    cm.setExecutionStatus(P, mine, 'FINISHED');
    cm.setExecutionStatus(P, other, 'FINISHED');
    expect(await probe.runningPipeline(P, E)).toBeUndefined();
  });
});

describe('mail-auth failures in AEM log', () => {
  it('finds a failure written after since and not one before it; other loggers and other errors are ignored', async () => {
    cm.appendLog(P, E, 'author', { at: t - 2 * HOUR, message: `before since: ${AUTH_ERROR}` });
    cm.appendLog(P, E, 'author', {
      at: t - 30 * 60_000,
      logger: 'com.adobe.granite.auth.oauth.impl.Something',
      message: 'authentication failed for some other reason',
    });
    cm.appendLog(P, E, 'author', { at: t - 20 * 60_000, message: 'Mail sent to 3 recipients' });
    cm.appendLog(P, E, 'author', { at: t - 15 * 60_000, message: 'Mail sent to 535 recipients in 535 ms' });
    cm.appendLog(P, E, 'author', { at: t - 10 * 60_000, message: AUTH_ERROR });
    const r = await scan();
    expect(r.cutShort).toBe(false);
    expect(r.failures).toHaveLength(1);
    expect(r.failures[0]).toContain(`author: ${aemTimestamp(t - 10 * 60_000)} *ERROR*`);
    expect(r.failures[0]).toContain('AuthenticationFailedException: 535 5.7.3');
    expect(r.cursor.author).toEqual({ date: day(), offset: cm.logSize(P, E, 'author', day()) });
    expect(r.bytesRead).toBe(cm.logSize(P, E, 'author', day()));
  });

  it('attributes a stack-trace line to its mailer entry; invalid_grant and AADSTS codes count', async () => {
    cm.appendLog(P, E, 'author', {
      at: t - 5 * 60_000,
      logger: 'com.day.cq.mailer.impl.CqMailingService',
      message: 'Could not send the message',
    });
    cm.appendLog(P, E, 'author', '\tat javax.mail.Service.connect(Service.java:388)');
    cm.appendLog(
      P,
      E,
      'author',
      'Caused by: javax.mail.AuthenticationFailedException: 535 5.7.3 Authentication unsuccessful',
    );
    cm.appendLog(P, E, 'author', {
      at: t - 4 * 60_000,
      logger: 'com.day.cq.mailer.oauth.impl.OAuthTokenRefresher',
      message: 'token refresh failed: invalid_grant AADSTS700082: The refresh token has expired due to inactivity.',
    });
    const r = await scan();
    expect(r.failures).toHaveLength(2);
    expect(r.failures[0]).toMatch(
      /Could not send the message \| Caused by: javax\.mail\.AuthenticationFailedException: 535/,
    );
    expect(r.failures[1]).toContain('AADSTS700082');
  });

  it('resumes from the cursor and reads only the new bytes (Range on the tail link)', async () => {
    for (let i = 0; i < 200; i++)
      cm.appendLog(P, E, 'author', {
        at: t - HOUR + i,
        level: 'INFO',
        logger: 'org.apache.sling.Something',
        message: `line ${i}`,
      });
    const first = await scan();
    const size1 = cm.logSize(P, E, 'author', day());
    expect([first.bytesRead, first.failures, first.cursor.author]).toEqual([size1, [], { date: day(), offset: size1 }]);
    // A line still being written (no newline yet) is not consumed.
    cm.appendLog(P, E, 'author', { at: t - 60_000, message: AUTH_ERROR });
    const sentBefore = cm.logFiles.bytesSent['log-tail'] ?? 0;
    const second = await scan({ cursor: first.cursor });
    const size2 = cm.logSize(P, E, 'author', day());
    expect(second.bytesRead).toBe(size2 - size1);
    expect((cm.logFiles.bytesSent['log-tail'] ?? 0) - sentBefore).toBe(size2 - size1);
    expect(second.failures).toHaveLength(1);
    expect(second.cursor.author).toEqual({ date: day(), offset: size2 });
    const third = await scan({ cursor: second.cursor });
    expect([third.bytesRead, third.failures, third.cutShort]).toEqual([0, [], false]);
    const lastTail = cm.logFiles.requests.filter((r) => r.route === 'log-tail').at(-1);
    expect(lastTail?.headers.range).toBe(`bytes=${size2}-${size2 + 50_000_000 - 1}`);
  });

  it('a line cut by the end of the file so far is read whole by the next check', async () => {
    const line = `${aemTimestamp(t - 60_000)} *ERROR* [qtp1-1] com.day.cq.mailer.impl.DefaultMailService ${AUTH_ERROR}`;
    cm.appendLog(P, E, 'author', { at: t - 2 * 60_000, level: 'INFO', logger: 'x.Y', message: 'start' });
    const half = line.slice(0, 60);
    await cm.appendLogStream(P, E, 'author', day(), [half]);
    const first = await scan();
    expect(first.failures).toEqual([]);
    expect(first.cursor.author!.offset).toBe(cm.logSize(P, E, 'author', day()) - half.length);
    await cm.appendLogStream(P, E, 'author', day(), [`${line.slice(60)}\n`]);
    const second = await scan({ cursor: first.cursor });
    expect(second.failures).toHaveLength(1);
    expect(second.failures[0]).toContain('535 5.7.3');
  });

  it('a finished day is read from its gzip file (skipping what was read) and the cursor moves on to today', async () => {
    const yesterday = day(t - 86_400_000);
    cm.appendLog(P, E, 'author', { at: t - 86_400_000, level: 'INFO', logger: 'x.Y', message: 'read already' });
    const readUpTo = cm.logSize(P, E, 'author', yesterday);
    cm.appendLog(P, E, 'author', { at: t - 86_400_000 + 1_000, message: AUTH_ERROR });
    cm.appendLog(P, E, 'author', { at: t - 60_000, level: 'INFO', logger: 'x.Y', message: 'today' });
    const r = await scan({
      since: new Date(t - 2 * 86_400_000),
      cursor: { author: { date: yesterday, offset: readUpTo } },
    });
    expect(r.failures).toHaveLength(1);
    expect(r.failures[0]).toContain(aemTimestamp(t - 86_400_000 + 1_000));
    expect(r.cursor.author).toEqual({ date: day(), offset: cm.logSize(P, E, 'author', day()) });
    const downloads = cm.logFiles.requests.filter((q) => q.route === 'log-file');
    expect(downloads.at(-1)?.path).toContain(yesterday);
  });

  it('the byte bound cuts the scan short and says so; continuing from the cursor reaches the failure', async () => {
    for (let i = 0; i < 2_000; i++)
      cm.appendLog(P, E, 'author', {
        at: t - HOUR + i,
        level: 'INFO',
        logger: 'org.apache.sling.Filler',
        message: `filler ${i} ${'x'.repeat(80)}`,
      });
    cm.appendLog(P, E, 'author', { at: t - 60_000, message: AUTH_ERROR });
    const size = cm.logSize(P, E, 'author', day());
    let cursor: Record<string, { date: string; offset: number }> | undefined;
    const found: string[] = [];
    let rounds = 0;
    for (;;) {
      const r = await scan({ cursor, maxBytes: 64 * 1024 });
      rounds++;
      expect(r.bytesRead).toBeLessThanOrEqual(64 * 1024);
      found.push(...r.failures);
      cursor = r.cursor;
      if (!r.cutShort) break;
      expect(r.cursor.author!.offset).toBeLessThan(size);
    }
    expect(rounds).toBe(Math.ceil(size / (64 * 1024)) + (size % (64 * 1024) === 0 ? 1 : 0));
    expect(found).toHaveLength(1);
    expect(cursor?.author?.offset).toBe(size);
  });

  it('a finished day whose gzip cannot be read up to the cursor within the budget is given up, cut short, and the checks go on', async () => {
    const yesterday = day(t - 86_400_000);
    // Random text: gzip cannot shrink it much, so the compressed bytes before the cursor exceed the budget.
    for (let i = 0; i < 2_000; i++)
      cm.appendLog(P, E, 'author', {
        at: t - 86_400_000 + i,
        level: 'INFO',
        logger: 'x.Y',
        message: randomBytes(60).toString('hex'),
      });
    const cursorAt = cm.logSize(P, E, 'author', yesterday);
    cm.appendLog(P, E, 'author', { at: t - 86_400_000 + 5_000, message: `${AUTH_ERROR} (yesterday, unread)` });
    cm.appendLog(P, E, 'author', { at: t - 60_000, message: `${AUTH_ERROR} (today)` });
    const since = new Date(t - 2 * 86_400_000);
    const stuck = await scan({ since, cursor: { author: { date: yesterday, offset: cursorAt } }, maxBytes: 64 * 1024 });
    expect([stuck.cutShort, stuck.failures, stuck.cursor.author]).toEqual([true, [], { date: day(), offset: 0 }]);
    const next = await scan({ since, cursor: stuck.cursor, maxBytes: 64 * 1024 });
    expect(next.cutShort).toBe(false);
    expect(next.failures).toEqual([expect.stringContaining('(today)')]);
  });

  it('the deadline cuts the scan short: one already passed, and one hit while the storage host is slow', async () => {
    cm.appendLog(P, E, 'author', { at: t - 60_000, message: AUTH_ERROR });
    const passed = await scan({ deadlineMs: Date.now() - 1 });
    expect([passed.cutShort, passed.bytesRead, passed.failures]).toEqual([true, 0, []]);
    cm.inject('log-tail', { kind: 'delay', ms: 3_000 });
    const started = Date.now();
    const slow = await scan({ deadlineMs: Date.now() + 500 });
    expect(Date.now() - started).toBeLessThan(2_500);
    expect(slow.cutShort).toBe(true);
    expect(slow.cursor.author).toEqual({ date: day(), offset: 0 });
  });

  it('sends neither the IMS token nor the API key to the storage host, and retries its 429 with Retry-After and 5xx', async () => {
    cm.appendLog(P, E, 'author', { at: t - 60_000, message: AUTH_ERROR });
    cm.inject('log-tail', { kind: 'status', status: 503 });
    cm.inject('log-tail', { kind: 'status', status: 429, headers: { 'retry-after': '1' } });
    const seen = cm.logFiles.requests.length;
    const started = Date.now();
    const r = await scan();
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(r.failures).toHaveLength(1);
    const toStorage = cm.logFiles.requests.slice(seen);
    expect(toStorage.map((q) => q.status)).toEqual([503, 429, 206]);
    // The gzip route too.
    await scan({ since: new Date(t - 86_400_000 * 2), cursor: { author: { date: day(t - 86_400_000), offset: 0 } } });
    cm.appendLog(P, E, 'author', { at: t - 86_400_000, level: 'INFO', logger: 'x.Y', message: 'yesterday' });
    await scan({ since: new Date(t - 86_400_000 * 2) });
    for (const q of cm.logFiles.requests) {
      expect(q.headers.authorization).toBeUndefined();
      expect(q.headers['x-api-key']).toBeUndefined();
      expect(q.headers['x-gw-ims-org-id']).toBeUndefined();
      expect(JSON.stringify(q.headers) + q.query).not.toContain(TOKEN);
    }
    expect(cm.logFiles.requests.some((q) => q.route === 'log-file')).toBe(true);
  });

  it('a connection dropped midway is resumed from the last complete line; one that keeps failing is cut short, not lost', async () => {
    for (let i = 0; i < 3_000; i++)
      cm.appendLog(P, E, 'author', {
        at: t - HOUR + i,
        level: 'INFO',
        logger: 'org.apache.sling.Filler',
        message: `filler ${i} ${'y'.repeat(60)}`,
      });
    cm.appendLog(P, E, 'author', { at: t - 60_000, message: AUTH_ERROR });
    const size = cm.logSize(P, E, 'author', day());
    cm.inject('log-tail', { kind: 'truncated' });
    const seen = cm.logFiles.requests.length;
    const r = await scan();
    expect([r.cutShort, r.failures.length, r.cursor.author]).toEqual([false, 1, { date: day(), offset: size }]);
    const ranges = cm.logFiles.requests
      .slice(seen)
      .map((q) => Number(/^bytes=(\d+)-/.exec(String(q.headers.range))?.[1]));
    expect(ranges).toHaveLength(2);
    expect(ranges[0]).toBe(0);
    // The second read starts after the data of the first, at a line boundary: nothing was read twice in full.
    expect(ranges[1]).toBeGreaterThan(0);
    expect(r.bytesRead).toBeLessThan(size + 64 * 1024);

    cm.appendLog(P, E, 'author', { at: t - 30_000, message: `${AUTH_ERROR} again` });
    cm.inject('log-tail', { kind: 'reset' }, 4);
    await expect(scan({ cursor: r.cursor })).rejects.toMatchObject({ code: 'CM_LOG_UNAVAILABLE', class: 'transient' });
    cm.faults.clear('log-tail');
  });

  it("without tail links today's file is read as gzip, skipping what the cursor says was read", async () => {
    cm.setTailLinks(false);
    try {
      cm.appendLog(P, E, 'author', { at: t - 30 * 60_000, message: `${AUTH_ERROR} (first)` });
      const first = await scan();
      expect(first.failures).toEqual([expect.stringContaining('(first)')]);
      const size1 = cm.logSize(P, E, 'author', day());
      expect(first.cursor.author).toEqual({ date: day(), offset: size1 });
      cm.appendLog(P, E, 'author', { at: t - 10 * 60_000, message: `${AUTH_ERROR} (second)` });
      const second = await scan({ cursor: first.cursor });
      expect(second.failures).toEqual([expect.stringContaining('(second)')]);
      expect(second.cursor.author).toEqual({ date: day(), offset: cm.logSize(P, E, 'author', day()) });
      expect(cm.logFiles.requests.at(-1)?.route).toBe('log-file');
    } finally {
      cm.setTailLinks(true);
    }
  });

  it('no returned line holds a secret: registered ones whole or in part, and token-like text nobody registered', async () => {
    const refresh = '0.AUEA6Wg7sJ3nZkqLmPqRsTuVwXyZ0123456789abcdefGHIJKLmnopQRSTuvwxYZ_-0987654321AbCdEf';
    const secret = 'Q8x~abcDEF123ghiJKL456mnoPQR789stu';
    const access =
      'eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJodHRwczovL291dGxvb2sub2ZmaWNlLmNvbSJ9.Sig1234abcdEFGH5678ijkl';
    for (const s of [refresh, secret]) registerSecret(s);
    const unregistered = 'M.C5E2_BAY.0.U.-CmQv8cH9ZzXyWkLm3Pq7Rs2Tu!Vw4$XyZ';
    const lines = [
      `token refresh failed: invalid_grant for refresh_token=${refresh}`,
      `535 5.7.3 Authentication unsuccessful; sent AUTH XOAUTH2 ${Buffer.from(`user=a\u0001auth=Bearer ${access}\u0001\u0001`).toString('base64')}`,
      `AADSTS7000215: Invalid client secret provided (${secret.slice(0, 20)}...)`,
      `authentication failed with Authorization: Bearer ${access}`,
      `authentication failed, token was ${refresh.slice(10, 50)}`,
      `invalid_grant {"refresh_token":"${refresh}","client_secret":"${secret}"}`,
      `invalid_grant unregistered token ${unregistered} and access ${access.slice(0, 40)}`,
      `authentication failed password=${secret.slice(4)}&user=mailer@example.com`,
    ];
    for (const [i, message] of lines.entries()) cm.appendLog(P, E, 'author', { at: t - 30_000 + i, message });
    cm.appendLog(P, E, 'publish', { at: t - 30_000, message: `authentication failed ${refresh}` });
    const r = await probe.scanMailLog(P, E, {
      services: ['author', 'publish'],
      since: new Date(t - HOUR),
      maxBytes: 1_000_000,
      deadlineMs: far(),
    });
    expect(r.failures.filter((l) => l.startsWith('author: '))).toHaveLength(3);
    expect(r.failures.filter((l) => l.startsWith('publish: '))).toHaveLength(1);
    // All lines, not only the few returned: the same redaction must hold for each.
    const everything = await cloudManagerProbe(
      {
        client: new CloudManagerClient({
          endpoint: cm.url,
          apiKey: 'k',
          orgId: 'O@AdobeOrg',
          token: async () => TOKEN,
          timeoutMs: 5_000,
          retries: 0,
        }),
      },
      { now: () => new Date(t), maxLinesPerService: 50 },
    ).scanMailLog(P, E, {
      services: ['author', 'publish'],
      since: new Date(t - HOUR),
      maxBytes: 1_000_000,
      deadlineMs: far(),
    });
    expect(everything.failures).toHaveLength(lines.length + 1);
    const pieces = (s: string) => Array.from({ length: Math.max(1, s.length - 11) }, (_, i) => s.slice(i, i + 12));
    for (const line of everything.failures) {
      for (const s of [refresh, secret, access, unregistered, TOKEN])
        for (const piece of pieces(s))
          expect(line.includes(piece), 'a piece of a secret in a returned line').toBe(false);
      expect(line).toContain('[REDACTED]');
    }
  });
});

describe('probe over several Adobe organizations', () => {
  it('each program is read through the connection of its configured organization; an unknown program is refused', async () => {
    const a = await startCloudManagerStandin({
      apiKey: 'ka',
      orgId: 'A@AdobeOrg',
      environments: [{ programId: '1', environmentId: '10' }],
    });
    const b = await startCloudManagerStandin({
      apiKey: 'kb',
      orgId: 'B@AdobeOrg',
      environments: [{ programId: '2', environmentId: '20', status: 'updating' }],
    });
    try {
      const connect = (url: string, apiKey: string, orgId: string) => ({
        client: new CloudManagerClient({
          endpoint: url,
          apiKey,
          orgId,
          token: async () => TOKEN,
          timeoutMs: 5_000,
          retries: 0,
        }),
      });
      const byOrg = { a: connect(a.url, 'ka', 'A@AdobeOrg'), b: connect(b.url, 'kb', 'B@AdobeOrg') };
      const targets = [
        { programId: '1', adobe: 'a' },
        { programId: '2', adobe: 'b' },
      ];
      const multi = cloudManagerProbeForTargets(targets, { forTarget: (x) => byOrg[x.adobe as 'a' | 'b'] });
      expect(await multi.environmentStatus('1', '10')).toBe('ready');
      expect(await multi.environmentStatus('2', '20')).toBe('updating');
      expect(await multi.runningPipeline('2', '20')).toBeUndefined();
      expect(a.requests.map((r) => r.path)).toEqual(['/api/program/1/environment/10']);
      expect(b.requests.map((r) => r.path)).toEqual(['/api/program/2/environment/20', '/api/program/2/pipelines']);
      await expect(multi.environmentStatus('3', '30')).rejects.toMatchObject({ code: 'CM_NOT_CONFIGURED' });
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
});
