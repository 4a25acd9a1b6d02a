/**
 * EnvironmentProbe over Cloud Manager: environment status, the running-pipeline check, and the streamed, bounded,
 * resumable scan of AEM's error log for mail OAuth failures.
 *
 * How a LogCursor's offset works. It is a byte position in the uncompressed log file of its UTC day, the same
 * coordinate whichever way the file is read:
 * - the tail link of the file being written is read from the offset with a Range request bounded by the byte budget,
 *   so a daily check downloads only what AEM wrote since the last one. The listing gives the link; Adobe's
 *   aio-lib-cloudmanager `tailLog` reads it with `Range: bytes=N-`, 206 for new bytes and 416 for none
 *   (https://github.com/adobe/aio-lib-cloudmanager/blob/main/src/index.js);
 * - a file without a tail link (a finished day, or any day if Cloud Manager gives none) is read from the gzip file
 *   logs/download redirects to. A gzip stream cannot be entered in the middle (deflate needs everything before), so it
 *   is downloaded and decompressed from the start and the bytes before the offset are skipped. That is the price of
 *   the lines a day got after its last check: the next check reads that day's gzip once, then moves the cursor to the
 *   next day. When even reaching the offset costs more than the byte budget, the rest of that day is given up
 *   (cutShort) rather than stopping every later check at the same place.
 * Only complete lines move the cursor: a line AEM is still writing is read whole by the next check.
 * `bytesRead` counts bytes received from the storage host (compressed for gzip), which is what the byte bound limits.
 * `cutShort` is set when the byte bound or the deadline stopped the scan, and also when the storage host kept dropping
 * the connection after some lines were examined (those stand; the next check goes on from the cursor).
 */
import { pipeline } from 'node:stream/promises';
import { Transform, Writable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { RefresherError } from '../core/errors.ts';
import type { CloudManagerClient, CmLogFile } from '../push/cloud-manager.ts';
import { openLogFile } from '../push/cloud-manager-logs.ts';
import { findRunningExecution } from '../push/cloud-manager-pipelines.ts';
import type { Target } from '../config/schema.ts';
import type { LogCursor } from '../store/state-store.ts';
import { MailAuthScanner } from './aem-log.ts';
import type { AemService, EnvironmentProbe, MailLogScan, RunningPipeline } from './probe.ts';

export interface CloudManagerProbeOptions {
  /** The clock the log days are counted on (the year simulation passes its own). Default: the real one. */
  now?: () => Date;
  /** AEM log name; default aemerror. */
  logName?: string;
  /** Failure lines returned per service; default 3. */
  maxLinesPerService?: number;
  /** How many days back a scan may start (Cloud Manager keeps about a week of logs); default 7. */
  maxDays?: number;
}

type ProbeClient = Pick<
  CloudManagerClient,
  'getEnvironment' | 'listPipelines' | 'currentExecution' | 'listExecutions' | 'listLogs' | 'logFileLocation' | 'tuning'
>;

const DAY_MS = 86_400_000;
const utcDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);
const nextDay = (day: string) => utcDay(Date.parse(`${day}T00:00:00Z`) + DAY_MS);

/** The probe over one Cloud Manager connection (one Adobe organization): `cloudManagerProbe(connectCloudManager(...), { now })`. */
export function cloudManagerProbe(
  connection: { client: ProbeClient },
  opts: CloudManagerProbeOptions = {},
): EnvironmentProbe {
  return cloudManagerProbeFor(() => connection, opts);
}

/**
 * The probe over a run's connections, several Adobe organizations: each call goes through the connection of the
 * configured target with that program (a program belongs to exactly one organization), e.g.
 * `cloudManagerProbeForTargets(config.credentials.flatMap((c) => c.targets), connections, { now })`.
 */
export function cloudManagerProbeForTargets<T extends Pick<Target, 'adobe' | 'programId'>>(
  targets: readonly T[],
  connections: { forTarget(t: T): { client: ProbeClient } },
  opts: CloudManagerProbeOptions = {},
): EnvironmentProbe {
  const byProgram = new Map(targets.map((t) => [t.programId, t] as const));
  return cloudManagerProbeFor((programId) => {
    const t = byProgram.get(programId);
    if (!t) {
      throw new RefresherError({
        class: 'configuration',
        code: 'CM_NOT_CONFIGURED',
        remote: 'config',
        stage: 'push',
        message: `program ${programId} is not a target of the configuration, so its Adobe organization is unknown`,
        fix: 'Add the program as a target (with its "adobe" organization when there are several).',
      });
    }
    return connections.forTarget(t);
  }, opts);
}

/** The probe with the connection chosen per call. */
export function cloudManagerProbeFor(
  connectionOf: (programId: string, environmentId: string) => { client: ProbeClient },
  opts: CloudManagerProbeOptions = {},
): EnvironmentProbe {
  const clientOf = (programId: string, environmentId: string) => connectionOf(programId, environmentId).client;
  const now = opts.now ?? (() => new Date());
  const logName = opts.logName ?? 'aemerror';
  const maxLines = opts.maxLinesPerService ?? 3;
  const maxDays = opts.maxDays ?? 7;

  return {
    async environmentStatus(programId, environmentId) {
      const env = await clientOf(programId, environmentId).getEnvironment(programId, environmentId);
      if (!env.status) {
        throw new RefresherError({
          class: 'transient',
          code: 'CM_BAD_RESPONSE',
          remote: 'cloudmanager',
          stage: 'push',
          message: `Cloud Manager answered the read of program ${programId} / environment ${environmentId} without a status`,
          fix: 'Retried on the next run; if it persists, check adobe.cloudManagerEndpoint.',
        });
      }
      return env.status;
    },

    async runningPipeline(programId, environmentId): Promise<RunningPipeline | undefined> {
      const r = await findRunningExecution(clientOf(programId, environmentId), programId, environmentId);
      return r ? { pipelineId: r.pipelineId, executionId: r.executionId, status: r.status } : undefined;
    },

    async scanMailLog(programId, environmentId, p): Promise<MailLogScan> {
      const client = clientOf(programId, environmentId);
      const result: MailLogScan = { failures: [], cursor: { ...(p.cursor ?? {}) }, bytesRead: 0, cutShort: false };
      const services = [...new Set(p.services)];
      for (let i = 0; i < services.length; i++) {
        const service = services[i] as AemService;
        if (Date.now() >= p.deadlineMs || result.bytesRead >= p.maxBytes) {
          result.cutShort = true;
          break;
        }
        // An equal share of what is left, so a huge author log cannot starve publish's check.
        const share = Math.floor((p.maxBytes - result.bytesRead) / (services.length - i));
        const r = await scanService({
          client,
          programId,
          environmentId,
          service,
          logName,
          since: p.since,
          cursor: p.cursor?.[service],
          maxBytes: share,
          deadlineMs: p.deadlineMs,
          maxLines,
          maxDays,
          now: now(),
        });
        result.cursor[service] = r.cursor;
        result.bytesRead += r.bytesRead;
        result.cutShort ||= r.cutShort;
        result.failures.push(...r.failures.map((l) => `${service}: ${l}`));
      }
      return result;
    },
  };
}

interface ServiceScan {
  client: ProbeClient;
  programId: string;
  environmentId: string;
  service: string;
  logName: string;
  since: Date;
  cursor: LogCursor | undefined;
  maxBytes: number;
  deadlineMs: number;
  maxLines: number;
  maxDays: number;
  now: Date;
}

async function scanService(
  s: ServiceScan,
): Promise<{ failures: string[]; cursor: LogCursor; bytesRead: number; cutShort: boolean }> {
  const sinceDay = utcDay(s.since.getTime());
  const today = utcDay(s.now.getTime());
  let cur: LogCursor = s.cursor && s.cursor.date >= sinceDay ? { ...s.cursor } : { date: sinceDay, offset: 0 };
  const failures: string[] = [];
  let bytesRead = 0;
  const spanDays = Math.round((Date.parse(`${today}T00:00:00Z`) - Date.parse(`${cur.date}T00:00:00Z`)) / DAY_MS) + 1;
  const days = Math.min(Math.max(spanDays, 1), s.maxDays);
  const files = (await s.client.listLogs(s.programId, s.environmentId, { service: s.service, name: s.logName, days }))
    .filter((f) => f.service === s.service && f.name === s.logName && f.date >= cur.date)
    .sort((a, b) => a.date.localeCompare(b.date));
  for (const file of files) {
    let offset = file.date === cur.date ? cur.offset : 0;
    // A file of an earlier day is complete: its last line counts even without a newline.
    const finished = file.date < today;
    for (let attempt = 0; ; attempt++) {
      const budget = s.maxBytes - bytesRead;
      if (budget <= 0 || Date.now() >= s.deadlineMs) return { failures, cursor: cur, bytesRead, cutShort: true };
      // One scanner per read: a line cut at the end of one file must not be glued to the first line of the next.
      const scanner = new MailAuthScanner({ sinceMs: s.since.getTime(), maxLines: s.maxLines - failures.length });
      const r = await readFile(s, file, offset, budget, scanner, finished);
      failures.push(...scanner.failures);
      bytesRead += r.wireBytes;
      cur = !r.stopped && finished ? { date: nextDay(file.date), offset: 0 } : { date: file.date, offset: r.position };
      if (r.failed) {
        // The connection dropped midway: go on from the last complete line (the storage host serves ranges, and a
        // gzip file is read again up to there). Out of attempts, what was examined is kept and the scan is cut short;
        // with nothing examined at all, the failure is the result.
        if (attempt < s.client.tuning.retries) {
          offset = r.position;
          continue;
        }
        if (bytesRead > 0 || failures.length > 0) return { failures, cursor: cur, bytesRead, cutShort: true };
        throw r.failed;
      }
      if (r.stopped && finished && isGzip(file) && r.position <= offset && !r.deadline) {
        // Reaching the cursor in this gzip file costs more than the whole budget: every later check would stop at the
        // same place. The unread rest of that finished day is given up (said by cutShort) so the checks go on.
        cur = { date: nextDay(file.date), offset: 0 };
        return { failures, cursor: cur, bytesRead, cutShort: true };
      }
      if (r.stopped) return { failures, cursor: cur, bytesRead, cutShort: true };
      break;
    }
  }
  return { failures, cursor: cur, bytesRead, cutShort: false };
}

interface FileRead {
  /** Byte position in the uncompressed file after the last complete line examined. */
  position: number;
  wireBytes: number;
  /** The byte budget or the deadline ended the read before the end of the file. */
  stopped: boolean;
  /** The storage host's connection failed midway (what was examined up to `position` stands). */
  failed?: RefresherError;
  /** The deadline (not the byte budget) stopped it. */
  deadline?: boolean;
}

const isGzip = (file: CmLogFile) => !file.tailHref;

/** Counts bytes off the wire; once the budget is spent it calls `stop` (which destroys the body) and passes nothing more. */
class WireMeter extends Transform {
  bytes = 0;
  overBudget = false;
  readonly #budget: number;
  readonly #stop: () => void;
  constructor(budget: number, stop: () => void) {
    super();
    this.#budget = budget;
    this.#stop = stop;
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null, d?: Buffer) => void): void {
    if (this.overBudget) return cb();
    const room = this.#budget - this.bytes;
    if (chunk.length > room) {
      this.overBudget = true;
      this.bytes += room;
      if (room > 0) this.push(chunk.subarray(0, room));
      cb();
      this.#stop();
      return;
    }
    this.bytes += chunk.length;
    cb(null, chunk);
  }
}

async function readFile(
  s: ServiceScan,
  file: CmLogFile,
  offset: number,
  budget: number,
  scanner: MailAuthScanner,
  finished: boolean,
): Promise<FileRead> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), Math.max(0, s.deadlineMs - Date.now()));
  try {
    const tuning = { ...s.client.tuning, signal: abort.signal };
    const gz = !file.tailHref;
    let url: URL;
    let res: Awaited<ReturnType<typeof openLogFile>>;
    let from = offset;
    try {
      url = file.tailHref
        ? new URL(file.tailHref)
        : await s.client.logFileLocation(s.programId, s.environmentId, {
            service: s.service,
            name: s.logName,
            date: file.date,
          });
      res = await openLogFile({
        ...tuning,
        url,
        ...(gz ? {} : { range: { start: offset, end: offset + budget - 1 } }),
      });
      if (res.status === 416 && res.total !== undefined && res.total < offset) {
        // The file is shorter than where we stopped: it was replaced. Read it from the start.
        from = 0;
        res = await openLogFile({ ...tuning, url, range: { start: 0, end: budget - 1 } });
      }
    } catch (e) {
      if (abort.signal.aborted) return { position: offset, wireBytes: 0, stopped: true, deadline: true };
      throw e;
    }
    if (res.status === 404 || res.status === 416 || !res.body) return { position: from, wireBytes: 0, stopped: false };
    // A 206 starts at the range start; a 200 (gzip, or a server that ignored Range) at byte 0 and `from` is skipped.
    const startsAt = res.status === 206 ? res.start : 0;
    let skip = Math.max(0, from - startsAt);
    const feedStart = startsAt + skip;
    const body = res.body;
    const meter = new WireMeter(budget, () => body.destroy());
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        if (skip > 0) {
          if (chunk.length <= skip) {
            skip -= chunk.length;
            return cb();
          }
          chunk = chunk.subarray(skip);
          skip = 0;
        }
        scanner.push(chunk);
        cb();
      },
    });
    let aborted = false;
    let failed: RefresherError | undefined;
    try {
      await (gz
        ? pipeline(body, meter, createGunzip(), sink, { signal: abort.signal })
        : pipeline(body, meter, sink, { signal: abort.signal }));
    } catch (e) {
      // Our own stops (deadline, byte budget) end the streams early; what the scanner examined up to then stands.
      if (abort.signal.aborted) aborted = true;
      else if (!meter.overBudget) failed = readFailure(url, e);
    }
    const moreOnServer = res.status === 206 && res.total !== undefined && startsAt + meter.bytes < res.total;
    const stopped = aborted || meter.overBudget || moreOnServer || failed !== undefined;
    if (!stopped && finished) scanner.finish();
    return {
      position: feedStart + scanner.consumed,
      wireBytes: meter.bytes,
      stopped,
      ...(failed ? { failed } : {}),
      ...(aborted ? { deadline: true } : {}),
    };
  } finally {
    clearTimeout(timer);
  }
}

function readFailure(url: URL, e: unknown): RefresherError {
  if (e instanceof RefresherError) return e;
  const err = e as { code?: string; name?: string };
  const code = err.code ?? err.name ?? 'ERROR';
  const corrupt = code.startsWith('Z_') || code === 'ERR_ZLIB';
  return new RefresherError({
    class: 'transient',
    code: corrupt ? 'CM_LOG_CORRUPT' : 'CM_LOG_UNAVAILABLE',
    remote: 'cloudmanager',
    stage: 'push',
    message: corrupt
      ? `the AEM log file from ${url.host} is not valid gzip (${code})`
      : `reading the AEM log file from ${url.host} failed midway (${code})`,
    fix: 'The next check reads again from the stored position; nothing to do unless it persists.',
  });
}
