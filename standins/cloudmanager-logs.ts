// AEM's log files as Cloud Manager serves them: one file per day (UTC), service and log name, kept on disk so that a
// test can write hundreds of MB without the stand-in holding them in memory. The files are served by a second HTTP
// server standing for the storage host Cloud Manager's links point at: a gzip download (what logs/download redirects
// to) and a tail link on the raw file with byte ranges (what Adobe's CLI tails with Range requests). Both check a
// signature in the query, like signed storage URLs, and never look at Authorization: the client must not send any.
import {
  createReadStream,
  createWriteStream,
  existsSync,
  mkdtempSync,
  rmSync,
  statSync,
  appendFileSync,
} from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable, Transform } from 'node:stream';
import { createGzip, constants as zlib } from 'node:zlib';
import { htmlFaultPage, sleep, type Faults } from './faults.ts';
import { randomId, type RequestRecord } from './http.ts';

export const LOG_FILE_ROUTE = 'log-file';
export const LOG_TAIL_ROUTE = 'log-tail';

export interface LogKey {
  programId: string;
  environmentId: string;
  service: string;
  name: string;
  /** YYYY-MM-DD (UTC) */
  date: string;
}

/** One line as AEM writes it to aemerror: `01.12.2026 10:15:02.123 *ERROR* [thread] logger message`. */
export interface AemLogEntry {
  /** Default: the stand-in's now(). */
  at?: Date | number;
  level?: 'ERROR' | 'WARN' | 'INFO' | 'DEBUG';
  thread?: string;
  logger?: string;
  message: string;
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

export function utcDay(at: Date | number): string {
  return new Date(at).toISOString().slice(0, 10);
}

/** AEM's log timestamp, dd.MM.yyyy HH:mm:ss.SSS in UTC. */
export function aemTimestamp(at: Date | number): string {
  const d = new Date(at);
  return `${pad(d.getUTCDate())}.${pad(d.getUTCMonth() + 1)}.${d.getUTCFullYear()} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}.${pad(d.getUTCMilliseconds(), 3)}`;
}

export function formatAemLine(e: AemLogEntry, now: number): string {
  const at = e.at ?? now;
  return `${aemTimestamp(at)} *${e.level ?? 'ERROR'}* [${e.thread ?? 'qtp1234-56'}] ${e.logger ?? 'com.day.cq.mailer.impl.DefaultMailService'} ${e.message}\n`;
}

export interface LogStore {
  readonly dir: string;
  /** Appends text (a newline is added if missing) to the day's file. */
  append(key: LogKey, text: string): void;
  /** Streams text into the day's file (for large generated logs). */
  appendStream(key: LogKey, source: Iterable<string | Buffer> | AsyncIterable<string | Buffer>): Promise<void>;
  size(key: LogKey): number;
  /** Days with a file, newest first. */
  days(key: Omit<LogKey, 'date'>): string[];
  pathOf(key: LogKey): string;
  close(): void;
}

const safe = (s: string) => s.replace(/[^A-Za-z0-9_-]/g, '_');

export function createLogStore(): LogStore {
  const dir = mkdtempSync(join(tmpdir(), 'cm-logs-'));
  const known = new Map<string, LogKey>();
  const pathOf = (k: LogKey) =>
    join(dir, `${safe(k.programId)}.${safe(k.environmentId)}.${safe(k.service)}.${safe(k.name)}.${safe(k.date)}.log`);
  const remember = (k: LogKey) => known.set(pathOf(k), { ...k });
  return {
    dir,
    append(key, text) {
      remember(key);
      appendFileSync(pathOf(key), text.endsWith('\n') ? text : `${text}\n`);
    },
    async appendStream(key, source) {
      remember(key);
      await pipeline(Readable.from(source), createWriteStream(pathOf(key), { flags: 'a' }));
    },
    size(key) {
      const p = pathOf(key);
      return existsSync(p) ? statSync(p).size : 0;
    },
    days(k) {
      return [...known.values()]
        .filter(
          (x) =>
            x.programId === k.programId &&
            x.environmentId === k.environmentId &&
            x.service === k.service &&
            x.name === k.name,
        )
        .map((x) => x.date)
        .sort()
        .reverse();
    },
    pathOf,
    close() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface LogFileServer {
  url: string;
  /** Requests the storage host received (headers included, so tests can assert no credential reached it). */
  requests: RequestRecord[];
  /** Bytes sent in bodies, per route: a test asserts how much a resumed scan read. */
  bytesSent: Record<string, number>;
  downloadUrl(key: LogKey): string;
  tailUrl(key: LogKey): string;
  close(): Promise<void>;
}

/** bytes=a-b | bytes=a- | bytes=-n (RFC 9110 14.1.2); undefined when absent or unusable (then the whole file is sent). */
function parseRange(h: string | undefined, size: number): { start: number; end: number } | 'unsatisfiable' | undefined {
  const m = /^bytes=(\d*)-(\d*)$/.exec(h?.trim() ?? '');
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  if (m[1] === '') {
    const n = Number(m[2]);
    return n === 0 ? 'unsatisfiable' : { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(m[1]);
  if (start >= size) return 'unsatisfiable';
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  return end < start ? undefined : { start, end };
}

export async function startLogFileServer(store: LogStore, faults: Faults): Promise<LogFileServer> {
  const sig = randomId(12);
  const requests: RequestRecord[] = [];
  const bytesSent: Record<string, number> = { [LOG_FILE_ROUTE]: 0, [LOG_TAIL_ROUTE]: 0 };
  const ids = new Map<string, LogKey>();
  const idOf = (k: LogKey) => {
    const id = `${safe(k.programId)}.${safe(k.environmentId)}.${safe(k.service)}.${safe(k.name)}.${k.date}`;
    ids.set(id, { ...k });
    return id;
  };

  const count = (route: string) =>
    new Transform({
      transform(chunk: Buffer, _enc, cb) {
        bytesSent[route] = (bytesSent[route] ?? 0) + chunk.length;
        cb(null, chunk);
      },
    });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const m = /^\/(files|tail)\/([^/]+?)(\.log\.gz)?$/.exec(url.pathname);
    const route = m?.[1] === 'files' ? LOG_FILE_ROUTE : m?.[1] === 'tail' ? LOG_TAIL_ROUTE : 'unmatched';
    const leave = faults.enter(route);
    res.on('close', leave);
    const record: RequestRecord = {
      at: Date.now(),
      method: req.method ?? 'GET',
      path: url.pathname,
      query: url.search,
      route,
      headers: req.headers,
      body: '',
    };
    requests.push(record);
    const key = m?.[2] ? ids.get(m[2]) : undefined;
    const reply = (status: number, body = '', headers: Record<string, string> = {}) => {
      record.status = status;
      res.writeHead(status, { 'content-length': String(Buffer.byteLength(body)), ...headers });
      res.end(body);
    };
    await sleep(faults.latencyMs);
    const fault = faults.take(route);
    if (fault) faults.noteFaulted(route);
    if (fault?.kind === 'hang') return void (record.status = 'hang');
    if (fault?.kind === 'reset') return void ((record.status = 'reset'), req.socket.destroy());
    if (fault?.kind === 'status') {
      const body =
        fault.body === undefined ? '' : typeof fault.body === 'string' ? fault.body : JSON.stringify(fault.body);
      return reply(fault.status, body, fault.headers ?? {});
    }
    if (fault?.kind === 'html')
      return reply(fault.status ?? 200, htmlFaultPage(fault.status ?? 200), { 'content-type': 'text/html' });
    if (fault?.kind === 'delay') await sleep(fault.ms);
    if (!key || (req.method !== 'GET' && req.method !== 'HEAD'))
      return reply(404, '<Error><Code>BlobNotFound</Code></Error>', { 'content-type': 'application/xml' });
    if (url.searchParams.get('sig') !== sig) {
      return reply(403, '<Error><Code>AuthenticationFailed</Code></Error>', { 'content-type': 'application/xml' });
    }
    const path = store.pathOf(key);
    const size = store.size(key);
    if (!existsSync(path))
      return reply(404, '<Error><Code>BlobNotFound</Code></Error>', { 'content-type': 'application/xml' });
    // What a test wrote after this request started is not part of this answer, as with a real blob snapshot.
    const cutHalf = fault?.kind === 'truncated';
    if (route === LOG_FILE_ROUTE) {
      record.status = 200;
      res.writeHead(200, { 'content-type': 'application/gzip' });
      if (req.method === 'HEAD' || size === 0) {
        res.end(size === 0 ? createGzipEmpty() : undefined);
        return;
      }
      const src = createReadStream(path, { start: 0, end: size - 1 });
      // Level 1: the stand-in shares the machine with the scanner it serves; the ratio does not matter here.
      await pipeline(
        src,
        createGzip({ level: 1, flush: zlib.Z_NO_FLUSH }),
        count(route),
        cutter(cutHalf, res),
        res,
      ).catch(() => res.destroy());
      return;
    }
    const range = parseRange(typeof req.headers.range === 'string' ? req.headers.range : undefined, size);
    if (range === 'unsatisfiable') return reply(416, '', { 'content-range': `bytes */${size}` });
    const start = range?.start ?? 0;
    const end = range?.end ?? size - 1;
    record.status = range ? 206 : 200;
    res.writeHead(record.status, {
      'content-type': 'text/plain; charset=utf-8',
      'accept-ranges': 'bytes',
      'content-length': String(size === 0 ? 0 : end - start + 1),
      ...(range ? { 'content-range': `bytes ${start}-${end}/${size}` } : {}),
    });
    if (req.method === 'HEAD' || size === 0) return void res.end();
    const src = createReadStream(path, { start, end });
    await pipeline(src, count(route), cutter(cutHalf, res), res).catch(() => res.destroy());
  }

  /** The 'truncated' fault on a stream: the connection drops after a part of the body. */
  function cutter(active: boolean, res: ServerResponse): Transform {
    let seen = 0;
    return new Transform({
      transform(chunk: Buffer, _enc, cb) {
        if (active && seen > 0) {
          res.destroy();
          return cb();
        }
        seen += chunk.length;
        cb(null, active ? chunk.subarray(0, Math.ceil(chunk.length / 2)) : chunk);
      },
    });
  }

  const server = createServer((req, res) => {
    void handle(req, res).catch((err: unknown) => {
      console.error('log file stand-in failed:', err);
      res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: base,
    requests,
    bytesSent,
    downloadUrl: (k) => `${base}/files/${idOf(k)}.log.gz?sig=${sig}`,
    tailUrl: (k) => `${base}/tail/${idOf(k)}?sig=${sig}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function createGzipEmpty(): Buffer {
  // A gzip member with no data (RFC 1952): what compressing an empty file gives.
  return Buffer.from('1f8b0800000000000003030000000000000000', 'hex');
}
